/** Metadata key under which `@Task()` stores its arguments on a method. */
export const TASK_METADATA = 'conveyor:task';

/** Injection token of the checked, defaulted module options. */
export const RESOLVED_TASKS_OPTIONS = Symbol('CONVEYOR_RESOLVED_TASKS_OPTIONS');
