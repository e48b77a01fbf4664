import type { WorkflowStepInfo } from '@conveyor/tasks';
import { resultStep, workflowState, workflowTree, type WorkflowTreeNode } from './workflow-tree';

const at = (
  path: string,
  state: WorkflowStepInfo['state'] = 'completed',
  kind: WorkflowStepInfo['kind'] = 'task',
): WorkflowStepInfo => ({
  path,
  kind,
  taskName: kind === 'task' ? `t${path}` : `conveyor.${kind}`,
  queue: 'q',
  jobId: `wf-1.${path}`,
  state,
});

/** kind@path, children in brackets. */
function outline(node: WorkflowTreeNode): string {
  const own = `${node.kind}@${node.path}`;
  return node.children.length ? `${own}[${node.children.map(outline).join(' ')}]` : own;
}

describe('workflowTree', () => {
  it('draws a lone step', () => {
    expect(outline(workflowTree([at('0')]))).toBe('step@0');
  });

  it('draws a chain whose middle node is a group, members in order past ten', () => {
    const members = Array.from({ length: 11 }, (_, i) => at(`0.1.${i}`));
    const tree = workflowTree([
      at('0.0'),
      ...members.reverse(),
      at('0.1', 'completed', 'collector'),
      at('0.2'),
    ]);
    expect(outline(tree)).toBe(
      `chain@0[step@0.0 group@0.1[${Array.from({ length: 11 }, (_, i) => `step@0.1.${i}`).join(' ')}] step@0.2]`,
    );
    expect(tree.children[1].step?.taskName).toBe('conveyor.collector');
  });

  it('draws a chord with its callback last', () => {
    const tree = workflowTree([at('0.callback'), at('0.0'), at('0.1')]);
    expect(outline(tree)).toBe('chord@0[step@0.0 step@0.1 step@0.callback]');
    expect(resultStep(tree)?.path).toBe('0.callback');
  });

  it('draws the group a fan-out adds after a step in a chain', () => {
    const tree = workflowTree([
      at('0.0'),
      at('0.1.fan.0', 'unknown'),
      at('0.1.fan.1', 'unknown'),
      at('0.1.fan', 'unknown', 'collector'),
      at('0.1', 'waiting-children', 'fan-out'),
    ]);
    expect(outline(tree)).toBe(
      'chain@0[step@0.0 fan-out@0.1[group@0.1.fan[step@0.1.fan.0 step@0.1.fan.1]]]',
    );
  });
});

describe('workflowState', () => {
  const state = (steps: WorkflowStepInfo[]) => workflowState(workflowTree(steps), steps);

  it('is completed once the step with the result is, even if earlier steps expired', () => {
    expect(state([at('0.0', 'unknown'), at('0.1')])).toBe('completed');
  });

  it('is failed when a step was dead-lettered, and says what still runs otherwise', () => {
    expect(state([at('0.0', 'dead-lettered'), at('0.1', 'skipped')])).toBe('failed');
    expect(state([at('0.0', 'cancelled'), at('0.1', 'skipped')])).toBe('cancelled');
    expect(state([at('0.0', 'active'), at('0.1', 'waiting-children')])).toBe('active');
    expect(state([at('0.0', 'waiting'), at('0.1', 'waiting-children')])).toBe('waiting');
  });
});
