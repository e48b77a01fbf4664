import {
  Controller,
  Get,
  HttpCode,
  Param,
  Post,
  Req,
  type Type,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { actorOf, type ActorRequest } from '../auth/actor';
import { DashboardAccessGuard } from '../auth/dashboard-access.guard';
import { DashboardErrorsFilter } from './conveyor-errors.filter';
import { SchedulesView } from './schedules-view';

/** The schedules API under `<path>/api/schedules`, behind `DashboardAccessGuard`. */
export function dashboardSchedulesController(path: string): Type {
  @Controller(`${path}/api/schedules`)
  @UseGuards(DashboardAccessGuard)
  @UseFilters(DashboardErrorsFilter)
  class DashboardSchedulesController {
    constructor(private readonly schedules: SchedulesView) {}

    /** Every schedule, declared and added at run time, with `paused` and its next run. */
    @Get()
    list() {
      return this.schedules.list();
    }

    /** No tick makes a job until resumed; kept across restarts and deploys. */
    @Post(':id/pause')
    @HttpCode(200)
    pause(@Req() request: ActorRequest, @Param('id') id: string) {
      return this.schedules.pause(actorOf(request), id);
    }

    @Post(':id/resume')
    @HttpCode(200)
    resume(@Req() request: ActorRequest, @Param('id') id: string) {
      return this.schedules.resume(actorOf(request), id);
    }

    /** One run now with the schedule's payload; the schedule is left as it was. */
    @Post(':id/trigger')
    @HttpCode(200)
    trigger(@Req() request: ActorRequest, @Param('id') id: string) {
      return this.schedules.trigger(actorOf(request), id);
    }
  }
  return DashboardSchedulesController;
}
