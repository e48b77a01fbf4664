/** A duration written with its unit, as editors suggest it: `'250ms'`, `'30s'`, `'5m'`, `'1h'`, `'7d'`. */
export type DurationString = `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

/**
 * A span of time: milliseconds as a number, or a string such as `'250ms'`, `'30s'`, `'5m'`,
 * `'1h'`, `'7d'`. Any string type-checks (a value read from the environment is a `string`);
 * it is checked when the module starts or the call is made, and a bad one fails with an error
 * that names the option and the value.
 *
 * @example
 * TasksModule.forRoot({ connection, shutdownTimeout: process.env.SHUTDOWN_TIMEOUT ?? '30s' });
 */
// `string & {}` keeps the unit forms suggested while accepting any string.
export type Duration = number | DurationString | (string & {});
