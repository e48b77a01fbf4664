import type { ResolvedTaskOptions } from '../options/task-options';
import type { RegisteredTask } from '../tasks.registry';
import { tenantPage, type TenantsReply } from './queue-tenants';

const task = (name: string, options: Partial<ResolvedTaskOptions>): RegisteredTask =>
  ({
    name,
    options: options as ResolvedTaskOptions,
    handler: () => undefined,
    owner: 'T.m',
  }) as RegisteredTask;

const TASKS = [
  task('billing:invoice', { limitKey: () => 'k', maxConcurrent: 3 }),
  task('billing', { limitKey: () => 'k', maxConcurrent: 1 }),
  task('pdf.render', { maxConcurrent: 2 }),
];

/** One row of the script's answer: scope, spec, parked, leases, reserved, active. */
const row = (
  scope: string,
  spec: string,
  parked: number,
  leases: number,
  reserved = 0,
  active = 0,
) => [scope, spec, parked, leases, reserved, active];

describe('tenantPage', () => {
  it('splits a scope at the longest keyed task name, even one that holds a colon', () => {
    const reply = [
      '0',
      ...row('t:billing:invoice:acme', '3 0 0', 4, 3),
      ...row('t:billing:acme', '1 0 0', 1, 1),
    ] as TenantsReply;
    const page = tenantPage('q', reply, TASKS, () => undefined);
    expect(page.tenants.map((t) => [t.task, t.key])).toEqual([
      ['billing:invoice', 'acme'],
      ['billing', 'acme'],
    ]);
    expect(page.cursor).toBeNull();
  });

  it('leaves out task-wide limits and emptied lines, and keeps a cursor to go on', () => {
    const reply = [
      '17',
      ...row('t:pdf.render', '2 0 0', 5, 2),
      ...row('t:billing:gone', '1 0 0', 0, 0),
      ...row('t:billing:busy', '1 0 0', 0, 1),
    ] as TenantsReply;
    const page = tenantPage('q', reply, TASKS, () => undefined);
    expect(page.tenants.map((t) => t.key)).toEqual(['busy']);
    expect(page.cursor).toBe('17');
  });

  it('takes the limits of a key with no line from the task as it runs now (overrides first)', () => {
    const reply = ['0', ...row('t:billing:invoice:idle', '', 0, 2)] as TenantsReply;
    const page = tenantPage('q', reply, TASKS, (name) =>
      name === 'billing:invoice'
        ? { maxConcurrent: 5, rateLimit: { max: 10, perMs: 1000 } }
        : undefined,
    );
    expect(page.tenants).toEqual([
      {
        task: 'billing:invoice',
        key: 'idle',
        running: 2,
        reserved: 0,
        limit: 5,
        rateLimit: { max: 10, durationMs: 1000 },
        parked: 0,
      },
    ]);
  });

  it('counts active jobs as running for a key with a rate limit only, and splits an unknown task at its first colon', () => {
    const reply = ['0', ...row('t:other.app:tenant:7', '0 5 1000', 2, 0, 0, 3)] as TenantsReply;
    const [tenant] = tenantPage('q', reply, TASKS, () => undefined).tenants;
    expect(tenant).toEqual({
      task: 'other.app',
      key: 'tenant:7',
      running: 3,
      reserved: 0,
      limit: null,
      rateLimit: { max: 5, durationMs: 1000 },
      parked: 2,
    });
  });
});
