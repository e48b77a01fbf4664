import { RunStats } from './run-stats';

describe('RunStats', () => {
  it("counts a queue's runs and run time over the last minute, forgetting older ones", () => {
    let now = 1_000_000;
    const stats = new RunStats(now - 120_000, () => now);
    stats.record('email', 100);
    stats.record('email', 300);
    stats.record('reports', 5_000);
    expect(stats.recent('email')).toEqual({ finished: 2, runMs: 400, windowMs: 60_000 });
    now += 5_000;
    expect(stats.recent('email')).toMatchObject({ finished: 2, windowMs: 60_000 });
    now += 25_000;
    stats.record('email', 200);
    expect(stats.recent('email')).toMatchObject({ finished: 3, runMs: 600 });
    now += 45_000; // the first runs are now 75 s old
    expect(stats.recent('email')).toMatchObject({ finished: 1, runMs: 200 });
    expect(stats.recent('reports')).toMatchObject({ finished: 0, runMs: 0 });
    expect(stats.recent('unknown')).toMatchObject({ finished: 0, runMs: 0 });
  });

  it('covers only the time since the process started while that is under a minute', () => {
    let now = 500_000;
    const stats = new RunStats(now, () => now);
    now += 12_000;
    stats.record('email', 10);
    expect(stats.recent('email')).toEqual({ finished: 1, runMs: 10, windowMs: 12_000 });
  });

  it('keeps a bounded number of buckets however long it runs', () => {
    let now = 0;
    const stats = new RunStats(0, () => now);
    for (let i = 0; i < 1_000; i++) {
      now += 10_000;
      stats.record('email', 1);
    }
    const buckets = (stats as unknown as { queues: Map<string, unknown[]> }).queues.get('email');
    expect(buckets!.length).toBeLessThanOrEqual(7);
    // Runs at now, now - 10 s, …, now - 60 s: the window's both ends included.
    expect(stats.recent('email')).toEqual({ finished: 7, runMs: 7, windowMs: 60_000 });
  });
});
