import { randomUUID } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { admissionScripts, type AdmissionScripts } from './lua-scripts';

// The admission scripts against the real Redis, under a prefix of their own, with jobs put
// where BullMQ puts them: fetched by a real Worker (active list, lock token), waiting, parked.
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PARKED = 4102444800000 * 0x1000;
const LEASE = 30_000;

describe('admission scripts', () => {
  let redis: Redis;
  let scripts: AdmissionScripts;
  let prefix: string;
  let queue: Queue;
  let worker: Worker;
  let Q: string;

  beforeEach(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    scripts = admissionScripts(redis);
    prefix = `{conveyor-test-${randomUUID().slice(0, 8)}}`;
    queue = new Queue('q', { connection: redis, prefix });
    // A worker that never runs jobs by itself: the test fetches them like a worker would.
    worker = new Worker('q', null, { connection: redis, prefix, autorun: false });
    Q = `${prefix}:q:`;
  });

  afterEach(async () => {
    await worker.close();
    await queue.obliterate({ force: true });
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await queue.close();
    redis.disconnect();
  });

  /** Fetches the next job as a worker does: into the active list, locked with `token`. */
  async function fetch(token: string): Promise<Job> {
    const job = await worker.getNextJob(token, { block: false });
    if (!job) throw new Error('no job to fetch');
    return job;
  }

  function admit(
    job: Job,
    token: string,
    scopes: (string | number)[],
    opts: Partial<{ checkResult: boolean; lookahead: number }> = {},
  ) {
    return scripts.admit(
      `${Q}cv:wake`,
      Q,
      job.id!,
      token,
      token,
      LEASE,
      opts.checkResult ? '1' : '0',
      opts.lookahead ?? 0,
      job.name,
      ...scopes,
    );
  }

  function release(
    job: Job,
    token: string,
    scopes: string[],
    store: '0' | '1' | '2' = '0',
    result = '',
  ) {
    return scripts.release(
      `${Q}cv:wake`,
      Q,
      job.id!,
      token,
      LEASE,
      store,
      result,
      60_000,
      '0',
      // As the worker knows its lease: unmarked (a later mark is found by the script).
      ...scopes.flatMap((scope) => [scope, 1, 0, 0, '0']),
    );
  }

  const state = (id: string) => queue.getJobState(id);

  it('admits up to the slots, parks the next out of the active list, and a release hands the slot to it', async () => {
    await queue.addBulk(
      [1, 2, 3].map((i) => ({ name: 't', data: { i }, opts: { jobId: `j${i}` } })),
    );
    const one = await fetch('tok-1');
    const two = await fetch('tok-2');
    const scope = ['t:t', 1, 0, 0];
    expect((await admit(one, 'tok-1', scope))[0]).toBe(3);
    const parked = await admit(two, 'tok-2', scope);
    expect(parked[0]).toBe(0);
    expect(parked[2]).toBe(1);
    expect(await state('j2')).toBe('delayed');
    // The run j2 waits for is marked: its release looks at the line.
    expect(await redis.zrange(`${Q}cv:lease:t:t`, 0, -1)).toEqual(['w tok-1 j1']);
    expect(Number(await redis.zscore(`${Q}delayed`, 'j2'))).toBe(PARKED);
    expect(await redis.lrange(`${Q}cv:park:t:t`, 0, -1)).toEqual(['j2']);
    expect(await redis.lrange(`${Q}active`, 0, -1)).toEqual(['j1']);
    expect(await redis.exists(`${Q}j2:lock`)).toBe(0);

    expect(await release(one, 'tok-1', ['t:t'])).toBe(1);
    // Woken to the fetch end of the wait list, ahead of j3, with its place reserved.
    expect(await redis.lrange(`${Q}wait`, 0, -1)).toEqual(['j3', 'j2']);
    expect(await redis.zrange(`${Q}cv:lease:t:t`, 0, -1)).toEqual(['r j2']);
    expect(await redis.llen(`${Q}cv:park:t:t`)).toBe(0);

    const again = await fetch('tok-3');
    expect(again.id).toBe('j2');
    // Woken from a line, j2 takes a marked lease: more may wait behind it.
    expect(await admit(again, 'tok-3', scope)).toEqual([3, expect.any(String), '1']);
    expect(await redis.zrange(`${Q}cv:lease:t:t`, 0, -1)).toEqual(['w tok-3 j2']);
  });

  it('parks a newcomer behind jobs already parked, even with a slot free, and wakes the head first', async () => {
    await queue.addBulk(
      [1, 2, 3].map((i) => ({ name: 't', data: { i }, opts: { jobId: `j${i}` } })),
    );
    const one = await fetch('a');
    const two = await fetch('b');
    const scope = ['t:t', 1, 0, 0];
    await admit(one, 'a', scope);
    await admit(two, 'b', scope);
    // The holder dies: its lease is gone, but j2 still waits in the park list.
    await redis.del(`${Q}cv:lease:t:t`);
    const three = await fetch('c');
    const reply = await admit(three, 'c', scope);
    expect(reply[0]).toBe(0);
    // j3 parked behind; the free slot went to the head of the line, j2, reserved.
    expect(await redis.lrange(`${Q}cv:park:t:t`, 0, -1)).toEqual(['j3']);
    expect(await redis.lrange(`${Q}wait`, 0, -1)).toEqual(['j2']);
    expect(await redis.zrange(`${Q}cv:lease:t:t`, 0, -1)).toEqual(['r j2']);
  });

  it("parks a second delivery of a running job on its own list and answers it with the first run's result", async () => {
    await queue.add('t', {}, { jobId: 'dup' });
    const first = await fetch('first');
    expect((await admit(first, 'first', ['t:t', 2, 0, 0], { checkResult: true }))[0]).toBe(3);
    // A stalled check gives the job back while its first run goes on; another worker takes it.
    await redis.lrem(`${Q}active`, 0, 'dup');
    await redis.del(`${Q}dup:lock`);
    await redis.rpush(`${Q}wait`, 'dup');
    const second = await fetch('second');
    const reply = await admit(second, 'second', ['t:t', 2, 0, 0], { checkResult: true });
    expect(reply[0]).toBe(0);
    expect(await redis.lrange(`${Q}cv:park:j:dup`, 0, -1)).toEqual(['dup']);
    // Two slots, yet the second delivery holds none; the first run is marked as waited for.
    expect(await redis.zrange(`${Q}cv:lease:t:t`, 0, -1)).toEqual(['w first dup']);

    expect(await release(first, 'first', ['t:t'], '2', JSON.stringify({ v: 42 }))).toBe(1);
    expect(await redis.get(`${Q}cv:result:dup`)).toBe('{"v":42}');
    const third = await fetch('third');
    expect(await admit(third, 'third', ['t:t', 2, 0, 0], { checkResult: true })).toEqual([
      2,
      '{"v":42}',
    ]);
  });

  it('stores no result for a second delivery when none waits', async () => {
    await queue.add('t', {}, { jobId: 'solo' });
    const job = await fetch('x');
    await admit(job, 'x', ['t:t', 1, 0, 0], { checkResult: true });
    await release(job, 'x', ['t:t'], '2', '{"v":1}');
    expect(await redis.exists(`${Q}cv:result:solo`)).toBe(0);
  });

  it('parks, with the refused job, the run of the same task next in line, and stops at another task', async () => {
    await queue.addBulk([
      ...[1, 2, 3, 4].map((i) => ({ name: 't', data: {}, opts: { jobId: `t${i}` } })),
      { name: 'other', data: {}, opts: { jobId: 'o1' } },
      { name: 't', data: {}, opts: { jobId: 't5' } },
    ]);
    const one = await fetch('1');
    const two = await fetch('2');
    await admit(one, '1', ['t:t', 1, 0, 0], { lookahead: 100 });
    const reply = await admit(two, '2', ['t:t', 1, 0, 0], { lookahead: 100 });
    expect(reply[0]).toBe(0);
    expect(reply[2]).toBe(3);
    expect(await redis.lrange(`${Q}cv:park:t:t`, 0, -1)).toEqual(['t2', 't3', 't4']);
    expect(await redis.lrange(`${Q}wait`, 0, -1)).toEqual(['t5', 'o1']);
    for (const id of ['t3', 't4']) expect(await state(id)).toBe('delayed');
  });

  it('leaves a woken job at the fetch end alone when the next refusal parks the line ahead', async () => {
    await queue.addBulk(
      [1, 2, 3, 4].map((i) => ({ name: 't', data: {}, opts: { jobId: `w${i}` } })),
    );
    const one = await fetch('1');
    const two = await fetch('2');
    await admit(one, '1', ['t:t', 1, 0, 0], { lookahead: 100 });
    await admit(two, '2', ['t:t', 1, 0, 0], { lookahead: 100 });
    expect(await redis.lrange(`${Q}cv:park:t:t`, 0, -1)).toEqual(['w2', 'w3', 'w4']);
    await release(one, '1', ['t:t']);
    // w2 is woken to the fetch end; a newcomer fetched before it is refused and parks.
    await queue.add('t', {}, { jobId: 'w5' });
    await redis.lrem(`${Q}wait`, 0, 'w5');
    await redis.rpush(`${Q}wait`, 'w5');
    const newcomer = await fetch('5');
    expect(newcomer.id).toBe('w5');
    expect((await admit(newcomer, '5', ['t:t', 1, 0, 0], { lookahead: 100 }))[0]).toBe(0);
    // Its lookahead stopped at w2, whose place stays reserved: no slot is held by a ghost.
    expect(await redis.lrange(`${Q}wait`, 0, -1)).toEqual(['w2']);
    expect(await redis.zrange(`${Q}cv:lease:t:t`, 0, -1)).toEqual(['r w2']);
    const woken = await fetch('6');
    expect((await admit(woken, '6', ['t:t', 1, 0, 0]))[0]).toBe(3);
  });

  it('parks, with a refused keyed job, the next jobs whose stored scope has a line, and keeps the rest in order', async () => {
    const keyed = (id: string, key?: string) => ({
      name: 't',
      data: {},
      opts: { jobId: id, ...(key ? { cvs: `t:t:${key}` } : {}) },
    });
    await queue.addBulk([
      keyed('a1', 'a'),
      keyed('a2', 'a'),
      keyed('b1', 'b'),
      keyed('a3', 'a'),
      keyed('x1'),
      keyed('a4', 'a'),
      keyed('b2', 'b'),
    ]);
    const a1 = await fetch('1');
    const a2 = await fetch('2');
    expect((await admit(a1, '1', ['t:t:a', 1, 0, 0], { lookahead: 100 }))[0]).toBe(3);
    const reply = await admit(a2, '2', ['t:t:a', 1, 0, 0], { lookahead: 100 });
    expect(reply[0]).toBe(0);
    expect(reply[2]).toBe(3);
    expect(await redis.lrange(`${Q}cv:park:t:t:a`, 0, -1)).toEqual(['a2', 'a3', 'a4']);
    // b's key has no line (fetched, b1 would run), x1 stores no scope: both stay, in order.
    expect(await redis.lrange(`${Q}wait`, 0, -1)).toEqual(['b2', 'x1', 'b1']);
    for (const id of ['a3', 'a4']) expect(await state(id)).toBe('delayed');
    const b1 = await fetch('b');
    expect(b1.id).toBe('b1');
    expect((await admit(b1, 'b', ['t:t:b', 1, 0, 0], { lookahead: 100 }))[0]).toBe(3);

    // a2 is woken to the fetch end; a newcomer of its key fetched before it is refused, and
    // its lookahead leaves a2 (reserved) in place.
    await release(a1, '1', ['t:t:a']);
    await queue.add('t', {}, { jobId: 'a5', cvs: 't:t:a' } as object);
    await redis.lrem(`${Q}wait`, 0, 'a5');
    await redis.rpush(`${Q}wait`, 'a5');
    const a5 = await fetch('5');
    expect((await admit(a5, '5', ['t:t:a', 1, 0, 0], { lookahead: 100 }))[0]).toBe(0);
    expect(await redis.lrange(`${Q}wait`, 0, -1)).toEqual(['b2', 'x1', 'a2']);
    expect(await redis.zrange(`${Q}cv:lease:t:t:a`, 0, -1)).toEqual(['r a2']);
    expect(await redis.lrange(`${Q}cv:park:t:t:a`, 0, -1)).toEqual(['a3', 'a4', 'a5']);
  });

  it('remembers the scopes of the jobs a keyed lookahead left, for the next lookahead of a burst', async () => {
    const keyed = (id: string, key: string) => ({
      name: 't',
      data: {},
      opts: { jobId: id, cvs: `t:t:${key}` },
    });
    await queue.addBulk([keyed('a1', 'a'), keyed('a2', 'a'), keyed('b1', 'b'), keyed('b2', 'b')]);
    const a1 = await fetch('1');
    const a2 = await fetch('2');
    await admit(a1, '1', ['t:t:a', 1, 0, 0], { lookahead: 100 });
    expect((await admit(a2, '2', ['t:t:a', 1, 0, 0], { lookahead: 100 }))[0]).toBe(0);
    // b has no line yet: b1 and b2 stay, and their scopes are remembered.
    expect(await redis.lrange(`${Q}wait`, 0, -1)).toEqual(['b2', 'b1']);
    expect(JSON.parse((await redis.get(`${Q}cv:ahead`))!)).toEqual({ b1: 't:t:b', b2: 't:t:b' });

    // b gets a line (b0 runs, b9 waits); b2's options no longer say its scope, so only the
    // remembered scope can put it in b's line, behind b1, in fetch order.
    await queue.addBulk([keyed('b0', 'b'), keyed('b9', 'b')]);
    for (const id of ['b9', 'b0']) {
      await redis.lrem(`${Q}wait`, 0, id);
      await redis.rpush(`${Q}wait`, id);
    }
    const b0 = await fetch('3');
    expect((await admit(b0, '3', ['t:t:b', 1, 0, 0]))[0]).toBe(3);
    await redis.hset(`${Q}b2`, 'opts', '{}');
    const b9 = await fetch('4');
    expect((await admit(b9, '4', ['t:t:b', 1, 0, 0], { lookahead: 100 }))[0]).toBe(0);
    expect(await redis.lrange(`${Q}cv:park:t:t:b`, 0, -1)).toEqual(['b9', 'b1', 'b2']);
    expect(await redis.llen(`${Q}wait`)).toBe(0);
  });

  it('admits at most the rate per window and wakes the parked when the window opens', async () => {
    await queue.addBulk([1, 2, 3].map((i) => ({ name: 't', data: {}, opts: { jobId: `r${i}` } })));
    const scope = ['t:t', 0, 2, 300];
    const jobs = [await fetch('1'), await fetch('2'), await fetch('3')];
    expect((await admit(jobs[0], '1', scope))[0]).toBe(3);
    expect((await admit(jobs[1], '2', scope))[0]).toBe(3);
    const reply = await admit(jobs[2], '3', scope);
    expect(reply[0]).toBe(0);
    const [, due, , now] = reply as [0, string, number, string];
    expect(Number(due)).toBeGreaterThan(Number(now));
    expect(Number(await redis.zscore(`${Q}cv:wake`, 't:t'))).toBe(Number(due));
    // Not due yet: the wake script leaves it.
    const early = await scripts.wake(`${Q}cv:wake`, Q, LEASE, 10);
    if (Number(early[2]) < Number(due)) expect(early[0]).toBe(0);
    let woken = early[0];
    while (woken === 0) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      woken = (await scripts.wake(`${Q}cv:wake`, Q, LEASE, 10))[0];
    }
    expect(woken).toBe(1);
    expect(await redis.lrange(`${Q}wait`, 0, -1)).toEqual(['r3']);
    expect(await redis.zcard(`${Q}cv:wake`)).toBe(0);
    const back = await fetch('4');
    expect((await admit(back, '4', scope))[0]).toBe(3);
  });

  it('counts each delivery once in a rate window, though a worker reuses its lock token', async () => {
    await queue.addBulk([1, 2, 3].map((i) => ({ name: 't', data: {}, opts: { jobId: `u${i}` } })));
    const scope = ['t:t', 0, 2, 60_000];
    // BullMQ hands a worker's token on to the next job it fetches after a completion.
    for (const id of ['u1', 'u2']) {
      const job = await fetch('same');
      expect(job.id).toBe(id);
      const reply = await scripts.admit(
        `${Q}cv:wake`,
        Q,
        id,
        'same',
        `same:${id}`,
        LEASE,
        '0',
        0,
        't',
        ...scope,
      );
      expect(reply[0]).toBe(3);
      await redis.del(`${Q}${id}:lock`);
      await redis.lrem(`${Q}active`, 0, id);
    }
    expect((await fetch('same')).id).toBe('u3');
    const reply = await scripts.admit(
      `${Q}cv:wake`,
      Q,
      'u3',
      'same',
      'same:u3',
      LEASE,
      '0',
      0,
      't',
      ...scope,
    );
    expect(reply[0]).toBe(0);
  });

  it('renews live leases on Redis time and reports the ones that are gone', async () => {
    await queue.addBulk([1, 2].map((i) => ({ name: 't', data: {}, opts: { jobId: `l${i}` } })));
    const a = await fetch('a');
    const b = await fetch('b');
    await admit(a, 'a', ['t:t', 2, 0, 0]);
    await admit(b, 'b', ['t:t', 2, 0, 0]);
    const before = Number(await redis.zscore(`${Q}cv:lease:t:t`, 'a l1'));
    await redis.zrem(`${Q}cv:lease:t:t`, 'b l2');
    const lost = await scripts.renew(`${Q}cv:wake`, Q, LEASE * 2, 't:t', 'a l1', 't:t', 'b l2');
    expect(lost).toEqual([2]);
    expect(Number(await redis.zscore(`${Q}cv:lease:t:t`, 'a l1'))).toBeGreaterThan(before);
    expect(await redis.zscore(`${Q}cv:lease:t:t`, 'b l2')).toBeNull();
  });

  it('renews and releases a lease that a waiting job marked after its admission', async () => {
    await queue.addBulk([1, 2].map((i) => ({ name: 't', data: {}, opts: { jobId: `m${i}` } })));
    const a = await fetch('a');
    const b = await fetch('b');
    expect(await admit(a, 'a', ['t:t', 1, 0, 0])).toEqual([3, expect.any(String), '0']);
    expect((await admit(b, 'b', ['t:t', 1, 0, 0]))[0]).toBe(0);
    const before = Number(await redis.zscore(`${Q}cv:lease:t:t`, 'w a m1'));
    // The worker still knows its lease as unmarked.
    expect(await scripts.renew(`${Q}cv:wake`, Q, LEASE * 2, 't:t', 'a m1')).toEqual([]);
    expect(Number(await redis.zscore(`${Q}cv:lease:t:t`, 'w a m1'))).toBeGreaterThan(before);
    expect(await release(a, 'a', ['t:t'])).toBe(1);
    expect(await redis.zrange(`${Q}cv:lease:t:t`, 0, -1)).toEqual(['r m2']);
    expect(await redis.lrange(`${Q}wait`, 0, -1)).toEqual(['m2']);
  });

  it("moves nothing for a delivery that no longer holds the job's lock", async () => {
    await queue.addBulk([1, 2].map((i) => ({ name: 't', data: {}, opts: { jobId: `k${i}` } })));
    const a = await fetch('a');
    const b = await fetch('b');
    await admit(a, 'a', ['t:t', 1, 0, 0]);
    expect(await admit(b, 'stale-token', ['t:t', 1, 0, 0])).toEqual([4]);
    expect(await state('k2')).toBe('active');
    expect(await redis.llen(`${Q}cv:park:t:t`)).toBe(0);
  });

  it('skips a parked job that was removed meanwhile instead of waking a ghost', async () => {
    await queue.addBulk([1, 2, 3].map((i) => ({ name: 't', data: {}, opts: { jobId: `g${i}` } })));
    const [a, b, c] = [await fetch('a'), await fetch('b'), await fetch('c')];
    await admit(a, 'a', ['t:t', 1, 0, 0]);
    await admit(b, 'b', ['t:t', 1, 0, 0]);
    await admit(c, 'c', ['t:t', 1, 0, 0]);
    await queue.remove('g2');
    expect(await release(a, 'a', ['t:t'])).toBe(1);
    expect(await redis.lrange(`${Q}wait`, 0, -1)).toEqual(['g3']);
  });
});
