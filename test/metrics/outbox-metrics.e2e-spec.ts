import { Controller, Injectable, Post, UseInterceptors } from '@nestjs/common';
import { MetricsModule } from '@conveyor/metrics';
import { Outbox, OutboxInterceptor } from '@conveyor/outbox';
import { defineTask, Task } from '@conveyor/tasks';
import { Registry } from 'prom-client';
import { get, parsePrometheus, sample, type Sample } from '../support/http-app';
import {
  openSql,
  type OutboxTestApp,
  type Sql,
  startOutboxApp,
  stopOutboxApps,
} from '../support/outbox-app';
import { eventually } from '../support/tasks-app';

const Notify = defineTask<{ id: string }, void>('metrics.notify', { queue: 'notify' });

@Injectable()
class NotifyTasks {
  @Task(Notify)
  notify(): void {}
}

@Controller('notes')
@UseInterceptors(OutboxInterceptor)
class NotesController {
  constructor(private readonly outbox: Outbox) {}

  @Post()
  async create(): Promise<void> {
    await this.outbox.enqueue(Notify, { id: 'n-1' });
  }
}

describe('GET /metrics with an outbox', () => {
  let sql: Sql;
  let app: OutboxTestApp;

  beforeAll(async () => {
    sql = await openSql('postgres');
  });
  afterAll(() => sql.close());
  beforeEach(async () => {
    app = await startOutboxApp({
      backend: 'postgres',
      outbox: { relay: { pollInterval: '100ms' } },
      controllers: [NotesController],
      providers: [NotifyTasks],
      imports: [MetricsModule.forRoot({ registry: new Registry() })],
    });
  });
  afterEach(() => stopOutboxApps(sql, app));

  const scrape = async (): Promise<Sample[]> => {
    const response = await get(`${app.url}/metrics`);
    expect(response.status).toBe(200);
    return parsePrometheus(response.text);
  };

  it('counts jobs the relay publishes, and reads outbox pending and lag', async () => {
    expect((await fetch(`${app.url}/notes`, { method: 'POST' })).status).toBe(201);
    const samples = (await eventually(
      async () => {
        const parsed = await scrape();
        return sample(parsed, 'conveyor_tasks_succeeded_total', { task: Notify.name }) === 1
          ? parsed
          : undefined;
      },
      20_000,
      'the published job to run',
    ))!;
    expect(sample(samples, 'conveyor_outbox_relay_published_total')).toBe(1);
    expect(
      sample(samples, 'conveyor_tasks_enqueued_total', { task: Notify.name, queue: 'notify' }),
    ).toBe(1);
    expect(sample(samples, 'conveyor_outbox_pending')).toBe(0);
    expect(sample(samples, 'conveyor_outbox_lag_seconds')).toBe(0);

    // A row written two minutes ago that the relay may not claim yet: pending, and lagging.
    await sql.query(
      `INSERT INTO "${app.table}" (kind, name, queue, payload, created_at, available_at)
       VALUES ('task', 'metrics.late', 'late', '{}', now() - interval '2 minutes', now() + interval '1 hour')`,
    );
    const later = await scrape();
    expect(sample(later, 'conveyor_outbox_pending')).toBe(1);
    expect(sample(later, 'conveyor_outbox_lag_seconds')).toBeGreaterThanOrEqual(120);
  });
});
