import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  ForbiddenException,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { createHash, timingSafeEqual } from 'node:crypto';
import { lastValueFrom, isObservable } from 'rxjs';
import { DASHBOARD_OPTIONS } from '../dashboard.constants';
import type { ResolvedDashboardOptions } from '../dashboard.options';

/**
 * Lets an API request through when it carries the configured token (`Authorization: Bearer`)
 * and passes the configured guard; with both configured, both must pass. The options check
 * makes sure at least one is there, so the API is never open.
 */
@Injectable()
export class DashboardAccessGuard implements CanActivate {
  private hostGuard?: Promise<CanActivate>;

  constructor(
    @Inject(DASHBOARD_OPTIONS) private readonly options: ResolvedDashboardOptions,
    private readonly moduleRef: ModuleRef,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const { token, guard } = this.options;
    if (!token && !guard) throw new UnauthorizedException('the dashboard has no token nor guard');
    const request = context
      .switchToHttp()
      .getRequest<{ method: string; headers: Record<string, unknown> }>();
    // A guard on cookies would let another site's form post an action with them. A form
    // cannot send JSON, and a script on another origin cannot without CORS, so actions
    // must come as JSON.
    if (request.method !== 'GET' && !isJson(request.headers['content-type'])) {
      throw new ForbiddenException('dashboard actions must be sent as application/json');
    }
    if (token) {
      const header = request.headers.authorization;
      const given =
        typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : '';
      if (!given) throw new UnauthorizedException('the dashboard needs its token');
      if (!sameSecret(given, token)) throw new UnauthorizedException('wrong dashboard token');
    }
    if (guard) {
      const instance = await (this.hostGuard ??= this.resolveGuard());
      const allowed = instance.canActivate(context);
      const passed = isObservable(allowed) ? await lastValueFrom(allowed) : await allowed;
      if (!passed) throw new UnauthorizedException('the dashboard guard refused the request');
    }
    return true;
  }

  private async resolveGuard(): Promise<CanActivate> {
    const type = this.options.guard!;
    try {
      return this.moduleRef.get(type, { strict: false });
    } catch {
      // Not a provider of the app: made here, once, with the dashboard module's injector.
      return this.moduleRef.create(type);
    }
  }
}

/** Compares digests, so neither the content nor the length of the token leaks by timing. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function isJson(type: unknown): boolean {
  return typeof type === 'string' && /^application\/json\s*(;|$)/i.test(type);
}
