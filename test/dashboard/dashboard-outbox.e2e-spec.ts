import { Logger } from '@nestjs/common';
import { type HttpTestApp, stopHttpApps } from '../support/http-app';
import { openSql, type OutboxTestApp, type Sql, stopOutboxApps } from '../support/outbox-app';
import { eventually } from '../support/tasks-app';
import { call, TOKEN } from './dashboard-app';
import { Hold, Mail, startOpsApp, startOpsOutboxApp } from './ops-app';

describe('@conveyor/dashboard API: outbox', () => {
  let sql: Sql;
  let app: OutboxTestApp | undefined;
  let plain: HttpTestApp | undefined;
  let hold: Hold;

  beforeAll(async () => {
    sql = await openSql('postgres');
  });
  afterAll(() => sql.close());
  beforeEach(() => {
    hold = new Hold();
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    hold.let();
    await stopOutboxApps(sql, app);
    await stopHttpApps(plain);
    app = plain = undefined;
  });

  /** A task row as `Outbox.enqueue` writes it, or with options the relay cannot publish. */
  async function insertRow(table: string, options: unknown): Promise<string> {
    const [row] = await sql.query<{ id: string }>(
      `INSERT INTO "${table}" (kind, name, queue, payload, options)
       VALUES ('task', $1, 'mail', '{"to":"ada@example.com"}', $2::jsonb) RETURNING id::text AS id`,
      [Mail.name, JSON.stringify(options)],
    );
    return row.id;
  }
  const goodOptions = { job: { task: Mail.name, queue: 'mail', opts: {} } };

  it('shows counts, lag and recent failures, and replays a fixed set-aside row (logged)', async () => {
    app = await startOpsOutboxApp({ token: TOKEN }, hold);
    // A row the relay cannot publish (no job in its options): set aside after maxAttempts (2).
    const broken = await insertRow(app.table, {});
    await eventually(
      async () => (await call(app!, 'outbox')).body.stats?.setAside === 1,
      15_000,
      'the broken row to be set aside',
    );
    // A row whose last publish failed and that waits for its retry, as the relay leaves one
    // when Redis is away (it holds its backoff an hour here, so the relay leaves it be).
    const [{ id: retrying }] = await sql.query<{ id: string }>(
      `INSERT INTO "${app.table}" (kind, name, queue, payload, options, attempts, last_error, available_at)
       VALUES ('task', $1, 'mail', '{}', $2::jsonb, 3, 'Redis did not answer within 5000 ms',
               now() + interval '1 hour') RETURNING id::text AS id`,
      [Mail.name, JSON.stringify(goodOptions)],
    );

    const { status, body } = await call(app, 'outbox');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      enabled: true,
      canReplay: true,
      stats: { pending: 1, failing: 1, setAside: 1, running: true, consecutiveFailures: 0 },
    });
    expect(body.stats.oldestPendingAgeMs).toBeGreaterThanOrEqual(0);
    expect(body.failures).toEqual([
      expect.objectContaining({
        id: retrying,
        name: 'mail.send',
        attempts: 3,
        lastError: 'Redis did not answer within 5000 ms',
        setAside: false,
        nextAttemptAt: expect.any(String),
      }),
      expect.objectContaining({
        id: broken,
        attempts: 2,
        lastError: expect.stringMatching(/options\.job is missing/),
        setAside: true,
        nextAttemptAt: null,
      }),
    ]);
    expect((await call(app, 'outbox?failures=1')).body.failures).toHaveLength(1);

    // Replay: refused for a row that is not set aside (nothing changes), done for the fixed one.
    await sql.query(`UPDATE "${app.table}" SET options = $2::jsonb WHERE id = $1`, [
      broken,
      JSON.stringify(goodOptions),
    ]);
    const logged = jest.spyOn(Logger.prototype, 'log');
    const replayed = await call(app, 'outbox/replay', {
      method: 'POST',
      body: { ids: [retrying, broken] },
      headers: { 'x-conveyor-user': 'ops-bob' },
    });
    expect(replayed).toEqual({ status: 200, body: { replayed: [broken] } });
    expect(logged).toHaveBeenCalledWith(
      `dashboard: replay set-aside outbox rows {"ids":["${retrying}","${broken}"]} by ops-bob`,
    );
    // The relay publishes it, and the row leaves the failures.
    await eventually(
      async () => {
        const [row] = await sql.query<{ published: boolean }>(
          `SELECT published_at IS NOT NULL AS published FROM "${app!.table}" WHERE id = $1`,
          [broken],
        );
        return row.published;
      },
      15_000,
      'the replayed row to be published',
    );
    const after = (await call(app, 'outbox')).body;
    expect(after.stats).toMatchObject({ setAside: 0, failing: 1, published: 1 });
    expect(after.failures.map((row: { id: string }) => row.id)).toEqual([retrying]);

    // The last is past PostgreSQL's bigint: the query's cast would fail with a 500.
    for (const body of [
      {},
      { ids: [] },
      { ids: ['1; DROP TABLE x'] },
      { ids: [1] },
      { ids: ['9999999999999999999'] },
    ]) {
      expect((await call(app, 'outbox/replay', { method: 'POST', body })).status).toBe(400);
    }
  });

  it('refuses a replay in read-only mode with 403, and changes nothing', async () => {
    app = await startOpsOutboxApp({ token: TOKEN, readOnly: true }, hold);
    const broken = await insertRow(app.table, {});
    await eventually(
      async () => (await call(app!, 'outbox')).body.stats?.setAside === 1,
      15_000,
      'the broken row to be set aside',
    );
    const { body } = await call(app, 'outbox');
    expect(body.canReplay).toBe(false);
    const warned = jest.spyOn(Logger.prototype, 'warn');
    const refused = await call(app, 'outbox/replay', { method: 'POST', body: { ids: [broken] } });
    expect(refused.status).toBe(403);
    expect(warned).toHaveBeenCalledWith(
      `dashboard: replay set-aside outbox rows {"ids":["${broken}"]} refused (read-only) for token`,
    );
    const [row] = await sql.query<{ set_aside: boolean; attempts: number }>(
      `SELECT available_at = 'infinity' AS set_aside, attempts FROM "${app.table}" WHERE id = $1`,
      [broken],
    );
    expect(row).toEqual({ set_aside: true, attempts: 2 });
  });

  it('says the app has no outbox when it has no OutboxModule', async () => {
    plain = await startOpsApp({ token: TOKEN }, hold);
    expect(await call(plain, 'outbox')).toEqual({ status: 200, body: { enabled: false } });
    const replay = await call(plain, 'outbox/replay', { method: 'POST', body: { ids: ['1'] } });
    expect(replay.status).toBe(404);
    expect(replay.body.message).toMatch(/no OutboxModule/);
  });
});
