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
import type { WorkflowStatus } from '@conveyor/tasks';
import { actorOf, type ActorRequest } from '../auth/actor';
import { DashboardAccessGuard } from '../auth/dashboard-access.guard';
import { DashboardErrorsFilter } from './conveyor-errors.filter';
import { WorkflowsView } from './workflows-view';

/** The workflows API under `<path>/api/workflows`, behind `DashboardAccessGuard`. */
export function dashboardWorkflowsController(path: string): Type {
  @Controller(`${path}/api/workflows`)
  @UseGuards(DashboardAccessGuard)
  @UseFilters(DashboardErrorsFilter)
  class DashboardWorkflowsController {
    constructor(private readonly workflows: WorkflowsView) {}

    /** The most recent chains, groups and chords, newest first, each with its state. */
    @Get('canvas')
    recent(@Query('limit') limit?: string) {
      return this.workflows.recent(limitOf(limit));
    }

    /** One chain, group or chord as a tree, each step with its job's state. */
    @Get('canvas/:id')
    canvas(@Param('id') id: string) {
      return this.workflows.canvas(id);
    }

    /** The newest durable workflows (`limit`, default 20), newest first, optionally in one `status`. */
    @Get('durable')
    durableList(@Query('status') status?: string, @Query('limit') limit?: string) {
      return this.workflows.durableList(
        (status || undefined) as WorkflowStatus | undefined,
        limitOf(limit),
      );
    }

    /** One durable workflow: status, input, result or error, and its history. */
    @Get('durable/:id')
    durable(@Param('id') id: string) {
      return this.workflows.durable(id);
    }

    /**
     * Sends a signal to a durable workflow (`Workflows.signal`): body `{ "name": "approval",
     * "data": … }`. The wait that expects it resumes; otherwise it is kept for the next one.
     */
    @Post('durable/:id/signal')
    @HttpCode(200)
    signal(
      @Req() request: ActorRequest,
      @Param('id') id: string,
      @Body() body: { name?: unknown; data?: unknown } | undefined,
    ) {
      if (typeof body?.name !== 'string' || !body.name) {
        throw new BadRequestException('give the signal as { "name": "approval", "data": … }');
      }
      return this.workflows.signalDurable(actorOf(request), id, body.name, body.data);
    }

    /** Cancels a durable workflow: its completed steps' compensations run. */
    @Post('durable/:id/cancel')
    @HttpCode(200)
    cancel(@Req() request: ActorRequest, @Param('id') id: string) {
      return this.workflows.cancelDurable(actorOf(request), id);
    }
  }
  return DashboardWorkflowsController;
}

function limitOf(text: string | undefined): number {
  if (text === undefined || text === '') return 20;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > 200) {
    throw new BadRequestException('limit must be an integer from 1 to 200');
  }
  return value;
}
