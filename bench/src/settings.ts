/** Sizes of one run; `quick` fits in about 3 minutes on 2 cores, `full` is the reference. */
export interface Settings {
  mode: 'quick' | 'full';
  rounds: number;
  enqueueSerial: { warmup: number; measured: number };
  enqueueInFlight: { warmup: number; measured: number; inFlight: number };
  enqueueBulk: { warmupBatches: number; measuredBatches: number; batch: number };
  payload: { warmup: number; measured: number; inFlight: number; sizes: number[] };
  processing: { warmup: number; measured: number; concurrencies: number[] };
  latency: { rate: number; warmupSeconds: number; seconds: number; concurrency: number };
  rss: { jobs: number; concurrency: number };
  calibration: { redisRequests: number; pgbenchSeconds: number };
  /** The dashboard's overview and search against this many queues and jobs in all. */
  dashboard: { queues: number; jobs: number };
  outbox: {
    txWarmup: number;
    txMeasured: number;
    relayRows: number;
    latencyRate: number;
    latencySeconds: number;
    pollInterval: number;
    commitSeconds: number;
    connections: number;
  };
}

export const QUICK: Settings = {
  mode: 'quick',
  rounds: 3,
  enqueueSerial: { warmup: 200, measured: 1_000 },
  enqueueInFlight: { warmup: 1_000, measured: 4_000, inFlight: 64 },
  enqueueBulk: { warmupBatches: 2, measuredBatches: 10, batch: 500 },
  payload: { warmup: 200, measured: 1_000, inFlight: 64, sizes: [1024, 65_536] },
  processing: { warmup: 500, measured: 3_000, concurrencies: [1, 50] },
  latency: { rate: 300, warmupSeconds: 0.5, seconds: 2.5, concurrency: 50 },
  rss: { jobs: 20_000, concurrency: 50 },
  calibration: { redisRequests: 20_000, pgbenchSeconds: 2 },
  dashboard: { queues: 100, jobs: 100_000 },
  outbox: {
    txWarmup: 100,
    txMeasured: 500,
    relayRows: 3_000,
    latencyRate: 100,
    latencySeconds: 2,
    pollInterval: 1_000,
    commitSeconds: 2,
    connections: 16,
  },
};

export const FULL: Settings = {
  mode: 'full',
  rounds: 5,
  enqueueSerial: { warmup: 1_000, measured: 5_000 },
  enqueueInFlight: { warmup: 5_000, measured: 30_000, inFlight: 64 },
  enqueueBulk: { warmupBatches: 10, measuredBatches: 60, batch: 500 },
  payload: { warmup: 1_000, measured: 5_000, inFlight: 64, sizes: [1024, 65_536] },
  processing: { warmup: 2_000, measured: 20_000, concurrencies: [1, 50] },
  latency: { rate: 1_000, warmupSeconds: 2, seconds: 10, concurrency: 50 },
  rss: { jobs: 200_000, concurrency: 50 },
  calibration: { redisRequests: 200_000, pgbenchSeconds: 10 },
  dashboard: { queues: 100, jobs: 1_000_000 },
  outbox: {
    txWarmup: 500,
    txMeasured: 3_000,
    relayRows: 20_000,
    latencyRate: 200,
    latencySeconds: 10,
    pollInterval: 1_000,
    commitSeconds: 10,
    connections: 16,
  },
};
