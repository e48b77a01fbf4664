import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutboxDriverMissingError } from '../errors';
import { resolveOutboxOptions } from '../options/module-options';
import { createDriver } from './create-driver';
import { type DriverLoader, loadDriver } from './load-driver';

/** A module name nothing installs: what importing a driver that is not installed meets. */
const NOT_INSTALLED = 'conveyor-test-driver-not-installed';

/** The real loader, pointed at a module that is not there whatever package is asked for. */
const nothingInstalled: DriverLoader = (pkg) => loadDriver(pkg, NOT_INSTALLED);

describe('loading the database driver', () => {
  it('fails the default options without PGlite with the options to give and the install command', async () => {
    const opening = createDriver(resolveOutboxOptions({}).database, nothingInstalled);
    await expect(opening).rejects.toBeInstanceOf(OutboxDriverMissingError);
    const error = (await opening.catch((e: unknown) => e)) as OutboxDriverMissingError;
    expect(error.name).toBe('OutboxDriverMissingError');
    expect(error.packageName).toBe('@electric-sql/pglite');
    expect(error.message).toContain('npm install @electric-sql/pglite');
    for (const option of ['url', 'pool', 'pglite', 'typeorm']) {
      expect(error.message).toMatch(new RegExp(`\\b${option}\\b`));
    }
    // The resolution failure itself, as Node (here Jest's resolver) reported it.
    expect(error.cause).toMatchObject({ code: 'MODULE_NOT_FOUND' });
    expect(String((error.cause as Error).message)).toContain(`'${NOT_INSTALLED}'`);
  });

  it('fails pglite: { dataDir } without PGlite the same way', async () => {
    const database = resolveOutboxOptions({ pglite: { dataDir: '/nonexistent' } }).database;
    await expect(createDriver(database, nothingInstalled)).rejects.toMatchObject({
      name: 'OutboxDriverMissingError',
      packageName: '@electric-sql/pglite',
    });
  });

  it('fails url without pg with its install command and the PGlite alternative', async () => {
    const database = resolveOutboxOptions({ url: 'postgresql://u@127.0.0.1:1/db' }).database;
    const opening = createDriver(database, nothingInstalled);
    await expect(opening).rejects.toBeInstanceOf(OutboxDriverMissingError);
    await expect(opening).rejects.toMatchObject({ packageName: 'pg' });
    await expect(opening).rejects.toThrow(/npm install pg\b/);
    await expect(opening).rejects.toThrow(/npm install @electric-sql\/pglite/);
  });

  it('loads the installed drivers', async () => {
    expect(typeof (await loadDriver('pg')).Pool).toBe('function');
    expect(typeof (await loadDriver('@electric-sql/pglite')).PGlite).toBe('function');
  });

  it('rethrows the error of a module that is there but cannot load one of its own imports', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'conveyor-driver-'));
    const broken = join(dir, 'broken-driver.js');
    await writeFile(broken, `require('${NOT_INSTALLED}');\n`);
    try {
      const loading = loadDriver('pg', broken);
      await expect(loading).rejects.not.toBeInstanceOf(OutboxDriverMissingError);
      await expect(loading).rejects.toMatchObject({ code: 'MODULE_NOT_FOUND' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
