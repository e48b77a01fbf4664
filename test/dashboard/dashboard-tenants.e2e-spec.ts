import { TaskProducer } from '@conveyor/tasks';
import { type HttpTestApp, stopHttpApps } from '../support/http-app';
import { eventually } from '../support/tasks-app';
import { call, TOKEN } from './dashboard-app';
import { Hold, Import, startOpsApp, Sync } from './ops-app';

describe('@conveyor/dashboard API: tenants', () => {
  let app: HttpTestApp | undefined;
  let hold: Hold;

  beforeEach(() => {
    hold = new Hold();
  });

  afterEach(async () => {
    hold.let();
    const stopping = app;
    app = undefined;
    await stopHttpApps(stopping);
  });

  it('lists the queues with per-key limits, and each key running at its limit with its backlog parked', async () => {
    app = await startOpsApp({ token: TOKEN }, hold);
    expect((await call(app, 'tenants')).body).toEqual({
      queues: [
        { queue: 'default', tasks: [] },
        { queue: 'imports', tasks: ['crm.sync', 'tenant.import'] },
        { queue: 'mail', tasks: [] },
      ],
    });
    const producer = app.get(TaskProducer);
    for (let n = 0; n < 6; n++) await producer.enqueue(Import, { tenant: 'acme', n });
    await producer.enqueue(Import, { tenant: 'globex', n: 0 });
    for (let n = 0; n < 3; n++) await producer.enqueue(Sync, { account: 'north', n });

    const page = await eventually(
      async () => {
        const { body } = await call(app!, 'tenants/imports');
        const parked = body.tenants.reduce(
          (sum: number, t: { parked: number }) => sum + t.parked,
          0,
        );
        return body.tenants.length === 3 && parked === 6 ? body : undefined;
      },
      15_000,
      'three keys, six jobs parked',
    );
    expect(page).toEqual({
      queue: 'imports',
      cursor: null,
      tenants: [
        { task: 'tenant.import', key: 'acme', running: 2, reserved: 0, limit: 2, parked: 4 },
        { task: 'crm.sync', key: 'north', running: 1, reserved: 0, limit: 1, parked: 2 },
        { task: 'tenant.import', key: 'globex', running: 1, reserved: 0, limit: 2, parked: 0 },
      ],
    });
    // A queue without keyed tasks has no tenants; bad input is refused.
    expect((await call(app, 'tenants/mail')).body).toEqual({
      queue: 'mail',
      tenants: [],
      cursor: null,
    });
    expect((await call(app, 'tenants/nope')).status).toBe(400);
    expect((await call(app, 'tenants/imports?cursor=abc')).status).toBe(400);
    // Past an unsigned 64-bit integer: Redis would refuse it; a 400, not a 500.
    expect((await call(app, 'tenants/imports?cursor=99999999999999999999')).status).toBe(400);
    expect((await call(app, 'tenants/imports?limit=0')).status).toBe(400);
    expect((await call(app, 'tenants/imports', { token: null })).status).toBe(401);
  });
});
