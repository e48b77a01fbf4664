import { Controller, Get, Header, type Type } from '@nestjs/common';
import { ConveyorMetrics } from './conveyor-metrics';

/** A controller serving the registry at `path` (Prometheus text format). */
export function metricsController(path: string): Type {
  @Controller(path)
  class MetricsController {
    constructor(private readonly metrics: ConveyorMetrics) {}

    @Get()
    @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
    @Header('Cache-Control', 'no-store')
    scrape(): Promise<string> {
      return this.metrics.scrape();
    }
  }
  return MetricsController;
}
