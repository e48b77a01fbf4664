import {
  Body,
  Controller,
  Delete,
  Get,
  Param,
  Post,
  Put,
  Query,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { DeadLetters, type DeadLetterFilter, step, TaskProducer } from '@conveyor/tasks';
import { z } from 'zod';
import { FakePaymentGateway } from '../orders/fake-providers';
import { RegionTotals, REGIONS, SummarizeRegions } from '../reports/report.tasks';
import { ZodBody } from '../validation.pipe';
import { AdminGuard } from './admin.guard';
import { ConveyorErrorsFilter } from './conveyor-errors.filter';

const Filter = z
  .object({
    taskName: z.string().optional(),
    errorName: z.string().optional(),
    messageIncludes: z.string().optional(),
    failedBefore: z.coerce.date().optional(),
    failedAfter: z.coerce.date().optional(),
  })
  .strict();
const Page = z.object({
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

/** Dead-letter operations over HTTP, for operators. */
@Controller('admin')
@UseGuards(AdminGuard)
@UseFilters(ConveyorErrorsFilter)
export class AdminController {
  constructor(
    private readonly deadLetters: DeadLetters,
    private readonly payments: FakePaymentGateway,
    private readonly producer: TaskProducer,
  ) {}

  /** A chord: one job per region in parallel, then one summary of all their results. */
  @Post('reports/summary')
  async regionSummary() {
    const handle = await this.producer.chord(
      REGIONS.map((region) => step(RegionTotals, { region })),
      step(SummarizeRegions),
    );
    return handle.result({ timeout: '30s' });
  }

  /** Schedules (the nightly report) with their next run. */
  @Get('schedules')
  schedules() {
    return this.producer.schedules();
  }

  /** Dead-letter counts per queue. */
  @Get('dead-letters')
  async summary() {
    const queues = this.deadLetters.queueNames();
    const counts = await Promise.all(queues.map((queue) => this.deadLetters.count(queue)));
    return { queues: Object.fromEntries(queues.map((queue, i) => [queue, counts[i]])) };
  }

  @Get('dead-letters/:queue')
  list(@Param('queue') queue: string, @Query(new ZodBody(Page)) page: z.infer<typeof Page>) {
    return this.deadLetters.list(queue, page);
  }

  @Get('dead-letters/:queue/:id')
  show(@Param('queue') queue: string, @Param('id') id: string) {
    return this.deadLetters.show(queue, id);
  }

  @Post('dead-letters/:queue/:id/replay')
  async replay(@Param('queue') queue: string, @Param('id') id: string) {
    const handle = await this.deadLetters.replay(queue, id);
    return { replayed: handle.id };
  }

  /** Replays every dead letter of the queue that matches the body's filter (all for `{}`). */
  @Post('dead-letters/:queue/replay')
  replayMany(@Param('queue') queue: string, @Body(new ZodBody(Filter)) filter: DeadLetterFilter) {
    return this.deadLetters.replayWhere(queue, filter);
  }

  @Delete('dead-letters/:queue/:id')
  async purge(@Param('queue') queue: string, @Param('id') id: string) {
    return { purged: (await this.deadLetters.purge(queue, id)) ? 1 : 0 };
  }

  @Delete('dead-letters/:queue')
  async purgeMany(
    @Param('queue') queue: string,
    @Body(new ZodBody(Filter.default({}))) filter: DeadLetterFilter,
  ) {
    return { purged: await this.deadLetters.purgeWhere(queue, filter) };
  }

  /** The demo's "fix": raise the fake provider's limit, then replay the declined payments. */
  @Put('payment-limit')
  setLimit(
    @Body(new ZodBody(z.object({ limitCents: z.number().int().positive() })))
    body: {
      limitCents: number;
    },
  ) {
    this.payments.setLimit(body.limitCents);
    return { limitCents: this.payments.limit };
  }

  /** The demo's throttle: the provider answers the next charges with 429 and a Retry-After. */
  @Put('payment-throttle')
  throttle(
    @Body(
      new ZodBody(
        z.object({
          charges: z.number().int().nonnegative(),
          retryAfterSeconds: z.number().int().positive(),
        }),
      ),
    )
    body: {
      charges: number;
      retryAfterSeconds: number;
    },
  ) {
    this.payments.throttle(body.charges, body.retryAfterSeconds);
    return body;
  }
}
