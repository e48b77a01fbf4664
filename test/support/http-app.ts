import type { DynamicModule, INestApplication, Provider, Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TasksModule, type TasksModuleOptions } from '@conveyor/tasks';
import { deletePrefix, REDIS_URL, uniquePrefix } from './redis';

export interface HttpTestApp {
  app: INestApplication;
  url: string;
  prefix: string;
  get<T>(type: Type<T> | symbol): T;
  close(): Promise<void>;
}

export interface HttpAppOptions {
  tasks?: Partial<TasksModuleOptions>;
  imports?: DynamicModule[];
  controllers?: Type[];
  providers?: Provider[];
}

/**
 * Boots an HTTP Nest app with `TasksModule` (real Redis unless `tasks.connection` says
 * otherwise, own prefix) and the given modules, listening on a free port.
 */
export async function startHttpApp(options: HttpAppOptions = {}): Promise<HttpTestApp> {
  const prefix = options.tasks?.prefix ?? uniquePrefix();
  const moduleRef = await Test.createTestingModule({
    imports: [
      TasksModule.forRoot({ connection: REDIS_URL, ...options.tasks, prefix }),
      ...(options.imports ?? []),
    ],
    controllers: options.controllers ?? [],
    providers: options.providers ?? [],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  let closed = false;
  return {
    app,
    url,
    prefix,
    get: <T>(type: Type<T> | symbol) => app.get<T>(type as Type<T>),
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close();
    },
  };
}

/** Closes the apps, then removes every Redis key their prefixes wrote (on the shared Redis). */
export async function stopHttpApps(...apps: (HttpTestApp | undefined)[]): Promise<void> {
  const started = apps.filter(Boolean) as HttpTestApp[];
  await Promise.all(started.map((app) => app.close()));
  await Promise.all([...new Set(started.map((app) => app.prefix))].map(deletePrefix));
}

/** GET a path: status and body as text. */
export async function get(url: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url);
  return { status: response.status, text: await response.text() };
}

/** One sample of a Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text format (what `GET /metrics` serves) into samples. */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(
      /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g,
    )) {
      labels[key] = value;
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the sample with this name whose labels include `labels`, if any. */
export function sample(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value;
}
