import { type DynamicModule, Module } from '@nestjs/common';
import { dashboardApiController } from './api/dashboard-api.controller';
import { DashboardService } from './api/dashboard.service';
import { JobSearch } from './api/job-search';
import { SchedulesView } from './api/schedules-view';
import { dashboardSchedulesController } from './api/schedules.controller';
import { WorkflowsView } from './api/workflows-view';
import { dashboardWorkflowsController } from './api/workflows.controller';
import { dashboardOpsController } from './api/ops-api.controller';
import { OutboxView } from './api/outbox-view';
import { TenantsView } from './api/tenants-view';
import { WorkersView } from './api/workers-view';
import { DashboardAccessGuard } from './auth/dashboard-access.guard';
import { DASHBOARD_OPTIONS } from './dashboard.constants';
import {
  ConfigurableDashboardModule,
  DASHBOARD_MODULE_OPTIONS,
  type DASHBOARD_ASYNC_OPTIONS_TYPE,
  type DASHBOARD_OPTIONS_TYPE,
} from './dashboard.module-definition';
import { normalizePath, resolveDashboardOptions } from './dashboard.options';
import type { DashboardModuleOptions } from './interfaces/dashboard-options.interface';
import { dashboardPageController } from './page/dashboard-page.controller';

/**
 * Conveyor's web dashboard inside your app: a page at `path` (default `/conveyor`) and its
 * JSON API at `<path>/api`. Needs `TasksModule`. Refuses to start without a `token` or a
 * `guard`; `readOnly` hides every action.
 *
 * @example
 * DashboardModule.forRoot({ path: '/conveyor', token: process.env.ADMIN_TOKEN });
 *
 * @example
 * DashboardModule.forRootAsync({
 *   path: '/ops/queues',
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({
 *     token: config.getOrThrow('ADMIN_TOKEN'),
 *     readOnly: config.get('DASHBOARD_READ_ONLY') === 'true',
 *   }),
 * });
 */
@Module({
  providers: [
    {
      provide: DASHBOARD_OPTIONS,
      inject: [DASHBOARD_MODULE_OPTIONS],
      useFactory: (options: DashboardModuleOptions) => resolveDashboardOptions(options),
    },
    DashboardAccessGuard,
    DashboardService,
    JobSearch,
    SchedulesView,
    WorkflowsView,
    TenantsView,
    OutboxView,
    WorkersView,
  ],
  exports: [DashboardService],
})
export class DashboardModule extends ConfigurableDashboardModule {
  static override forRoot(options: typeof DASHBOARD_OPTIONS_TYPE): DynamicModule {
    // Checked here too, so a sync configuration fails where it is written.
    const { path, isGlobal: _isGlobal, ...rest } = options;
    resolveDashboardOptions(rest);
    return withControllers(super.forRoot(options), path);
  }

  static override forRootAsync(options: typeof DASHBOARD_ASYNC_OPTIONS_TYPE): DynamicModule {
    return withControllers(super.forRootAsync(options), options.path);
  }
}

function withControllers(module: DynamicModule, path = '/conveyor'): DynamicModule {
  const base = normalizePath(path);
  return {
    ...module,
    controllers: [
      ...(module.controllers ?? []),
      dashboardApiController(base),
      dashboardSchedulesController(base),
      dashboardWorkflowsController(base),
      dashboardOpsController(base),
      dashboardPageController(base),
    ],
  };
}
