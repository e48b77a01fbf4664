/** Injection token of the checked, defaulted health options. */
export const HEALTH_OPTIONS = Symbol('CONVEYOR_RESOLVED_HEALTH_OPTIONS');
