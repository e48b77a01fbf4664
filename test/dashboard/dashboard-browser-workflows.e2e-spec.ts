import type { Page } from 'playwright-core';
import { chain, group, step, TaskProducer, Workflows } from '@conveyor/tasks';
import { launchChromium, openPage, shoot, signIn, type TestBrowser } from '../support/browser';
import { type HttpTestApp, stopHttpApps } from '../support/http-app';
import { eventually } from '../support/tasks-app';
import { TOKEN } from './dashboard-app';
import {
  Approve,
  Digest,
  DIGEST_SCHEDULE,
  Resize,
  startWorkflowsApp,
  Sum,
  WorkflowTestTasks,
} from './dashboard-workflows-app';

describe('@conveyor/dashboard schedules and workflows in a browser', () => {
  jest.setTimeout(60_000);
  let chromium: TestBrowser | undefined;
  let app: HttpTestApp | undefined;

  beforeAll(async () => {
    chromium = await launchChromium();
  });

  afterAll(async () => {
    await chromium?.close();
  });

  afterEach(async () => {
    const stopping = app;
    app = undefined;
    await stopHttpApps(stopping);
  });

  async function signedIn(url: string): Promise<Page> {
    const page = await openPage(chromium!);
    await page.goto(url);
    await signIn(page, TOKEN);
    return page;
  }

  it('pauses, resumes and triggers a schedule', async () => {
    app = await startWorkflowsApp({ token: TOKEN });
    const producer = app.get(TaskProducer);
    // A cron schedule: an `every` one's first run is due at once.
    await producer.schedule('digest-weekly', Digest, {
      cron: '0 12 * * 1',
      payload: { kind: 'weekly' },
    });

    const page = await signedIn(`${app.url}/conveyor#/schedules`);
    const declared = page.locator(`#schedules tr[data-schedule="${DIGEST_SCHEDULE}"]`);
    await declared.waitFor();
    expect(await page.locator('#schedules tbody tr').count()).toBe(2);
    expect(await declared.locator('td').nth(3).innerText()).toContain('0 6 * * *');

    await declared.locator('button[data-action=pause]').click();
    await declared.locator('.badge.paused').waitFor();
    expect((await producer.schedules())[0]).toMatchObject({ id: DIGEST_SCHEDULE, paused: true });

    await declared.locator('button[data-action=trigger]').click();
    await eventually(
      () => app!.get(WorkflowTestTasks).digests.length === 1,
      10_000,
      'the triggered digest',
    );
    expect(app.get(WorkflowTestTasks).digests[0].kind).toBe('daily');
    // Triggering leaves it paused.
    await page.locator('#toast', { hasText: 'Done' }).waitFor();
    expect((await producer.schedules())[0].paused).toBe(true);
    await shoot(page, 'schedules');

    await declared.locator('button[data-action=resume]').click();
    await declared.locator('button[data-action=pause]').waitFor();
    expect(await declared.locator('.badge.paused').count()).toBe(0);
    expect((await producer.schedules())[0].paused).toBe(false);
    await page.context().close();
  });

  it('opens a workflow as a tree, follows a step to its job and back, cancels a durable one and signals another', async () => {
    app = await startWorkflowsApp({ token: TOKEN });
    const producer = app.get(TaskProducer);
    const workflow = await producer.workflow(
      chain([
        group([step(Resize, { n: 1 }), step(Resize, { n: 2 }), step(Resize, { n: 3 })]),
        step(Sum),
      ]),
    );
    await workflow.result({ timeout: '10s' });
    await app.get(Workflows).start(Approve, { orderId: 'o-7' }, { id: 'approve-o-7' });

    const page = await signedIn(`${app.url}/conveyor#/workflows`);
    await page.locator(`#canvas-workflows tr[data-workflow="${workflow.id}"] a`).click();
    const tree = page.locator('#workflow-tree');
    await tree.locator('li[data-path="0.1"][data-state=completed]').waitFor();
    expect(await tree.locator('li[data-state=completed]').count()).toBe(5);
    expect(await tree.locator('li[data-path="0.0"] > .kind').innerText()).toMatch(/group/i);
    await page.locator('#workflow-state .badge.completed').waitFor();
    await shoot(page, 'workflows');

    // A step's job, and the job's link back to its workflow.
    await tree.locator('li[data-path="0.0.2"] > a').click();
    await page.waitForURL(`**/conveyor#/job/images/${workflow.id}.0.0.2`);
    await page.locator('#job-workflow').click();
    await page.waitForURL(`**/conveyor#/workflows/canvas/${workflow.id}`);
    await tree.locator('li[data-path="0.0.2"]').waitFor();

    // A durable workflow waiting for its signal: history, then cancel.
    await page.goto(`${app.url}/conveyor#/workflows`);
    await page.locator('#durable-workflows tr[data-workflow="approve-o-7"] a').click();
    await page.locator('#workflow-history tr[data-seq] .badge.waiting').waitFor();
    await page.locator('button[data-action=cancel]').click();
    await page.locator('#workflow-state .badge.cancelled').waitFor({ timeout: 15_000 });
    expect((await app.get(Workflows).get('approve-o-7')).status).toBe('cancelled');
    expect(await page.locator('button[data-action=cancel]').count()).toBe(0);

    // Another one, approved from the page: the form names the awaited signal.
    const approval = await app
      .get(Workflows)
      .start(Approve, { orderId: 'o-8' }, { id: 'approve-o-8' });
    await eventually(
      async () => (await app!.get(Workflows).get('approve-o-8')).current?.kind === 'wait',
      10_000,
      'the wait for approval',
    );
    await page.goto(`${app.url}/conveyor#/workflows/durable/approve-o-8`);
    expect(await page.locator('#signal input[name=name]').inputValue()).toBe('approval');
    await page.locator('#signal input[name=data]').fill('{"by":"ada"}');
    await page.locator('#signal button[data-action=signal]').click();
    await page.locator('#workflow-state .badge.completed').waitFor({ timeout: 15_000 });
    await expect(approval.result({ timeout: '5s' })).resolves.toBe('o-8 approved by ada');
    await page.context().close();
  });
});
