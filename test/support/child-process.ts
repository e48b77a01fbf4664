import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

export interface Child {
  process: ChildProcess;
  /** Resolves when the child has printed a line matching `pattern`; returns the match. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Everything the child printed on stdout so far. */
  output(): string;
}

/** Starts one of `test/support/children/*.ts` as a real Node process. */
export function startChild(script: string, env: Record<string, string>): Child {
  const dir = path.join(__dirname, 'children');
  const child = spawn(
    process.execPath,
    ['-r', path.join(dir, 'register.js'), path.join(dir, script)],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let output = '';
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    listeners.forEach((listener) => listener());
  });
  return {
    process: child,
    output: () => output,
    waitFor: (pattern, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = output.match(pattern);
          if (!match) return;
          cleanup();
          resolve(match);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`child ${script} did not print ${pattern} within ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }),
    kill: (signal = 'SIGKILL') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}
