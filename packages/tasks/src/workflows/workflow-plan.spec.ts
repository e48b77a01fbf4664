import { InvalidPayloadError, InvalidWorkflowError } from '../errors';
import { resolveTaskOptions } from '../options/task-options';
import type { TaskDefinition } from '../tasks.registry';
import { STEP_ENVELOPE_KEY } from './step-input';
import { chain, chord, group, step } from './workflow-nodes';
import { GROUP_COLLECTOR, WORKFLOW_QUEUE, WorkflowPlanner } from './workflow-plan';
import { KeyLayout } from '../redis/key-layout';
import { TaskRouting } from '../routing/task-routing';

const definitionOf = (task: unknown): TaskDefinition => {
  const name = typeof task === 'string' ? task : (task as { name: string }).name;
  return {
    name,
    options: resolveTaskOptions(name, [name === 'mail' ? { queue: 'email' } : {}]),
  };
};
const planner = (keys = new KeyLayout('p')) =>
  new WorkflowPlanner('wf-1', keys, definitionOf, new TaskRouting());

describe('WorkflowPlanner', () => {
  it('makes each chain step the parent of the one before, which feeds it', async () => {
    const plan = await planner().plan(chain([step('a', { x: 1 }), step('b'), step('mail')]));
    expect(plan.top).toMatchObject({ jobId: 'wf-1.0.2', taskName: 'mail', queue: 'email' });
    expect(plan.flow.data).toEqual({
      [STEP_ENVELOPE_KEY]: { workflowId: 'wf-1', input: { from: 'previous' } },
    });
    const b = plan.flow.children![0];
    expect(b.opts).toMatchObject({ jobId: 'wf-1.0.1', failParentOnFailure: true });
    expect(b.children![0].data).toEqual({
      [STEP_ENVELOPE_KEY]: { workflowId: 'wf-1', input: { from: 'payload', payload: { x: 1 } } },
    });
    expect(plan.steps.map((s) => s.jobId)).toEqual(['wf-1.0.0', 'wf-1.0.1', 'wf-1.0.2']);
  });

  it('gathers a group under a collector that knows its members in order', async () => {
    const plan = await planner().plan(group([step('a', 1), step('mail', 2)]));
    expect(plan.flow).toMatchObject({ name: GROUP_COLLECTOR, queueName: WORKFLOW_QUEUE });
    expect(
      plan.flow.data[STEP_ENVELOPE_KEY].input.members.map((m: { key: string }) => m.key),
    ).toEqual(['{p}:default:wf-1.0.0', '{p}:email:wf-1.0.1']);
  });

  it("keeps a workflow's jobs in its steps' hash tag when queues have tags of their own", async () => {
    const keys = new KeyLayout(
      'p',
      'queue',
      new Map([
        ['email', 'flow'],
        ['default', 'flow'],
      ]),
    );
    const plan = await planner(keys).plan(chain([step('a', 1), group([step('b'), step('mail')])]));
    // The fan-out and the collector are in the workflow queue of the steps' tag.
    expect(plan.flow).toMatchObject({
      queueName: 'conveyor.workflows@flow',
      prefix: '{p:flow}',
      children: [{ queueName: 'default', prefix: '{p:flow}' }],
    });
    const expand = plan.flow.data[STEP_ENVELOPE_KEY].expand;
    expect(expand.flow).toMatchObject({ queueName: 'conveyor.workflows@flow', prefix: '{p:flow}' });
    expect(expand.topKey).toBe('{p:flow}:conveyor.workflows@flow:wf-1.0.1.fan');
  });

  it('rejects a workflow whose steps span hash tags, naming them and their queues', async () => {
    const keys = new KeyLayout('p', 'queue');
    await expect(planner(keys).plan(chain([step('a', 1), step('mail')]))).rejects.toThrow(
      /its steps span hash tags \{p:default\} \(default\), \{p:email\} \(email\)/,
    );
  });

  it("lets a 'continue' chord's members finish without failing the callback", async () => {
    const plan = await planner().plan(
      chord([step('a', 1)], step('b'), { onMemberFailure: 'continue' }),
    );
    expect(plan.flow.children![0].opts).toMatchObject({ ignoreDependencyOnFailure: true });
    expect(plan.flow.children![0].opts).not.toHaveProperty('failParentOnFailure');
  });

  it('rejects a workflow that cannot run, naming where', async () => {
    await expect(planner().plan(chain([]))).rejects.toThrow(
      /at 0: a chain needs at least one step/,
    );
    await expect(planner().plan(chain([step('a')]))).rejects.toThrow(InvalidWorkflowError);
    await expect(planner().plan(group([step('a', 1), step('b', () => 1)]))).rejects.toThrow(
      InvalidPayloadError,
    );
  });
});
