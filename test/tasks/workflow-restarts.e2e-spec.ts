import { step, TaskProducer } from '@conveyor/tasks';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';
import { Square, Tally, WorkflowTasks } from './workflow-fixtures';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('workflows across restarts', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await stopAll(...apps);
    apps.length = 0;
  });

  it('finishes a chord after its worker restarts mid-way, without loss or a second callback', async () => {
    const producerApp = await startTasksApp([WorkflowTasks], { workers: 'none' });
    apps.push(producerApp);
    const { prefix } = producerApp;
    const worker = () =>
      startTasksApp([WorkflowTasks], { prefix, queues: { default: { concurrency: 2 } } });

    const first = await worker();
    apps.push(first);
    const handle = await producerApp.get(TaskProducer).chord(
      range(30).map((i) => step(Square, { i, sleepMs: 30 })),
      step(Tally),
    );
    const firstTasks = first.get(WorkflowTasks);
    await eventually(() => firstTasks.ran('wf.square').length >= 6, 20_000, 'some members to run');
    await first.close();
    const doneBefore = firstTasks.ran('wf.square').length;
    expect(doneBefore).toBeLessThan(30);
    expect(firstTasks.ran('wf.tally')).toEqual([]);

    const second = await worker();
    apps.push(second);
    await expect(handle.result({ timeout: '20s' })).resolves.toEqual({
      sum: range(30).reduce((sum, i) => sum + i * i, 0),
      failed: [],
    });
    const secondTasks = second.get(WorkflowTasks);
    const callbacks = [...firstTasks.ran('wf.tally'), ...secondTasks.ran('wf.tally')];
    expect(callbacks).toHaveLength(1);
    // Every member ran somewhere (at least once: a run handed back at shutdown may repeat).
    const ranMembers = new Set(
      [...firstTasks.ran('wf.square'), ...secondTasks.ran('wf.square')].map((run) => run.jobId),
    );
    expect(ranMembers.size).toBe(30);
    expect(secondTasks.ran('wf.square').length).toBeGreaterThan(0);
  });
});
