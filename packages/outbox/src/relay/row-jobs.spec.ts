import { MalformedOutboxRowError } from '../errors';
import type { OutboxRow } from '../store/outbox-store.interface';
import { rowJobs } from './row-jobs';

const job = { task: 'order.confirm', queue: 'email', opts: { attempts: 3 } };

function row(fields: Partial<Record<keyof OutboxRow, unknown>>): OutboxRow {
  return {
    id: '42',
    kind: 'task',
    name: 'order.confirm',
    queue: 'email',
    payload: { orderId: 'o-1' },
    options: { job },
    trace: null,
    attempts: 0,
    ...fields,
  } as OutboxRow;
}

describe('rowJobs', () => {
  it('turns a task row into its job, with the id derived from the row and the delay left', () => {
    const now = 1_000_000;
    const delayed = { ...job, opts: { ...job.opts, delayUntil: now + 5_000 } };
    expect(rowJobs(row({ options: { job: delayed } }), undefined, now)).toEqual([
      {
        queue: 'email',
        name: 'order.confirm',
        data: { orderId: 'o-1' },
        opts: { attempts: 3, jobId: 'outbox-42', delay: 5_000 },
      },
    ]);
  });

  it('turns an event row into one job per subscriber, and an event without any into none', () => {
    const other = { task: 'order.index', queue: 'search', opts: {} };
    const jobs = rowJobs(row({ kind: 'event', queue: null, options: { jobs: [job, other] } }));
    expect(jobs.map((j) => [j.queue, j.opts.jobId])).toEqual([
      ['email', 'outbox-42-order.confirm'],
      ['search', 'outbox-42-order.index'],
    ]);
    expect(rowJobs(row({ kind: 'event', options: { jobs: [] } }))).toEqual([]);
  });

  it.each<[string, Partial<Record<keyof OutboxRow, unknown>>, RegExp]>([
    ['no job', { options: {} }, /options\.job is missing; a task row needs options\.job = /],
    ['null options', { options: null }, /options is null; it must be an object/],
    ['options that are a list', { options: [job] }, /options is a list/],
    ['an event without jobs', { kind: 'event', options: { job } }, /options\.jobs is missing/],
    [
      'jobs that are no list',
      { kind: 'event', options: { jobs: 'x' } },
      /options\.jobs is the string "x", not a list/,
    ],
    [
      'a job that is no object',
      { kind: 'event', options: { jobs: [job, 7] } },
      /options\.jobs\[1\] is the number 7/,
    ],
    ['no queue', { options: { job: { task: 'a', opts: {} } } }, /options\.job\.queue is missing/],
    [
      'an empty task name',
      { options: { job: { ...job, task: '' } } },
      /options\.job\.task is the string ""/,
    ],
    ['a queue BullMQ refuses', { options: { job: { ...job, queue: 'a:b' } } }, /holds a ':'/],
    ['no opts', { options: { job: { task: 'a', queue: 'b' } } }, /options\.job\.opts is missing/],
    [
      'a numeric job id',
      { options: { job: { ...job, opts: { jobId: 7 } } } },
      /opts\.jobId is the number 7/,
    ],
    [
      'a delayUntil that is no time',
      { options: { job: { ...job, opts: { delayUntil: 'soon' } } } },
      /opts\.delayUntil is the string "soon"/,
    ],
    ['an unknown kind', { kind: 'command' }, /kind is "command"; it must be "task" or "event"/],
    [
      'a payload JSON cannot carry',
      { payload: { n: Infinity } },
      /payload\.n is Infinity, which JSON turns into null/,
    ],
  ])('refuses a row with %s, naming the row and the problem', (_, fields, problem) => {
    const attempt = () => rowJobs(row(fields));
    expect(attempt).toThrow(MalformedOutboxRowError);
    expect(attempt).toThrow(/^Outbox row 42 \(/);
    expect(attempt).toThrow(problem);
  });

  it('names every problem of a row at once', () => {
    const attempt = () =>
      rowJobs(row({ options: { job: { task: 'a', opts: { jobId: 1 } } }, payload: [NaN] }));
    expect(attempt).toThrow(/queue is missing.*jobId is the number 1.*payload\[0\] is NaN/);
  });
});
