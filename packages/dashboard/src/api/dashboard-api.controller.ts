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
import type { DeadLetterFilter } from '@conveyor/tasks';
import { actorOf, type ActorRequest } from '../auth/actor';
import { DashboardAccessGuard } from '../auth/dashboard-access.guard';
import { DashboardErrorsFilter } from './conveyor-errors.filter';
import { DashboardService } from './dashboard.service';
import { JobSearch } from './job-search';
import { SEARCH_STATES, type SearchState } from './job-view';

type Strings = Record<string, string | undefined>;

/** The JSON API under `<path>/api`; every route passes `DashboardAccessGuard`. */
export function dashboardApiController(path: string): Type {
  @Controller(`${path}/api`)
  @UseGuards(DashboardAccessGuard)
  @UseFilters(DashboardErrorsFilter)
  class DashboardApiController {
    constructor(
      private readonly dashboard: DashboardService,
      private readonly search: JobSearch,
    ) {}

    /** Every queue with its counts (dead letters included), whether it is paused, and its tasks. */
    @Get('overview')
    overview() {
      return this.dashboard.overview();
    }

    /**
     * Jobs by id (every queue), or in one queue by state, task and payload field. A search
     * reads a bounded number of jobs and answers with a `cursor` to go on from.
     */
    @Get('jobs')
    async jobs(@Query() query: Strings) {
      if (query.id) return { jobs: await this.dashboard.findById(query.id), cursor: null };
      if (!query.queue) throw new BadRequestException('give a queue (or an id)');
      if (query.state && !(SEARCH_STATES as readonly string[]).includes(query.state)) {
        throw new BadRequestException(`state must be one of ${SEARCH_STATES.join(', ')}`);
      }
      return this.search.find({
        queue: query.queue,
        state: (query.state || undefined) as SearchState | undefined,
        task: query.task || undefined,
        field: query.field || undefined,
        value: query.field ? query.value : undefined,
        cursor: query.cursor,
        limit: integer(query.limit, 'limit', 50, 1, 200),
      });
    }

    /** Every task with runs in `queue` over the window (`1h` by default), busiest first. */
    @Get('tasks/:queue')
    tasks(@Param('queue') queue: string, @Query('window') window?: string) {
      return this.dashboard.tasks(queue, window);
    }

    /** One task: rate, success/failure, p50/p95/p99 run time, failures grouped by error. */
    @Get('tasks/:queue/:task')
    task(
      @Param('queue') queue: string,
      @Param('task') task: string,
      @Query('window') window?: string,
    ) {
      return this.dashboard.task(queue, task, window);
    }

    @Get('jobs/:queue/:id')
    job(@Param('queue') queue: string, @Param('id') id: string) {
      return this.dashboard.job(queue, id);
    }

    @Post('queues/:queue/pause')
    @HttpCode(200)
    pause(@Req() request: ActorRequest, @Param('queue') queue: string) {
      return this.dashboard.pause(actorOf(request), queue);
    }

    @Post('queues/:queue/resume')
    @HttpCode(200)
    resume(@Req() request: ActorRequest, @Param('queue') queue: string) {
      return this.dashboard.resume(actorOf(request), queue);
    }

    @Post('jobs/:queue/:id/cancel')
    @HttpCode(200)
    cancel(@Req() request: ActorRequest, @Param('queue') queue: string, @Param('id') id: string) {
      return this.dashboard.cancel(actorOf(request), queue, id);
    }

    /** A delayed job runs now. */
    @Post('jobs/:queue/:id/promote')
    @HttpCode(200)
    promote(@Req() request: ActorRequest, @Param('queue') queue: string, @Param('id') id: string) {
      return this.dashboard.promote(actorOf(request), queue, id);
    }

    /** A dead-lettered job runs again with fresh attempts. */
    @Post('jobs/:queue/:id/retry')
    @HttpCode(200)
    retry(@Req() request: ActorRequest, @Param('queue') queue: string, @Param('id') id: string) {
      return this.dashboard.retry(actorOf(request), queue, id);
    }

    /** Dead letters that match, most recent first, a bounded read at a time (`nextOffset` goes on). */
    @Get('dead-letters/:queue')
    deadLetters(@Param('queue') queue: string, @Query() query: Strings) {
      return this.dashboard.deadLetterList(queue, filterOf(query), {
        offset: integer(query.offset, 'offset', 0, 0, Number.MAX_SAFE_INTEGER),
        limit: integer(query.limit, 'limit', 50, 1, 500),
      });
    }

    @Post('dead-letters/:queue/:id/replay')
    @HttpCode(200)
    replay(@Req() request: ActorRequest, @Param('queue') queue: string, @Param('id') id: string) {
      return this.dashboard.replay(actorOf(request), queue, id);
    }

    @Post('dead-letters/:queue/:id/purge')
    @HttpCode(200)
    purge(@Req() request: ActorRequest, @Param('queue') queue: string, @Param('id') id: string) {
      return this.dashboard.purge(actorOf(request), queue, id);
    }

    /**
     * Replays the dead letters that match `filter`; `{ "all": true }` for every one (an empty
     * filter alone is refused, so a slip never replays a whole queue).
     */
    @Post('dead-letters/:queue/replay')
    @HttpCode(200)
    replayWhere(
      @Req() request: ActorRequest,
      @Param('queue') queue: string,
      @Body() body: unknown,
    ) {
      return this.dashboard.replayWhere(actorOf(request), queue, bulkFilter(body));
    }

    /** Purges the dead letters that match `filter`, or every one with `{ "all": true }`. */
    @Post('dead-letters/:queue/purge')
    @HttpCode(200)
    purgeWhere(@Req() request: ActorRequest, @Param('queue') queue: string, @Body() body: unknown) {
      return this.dashboard.purgeWhere(actorOf(request), queue, bulkFilter(body));
    }
  }
  return DashboardApiController;
}

function integer(
  text: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
) {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new BadRequestException(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function filterOf(source: Strings): DeadLetterFilter {
  const filter: DeadLetterFilter = {};
  if (source.task) filter.taskName = source.task;
  if (source.error) filter.errorName = source.error;
  if (source.message) filter.messageIncludes = source.message;
  for (const key of ['failedBefore', 'failedAfter'] as const) {
    const text = source[key];
    if (!text) continue;
    const date = new Date(text);
    if (Number.isNaN(date.getTime())) throw new BadRequestException(`${key} must be a date`);
    filter[key] = date;
  }
  return filter;
}

function bulkFilter(body: unknown): DeadLetterFilter {
  const { all, filter } = (body ?? {}) as { all?: unknown; filter?: unknown };
  const given =
    filter && typeof filter === 'object'
      ? filterOf(
          Object.fromEntries(
            Object.entries(filter).map(([key, value]) => [
              key,
              value == null ? undefined : String(value),
            ]),
          ),
        )
      : {};
  if (Object.keys(given).length === 0 && all !== true) {
    throw new BadRequestException(
      'give a filter ({ "filter": { "task", "error", "message", "failedBefore", "failedAfter" } }) or { "all": true }',
    );
  }
  return given;
}
