/** The checked configuration (see config.ts). */
export const APP_CONFIG = Symbol('APP_CONFIG');
