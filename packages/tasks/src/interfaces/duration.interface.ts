/**
 * A span of time: milliseconds as a number, or a string such as `'250ms'`, `'30s'`, `'5m'`,
 * `'1h'`, `'7d'`.
 */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;
