import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { HealthModuleOptions } from './interfaces/health-options.interface';

export const {
  ConfigurableModuleClass: ConfigurableHealthModule,
  MODULE_OPTIONS_TOKEN: HEALTH_MODULE_OPTIONS,
  OPTIONS_TYPE: HEALTH_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: HEALTH_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<HealthModuleOptions>({ moduleName: 'Health' })
  .setClassMethodName('forRoot')
  // `path` shapes the module (its controller's routes), so it is known before any factory runs.
  .setExtras({ isGlobal: false, path: '/health' }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
