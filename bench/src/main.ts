import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { calibrate } from './calibrate';
import type { ContenderName } from './contenders';
import {
  enqueueScenarios,
  latencyScenarios,
  processingScenarios,
  rssChild,
  rssScenarios,
  type ScenarioResult,
} from './queue-scenarios';
import { printTable, versusBaseline } from './report';
import { FULL, QUICK } from './settings';
import { threadScenarios } from './thread-scenarios';

const root = path.resolve(__dirname, '..', '..');

function version(pkg: string): string {
  const file = path.join(root, 'node_modules', pkg, 'package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

function tool(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8' }).trim().split('\n')[0];
  } catch {
    return 'unavailable';
  }
}

function machine() {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverage: os.loadavg(),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--rss-child') {
    await rssChild(args[1] as ContenderName, args[2], Number(args[3]), Number(args[4]));
    return;
  }
  const settings = args.includes('--full') ? FULL : QUICK;
  const only = args
    .find((a) => a.startsWith('--only='))
    ?.slice('--only='.length)
    .split(',');
  const wanted = (group: string) => !only || only.includes(group);
  const started = new Date();
  const loadBefore = os.loadavg();
  process.stderr.write(`conveyor bench (${settings.mode}), ${settings.rounds} rounds\n`);

  const calibration = wanted('calibration') ? await calibrate(settings) : undefined;
  const scenarios: ScenarioResult[] = [];
  if (wanted('enqueue')) scenarios.push(...(await enqueueScenarios(settings)));
  if (wanted('processing')) scenarios.push(...(await processingScenarios(settings)));
  if (wanted('latency')) scenarios.push(...(await latencyScenarios(settings)));
  if (wanted('memory')) scenarios.push(...(await rssScenarios(settings)));
  if (wanted('control')) {
    const { controlScenarios } = await import('./control-scenarios');
    scenarios.push(...(await controlScenarios(settings)));
  }
  if (wanted('threads')) scenarios.push(...(await threadScenarios(settings)));
  if (wanted('dashboard')) {
    const { dashboardScenarios } = await import('./dashboard-scenarios');
    scenarios.push(...(await dashboardScenarios(settings)));
  }
  if (wanted('outbox')) {
    // Loaded here, after the queue scenarios, not at the top: @conveyor/outbox loads
    // nestjs-cls, which turns AsyncLocalStorage on when it loads (Node 20: a hook on every
    // promise of the process; 2M awaits took 471 ms instead of 181). Loaded first, it slowed
    // every queue contender, and Conveyor's worker, with more awaits per job, the most.
    const { outboxScenarios } = await import('./outbox-scenarios');
    scenarios.push(...(await outboxScenarios(settings)));
  }

  const report = {
    started: started.toISOString(),
    seconds: Math.round((Date.now() - started.getTime()) / 1000),
    machine: { ...machine(), loadAverageAtStart: loadBefore },
    versions: {
      bullmq: version('bullmq'),
      '@nestjs/bullmq': version('@nestjs/bullmq'),
      '@nestjs/core': version('@nestjs/core'),
      ioredis: version('ioredis'),
      pg: version('pg'),
      redis: tool('redis-server', ['--version']),
      postgres: tool('psql', ['-h', '127.0.0.1', '-d', 'test', '-tAc', 'show server_version']),
    },
    settings,
    calibration,
    // Each with its comparisons to the baseline as the table shows them (medians, paired).
    scenarios: scenarios.map((s) => ({
      ...s,
      versus: Object.fromEntries(
        Object.keys(s.contenders).flatMap((name) => {
          const versus = versusBaseline(s, name);
          return versus ? [[name, versus]] : [];
        }),
      ),
    })),
  };
  printTable(report.machine, calibration, scenarios);
  const dir = path.join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(
    dir,
    `${settings.mode}-${started.toISOString().replace(/[:.]/g, '-')}.json`,
  );
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(`\nresults: ${path.relative(root, file)} (${report.seconds} s)\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
