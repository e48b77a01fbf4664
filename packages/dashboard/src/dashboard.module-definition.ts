import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { DashboardModuleOptions } from './interfaces/dashboard-options.interface';

export const {
  ConfigurableModuleClass: ConfigurableDashboardModule,
  MODULE_OPTIONS_TOKEN: DASHBOARD_MODULE_OPTIONS,
  OPTIONS_TYPE: DASHBOARD_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: DASHBOARD_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<DashboardModuleOptions>({ moduleName: 'Dashboard' })
  .setClassMethodName('forRoot')
  // `path` shapes the module (its controllers' routes), so it is known before any factory runs.
  .setExtras({ isGlobal: false, path: '/conveyor' }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
