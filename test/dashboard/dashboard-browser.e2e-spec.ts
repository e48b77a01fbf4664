import { TaskControl, TaskProducer } from '@conveyor/tasks';
import {
  expectText,
  launchChromium,
  openPage,
  shoot,
  signIn,
  type TestBrowser,
} from '../support/browser';
import { type HttpTestApp, stopHttpApps } from '../support/http-app';
import { type SampleApp, startSampleApp } from '../support/sample-app';
import { eventually } from '../support/tasks-app';
import { Charge, declined, Nightly, startDashboardApp, TOKEN, Welcome } from './dashboard-app';

describe('@conveyor/dashboard in a browser', () => {
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
    declined.clear();
    await stopHttpApps(stopping);
  });

  it('logs in, shows the queues, finds a job by payload field, replays a dead letter and pauses a queue', async () => {
    app = await startDashboardApp({ token: TOKEN });
    const producer = app.get(TaskProducer);
    await app.get(TaskControl).pause('reports');
    for (let day = 1; day <= 5; day++) await producer.enqueue(Nightly, { day: `2026-12-0${day}` });
    await producer.enqueue(Nightly, { day: 'tomorrow' }, { delay: '1d' });
    await producer.enqueue(Welcome, { userId: 'u-1' });
    await producer.enqueue(Charge, { orderId: 41, cents: 1_000 });
    const wanted = await producer.enqueue(Charge, { orderId: 42, cents: 4_200 });
    declined.add(7);
    const letter = await producer.enqueue(Charge, { orderId: 7, cents: 700 });
    await eventually(
      async () => (await letter.state()) === 'dead-lettered',
      10_000,
      'a dead letter',
    );
    await app.get(TaskControl).resume('reports');
    await app.get(TaskControl).pause('reports');

    const page = await openPage(chromium!);
    // No token: the API refuses and the page asks for one.
    await page.goto(`${app.url}/conveyor`);
    await page.locator('#login').waitFor();
    expect(await page.locator('#nav').isVisible()).toBe(false);
    expect(await page.locator('#login-error').textContent()).toMatch(/needs its token/);
    await shoot(page, 'login');

    await signIn(page, 'a-wrong-token');
    await page.locator('#login-error', { hasText: 'wrong dashboard token' }).waitFor();
    await signIn(page, TOKEN);

    // Overview: every queue of the app with its counts.
    const orders = page.locator('#queues tr[data-queue=orders]');
    await orders.waitFor();
    const reports = page.locator('#queues tr[data-queue=reports]');
    await expectText(reports, /paused/);
    expect(await reports.locator('td').nth(1).textContent()).toBe('5');
    expect(await reports.locator('td').nth(3).textContent()).toBe('1');
    expect(await orders.locator('td').nth(4).textContent()).toBe('1');
    expect(await page.locator('#queues tr[data-queue=email]').count()).toBe(1);
    expect(await page.locator('#mode').isVisible()).toBe(false);
    await shoot(page, 'overview');

    // Search by payload field.
    await page.goto(`${app.url}/conveyor#/jobs`);
    await page.locator('#search select[name=queue]').selectOption('orders');
    await page.locator('#search input[name=field]').fill('orderId');
    await page.locator('#search input[name=value]').fill('42');
    await page.locator('#search button[type=submit]').click();
    const row = page.locator(`#jobs tr[data-job="${wanted.id}"]`);
    await row.waitFor();
    expect(await page.locator('#jobs tbody tr').count()).toBe(1);
    await expectText(row, /"orderId":42/);
    // orders.charge declares orderId searchable: the producer's index answered, no scan.
    await expectText(
      page.locator('main'),
      /1 found, 1 job read \(from the search index; Read more scans/,
    );
    // Read more scans the queue for jobs the index lacks; the one found already is not repeated.
    await page.locator('#more').click();
    await expectText(page.locator('main'), /\(the search index, then the scan\)/);
    expect(await page.locator('#jobs tbody tr').count()).toBe(1);
    await shoot(page, 'search');

    // Dead letters: replay one, and watch it complete on its job page.
    declined.clear();
    await page.goto(`${app.url}/conveyor#/dead-letters/orders`);
    const deadRow = page.locator(`#dead-letters tr[data-job="${letter.id}"]`);
    await expectText(deadRow, /RangeError: card declined for order 7/);
    await shoot(page, 'dead-letters');
    await deadRow.locator('button[data-action=replay]').click();
    await page.waitForURL(`**/conveyor#/job/orders/${letter.id}`);
    await page.locator('#job-state', { hasText: 'completed' }).waitFor({ timeout: 15_000 });
    await expectText(page.locator('main'), /"charged": 700/);
    await shoot(page, 'job');

    // Pause and resume a queue.
    await page.goto(`${app.url}/conveyor#/`);
    const email = page.locator('#queues tr[data-queue=email]');
    await email.locator('button[data-action=pause]').click();
    await email.locator('.badge.paused').waitFor();
    expect(await app.get(TaskControl).isPaused('email')).toBe(true);
    await email.locator('button[data-action=resume]').click();
    await email.locator('button[data-action=pause]').waitFor();
    expect(await email.locator('.badge.paused').count()).toBe(0);
    expect(await app.get(TaskControl).isPaused('email')).toBe(false);
    await page.context().close();
  });

  it("shows the sample app's queues at /conveyor, behind its ADMIN_TOKEN", async () => {
    let sample: SampleApp | undefined;
    try {
      sample = await startSampleApp({ database: 'pglite' });
      const page = await openPage(chromium!);
      await page.goto(`${sample.url}/conveyor`);
      await page.locator('#login-error', { hasText: 'a valid admin token is required' }).waitFor();
      await page.locator('#login input[name=token]').fill('test-admin-token');
      await page.locator('#login button[type=submit]').click();
      for (const queue of ['email', 'payments', 'reports']) {
        await page.locator(`#queues tr[data-queue=${queue}]`).waitFor();
      }
      await page.context().close();
    } finally {
      await sample?.stop();
    }
  });

  it('hides every action in read-only mode', async () => {
    app = await startDashboardApp({ token: TOKEN, readOnly: true });
    const producer = app.get(TaskProducer);
    declined.add(3);
    const letter = await producer.enqueue(Charge, { orderId: 3, cents: 300 });
    await eventually(
      async () => (await letter.state()) === 'dead-lettered',
      10_000,
      'a dead letter',
    );
    const delayed = await producer.enqueue(Nightly, { day: 'later' }, { delay: '1h' });

    const page = await openPage(chromium!);
    await page.goto(`${app.url}/conveyor`);
    await signIn(page, TOKEN);
    await page.locator('#queues tr[data-queue=orders]').waitFor();
    expect(await page.locator('#mode').isVisible()).toBe(true);
    expect(await page.locator('[data-action]').count()).toBe(0);
    await shoot(page, 'read-only');

    await page.goto(`${app.url}/conveyor#/dead-letters/orders`);
    await page.locator(`#dead-letters tr[data-job="${letter.id}"]`).waitFor();
    expect(await page.locator('[data-action]').count()).toBe(0);

    await page.goto(`${app.url}/conveyor#/job/reports/${delayed.id}`);
    await page.locator('#job-state', { hasText: 'delayed' }).waitFor();
    expect(await page.locator('[data-action]').count()).toBe(0);
    await page.context().close();
  });

  it("shows a queue's last hour, its workers, and a task's percentiles and failures by error", async () => {
    app = await startDashboardApp({ token: TOKEN });
    const producer = app.get(TaskProducer);
    declined.add(13);
    const runs = await producer.enqueueMany(Charge, [
      { orderId: 11, cents: 100 },
      { orderId: 12, cents: 200 },
      { orderId: 13, cents: 300 },
    ]);
    await Promise.all(runs.map((run) => run.result({ timeout: 10_000 }).catch(() => undefined)));

    const page = await openPage(chromium!);
    await page.goto(`${app.url}/conveyor`);
    await signIn(page, TOKEN);
    const orders = page.locator('#queues tr[data-queue=orders]');
    // The history is written every second: the overview refreshes until it has the runs.
    await expectText(orders.locator('td[data-field=throughput]'), /\b2\/h/);
    expect(await orders.locator('td[data-field=throughput] svg.sparkline polyline').count()).toBe(
      1,
    );
    expect(await orders.locator('td[data-field=workers]').textContent()).toBe('1');
    await shoot(page, 'overview-history');

    await orders.locator('a', { hasText: 'Tasks' }).click();
    const charge = page.locator('#tasks tr[data-task="orders.charge"]');
    await expectText(charge, /orders\.charge/);
    await charge.locator('a').click();
    await page.waitForURL('**/conveyor#/task/orders/orders.charge?window=1h');
    await expectText(page.locator('[data-field=completed]'), /2/);
    await expectText(page.locator('[data-field=dead-lettered]'), /1/);
    const group = page.locator(
      '#failures tr[data-signature="RangeError: card declined for order <n>"]',
    );
    await expectText(group, /card declined for order 13/);
    expect(await group.locator('td').nth(1).textContent()).toBe('2');
    await shoot(page, 'task');
    // The failure's last job opens its page.
    await group.locator('a').click();
    await page.locator('#job-state', { hasText: 'dead-lettered' }).waitFor();
    expect(page.url()).toContain(`#/job/orders/${runs[2].id}`);
    await page.context().close();
  });
});
