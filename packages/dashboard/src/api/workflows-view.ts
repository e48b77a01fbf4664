import { Injectable, NotFoundException } from '@nestjs/common';
import {
  InvalidWorkflowError,
  TaskProducer,
  type WorkflowInfo,
  type WorkflowStatus,
  type WorkflowStepInfo,
  Workflows,
} from '@conveyor/tasks';
import type { Actor } from '../auth/actor';
import { DashboardService } from './dashboard.service';
import { workflowState, workflowTree, type WorkflowTreeNode } from './workflow-tree';

/** A canvas workflow (chain, group, chord) in the list. */
export interface CanvasWorkflowRow {
  id: string;
  startedAt: Date;
  state: ReturnType<typeof workflowState>;
  steps: number;
}

/** A canvas workflow in full: its tree, every node with its job's state. */
export interface CanvasWorkflowDetail {
  id: string;
  state: ReturnType<typeof workflowState>;
  tree: WorkflowTreeNode;
  steps: WorkflowStepInfo[];
}

/** A durable workflow in the list. */
export interface DurableWorkflowRow {
  id: string;
  name: string;
  status: WorkflowStatus;
  createdAt: Date;
}

/**
 * The workflows view. Canvas workflows come from `TaskProducer.recentWorkflows()` (a capped
 * index, no SCAN) and `workflowHandle(id).steps()`; durable ones from `Workflows` (list, get,
 * cancel, signal). Cancel and signal go through `DashboardService.act()`.
 */
@Injectable()
export class WorkflowsView {
  constructor(
    private readonly dashboard: DashboardService,
    private readonly producer: TaskProducer,
    private readonly workflows: Workflows,
  ) {}

  /** The most recent canvas workflows, newest first, each with its state. */
  async recent(limit: number): Promise<{ workflows: CanvasWorkflowRow[] }> {
    const recent = await this.producer.recentWorkflows(limit);
    const rows = await Promise.all(
      recent.map(async ({ id, startedAt }) => {
        // A workflow whose plan expired between the two reads is left out.
        // States only: the list shows each workflow's state and size, not its results.
        const steps = await this.steps(id, false).catch(() => undefined);
        if (!steps) return undefined;
        return {
          id,
          startedAt,
          state: workflowState(workflowTree(steps), steps),
          steps: steps.length,
        };
      }),
    );
    return { workflows: rows.filter((row) => row !== undefined) };
  }

  async canvas(id: string): Promise<CanvasWorkflowDetail> {
    const steps = await this.steps(id);
    const tree = workflowTree(steps);
    return { id, state: workflowState(tree, steps), tree, steps };
  }

  /** The newest `limit` durable workflows (in `status`), newest first, as the canvas list. */
  async durableList(
    status: WorkflowStatus | undefined,
    limit: number,
  ): Promise<{ workflows: DurableWorkflowRow[] }> {
    const newest = await this.workflows.list(status ? { status, limit } : { limit });
    return { workflows: newest.reverse() };
  }

  durable(id: string): Promise<WorkflowInfo> {
    return this.workflows.get(id);
  }

  signalDurable(
    actor: Actor,
    id: string,
    name: string,
    data: unknown,
  ): Promise<{ outcome: 'delivered' | 'kept' | 'ended' }> {
    return this.dashboard.act(
      actor,
      'signal workflow',
      { workflow: id, signal: name },
      async () => ({
        outcome: await this.workflows.signal(id, name, data),
      }),
    );
  }

  cancelDurable(actor: Actor, id: string): Promise<{ outcome: 'requested' | 'ended' }> {
    return this.dashboard.act(actor, 'cancel workflow', { workflow: id }, async () => ({
      outcome: await this.workflows.cancel(id, `cancelled from the dashboard by ${actor.name}`),
    }));
  }

  private async steps(id: string, results = true): Promise<WorkflowStepInfo[]> {
    try {
      return await (await this.producer.workflowHandle(id)).steps({ results });
    } catch (error) {
      if (error instanceof InvalidWorkflowError) throw new NotFoundException(error.message);
      throw error;
    }
  }
}
