import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { DashboardModule } from '@conveyor/dashboard';
import { HealthModule } from '@conveyor/health';
import { MetricsModule } from '@conveyor/metrics';
import { OutboxModule } from '@conveyor/outbox';
import { TasksModule } from '@conveyor/tasks';
import { AdminController } from './admin/admin.controller';
import { AdminGuard } from './admin/admin.guard';
import type { AppConfig, Role } from './config';
import { FakeMailer, FakePaymentGateway, FakeWarehouse } from './orders/fake-providers';
import { FulfilOrder } from './orders/order.saga';
import { OrderHandlers } from './orders/order.handlers';
import { OrdersController } from './orders/orders.controller';
import { OrdersService } from './orders/orders.service';
import { ReportHandlers } from './reports/report.handlers';
import { APP_CONFIG } from './tokens';

/**
 * One build, three roles: `api` serves HTTP and writes orders, `worker` runs the task
 * handlers, `relay` publishes the outbox. Each process runs any mix of them.
 */
@Module({})
export class AppModule {
  static forRoles(config: AppConfig): DynamicModule {
    const roles = new Set<Role>(config.ROLES);
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, load: [() => config] }),
        TasksModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (env: ConfigService<AppConfig, true>) => ({
            connection: env.get('REDIS_URL', { infer: true }),
            prefix: env.get('CONVEYOR_PREFIX', { infer: true }),
            queues: {
              email: { concurrency: 10 },
              payments: { concurrency: 5 },
              reports: { concurrency: 2 },
            },
            // Every reports.* task (the nightly report, the summary chord's steps) runs on the
            // 'reports' queue, by name: their definitions name no queue.
            routes: { 'reports.**': 'reports' },
            // Large orders run as a saga (see orders/order.saga.ts): workers run it, any
            // process may start it or signal it.
            workflows: [FulfilOrder],
            workers: roles.has('worker') ? 'all' : 'none',
            shutdownTimeout: '10s',
            // Worker and relay processes have no HTTP app: GET /live and /ready for their probes.
            probe: probePort(env.get('PROBE_PORT', { infer: true })),
          }),
        }),
        OutboxModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (env: ConfigService<AppConfig, true>) => {
            const dataDir = env.get('PGLITE_DIR', { infer: true });
            return {
              url: env.get('DATABASE_URL', { infer: true }),
              pglite: dataDir ? { dataDir } : undefined,
              createTable: true,
              relay: roles.has('relay') ? { pollInterval: '500ms' } : false,
            };
          },
        }),
        // GET /health/live, /health/ready (Redis, queue backlogs, outbox lag, workers) and /metrics.
        HealthModule.forRoot({
          thresholds: { waiting: 10_000, oldestWaitingAge: '5m', outboxLag: '1m' },
        }),
        MetricsModule.forRoot(),
        // The web dashboard at /conveyor, behind the admin routes' own guard: the page asks
        // for ADMIN_TOKEN, and every API call is refused while ADMIN_TOKEN is unset.
        ...(roles.has('api')
          ? [DashboardModule.forRoot({ path: '/conveyor', guard: AdminGuard })]
          : []),
      ],
      controllers: roles.has('api') ? [OrdersController, AdminController] : [],
      providers: [
        { provide: APP_CONFIG, useValue: config },
        AdminGuard,
        FakeMailer,
        FakePaymentGateway,
        FakeWarehouse,
        OrderHandlers,
        ReportHandlers,
        OrdersService,
      ],
    };
  }
}

function probePort(port: number | undefined): { port: number } | undefined {
  return port === undefined ? undefined : { port };
}
