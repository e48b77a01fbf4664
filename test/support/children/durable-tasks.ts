// Tasks and workflows of the durable-workflow tests, shared by the test process and the worker
// children: each task run counts itself in a ledger hash (its key travels in the payload), and
// a step marked `hang` never ends on its first run, so a test can kill its worker mid-step.
import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import {
  compensateWith,
  defineTask,
  defineWorkflow,
  Task,
  UnrecoverableTaskError,
  WorkflowTimeoutError,
} from '@conveyor/tasks';

export interface Mark {
  ledger: string;
  label: string;
  /** Hang on the first run (until the process is killed). */
  hang?: boolean;
  /** Fail for good. */
  fail?: boolean;
}

export const Record = defineTask<Mark, string>('durable.record', {
  attempts: 2,
  backoff: { type: 'fixed', delay: '10ms' },
});
export const Undo = defineTask<Mark, string>('durable.undo', {
  attempts: 2,
  backoff: { type: 'fixed', delay: '10ms' },
});

let ledger: Redis | undefined;
function ledgerClient(): Redis {
  return (ledger ??= new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'));
}

/** Closes the ledger connection of this process. */
export function closeLedger(): void {
  ledger?.disconnect();
  ledger = undefined;
}

async function mark(kind: string, { ledger: key, label, hang, fail }: Mark): Promise<string> {
  const runs = await ledgerClient().hincrby(key, `${kind}:${label}`, 1);
  await ledgerClient().rpush(`${key}:order`, `${kind}:${label}`);
  if (hang && runs === 1) {
    process.stdout.write(`HANG ${kind}:${label}\n`);
    await new Promise(() => undefined);
  }
  if (fail) throw new UnrecoverableTaskError(`${label} fails`);
  return `${kind}:${label}`;
}

@Injectable()
export class DurableTasks {
  @Task(Record)
  record(payload: Mark): Promise<string> {
    return mark('do', payload);
  }

  @Task(Undo)
  undo(payload: Mark): Promise<string> {
    return mark('undo', payload);
  }
}

/** What `Scripted` does, in order. */
export type ScriptItem =
  | {
      step: string;
      hang?: boolean;
      fail?: boolean;
      undo?: boolean;
      undoHang?: boolean;
      undoFail?: boolean;
    }
  | { sleep: string }
  | { waitFor: string; timeout?: string; orElse?: string };

/** A workflow that runs the script in its input: steps, sleeps and waits. */
export const Scripted = defineWorkflow<{ ledger: string; script: ScriptItem[] }, unknown[]>(
  'durable.scripted',
  async (ctx, { ledger: key, script }) => {
    const results: unknown[] = [];
    for (const item of script) {
      if ('step' in item) {
        const options = item.undo
          ? {
              compensate: compensateWith(Undo, {
                ledger: key,
                label: item.step,
                hang: item.undoHang,
                fail: item.undoFail,
              }),
            }
          : {};
        results.push(
          await ctx.step(
            Record,
            { ledger: key, label: item.step, hang: item.hang, fail: item.fail },
            options,
          ),
        );
      } else if ('sleep' in item) {
        await ctx.sleep(item.sleep);
        results.push('slept');
      } else {
        try {
          results.push(await ctx.waitFor(item.waitFor, { timeout: item.timeout }));
        } catch (error) {
          if (!(error instanceof WorkflowTimeoutError) || item.orElse === undefined) throw error;
          results.push(item.orElse);
        }
      }
    }
    return results;
  },
);
