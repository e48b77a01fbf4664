#!/usr/bin/env node
// Starts the order service (already built by `npm start`). If Redis does not answer at
// REDIS_URL and a redis-server binary is on PATH, starts a private one for the app and stops
// it on exit; without one, says how to get Redis and exits non-zero.
const { spawn, spawnSync } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');

const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const host = url.hostname || '127.0.0.1';
const port = Number(url.port || 6379);

function redisAnswers() {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (answer) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    // A password-protected Redis answers NOAUTH: it is there all the same.
    socket.on('data', (data) => done(/^(\+PONG|-NOAUTH)/.test(data.toString())));
  });
}

async function waitForRedis(ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await redisAnswers()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

async function main() {
  let privateRedis;
  if (!(await redisAnswers())) {
    const local = ['127.0.0.1', 'localhost', '::1'].includes(host);
    const found = spawnSync('sh', ['-c', 'command -v redis-server']).status === 0;
    if (!local || !found) {
      console.error(
        `Redis is not reachable at ${url.protocol}//${host}:${port}.\n` +
          (local
            ? 'Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or start one,\n' +
              'or point REDIS_URL at a running Redis 6.2+.'
            : 'Start it, or point REDIS_URL at a running Redis 6.2+.'),
      );
      process.exit(1);
    }
    console.log(`[start] no Redis on ${host}:${port}; starting a private redis-server for the app`);
    privateRedis = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    if (!(await waitForRedis(10_000))) {
      console.error('[start] the private redis-server did not come up');
      privateRedis.kill();
      process.exit(1);
    }
  }

  const app = spawn(process.execPath, [path.join(__dirname, '..', 'dist', 'main.js')], {
    stdio: 'inherit',
  });
  const stop = (signal) => app.kill(signal);
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  app.on('exit', (code, signal) => {
    if (privateRedis) privateRedis.kill('SIGTERM');
    process.exit(code ?? (signal ? 0 : 1));
  });
}

void main();
