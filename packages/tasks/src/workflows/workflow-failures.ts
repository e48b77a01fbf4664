import { Injectable } from '@nestjs/common';
import type { Job } from 'bullmq';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';
import { ConveyorQueues } from '../producer/conveyor-queues';
import { TaskCancellation } from '../producer/task-cancellation';
import { envelopeOf, type StepFailure } from './step-input';
import { WorkflowProducer } from './workflow-producer';

/**
 * What a workflow step's final failure sets off, besides the failure itself: the `onError`
 * steps of the step and of the nodes around it that it fails (each added once per node, by
 * its job id, however many of its steps fail), and the cancel of the other members of a
 * `failFast` group. A failure here is logged, never thrown: the step's own outcome stands.
 */
@Injectable()
export class WorkflowFailures {
  private readonly logger = new ConveyorLogger('Conveyor');

  constructor(
    private readonly queues: ConveyorQueues,
    private readonly cancellation: TaskCancellation,
    private readonly workflows: WorkflowProducer,
  ) {}

  async stepFailed(job: Job, error: Error): Promise<void> {
    const envelope = envelopeOf(job.data);
    if (!envelope || (!envelope.onError && !envelope.failFast)) return;
    try {
      const failure: StepFailure = {
        conveyorStepFailure: true,
        taskName: job.name,
        jobId: job.id!,
        message: error.message,
      };
      for (const step of envelope.onError ?? []) {
        await this.queues.send(() =>
          this.queues.queue(step.queue).add(step.name, step.hasPayload ? step.payload : failure, {
            ...step.opts,
            jobId: step.jobId,
          }),
        );
      }
      if (envelope.failFast?.length)
        await this.cancelSiblings(envelope.workflowId, job, envelope.failFast);
    } catch (thrown) {
      this.logger.warn(
        `workflow ${envelope.workflowId}: could not run what the failure of step ${job.id} sets off: ${(thrown as Error).message}`,
        { workflowId: envelope.workflowId, jobId: job.id, error: errorField(thrown) },
      );
    }
  }

  /** Cancels every other task step of the failFast groups `groups` (paths) of the workflow. */
  private async cancelSiblings(workflowId: string, failed: Job, groups: string[]): Promise<void> {
    const handle = await this.workflows.attach(workflowId);
    if (!handle) return;
    const prefixes = groups.map((path) => `${path}.`);
    const siblings = handle.planned.filter(
      (step) =>
        step.kind === 'task' &&
        step.jobId !== failed.id &&
        prefixes.some((prefix) => step.path.startsWith(prefix)),
    );
    const reason = `a member of its failFast group failed: ${failed.id}`;
    await Promise.all(
      siblings.map((step) => this.cancellation.cancel(step.queue, step.jobId, reason)),
    );
  }
}
