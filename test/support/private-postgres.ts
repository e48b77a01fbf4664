import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './private-redis';

const run = promisify(execFile);
const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/**
 * A throwaway PostgreSQL cluster (initdb + pg_ctl) on a free port in a temp dir, owned by one
 * test, which can be stopped (`immediate`: a crash, no checkpoint) and started again on the
 * same port and data. PostgreSQL refuses to run as root, so as root the cluster runs as the
 * `postgres` user through `runuser`.
 */
export class PrivatePostgres {
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(): Promise<PrivatePostgres> {
    const dir = mkdtempSync(path.join(tmpdir(), 'conveyor-pg-'));
    const pg = new PrivatePostgres(await freePort(), dir);
    if (asRoot()) chownSync(dir, Number(id('-u')), Number(id('-g')));
    await pg.exec('initdb', ['-D', pg.data, '-U', 'postgres', '-A', 'trust', '--no-sync']);
    await pg.start();
    return pg;
  }

  get data(): string {
    return path.join(this.dir, 'data');
  }

  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    const settings = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    await this.exec('pg_ctl', ['-D', this.data, '-o', settings, '-l', `${this.dir}/log`, '-w']);
  }

  /** Stops the cluster; `immediate` is a crash (recovery from WAL on the next start). */
  async stop(mode: 'immediate' | 'fast' = 'immediate'): Promise<void> {
    await this.exec('pg_ctl', ['-D', this.data, '-m', mode, '-w', 'stop']).catch(() => undefined);
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async exec(tool: string, args: string[]): Promise<void> {
    // pg_ctl's command comes last: start/stop are positional.
    const full = tool === 'pg_ctl' && !args.includes('stop') ? [...args, 'start'] : args;
    const command = asRoot() ? 'runuser' : path.join(BIN, tool);
    const argv = asRoot() ? ['-u', 'postgres', '--', path.join(BIN, tool), ...full] : full;
    await run(command, argv, { timeout: 60_000 });
  }
}

function asRoot(): boolean {
  return userInfo().uid === 0;
}

function id(flag: '-u' | '-g'): string {
  return execFileSync('id', [flag, 'postgres']).toString().trim();
}
