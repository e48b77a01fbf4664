import { Workflows } from '@conveyor/tasks';
import { installTracing, parentOf, type TestTracing } from '../support/tracing';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';
import { closeLedger, DurableTasks, Scripted } from '../support/children/durable-tasks';

describe('durable workflow spans', () => {
  let tracing: TestTracing;
  let app: TestApp;

  beforeAll(async () => {
    tracing = installTracing();
    app = await startTasksApp([DurableTasks], { workflows: [Scripted] });
  });

  afterAll(async () => {
    await stopAll(app);
    await tracing.shutdown();
    closeLedger();
  });

  it('traces each run, with the steps it began as its children', async () => {
    const workflows = app.get(Workflows);
    const run = await workflows.start(Scripted, {
      ledger: `{${app.prefix}}:ledger`,
      script: [{ step: 't1' }],
    });
    await expect(run.result({ timeout: '10s' })).resolves.toEqual(['do:t1']);
    const spans = (await eventually(() => {
      const finished = tracing.spans();
      return finished.some((s) => s.name === 'process default') ? finished : undefined;
    }))!;
    const runs = spans.filter((s) => s.name === 'workflow.run durable.scripted');
    // The first run begins the step and suspends; a later one, woken by its end, completes.
    const ends = runs.map((s) => s.attributes['conveyor.workflow_run_end']);
    expect(ends[0]).toBe('suspended');
    expect(ends).toContain('completed');
    expect(runs[0].attributes['conveyor.workflow_id']).toBe(run.id);
    const send = spans.find((s) => s.name === 'send default')!;
    expect(parentOf(send)).toBe(runs[0].spanContext().spanId);
    const processed = spans.find((s) => s.name === 'process default')!;
    expect(processed.spanContext().traceId).toBe(runs[0].spanContext().traceId);
  });
});
