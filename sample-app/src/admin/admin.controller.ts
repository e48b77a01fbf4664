import {
  Body,
  Controller,
  Delete,
  Get,
  Param,
  ParseUUIDPipe,
  Post,
  Put,
  Query,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import {
  CircuitBreakers,
  DeadLetters,
  type DeadLetterFilter,
  step,
  TaskControl,
  TaskProducer,
} from '@conveyor/tasks';
import { z } from 'zod';
import { FakeMailer, FakePaymentGateway } from '../orders/fake-providers';
import { RegionTotals, REGIONS, SummarizeRegions } from '../reports/report.tasks';
import { ZodBody } from '../validation.pipe';
import { AdminGuard } from './admin.guard';
import { OrdersService } from '../orders/orders.service';
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
    private readonly mailer: FakeMailer,
    private readonly producer: TaskProducer,
    private readonly control: TaskControl,
    private readonly breakers: CircuitBreakers,
    private readonly orders: OrdersService,
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

  /** The demo's outage: the fake mail provider fails every send until it ends. */
  @Put('mail-outage')
  mailOutage(@Body(new ZodBody(z.object({ down: z.boolean() }))) body: { down: boolean }) {
    this.mailer.down = body.down;
    return { down: this.mailer.down };
  }

  /** Circuit breakers: the mail provider's opens after repeated failures. */
  @Get('circuit-breakers')
  circuitBreakers() {
    return this.breakers.list();
  }

  /** Opens a breaker by hand (for a while, or until closed), e.g. for a provider's maintenance. */
  @Post('circuit-breakers/:name/open')
  async openBreaker(
    @Param('name') name: string,
    @Body(new ZodBody(z.object({ for: z.string().optional() }).strict().default({})))
    body: { for?: string },
  ) {
    await this.breakers.open(name, body.for ? { for: body.for } : undefined);
    return this.breakers.state(name);
  }

  @Post('circuit-breakers/:name/close')
  async closeBreaker(@Param('name') name: string) {
    await this.breakers.close(name);
    return this.breakers.state(name);
  }

  /** Every queue's and task's limits now: declared, and overridden at run time. */
  @Get('limits')
  limits() {
    return this.control.limits();
  }

  /** Celery's rate_limit command: change a task's limits in every worker, until reset. */
  @Put('tasks/:task/limits')
  async setTaskLimits(
    @Param('task') task: string,
    @Body(
      new ZodBody(
        z
          .object({
            maxConcurrent: z.number().int().positive().nullable().optional(),
            rateLimit: z.string().nullable().optional(),
          })
          .strict(),
      ),
    )
    body: { maxConcurrent?: number | null; rateLimit?: string | null },
  ) {
    await this.control.setTaskLimits(task, body);
    return (await this.control.limits()).flatMap((q) => q.tasks).find((t) => t.task === task);
  }

  @Post('tasks/:task/pause')
  async pauseTask(@Param('task') task: string) {
    await this.control.pauseTask(task);
    return { task, paused: true };
  }

  @Post('tasks/:task/resume')
  async resumeTask(@Param('task') task: string) {
    await this.control.resumeTask(task);
    return { task, paused: false };
  }

  /** Approves a large order waiting in its saga: the charge and the confirmation follow. */
  @Post('orders/:id/approve')
  async approve(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body(new ZodBody(z.object({ by: z.string().min(1) }).strict())) body: { by: string },
  ) {
    return { signal: await this.orders.decide(id, { approved: true, by: body.by }) };
  }

  /** Refuses it: the saga undoes what it did (the stock held is released). */
  @Post('orders/:id/reject')
  async reject(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body(new ZodBody(z.object({ by: z.string().min(1) }).strict())) body: { by: string },
  ) {
    return { signal: await this.orders.decide(id, { approved: false, by: body.by }) };
  }
}
