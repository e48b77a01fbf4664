#!/usr/bin/env node
// The consumer test: what a new user does, from nothing but the registry and our tarballs.
//
// `npm pack` each package, then for each app below: a fresh directory, the NestJS version's own
// packages, then the install commands of the packages' READMEs as written (the first `npm i` /
// `npm install` line of each, with `@conveyor/<name>` replaced by its tarball; no
// --legacy-peer-deps), `tsc` with `strict` and `skipLibCheck: false`, boot the app, run a
// task through HTTP, read /health/ready and /metrics, and open the dashboard and its API; then run, with Jest, the files the
// @conveyor/testing README marks `<!-- consumer-test: <path> -->` (its Jest config and unit
// tests), as written. Exits non-zero on the first failure.
//
//   node test/consumer/run.mjs            # both apps
//   node test/consumer/run.mjs esm-nest12 # one
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PACKAGES = ['tasks', 'outbox', 'health', 'metrics', 'dashboard', 'testing'];
const DASHBOARD_TOKEN = 'consumer-dashboard-token';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgresql://root@127.0.0.1:5432/test';

/** The apps: how each is set up, as a team on that NestJS version has it. */
const APPS = [
  {
    name: 'cjs-nest10',
    nest: '^10.0.0',
    packageType: 'commonjs',
    compilerOptions: { module: 'commonjs', moduleResolution: 'node10' },
    // The health README's line for NestJS 10: Terminus 11 and 12 need NestJS 11+; the testing
    // README's: @nestjs/testing of the app's major.
    pins: {
      '@nestjs/terminus': '@nestjs/terminus@^10.0.0',
      '@nestjs/testing': '@nestjs/testing@^10.0.0',
    },
  },
  {
    name: 'cjs-nest11',
    nest: '^11.0.0',
    packageType: 'commonjs',
    compilerOptions: { module: 'commonjs', moduleResolution: 'node10' },
    pins: { '@nestjs/testing': '@nestjs/testing@^11.0.0' },
  },
  {
    name: 'esm-nest12',
    nest: '^12.0.0',
    packageType: 'module',
    compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' },
  },
];

const npmEnv = {
  ...process.env,
  npm_config_audit: 'false',
  npm_config_fund: 'false',
  npm_config_update_notifier: 'false',
  npm_config_loglevel: 'error',
};

function sh(command, args, cwd) {
  const started = Date.now();
  // The registry can drop a request: an install gets three tries; anything else one.
  const tries = command === 'npm' ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    process.stdout.write(`$ ${[command, ...args].join(' ')}\n`);
    try {
      execFileSync(command, args, { cwd, stdio: 'inherit', env: npmEnv });
      return Date.now() - started;
    } catch (error) {
      if (attempt >= tries) throw error;
      process.stdout.write(`  (try ${attempt} failed; again)\n`);
    }
  }
}

/**
 * The install commands of a package's README, as words: its first `npm i` / `npm install`
 * line and the `npm` lines after it in the same code block; continued lines (`\\`) joined,
 * `#` comments dropped.
 */
function readmeInstalls(name) {
  const readme = readFileSync(path.join(root, 'packages', name, 'README.md'), 'utf8');
  const lines = readme.split('\n');
  const start = lines.findIndex((line) => /^npm (?:i|install) /.test(line));
  if (start < 0) throw new Error(`packages/${name}/README.md has no npm install command`);
  const commands = [];
  let words = [];
  for (let i = start; i < lines.length && !lines[i].startsWith('```'); i++) {
    const text = lines[i].replace(/#.*$/, '').trim();
    words.push(...text.replace(/\\$/, '').split(/\s+/).filter(Boolean));
    if (text.endsWith('\\')) continue;
    if (words[0] === 'npm') commands.push(words.slice(1));
    words = [];
  }
  return commands;
}

/**
 * The files a README marks for this test: each `<!-- consumer-test: <path> -->` and the fenced
 * code block after it, as written.
 */
function readmeFiles(name) {
  const readme = readFileSync(path.join(root, 'packages', name, 'README.md'), 'utf8');
  const files = [];
  const marker = /<!-- consumer-test: (\S+) -->\s*\n```\w*\n([\s\S]*?)\n```/g;
  for (const [, file, body] of readme.matchAll(marker)) files.push({ file, body: `${body}\n` });
  if (!files.length) throw new Error(`packages/${name}/README.md marks no consumer-test file`);
  return files;
}

function pack(destination) {
  const tarballs = new Map();
  for (const name of PACKAGES) {
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', destination], {
      cwd: path.join(root, 'packages', name),
      env: npmEnv,
    });
    const [{ filename }] = JSON.parse(out.toString());
    tarballs.set(`@conveyor/${name}`, path.join(destination, filename));
  }
  return tarballs;
}

async function waitForLine(child, pattern, timeoutMs) {
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${output}`)),
      timeoutMs,
    );
    const onData = (chunk) => {
      output += chunk;
      const match = pattern.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the app exited (${code}) before ${pattern}; output:\n${output}`));
    });
  });
}

function check(condition, what) {
  if (!condition) throw new Error(`consumer test: ${what}`);
  process.stdout.write(`  ok: ${what}\n`);
}

async function runApp(app, tarballs, work) {
  const dir = path.join(work, app.name);
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: app.name, private: true, type: app.packageType }, null, 2),
  );
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          strict: true,
          skipLibCheck: false,
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          outDir: 'dist',
          rootDir: 'src',
          types: ['node'],
          ...app.compilerOptions,
        },
        include: ['src'],
      },
      null,
      2,
    ),
  );
  writeFileSync(path.join(dir, 'src', 'main.ts'), readFileSync(path.join(here, 'app', 'main.ts')));

  const times = {};
  times.nest = sh(
    'npm',
    [
      'install',
      `@nestjs/common@${app.nest}`,
      `@nestjs/core@${app.nest}`,
      `@nestjs/platform-express@${app.nest}`,
      'reflect-metadata',
      'rxjs',
    ],
    dir,
  );
  sh('npm', ['install', '--save-dev', 'typescript@5', '@types/node@20'], dir);
  // The READMEs' own commands, in the order a reader meets them.
  times.conveyor = 0;
  for (const name of PACKAGES) {
    for (const command of readmeInstalls(name)) {
      const words = command.map((word) => tarballs.get(word) ?? app.pins?.[word] ?? word);
      times.conveyor += sh('npm', words, dir);
    }
  }
  times.tsc = sh('npx', ['tsc', '-p', '.'], dir);
  // The testing README's Jest set-up and unit tests, inline and manual mode, no Redis.
  for (const { file, body } of readmeFiles('testing')) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), body);
  }
  times.jest = sh('npx', ['jest', '--ci'], dir);
  check(true, `${app.name}: the @conveyor/testing README's Jest tests pass`);

  const prefix = `consumer-${randomUUID().slice(0, 8)}`;
  const table = `consumer_${randomUUID().slice(0, 8)}`;
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: dir,
    env: {
      ...process.env,
      REDIS_URL,
      DATABASE_URL,
      OUTBOX_TABLE: table,
      CONVEYOR_PREFIX: prefix,
      SHUTDOWN_TIMEOUT: '2s',
      DASHBOARD_TOKEN,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const [, url] = await waitForLine(child, /LISTENING (\S+)/, 30_000);
    const base = url.replace('[::1]', '127.0.0.1');
    const sum = await fetch(`${base}/add`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: 2, b: 3 }),
    });
    check(sum.status === 201, `${app.name}: POST /add answered ${sum.status}`);
    check((await sum.json()).sum === 5, `${app.name}: the task ran in the app's worker: 2 + 3 = 5`);
    const emitted = await fetch(`${base}/sums`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: 4, b: 5 }),
    });
    check(
      emitted.status === 201,
      `${app.name}: POST /sums (an outbox event) answered ${emitted.status}`,
    );
    check(
      await eventually(async () =>
        /conveyor_tasks_succeeded_total\{[^}]*task="math\.add"[^}]*\} 2/.test(
          await (await fetch(`${base}/metrics`)).text(),
        ),
      ),
      `${app.name}: the relay published the event and its task ran`,
    );
    const ready = await fetch(`${base}/health/ready`);
    const readyBody = await ready.json();
    check(ready.status === 200, `${app.name}: GET /health/ready answered ${ready.status}`);
    check(readyBody.info?.redis?.status === 'up', `${app.name}: /health/ready reports Redis up`);
    const metrics = await fetch(`${base}/metrics`);
    const text = await metrics.text();
    check(metrics.status === 200, `${app.name}: GET /metrics answered ${metrics.status}`);
    check(
      /conveyor_tasks_succeeded_total\{[^}]*task="math\.add"[^}]*\} 2/.test(text),
      `${app.name}: /metrics counts both runs`,
    );
    const page = await fetch(`${base}/conveyor`);
    check(
      page.status === 200 && /<script type="module"/.test(await page.text()),
      `${app.name}: GET /conveyor serves the dashboard's page`,
    );
    const script = await fetch(`${base}/conveyor/assets/app.js`);
    check(script.status === 200, `${app.name}: the page's script is served from the package`);
    const refused = await fetch(`${base}/conveyor/api/overview`);
    check(
      refused.status === 401,
      `${app.name}: the dashboard's API refuses a call without the token`,
    );
    const overview = await fetch(`${base}/conveyor/api/overview`, {
      headers: { authorization: `Bearer ${DASHBOARD_TOKEN}` },
    });
    const queues = (await overview.json()).queues ?? [];
    check(
      overview.status === 200 &&
        queues.some((q) => q.queue === 'default' && q.tasks.includes('math.add')),
      `${app.name}: the dashboard's overview lists the queue of math.add`,
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) =>
      child.exitCode !== null ? resolve() : child.once('exit', resolve),
    );
    cleanRedis(prefix);
    dropTable(table);
  }
  process.stdout.write(`${app.name}: ${JSON.stringify(times)} ms\n`);
}

/** Polls `probe` every 100 ms for up to 15 s; resolves with whether it came true. */
async function eventually(probe) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await probe()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

function dropTable(table) {
  execFileSync(
    process.execPath,
    [
      '-e',
      `const { Client } = require('pg');
       const c = new Client(process.argv[1]);
       c.connect().then(() => c.query('DROP TABLE IF EXISTS "' + process.argv[2] + '"')).finally(() => c.end());`,
      DATABASE_URL,
      table,
    ],
    { cwd: root, stdio: 'inherit' },
  );
}

function cleanRedis(prefix) {
  // The monorepo's ioredis, to remove what the app wrote under its prefix.
  execFileSync(
    process.execPath,
    [
      '-e',
      `const { Redis } = require('ioredis');
       const r = new Redis(process.argv[1]);
       (async () => {
         let cursor = '0';
         do {
           const [next, keys] = await r.scan(cursor, 'MATCH', '{' + process.argv[2] + '}:*', 'COUNT', 1000);
           cursor = next;
           if (keys.length) await r.del(...keys);
         } while (cursor !== '0');
         r.disconnect();
       })();`,
      REDIS_URL,
      prefix,
    ],
    { cwd: root, stdio: 'inherit' },
  );
}

async function main() {
  const only = process.argv.slice(2);
  const work = mkdtempSync(path.join(tmpdir(), 'conveyor-consumer-'));
  try {
    const tarballs = pack(work);
    for (const app of APPS.filter((a) => !only.length || only.includes(a.name))) {
      await runApp(app, tarballs, work);
    }
  } finally {
    if (!process.env.KEEP_CONSUMER_APPS) rmSync(work, { recursive: true, force: true });
    else process.stdout.write(`apps kept in ${work}\n`);
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
