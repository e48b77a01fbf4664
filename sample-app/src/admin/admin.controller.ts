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
import { DeadLetters, type DeadLetterFilter } from '@conveyor/tasks';
import { z } from 'zod';
import { FakePaymentGateway } from '../orders/fake-providers';
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
  ) {}

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
}
