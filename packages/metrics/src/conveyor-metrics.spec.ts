import { Test, type TestingModule } from '@nestjs/testing';
import { TaskInstrumentation, TasksModule, WorkflowInstrumentation } from '@conveyor/tasks';
import { Registry } from 'prom-client';
import { InvalidMetricsOptionsError } from './errors/invalid-metrics-options.error';
import { MetricsModule } from './metrics.module';

describe('ConveyorMetrics', () => {
  let app: TestingModule;
  let registry: Registry;

  beforeEach(async () => {
    registry = new Registry();
    // No Redis is touched: counters only, and the connection is opened lazily.
    app = await Test.createTestingModule({
      imports: [
        TasksModule.forRoot({ connection: 'redis://127.0.0.1:6379', workers: 'none' }),
        MetricsModule.forRoot({ registry }),
      ],
    }).compile();
    app.useLogger(false);
    await app.init();
  });

  afterEach(() => app.close());

  const value = async (name: string, labels: Record<string, string>) => {
    const metric = registry.getSingleMetric(name);
    const values = (await metric!.get()).values;
    return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
  };

  it('counts what the instrumentation seam reports, labelled by task and queue', async () => {
    const seam = app.get(TaskInstrumentation);
    seam.enqueued('email.send', 'email', 3);
    seam.deadLettered({ name: 'email.send', queueName: 'email' } as never);
    seam.leaseLost({ name: 'email.send', queueName: 'email' } as never);
    seam.leaseLost({ name: 'email.send', queueName: 'email' } as never);
    const labels = { task: 'email.send', queue: 'email' };
    expect(await value('conveyor_tasks_enqueued_total', labels)).toBe(3);
    expect(await value('conveyor_tasks_dead_lettered_total', labels)).toBe(1);
    expect(await value('conveyor_task_leases_lost_total', labels)).toBe(2);
  });

  it('counts durable workflow runs by workflow and how they ended', async () => {
    const seam = app.get(WorkflowInstrumentation);
    await seam.run('order.fulfil', 'wf-1', () => Promise.resolve('suspended'));
    await seam.run('order.fulfil', 'wf-1', () => Promise.resolve('completed'));
    await expect(
      seam.run('order.fulfil', 'wf-1', () => Promise.reject(new Error('ECONNRESET'))),
    ).rejects.toThrow('ECONNRESET');
    const workflow = { workflow: 'order.fulfil' };
    expect(await value('conveyor_workflow_runs_total', { ...workflow, end: 'suspended' })).toBe(1);
    expect(await value('conveyor_workflow_runs_total', { ...workflow, end: 'completed' })).toBe(1);
    expect(await value('conveyor_workflow_run_failures_total', workflow)).toBe(1);
  });

  it('registers its metrics in the given registry and removes them on shutdown', async () => {
    expect(registry.getSingleMetric('conveyor_task_run_duration_seconds')).toBeDefined();
    await app.close();
    expect(registry.getSingleMetric('conveyor_task_run_duration_seconds')).toBeUndefined();
  });

  it.each([
    [{ drainTarget: 'soon' }, /autoscaling.drainTarget must be milliseconds or a duration/],
    [{ drainTarget: '10ms' }, /autoscaling.drainTarget must be at least 1s, got "10ms"/],
    [{ drainTime: '1m' }, /unknown option autoscaling.drainTime \(valid: drainTarget\)/],
  ])('refuses autoscaling %p at startup, naming it', async (autoscaling, message) => {
    const compiling = Test.createTestingModule({
      imports: [
        TasksModule.forRoot({ connection: 'redis://127.0.0.1:6379', workers: 'none' }),
        MetricsModule.forRoot({ registry: new Registry(), autoscaling: autoscaling as never }),
      ],
    }).compile();
    await expect(compiling).rejects.toThrow(InvalidMetricsOptionsError);
    await expect(compiling).rejects.toThrow(message);
  });
});
