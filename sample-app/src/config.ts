import { z } from 'zod';

/** Which parts of the app this process runs. */
export type Role = 'api' | 'worker' | 'relay';
export const ROLES: readonly Role[] = ['api', 'worker', 'relay'];

const Env = z.object({
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /** Absent: an embedded PGlite (in memory, or in PGLITE_DIR). */
  DATABASE_URL: z.string().optional(),
  PGLITE_DIR: z.string().optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Address the HTTP server listens on (`0.0.0.0` in a container). */
  HOST: z.string().min(1).default('127.0.0.1'),
  /**
   * Serves Conveyor's `/live` and `/ready` probe on this port (on 0.0.0.0), for processes
   * without the `api` role. Absent: no probe server.
   */
  PROBE_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Admin routes refuse every request while this is unset. */
  ADMIN_TOKEN: z
    .string()
    .optional()
    .transform((token) => token || undefined),
  /** `api,worker,relay` (default: all three in one process). */
  ROLES: z
    .string()
    .default(ROLES.join(','))
    .transform((text) => text.split(',').map((role) => role.trim()))
    .pipe(z.array(z.enum(['api', 'worker', 'relay'])).min(1)),
  /** Key prefix in Redis. */
  CONVEYOR_PREFIX: z.string().default('orders'),
  /** The fake payment provider declines charges above this amount. */
  PAYMENT_LIMIT_CENTS: z.coerce.number().int().positive().default(100_000),
  /**
   * Orders above this amount run as a saga that waits for an admin's approval before the
   * charge (POST /admin/orders/:id/approve or /reject).
   */
  APPROVAL_THRESHOLD_CENTS: z.coerce.number().int().positive().default(500_000),
  /** Chance (0–1) that the fake mail provider fails a send, to show retries. */
  MAIL_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0.3),
  /** How long the fake mail provider takes per send, e.g. to have a send in flight on SIGTERM. */
  MAIL_LATENCY_MS: z.coerce.number().int().min(0).default(20),
});

export type AppConfig = z.infer<typeof Env>;

/** Reads and checks the environment once, with a message naming each bad variable. */
export function loadConfig(env: Record<string, unknown>): AppConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.')}: ${issue.message}`,
    );
    throw new Error(`Invalid configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}
