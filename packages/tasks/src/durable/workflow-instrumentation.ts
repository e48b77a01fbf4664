import { Injectable } from '@nestjs/common';
import { SpanStatusCode } from '@opentelemetry/api';
import { conveyorTracer } from '../instrumentation/task-tracing';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';

/** What a durable workflow run reports; names are workflow names, never ids (bounded labels). */
export interface WorkflowObserver {
  /** One run (replay) of a workflow ended: suspended at a wait, or in a status. */
  runEnded?(workflow: string, end: string, seconds: number): void;
  /** A run failed on Redis (or a bug) and BullMQ will run it again. */
  runFailed?(workflow: string, error: unknown): void;
}

/**
 * Spans and observers of durable workflows: a span `workflow.run <name>` per run, with the
 * workflow's id and how the run ended (steps are tasks: their jobs have their own spans and
 * metrics). Observers are guarded: one that throws never changes a run.
 *
 * @example
 * instrumentation.observe({ runEnded: (name, end, s) => runs.inc({ workflow: name, end }) });
 */
@Injectable()
export class WorkflowInstrumentation {
  private readonly logger = new ConveyorLogger('Conveyor');
  private observers: WorkflowObserver[] = [];

  /** Adds an observer; returns a function that removes it. */
  observe(observer: WorkflowObserver): () => void {
    this.observers = [...this.observers, observer];
    return () => (this.observers = this.observers.filter((o) => o !== observer));
  }

  /** Runs `run` in a span and reports how it ended. */
  run<E extends string>(workflow: string, id: string, run: () => Promise<E>): Promise<E> {
    const started = performance.now();
    return conveyorTracer().startActiveSpan(
      `workflow.run ${workflow}`,
      { attributes: { 'conveyor.workflow': workflow, 'conveyor.workflow_id': id } },
      async (span) => {
        try {
          const end = await run();
          span.setAttribute('conveyor.workflow_run_end', end);
          this.tell((o) => o.runEnded?.(workflow, end, (performance.now() - started) / 1000));
          return end;
        } catch (error) {
          span.recordException(error as Error);
          span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
          this.tell((o) => o.runFailed?.(workflow, error));
          throw error;
        } finally {
          span.end();
        }
      },
    );
  }

  private tell(call: (observer: WorkflowObserver) => void): void {
    for (const observer of this.observers) {
      try {
        call(observer);
      } catch (error) {
        this.logger.warn('a workflow observer threw; ignored', { error: errorField(error) });
      }
    }
  }
}
