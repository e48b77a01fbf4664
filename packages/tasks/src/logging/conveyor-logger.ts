import { ConsoleLogger, Logger, type LoggerService } from '@nestjs/common';

/**
 * What a log line carries besides its message: `task`, `queue`, `jobId`, `attempt`,
 * durations in milliseconds (`durationMs`, `retryInMs`, …), `error: { name, message }`.
 */
export type LogFields = Record<string, unknown>;

/** The levels Conveyor writes at. */
export type LogLevel = 'log' | 'warn' | 'error' | 'debug';

/**
 * How the app's logger takes fields:
 * - `params`: Nest's ConsoleLogger with structured params (Nest 12): `(message, fields)`,
 *   printed after the message in text mode, a `params` object in JSON mode;
 * - `text`: an older ConsoleLogger in text mode, which would print each extra argument on a
 *   line of its own: the message alone, which already names what matters;
 * - `object`: any other logger (nestjs-pino, winston, an older ConsoleLogger in JSON mode):
 *   one object, `{ msg, ...fields }`, which pino merges into its line; its `String()` is the
 *   message, for a logger that expects a string.
 */
export type LogShape = 'params' | 'text' | 'object';

// Nest's Logger keeps the app's logger (the default ConsoleLogger until app.useLogger) and,
// with `bufferLogs`, the lines written before it is set, in statics it does not type as public.
// Both exist in Nest 10, 11 and 12.
interface LoggerStatics {
  staticInstanceRef?: LoggerService;
  isBufferAttached?: boolean;
  logBuffer: Array<{ methodRef: (...args: unknown[]) => unknown; arguments: unknown[] }>;
}
const statics = Logger as unknown as LoggerStatics;

let shapeFor: LoggerService | undefined;
let shape: LogShape = 'text';

/** The shape fields take for the logger Nest's `Logger` writes to now. */
export function currentLogShape(): LogShape {
  const target = statics.staticInstanceRef;
  if (target !== shapeFor) {
    shapeFor = target;
    shape = shapeOf(target);
  }
  return shape;
}

function shapeOf(target: LoggerService | undefined): LogShape {
  // A plain Logger set as the app's logger writes through a ConsoleLogger of its own.
  if (target instanceof Logger && Object.getPrototypeOf(target) === Logger.prototype) {
    return hasStructuredParams(ConsoleLogger.prototype) ? 'params' : 'text';
  }
  if (!(target instanceof ConsoleLogger)) return 'object';
  const options = (
    target as unknown as { options?: { json?: boolean; structuredParams?: boolean } }
  ).options;
  if (hasStructuredParams(target) && options?.structuredParams !== false) return 'params';
  return options?.json ? 'object' : 'text';
}

function hasStructuredParams(logger: object): boolean {
  return typeof (logger as { stringifyParams?: unknown }).stringifyParams === 'function';
}

/** The fields of a line about one run of a job: `task`, `queue`, `jobId`, `attempt` (from 1). */
export function runFields(
  taskName: string,
  job: { readonly queueName: string; readonly id?: string; readonly attemptsMade: number },
): LogFields {
  return { task: taskName, queue: job.queueName, jobId: job.id, attempt: job.attemptsMade + 1 };
}

/** `error` as a log field: its name and message (the stack goes where the logger wants it). */
export function errorField(error: unknown): { name: string; message: string } {
  return error instanceof Error
    ? { name: error.name, message: error.message }
    : { name: 'Error', message: String(error) };
}

/**
 * Writes one line through `logger` (a Nest `Logger`, so its context, levels and buffering
 * apply), with `fields` in the shape the app's logger takes (see {@link LogShape}).
 * `textPrefix` is put before the message only where the fields are not shown.
 */
export function writeLog<L extends LogLevel>(
  logger: Pick<Logger, L>,
  level: L,
  message: string,
  fields?: LogFields,
  stack?: string,
  textPrefix?: string,
): void {
  if (statics.isBufferAttached) {
    // With `bufferLogs`, lines wait for app.useLogger(): the shape is chosen when they are
    // written, for the logger they reach. Logger.flush() replays this record in order.
    statics.logBuffer.push({
      methodRef: () => writeLog(logger, level, message, fields, stack, textPrefix),
      arguments: [],
    });
    return;
  }
  const write = (logger[level] as (message: unknown, ...params: unknown[]) => void).bind(logger);
  // A stack goes last, as Nest's `error(message, stack)` takes it.
  const shape = fields ? currentLogShape() : 'text';
  if (shape === 'params') {
    if (stack) write(message, fields, stack);
    else write(message, fields);
  } else if (shape === 'object') {
    const record: LogFields = { msg: message, ...fields };
    if (stack) record.stack = stack;
    // A logger that makes a string of what it gets (`${message}`) still prints the message;
    // not enumerable, so JSON and pino's merge leave it out.
    Object.defineProperty(record, 'toString', { value: () => message });
    write(record);
  } else {
    const text = textPrefix ? textPrefix + message : message;
    if (stack) write(text, stack);
    else write(text);
  }
}

/**
 * Conveyor's logger: every line has a human-readable message and, where it concerns a task, a
 * job or the outbox, its data as fields, so that Nest's ConsoleLogger, nestjs-pino or any
 * other `LoggerService` set with `app.useLogger()` can index them.
 */
export class ConveyorLogger {
  private readonly logger: Logger;

  /** @param context Nest's log context: `Conveyor`, `ConveyorOutbox`, `Task <name>`, … */
  constructor(context: string | Logger) {
    this.logger = typeof context === 'string' ? new Logger(context) : context;
  }

  log(message: string, fields?: LogFields): void {
    writeLog(this.logger, 'log', message, fields);
  }

  debug(message: string, fields?: LogFields): void {
    writeLog(this.logger, 'debug', message, fields);
  }

  /** A warning; with `error`, its name and message join the fields (no stack: not a fault). */
  warn(message: string, fields?: LogFields, error?: unknown): void {
    writeLog(this.logger, 'warn', message, withError(fields, error));
  }

  /** An error; with `error`, its name and message join the fields and its stack goes along. */
  error(message: string, fields?: LogFields, error?: unknown): void {
    const stack = error instanceof Error ? error.stack : undefined;
    writeLog(this.logger, 'error', message, withError(fields, error), stack);
  }
}

function withError(fields: LogFields | undefined, error: unknown): LogFields | undefined {
  return error === undefined ? fields : { ...fields, error: errorField(error) };
}
