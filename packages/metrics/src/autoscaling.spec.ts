import type { WorkerInfo, WorkerQueue } from '@conveyor/tasks';
import { ScalingEstimator } from './autoscaling';

function worker(queue: Partial<WorkerQueue> & { name: string }, stopping = false): WorkerInfo {
  return {
    id: `h:${Math.random()}`,
    host: 'h',
    pid: 1,
    version: 'x',
    startedAt: new Date(0),
    lastSeenAt: new Date(0),
    expiresAt: new Date(0),
    stopping,
    queues: [
      { concurrency: 4, running: 0, finished: 0, averageRunMs: 0, windowMs: 60_000, ...queue },
    ],
    running: [],
  };
}

describe('ScalingEstimator', () => {
  it("sizes the pool by Little's law plus the backlog drained within the target", () => {
    let now = 0;
    const estimator = new ScalingEstimator(60_000, () => now);
    // Two processes of concurrency 4 finish 600 runs a minute each (10/s), 200 ms a run.
    const live = [1, 2].map(() =>
      worker({ name: 'email', finished: 600, averageRunMs: 200, running: 2 }),
    );
    const first = estimator.estimate('email', 0, live, 4);
    // λ = 20/s, W = 0.2 s: λW = 4 slots, one process.
    expect(first).toEqual({
      workers: 2,
      running: 4,
      throughput: 20,
      arrivalRate: 20,
      runSeconds: 0.2,
      desiredConcurrency: 4,
      desiredWorkers: 1,
    });
    // 30 s later 1,200 jobs wait: the backlog grows by 40/s, so λ = 60/s; draining 1,200 in
    // 60 s needs 1,200 × 0.2 / 60 = 4 slots more: 60 × 0.2 + 4 = 16 slots, 4 processes.
    now = 30_000;
    const later = estimator.estimate('email', 1_200, live, 4);
    expect(later).toMatchObject({ arrivalRate: 60, desiredConcurrency: 16, desiredWorkers: 4 });
  });

  it('never sizes the pool under the jobs it runs now', () => {
    const estimator = new ScalingEstimator(60_000, () => 0);
    const live = [
      worker({ name: 'email', finished: 1, averageRunMs: 10, running: 9, windowMs: 60_000 }),
    ];
    expect(estimator.estimate('email', 0, live, 4)).toMatchObject({
      desiredConcurrency: 9,
      desiredWorkers: 3,
    });
  });

  it('without a run time, holds the live count, at least one while jobs wait', () => {
    const estimator = new ScalingEstimator(60_000, () => 0);
    expect(estimator.estimate('email', 5, [], 3)).toMatchObject({
      workers: 0,
      runSeconds: undefined,
      desiredWorkers: 1,
      desiredConcurrency: 3,
    });
    expect(estimator.estimate('idle', 0, [], 3)).toMatchObject({
      desiredWorkers: 0,
      desiredConcurrency: 0,
    });
    const busy = [worker({ name: 'long', running: 4 }), worker({ name: 'long', running: 1 })];
    expect(estimator.estimate('long', 0, busy, 4)).toMatchObject({ desiredWorkers: 2 });
  });

  it('leaves out processes that are shutting down and queues they do not consume', () => {
    const estimator = new ScalingEstimator(60_000, () => 0);
    const live = [
      worker({ name: 'email', finished: 60, averageRunMs: 100 }, true),
      worker({ name: 'reports', finished: 60, averageRunMs: 100 }),
    ];
    expect(estimator.estimate('email', 0, live, 2)).toMatchObject({
      workers: 0,
      throughput: 0,
      desiredWorkers: 0,
    });
  });
});
