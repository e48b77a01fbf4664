// A worker process for the Redis Cluster and Sentinel fault scenarios: it runs the topology
// tasks (rate limit, per-key limit, idempotent, chord) on the connection CONVEYOR_CONNECTION
// (JSON: { cluster: { nodes } } or ioredis Sentinel options) and records each run in the
// ledger on LEDGER_URL, which the faults leave alone. SIGTERM is a graceful stop.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TasksModule } from '@conveyor/tasks';
import { TOPOLOGY_QUEUES, TOPOLOGY_QUEUES_ONE_TAG, topologyTasks } from './topology-tasks';

const prefix = process.env.CONVEYOR_PREFIX!;
const connection = JSON.parse(process.env.CONVEYOR_CONNECTION!) as never;
const spread = process.env.HASH_TAGS !== 'prefix';

@Module({
  imports: [
    TasksModule.forRoot({
      connection,
      prefix,
      ...(spread
        ? { hashTags: 'queue', queues: TOPOLOGY_QUEUES }
        : { queues: TOPOLOGY_QUEUES_ONE_TAG }),
      shutdownTimeout: 5_000,
      leaseDuration: '3s',
    }),
  ],
  providers: [topologyTasks(prefix, process.env.LEDGER_URL)],
})
class WorkerModule {}

void NestFactory.createApplicationContext(WorkerModule, { logger: ['error'] }).then((app) => {
  app.enableShutdownHooks(['SIGTERM']);
  process.stdout.write('READY\n');
});
