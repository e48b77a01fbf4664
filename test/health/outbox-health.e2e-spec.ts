import { HealthModule } from '@conveyor/health';
import { get } from '../support/http-app';
import {
  openSql,
  type OutboxTestApp,
  type Sql,
  startOutboxApp,
  stopOutboxApps,
} from '../support/outbox-app';

describe('GET /health/ready with an outbox', () => {
  let sql: Sql;
  let app: OutboxTestApp | undefined;

  beforeAll(async () => {
    sql = await openSql('postgres');
  });
  afterAll(() => sql.close());
  afterEach(async () => {
    await stopOutboxApps(sql, app);
    app = undefined;
  });

  it('turns 503 when the outbox lag passes its threshold, 200 once the row is published', async () => {
    app = await startOutboxApp({
      backend: 'postgres',
      // No relay in this process: rows stay pending, as when every relay is down.
      outbox: { relay: false },
      imports: [HealthModule.forRoot({ thresholds: { outboxLag: '1m' } })],
    });
    const ready = async () => {
      const response = await get(`${app!.url}/health/ready`);
      return { status: response.status, body: JSON.parse(response.text) as Record<string, never> };
    };
    let response = await ready();
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ info: { outbox: { status: 'up', pending: 0 } } });

    await sql.query(
      `INSERT INTO "${app.table}" (kind, name, queue, payload, created_at)
       VALUES ('task', 'health.late', 'late', '{}', now() - interval '2 minutes')`,
    );
    response = await ready();
    expect(response.status).toBe(503);
    expect(response.body).toMatchObject({
      status: 'error',
      error: { outbox: { status: 'down', pending: 1 } },
    });

    await sql.query(`UPDATE "${app.table}" SET published_at = now()`);
    expect((await ready()).status).toBe(200);
  });
});
