import type { CanActivate, Type } from '@nestjs/common';
import { checkKnownKeys, type Fail } from '@conveyor/tasks/internal';
import { InvalidDashboardOptionsError } from './errors/invalid-dashboard-options.error';
import type { DashboardModuleOptions } from './interfaces/dashboard-options.interface';

/** Dashboard options checked once at startup, with defaults applied. */
export interface ResolvedDashboardOptions {
  token?: string;
  guard?: Type<CanActivate>;
  readOnly: boolean;
  searchScanLimit: number;
}

const fail: Fail = (problem) => {
  throw new InvalidDashboardOptionsError(problem);
};

export function resolveDashboardOptions(
  options: DashboardModuleOptions = {},
): ResolvedDashboardOptions {
  checkKnownKeys(
    { ...options },
    ['token', 'guard', 'readOnly', 'searchScanLimit'],
    'DashboardModule options',
    fail,
  );
  const { token, guard, readOnly = false, searchScanLimit = 1_000 } = options;
  if (token !== undefined && (typeof token !== 'string' || token === '')) {
    fail('token must be a non-empty string (an unset variable gives undefined, and is refused)');
  }
  if (guard !== undefined && typeof guard !== 'function') {
    fail('guard must be a guard class (a CanActivate type)');
  }
  if (token === undefined && guard === undefined) {
    fail(
      'give a token or a guard: the dashboard can pause queues and replay jobs, so it is never served open (pass token: process.env.ADMIN_TOKEN, or guard: YourAdminGuard)',
    );
  }
  if (typeof readOnly !== 'boolean') fail(`readOnly must be a boolean, got ${String(readOnly)}`);
  if (!Number.isInteger(searchScanLimit) || searchScanLimit < 10 || searchScanLimit > 100_000) {
    fail(`searchScanLimit must be an integer from 10 to 100000, got ${String(searchScanLimit)}`);
  }
  return { token, guard, readOnly, searchScanLimit };
}

/** `/conveyor`, `conveyor/` → `/conveyor`; the page and its API hang under it. */
export function normalizePath(path: unknown): string {
  if (typeof path !== 'string' || !/^\/?[\w\-./~]*$/.test(path)) {
    fail(`path must be a URL path like '/conveyor', got ${JSON.stringify(path)}`);
  }
  const trimmed = (path as string).replace(/^\/+|\/+$/g, '');
  if (!trimmed) fail("path must not be the root: give one like '/conveyor'");
  return `/${trimmed}`;
}
