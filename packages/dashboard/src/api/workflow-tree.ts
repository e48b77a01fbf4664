import type { WorkflowStepInfo } from '@conveyor/tasks';

/**
 * One node of a canvas workflow as the dashboard draws it. A `step` is one task's job; a
 * `group`'s `step` is its collector and a `fan-out`'s its fan-out job (Conveyor's own jobs);
 * a `chain` or `chord` has no job of its own (a chord's last child is its callback).
 */
export interface WorkflowTreeNode {
  kind: 'step' | 'chain' | 'group' | 'chord' | 'fan-out';
  path: string;
  step?: WorkflowStepInfo;
  children: WorkflowTreeNode[];
}

/**
 * Rebuilds a workflow's shape from its steps' paths, as `WorkflowPlanner` numbers them: a
 * chain's and a group's nodes are `<path>.<i>`, a group's collector sits at the group's path,
 * a chord's callback at `<path>.callback`, and the group or chord a fan-out adds at
 * `<path>.fan`.
 */
export function workflowTree(steps: readonly WorkflowStepInfo[]): WorkflowTreeNode {
  const byPath = new Map(steps.map((step) => [step.path, step]));
  const childrenOf = new Map<string, Set<string>>();
  for (const step of steps) {
    const parts = step.path.split('.');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('.');
      const child = parts.slice(0, i + 1).join('.');
      if (!childrenOf.has(parent)) childrenOf.set(parent, new Set());
      childrenOf.get(parent)!.add(child);
    }
  }
  const build = (path: string): WorkflowTreeNode => {
    const step = byPath.get(path);
    const children = [...(childrenOf.get(path) ?? [])].sort(byPosition).map(build);
    if (step?.kind === 'task') return { kind: 'step', path, step, children };
    if (step?.kind === 'collector') return { kind: 'group', path, step, children };
    if (step?.kind === 'fan-out') return { kind: 'fan-out', path, step, children };
    const chord = children.some((child) => child.path === `${path}.callback`);
    return { kind: chord ? 'chord' : 'chain', path, children };
  };
  return build('0');
}

/** Numbered nodes in order, then a chord's callback, then a fan-out's inner node. */
function byPosition(a: string, b: string): number {
  const rank = (path: string) => {
    const last = path.slice(path.lastIndexOf('.') + 1);
    return /^\d+$/.test(last) ? Number(last) : last === 'callback' ? 1e9 : 2e9;
  };
  return rank(a) - rank(b);
}

/** The job whose result is the workflow's: a chain's last node's, a chord's callback. */
export function resultStep(node: WorkflowTreeNode): WorkflowStepInfo | undefined {
  if (node.step) return node.step;
  const last = node.children[node.children.length - 1];
  return last ? resultStep(last) : undefined;
}

/** A whole workflow's state: failed, cancelled, completed, active or waiting. */
export function workflowState(
  tree: WorkflowTreeNode,
  steps: readonly WorkflowStepInfo[],
): 'failed' | 'cancelled' | 'completed' | 'active' | 'waiting' {
  const states = new Set(steps.map((step) => step.state));
  if (states.has('dead-lettered')) return 'failed';
  if (resultStep(tree)?.state === 'completed') return 'completed';
  if (states.has('cancelled')) return 'cancelled';
  if (states.has('active')) return 'active';
  return 'waiting';
}
