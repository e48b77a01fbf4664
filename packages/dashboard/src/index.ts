export { DashboardModule } from './dashboard.module';
export { DASHBOARD_MODULE_OPTIONS } from './dashboard.module-definition';
export { DashboardService, type Overview, type QueueOverview } from './api/dashboard.service';
export type { JobPage, JobQuery } from './api/job-search';
export type { AttemptError, JobDetail, JobStateName, JobSummary } from './api/job-view';
export type { Actor } from './auth/actor';
export { InvalidDashboardOptionsError } from './errors/invalid-dashboard-options.error';
export type {
  DashboardModuleExtras,
  DashboardModuleOptions,
} from './interfaces/dashboard-options.interface';
export type { TenantQueues } from './api/tenants-view';
export type { QueueWorkers } from './api/workers-view';
export type { OutboxCounts, OutboxFailedRow, OutboxOverview } from './api/outbox-view';
