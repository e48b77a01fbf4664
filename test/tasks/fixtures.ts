import { Injectable } from '@nestjs/common';
import { defineTask, Task, type TaskContext } from '@conveyor/tasks';
import { z } from 'zod';

export const Add = defineTask<{ a: number; b: number }, number>('math.add');
export const Greet = defineTask<{ name: string }, string>('greet', { queue: 'email' });
export const Shout = defineTask('text.shout', {
  schema: z.object({ text: z.string().min(1), times: z.number().int().default(1) }),
});

@Injectable()
export class MathTasks {
  readonly seen: Array<{ payload: unknown; attempt: number; jobId: string }> = [];

  @Task(Add)
  add(payload: { a: number; b: number }, ctx: TaskContext): number {
    this.seen.push({ payload, attempt: ctx.attempt, jobId: ctx.jobId });
    return payload.a + payload.b;
  }
}

@Injectable()
export class TextTasks {
  @Task(Greet)
  async greet({ name }: { name: string }): Promise<string> {
    return `hello, ${name}`;
  }

  @Task(Shout)
  shout(payload: { text: string; times: number }): string {
    return payload.text.toUpperCase().repeat(payload.times);
  }
}
