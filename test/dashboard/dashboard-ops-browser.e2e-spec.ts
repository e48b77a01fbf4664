import type { Page } from 'playwright-core';
import { TaskProducer } from '@conveyor/tasks';
import {
  expectText,
  launchChromium,
  openPage,
  shoot,
  signIn,
  type TestBrowser,
} from '../support/browser';
import { type HttpTestApp, stopHttpApps } from '../support/http-app';
import { openSql, type OutboxTestApp, type Sql, stopOutboxApps } from '../support/outbox-app';
import { eventually } from '../support/tasks-app';
import { TOKEN } from './dashboard-app';
import { Hold, Import, Mail, startOpsApp, startOpsOutboxApp, Sync } from './ops-app';

describe('@conveyor/dashboard in a browser: tenants, outbox, workers', () => {
  jest.setTimeout(60_000);
  let chromium: TestBrowser | undefined;
  let sql: Sql;
  let app: OutboxTestApp | undefined;
  let plain: HttpTestApp | undefined;
  let hold: Hold;

  beforeAll(async () => {
    chromium = await launchChromium();
    sql = await openSql('postgres');
  });
  afterAll(async () => {
    await chromium?.close();
    await sql.close();
  });
  beforeEach(() => {
    hold = new Hold();
  });
  afterEach(async () => {
    hold.let();
    await stopOutboxApps(sql, app);
    await stopHttpApps(plain);
    app = plain = undefined;
  });

  async function signedIn(url: string): Promise<Page> {
    const page = await openPage(chromium!);
    await page.goto(`${url}/conveyor`);
    await signIn(page, TOKEN);
    await page.locator('#queues').waitFor();
    return page;
  }

  async function insertRow(table: string, options: unknown, extra = ''): Promise<string> {
    const [row] = await sql.query<{ id: string }>(
      `INSERT INTO "${table}" (kind, name, queue, payload, options${extra ? ', attempts, last_error, available_at' : ''})
       VALUES ('task', $1, 'mail', '{"to":"ada@example.com"}', $2::jsonb${extra}) RETURNING id::text AS id`,
      [Mail.name, JSON.stringify(options)],
    );
    return row.id;
  }
  const goodOptions = { job: { task: Mail.name, queue: 'mail', opts: {} } };

  it('shows tenants at their limits, the live workers, and the outbox with its failures (and replays one)', async () => {
    app = await startOpsOutboxApp({ token: TOKEN }, hold);
    const producer = app.get(TaskProducer);
    const load: Array<[string, number]> = [
      ['acme', 7],
      ['globex', 4],
      ['umbrella', 2],
      ['initech', 1],
    ];
    for (const [tenant, jobs] of load) {
      for (let n = 0; n < jobs; n++) await producer.enqueue(Import, { tenant, n });
    }
    for (let n = 0; n < 3; n++) await producer.enqueue(Sync, { account: 'north', n });
    const broken = await insertRow(app.table, {});
    await insertRow(
      app.table,
      goodOptions,
      `, 3, 'Redis did not answer within 5000 ms', now() + interval '1 hour'`,
    );
    await eventually(
      async () =>
        (
          await sql.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM "${app!.table}" WHERE available_at = 'infinity'`,
          )
        )[0].n === 1,
      15_000,
      'the broken row to be set aside',
    );

    const page = await signedIn(app.url);

    // Tenants: most parked first, each key's runs against its limit.
    await page.locator('#nav a[href="#/tenants"]').click();
    const acme = page.locator('#tenants tr[data-key=acme]');
    await expectText(acme, /2 \/ 2.*5/);
    const keys = () =>
      page
        .locator('#tenants tbody tr')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-key')));
    await eventually(
      async () => (await keys()).join() === 'acme,globex,north,umbrella,initech',
      10_000,
      'every key, most parked first',
    );
    await expectText(page.locator('#tenants tr[data-key=north]'), /crm\.sync.*1 \/ 1.*2/);
    await expectText(page.locator('#tenants tr[data-key=initech]'), /1 \/ 2/);
    expect(await acme.locator('.badge', { hasText: 'full' }).count()).toBe(1);
    await shoot(page, 'tenants');

    // Workers: this process, with the runs it holds.
    await page.locator('#nav a[href="#/workers"]').click();
    const imports = page.locator('#worker-queues tr[data-queue=imports]');
    await expectText(imports, /imports\s*1\s*10\s*8/);
    const worker = page.locator('#workers tbody tr');
    expect(await worker.count()).toBe(1);
    await expectText(worker, new RegExp(`${process.pid}`));
    await expectText(worker.locator('[data-queue=imports]'), /8\/10 running/);
    expect(await worker.locator('[data-job]').count()).toBe(3);
    await expectText(worker, /and 5 more/);
    await shoot(page, 'workers');

    // Outbox: counts, and the failures, newest first; replay the set-aside row once fixed.
    await page.locator('#nav a[href="#/outbox"]').click();
    await expectText(page.locator('[data-stat=set-aside]'), /^1$/);
    expect(await page.locator('[data-stat=failing]').textContent()).toBe('1');
    expect(await page.locator('[data-stat=pending]').textContent()).toBe('1');
    await expectText(page.locator('[data-stat=relay]'), /relaying/);
    const brokenRow = page.locator(`#outbox-failures tr[data-row="${broken}"]`);
    await expectText(brokenRow, /set aside/);
    await expectText(brokenRow, /options\.job is missing/);
    const rows = page.locator('#outbox-failures tbody tr');
    expect(await rows.count()).toBe(2);
    await expectText(rows.nth(0), /Redis did not answer/);
    // Only a set-aside row offers a replay.
    expect(await rows.nth(0).locator('button[data-action=replay]').count()).toBe(0);
    await shoot(page, 'outbox');
    await sql.query(`UPDATE "${app.table}" SET options = $2::jsonb WHERE id = $1`, [
      broken,
      JSON.stringify(goodOptions),
    ]);
    await brokenRow.locator('button[data-action=replay]').click();
    await expectText(page.locator('[data-stat=set-aside]'), /^0$/);
    await expectText(page.locator('[data-stat=published]'), /^1$/);
    expect(await brokenRow.count()).toBe(0);

    await page.context().close();
  });

  it('offers no replay in read-only mode', async () => {
    app = await startOpsOutboxApp({ token: TOKEN, readOnly: true }, hold);
    const broken = await insertRow(app.table, {});
    const page = await signedIn(app.url);
    await page.goto(`${app.url}/conveyor#/outbox`);
    await expectText(page.locator(`#outbox-failures tr[data-row="${broken}"]`), /set aside/);
    expect(await page.locator('#mode').isVisible()).toBe(true);
    expect(await page.locator('[data-action]').count()).toBe(0);
    await page.context().close();
  });

  it('says so when the app has no outbox', async () => {
    plain = await startOpsApp({ token: TOKEN }, hold);
    await plain.get(TaskProducer).enqueue(Import, { tenant: 'acme', n: 0 });
    const page = await signedIn(plain.url);
    await page.goto(`${plain.url}/conveyor#/outbox`);
    await expectText(page.locator('#outbox-disabled'), /no outbox.*OutboxModule/);
    // The other views work as ever.
    await page.goto(`${plain.url}/conveyor#/tenants`);
    await expectText(page.locator('#tenants tr[data-key=acme]'), /1 \/ 2/);
    await page.context().close();
  });
});
