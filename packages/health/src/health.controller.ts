import { Controller, Get, type Type } from '@nestjs/common';
import { HealthCheck, type HealthCheckResult, HealthCheckService } from '@nestjs/terminus';
import { ControlsHealthIndicator } from './indicators/controls.health';
import { OutboxHealthIndicator } from './indicators/outbox.health';
import { QueuesHealthIndicator } from './indicators/queues.health';
import { RedisHealthIndicator } from './indicators/redis.health';

/** A controller serving `<path>/live` and `<path>/ready`. */
export function healthController(path: string): Type {
  @Controller(path)
  class HealthController {
    constructor(
      private readonly health: HealthCheckService,
      private readonly redis: RedisHealthIndicator,
      private readonly queues: QueuesHealthIndicator,
      private readonly outbox: OutboxHealthIndicator,
      private readonly controls: ControlsHealthIndicator,
    ) {}

    /** The process is up and serving requests. */
    @Get('live')
    @HealthCheck()
    live(): Promise<HealthCheckResult> {
      return this.health.check([]);
    }

    /**
     * Redis answers, queues are under their thresholds, the outbox keeps up, workers run; and
     * what holds jobs back on purpose (open circuit breakers, paused queues and tasks).
     */
    @Get('ready')
    @HealthCheck()
    ready(): Promise<HealthCheckResult> {
      return this.health.check([
        () => this.redis.isHealthy(),
        () => this.queues.isHealthy(),
        ...(this.outbox.present ? [() => this.outbox.isHealthy()] : []),
        () => this.queues.workersRunning(),
        () => this.controls.isHealthy(),
      ]);
    }
  }
  return HealthController;
}
