import {
  RetryTaskError,
  TaskCancelledError,
  TaskLockLostError,
  TaskTimeoutError,
  UnrecoverableTaskError,
} from '../errors';
import type { LogFields } from '../logging/conveyor-logger';

/** What a thread needs to know of the job it runs (its `TaskContext` reads these). */
export interface ThreadJob {
  id: string;
  name: string;
  queue: string;
  attemptsMade: number;
  attempts: number;
  timestamp: number;
  admittedAt?: number;
}

/** An error as it crosses between threads: its class by name, its own fields, its cause. */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  fields: Record<string, unknown>;
  cause?: WireError;
}

/** Main thread → worker thread. */
export type ToThread =
  | { type: 'run'; id: number; job: ThreadJob; payload: unknown; aborted?: WireError }
  | { type: 'abort'; id: number; reason: WireError }
  | { type: 'close' };

/** Worker thread → main thread. */
export type FromThread =
  | { type: 'loaded' }
  | { type: 'ready' }
  | { type: 'boot-failed'; error: WireError }
  | { type: 'done'; id: number; ok: true; result: unknown; heapMb: number }
  | { type: 'done'; id: number; ok: false; error: WireError; heapMb: number }
  | {
      type: 'log';
      id: number;
      level: 'log' | 'warn' | 'error' | 'debug';
      message: string;
      stack?: string;
      fields?: LogFields;
    }
  | { type: 'progress'; id: number; value: number | Record<string, unknown> };

// Errors that Conveyor's outcome (main side) or a handler's signal (thread side) tells apart
// by class: they come back as instances of it, with their fields.
const KNOWN: Record<string, { prototype: Error }> = {
  RetryTaskError,
  UnrecoverableTaskError,
  TaskTimeoutError,
  TaskCancelledError,
  TaskLockLostError,
};

/** An error (or anything thrown) in a form that survives `postMessage`. */
export function toWire(error: unknown, depth = 0): WireError {
  if (!(error instanceof Error)) {
    return { name: 'Error', message: String(error), fields: {} };
  }
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (key === 'name' || key === 'message' || key === 'stack' || key === 'cause') continue;
    try {
      fields[key] = structuredClone(value);
    } catch {
      // A field that cannot cross (a function, a socket) is left behind.
    }
  }
  const wire: WireError = { name: error.name, message: error.message, stack: error.stack, fields };
  // A loop of causes stops somewhere.
  if (error.cause !== undefined && depth < 5) wire.cause = toWire(error.cause, depth + 1);
  return wire;
}

/**
 * The error again on this side: an instance of its class for Conveyor's own errors, an
 * `Error` with the same name, message, stack and fields otherwise.
 */
export function fromWire(wire: WireError): Error {
  const known = KNOWN[wire.name];
  const error: Error = known ? Object.create(known.prototype) : new Error(wire.message);
  Object.defineProperty(error, 'message', {
    value: wire.message,
    writable: true,
    configurable: true,
  });
  Object.defineProperty(error, 'stack', { value: wire.stack, writable: true, configurable: true });
  if (wire.cause) {
    Object.defineProperty(error, 'cause', {
      value: fromWire(wire.cause),
      writable: true,
      configurable: true,
    });
  }
  Object.assign(error, wire.fields);
  // Conveyor's errors set `name` as an own field; any other class's name is kept the same way.
  if (error.name !== wire.name) error.name = wire.name;
  return error;
}
