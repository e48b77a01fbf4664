/** Injection token of the checked, defaulted dashboard options. */
export const DASHBOARD_OPTIONS = Symbol('CONVEYOR_RESOLVED_DASHBOARD_OPTIONS');

/** The header a caller may name itself with, for the action log (the guard's user wins). */
export const USER_HEADER = 'x-conveyor-user';
