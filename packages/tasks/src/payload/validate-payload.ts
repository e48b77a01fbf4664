import type { StandardSchemaV1 } from '@standard-schema/spec';
import { InvalidPayloadError } from '../errors';
import type { ResolvedTaskOptions } from '../options/task-options';
import { jsonByteLength, scanPayload } from './json-safety';

/**
 * What every payload must pass before a job is written, without its schema: JSON-safe and
 * within the size limit, checked in one walk. Synchronous, so the enqueue of a task without
 * a schema spends no promise on it.
 */
export function checkPayload(taskName: string, payload: unknown, maxPayloadBytes: number): void {
  const { problems, boundBytes } = scanPayload(payload);
  if (problems.length) throw new InvalidPayloadError(taskName, problems);

  // Serialise only when the bound does not already clear the limit: BullMQ stringifies the
  // payload again when it writes the job, and a second JSON.stringify here doubled the
  // enqueue cost of large payloads (64 KiB: 0.67× raw BullMQ in bench/).
  const size = boundBytes > maxPayloadBytes ? jsonByteLength(payload) : 0;
  if (size > maxPayloadBytes) {
    throw new InvalidPayloadError(taskName, [
      `payload is ${size} bytes, over the limit of ${maxPayloadBytes} bytes; ` +
        'store large data elsewhere and send a reference, or raise maxPayloadBytes',
    ]);
  }
}

/**
 * Everything a payload must pass before a job is written: JSON-safe, within the size limit,
 * and accepted by the task's schema. Returns the schema's output (or the payload itself).
 */
export async function validatePayload(
  taskName: string,
  payload: unknown,
  options: Pick<ResolvedTaskOptions, 'maxPayloadBytes' | 'schema'>,
): Promise<unknown> {
  checkPayload(taskName, payload, options.maxPayloadBytes);
  return options.schema ? checkSchema(taskName, options.schema, payload) : payload;
}

export async function checkSchema(
  taskName: string,
  schema: StandardSchemaV1,
  payload: unknown,
): Promise<unknown> {
  let outcome = schema['~standard'].validate(payload);
  if (outcome instanceof Promise) outcome = await outcome;
  if (outcome.issues) {
    throw new InvalidPayloadError(taskName, outcome.issues.map(describeIssue));
  }
  return outcome.value;
}

function describeIssue(issue: StandardSchemaV1.Issue): string {
  const path = (issue.path ?? [])
    .map((segment) => (typeof segment === 'object' ? segment.key : segment))
    .map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`))
    .join('');
  return `payload${path}: ${issue.message}`;
}
