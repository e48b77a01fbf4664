import type { ChildProcess } from 'node:child_process';
import { runInThisContext } from 'node:vm';

/**
 * Servers (and `redis-cli` runs) still running, killed when the test process exits: a test
 * whose teardown timed out leaves them behind, unref'd, so they never keep that process (Jest)
 * alive. One set per Node process, shared by every test file a Jest worker runs.
 *
 * The hook goes on the Node process itself: inside Jest, `process` is a copy made for each
 * test file, whose 'exit' event never fires.
 */
export function runningServers(): Set<ChildProcess> {
  const realProcess = runInThisContext('process') as NodeJS.Process;
  const key = Symbol.for('conveyor.test.redisChildren');
  const holder = realProcess as unknown as Record<symbol, Set<ChildProcess> | undefined>;
  let children = holder[key];
  if (!children) {
    const set = new Set<ChildProcess>();
    realProcess.once('exit', () => {
      for (const child of set) child.kill('SIGKILL');
    });
    holder[key] = children = set;
  }
  return children;
}
