import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TaskTimeoutError } from '../errors';
import { ThreadPool } from './thread-pool';

// A stand-in for thread-main: it "loads" for a while (as a thread requiring Nest does), says
// so, then runs each job by echoing its payload.
const ENTRY = `
const { parentPort } = require('node:worker_threads');
let loaded = false;
const pending = [];
setTimeout(() => {
  parentPort.postMessage({ type: 'log', id: 1, level: 'log', message: 'still alive after loading' });
  parentPort.postMessage({ type: 'loaded' });
  parentPort.postMessage({ type: 'ready' });
  loaded = true;
  pending.splice(0).forEach(answer);
}, 300);
function answer(m) {
  if (m.type === 'run') parentPort.postMessage({ type: 'done', id: m.id, ok: true, result: m.payload, heapMb: 1 });
}
parentPort.on('message', (m) => (loaded ? answer(m) : pending.push(m)));
`;

const job = { id: '1', name: 't', queue: 'q', attemptsMade: 0, attempts: 1, timestamp: 0 };

describe('ThreadPool', () => {
  let dir: string;
  let entry: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'conveyor-pool-'));
    entry = join(dir, 'entry.js');
    writeFileSync(entry, ENTRY);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const pool = (size = 1) =>
    new ThreadPool(
      { module: { path: '/unused', export: 'X' }, size, idleTimeoutMs: 60_000 },
      entry,
    );

  it('terminates a thread stopped while loading only once it has loaded (Node 20 aborts otherwise)', async () => {
    const threads = pool();
    const lines: string[] = [];
    const call = threads.run('t', job, 'payload', {
      log: (_level, message) => lines.push(message),
      progress: () => undefined,
    });
    const reason = new TaskTimeoutError('t', 1, 'hard');
    call.stop(reason);
    await expect(call.done).rejects.toBe(reason);
    expect(lines).toEqual(['still alive after loading']);
    await threads.close();
    expect(threads.threadCount).toBe(0);
  });

  it('runs jobs beyond its size in line, on the threads it has', async () => {
    const threads = pool(1);
    const events = { log: () => undefined, progress: () => undefined };
    const results = await Promise.all(
      [1, 2, 3].map((n) => threads.run('t', { ...job, id: String(n) }, n, events).done),
    );
    expect(results).toEqual([1, 2, 3]);
    expect(threads.threadCount).toBe(1);
    await threads.close();
  });

  it('rejects jobs given after close', async () => {
    const threads = pool();
    await threads.close();
    const call = threads.run('t', job, 1, { log: () => undefined, progress: () => undefined });
    await expect(call.done).rejects.toMatchObject({ name: 'TaskThreadError' });
  });
});
