import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { TasksModuleOptions } from './interfaces/module-options.interface';

export const {
  ConfigurableModuleClass: ConfigurableTasksModule,
  MODULE_OPTIONS_TOKEN: TASKS_MODULE_OPTIONS,
  OPTIONS_TYPE: TASKS_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: TASKS_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<TasksModuleOptions>({ moduleName: 'Tasks' })
  .setClassMethodName('forRoot')
  .setExtras({ isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
