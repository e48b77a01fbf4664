import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  Param,
  Post,
  Query,
  Req,
  type Type,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { actorOf, type ActorRequest } from '../auth/actor';
import { DashboardAccessGuard } from '../auth/dashboard-access.guard';
import { DashboardErrorsFilter } from './conveyor-errors.filter';
import { OutboxView } from './outbox-view';
import { TenantsView } from './tenants-view';
import { WorkersView } from './workers-view';

type Strings = Record<string, string | undefined>;

/** Row ids one replay takes at most (`OutboxRelay.replaySetAside`'s bound). */
const MAX_REPLAY_IDS = 1_000;
const MAX_U64 = 2n ** 64n - 1n;
const MAX_BIGINT = 2n ** 63n - 1n;

/**
 * The operations routes under `<path>/api`: tenants (per-key limits), the outbox, workers.
 * Every route passes `DashboardAccessGuard`; the action goes through `DashboardService.act`.
 */
export function dashboardOpsController(path: string): Type {
  @Controller(`${path}/api`)
  @UseGuards(DashboardAccessGuard)
  @UseFilters(DashboardErrorsFilter)
  class DashboardOpsController {
    constructor(
      private readonly tenantsView: TenantsView,
      private readonly outboxView: OutboxView,
      private readonly workersView: WorkersView,
    ) {}

    /** Every known queue with its tasks that have per-key limits (`concurrencyKey`, `lock`). */
    @Get('tenants')
    tenantQueues() {
      return this.tenantsView.queues();
    }

    /** `{ queue, tenants: [{ task, key, running, reserved, limit, rateLimit?, parked }], cursor }`. */
    @Get('tenants/:queue')
    tenants(@Param('queue') queue: string, @Query() query: Strings) {
      const cursor = query.cursor || undefined;
      // An HSCAN cursor: an unsigned 64-bit integer; Redis refuses a larger one with an error.
      if (cursor !== undefined && !(/^\d{1,20}$/.test(cursor) && BigInt(cursor) <= MAX_U64)) {
        throw new BadRequestException('cursor must be the cursor a previous page returned');
      }
      return this.tenantsView.page(queue, {
        limit: integer(query.limit, 'limit', 100, 1, 1000),
        cursor,
      });
    }

    /** `{ enabled: false }` without an OutboxModule; else counts, lag and recent failures. */
    @Get('outbox')
    outbox(@Query() query: Strings) {
      return this.outboxView.overview(integer(query.failures, 'failures', 20, 1, 200));
    }

    /** Body `{ "ids": ["42", …] }`: those set-aside rows are published again, fresh attempts. */
    @Post('outbox/replay')
    @HttpCode(200)
    replayOutbox(@Req() request: ActorRequest, @Body() body: unknown) {
      const ids = (body as { ids?: unknown } | undefined)?.ids;
      if (
        !Array.isArray(ids) ||
        ids.length === 0 ||
        ids.length > MAX_REPLAY_IDS ||
        // Row ids are PostgreSQL bigints: a larger number would fail the cast in the query.
        ids.some(
          (id) => typeof id !== 'string' || !/^\d{1,19}$/.test(id) || BigInt(id) > MAX_BIGINT,
        )
      ) {
        throw new BadRequestException(
          `give { "ids": [...] }: 1 to ${MAX_REPLAY_IDS} row ids as decimal strings`,
        );
      }
      return this.outboxView.replaySetAside(actorOf(request), ids as string[]);
    }

    /** Every live worker process; with `?by=queue`, live worker counts per queue. */
    @Get('workers')
    workers(@Query('by') by?: string) {
      if (by === 'queue') return this.workersView.byQueue();
      if (by) throw new BadRequestException('by must be "queue" (or left out)');
      return this.workersView.list();
    }
  }
  return DashboardOpsController;
}

function integer(
  text: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new BadRequestException(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}
