import { OutboxDriverMissingError, type OutboxDriverPackage } from '../errors';

/** The driver modules, imported on first use: each is an optional peer dependency. */
const IMPORTS = {
  pg: () => import('pg'),
  '@electric-sql/pglite': () => import('@electric-sql/pglite'),
} satisfies Record<OutboxDriverPackage, () => Promise<unknown>>;

/** A driver package's module, as `import()` gives it. */
export type DriverModule<P extends OutboxDriverPackage> = Awaited<ReturnType<(typeof IMPORTS)[P]>>;

/** How `createDriver` loads a driver package (`loadDriver`, unless a test says otherwise). */
export type DriverLoader = <P extends OutboxDriverPackage>(pkg: P) => Promise<DriverModule<P>>;

/**
 * Imports driver package `pkg`; when it is not installed, rejects with
 * `OutboxDriverMissingError` (which options need it, how to install it) instead of Node's
 * bare "Cannot find module". A package that is there but fails to load (one of its own
 * dependencies missing, say) rejects with its own error.
 *
 * `specifier` imports that module instead of `pkg`, for tests: a name nothing installs
 * shows what happens without the package, in a repository that has it.
 */
export async function loadDriver<P extends OutboxDriverPackage>(
  pkg: P,
  specifier?: string,
): Promise<DriverModule<P>> {
  try {
    return specifier === undefined
      ? await (IMPORTS[pkg]() as Promise<DriverModule<P>>)
      : ((await import(specifier)) as DriverModule<P>);
  } catch (error) {
    if (isNotFound(error, specifier ?? pkg)) {
      throw new OutboxDriverMissingError(pkg, { cause: error });
    }
    throw error;
  }
}

/**
 * Whether `error` says module `name` itself cannot be found: `require` ("Cannot find module
 * 'pg'"), `import()` ("Cannot find package 'pg' imported from …") and Jest's resolver
 * ("Cannot find module 'pg' from …") start with it. A dependency of the package that is
 * missing is named there instead.
 */
function isNotFound(error: unknown, name: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (
    (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') &&
    typeof message === 'string' &&
    (message.startsWith(`Cannot find module '${name}'`) ||
      message.startsWith(`Cannot find package '${name}'`))
  );
}
