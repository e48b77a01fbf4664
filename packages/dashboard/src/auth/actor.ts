import { USER_HEADER } from '../dashboard.constants';

/** Who asked for an action, for the log; `via` says how much to trust the name. */
export interface Actor {
  name: string;
  via: 'guard' | 'header' | 'token';
}

/** The part of a request this reads. */
export interface ActorRequest {
  user?: unknown;
  headers: Record<string, string | string[] | undefined>;
}

const NAME_KEYS = ['username', 'name', 'email', 'sub', 'id'] as const;

/**
 * The guard's `request.user` (its first of username, name, email, sub, id), else the name the
 * page sent in `x-conveyor-user` (self-declared: whoever holds the token can say anything),
 * else `token`.
 */
export function actorOf(request: ActorRequest): Actor {
  const user = request.user;
  if (typeof user === 'string' && user) return { name: clip(user), via: 'guard' };
  if (user && typeof user === 'object') {
    for (const key of NAME_KEYS) {
      const value = (user as Record<string, unknown>)[key];
      if (typeof value === 'string' || typeof value === 'number') {
        return { name: clip(String(value)), via: 'guard' };
      }
    }
  }
  const header = request.headers[USER_HEADER];
  const named = (Array.isArray(header) ? header[0] : header)?.trim();
  if (named) return { name: clip(named), via: 'header' };
  return { name: 'token', via: 'token' };
}

function clip(name: string): string {
  // A log line must stay one line, and short.
  return name.replace(/[\r\n\t]/g, ' ').slice(0, 100);
}
