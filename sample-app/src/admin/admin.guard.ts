import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import type { AppConfig } from '../config';
import { APP_CONFIG } from '../tokens';

/**
 * Admin routes need `Authorization: Bearer <ADMIN_TOKEN>`. With no ADMIN_TOKEN configured,
 * every request is refused: an admin area must never be open by default.
 */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.config.ADMIN_TOKEN;
    const header = context.switchToHttp().getRequest<Request>().headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (!expected)
      throw new UnauthorizedException('admin routes are disabled: ADMIN_TOKEN is not set');
    const a = Buffer.from(given);
    const b = Buffer.from(expected);
    if (a.length !== b.length || !timingSafeEqual(a, b))
      throw new UnauthorizedException('a valid admin token is required');
    return true;
  }
}
