import {
  BadRequestException,
  Body,
  Controller,
  type DynamicModule,
  Inject,
  type INestApplication,
  Post,
  UseInterceptors,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ClsPluginTransactional, TransactionHost } from '@nestjs-cls/transactional';
import { TransactionalAdapterTypeOrm } from '@nestjs-cls/transactional-adapter-typeorm';
import { ClsModule } from 'nestjs-cls';
import { DataSource, EntitySchema } from 'typeorm';
import { NoTransactionError, Outbox, OutboxInterceptor, OutboxModule } from '@conveyor/outbox';
import { TasksModule } from '@conveyor/tasks';
import { DATABASE_URL, postJson, uniqueTable } from '../support/outbox-app';
import { deletePrefix, REDIS_URL, uniquePrefix } from '../support/redis';
import { eventually } from '../support/tasks-app';
import { OrderTasks, Seen, SendConfirmation } from './fixtures';

interface Order {
  id: string;
}

const ORDERS = Symbol('ORDERS');

@Controller('orders')
@UseInterceptors(OutboxInterceptor)
class TypeOrmOrdersController {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterTypeOrm>,
    private readonly outbox: Outbox,
    @Inject(ORDERS) private readonly orders: EntitySchema<Order>,
  ) {}

  @Post()
  async create(@Body() body: { id: string; emit?: boolean; fail?: boolean }) {
    await this.txHost.tx.getRepository(this.orders).insert({ id: body.id });
    await this.outbox.enqueue(SendConfirmation, { orderId: body.id });
    if (body.emit) await this.outbox.emit('order.created', { orderId: body.id });
    if (body.fail) throw new BadRequestException('no');
    return { ok: true };
  }
}

describe('outbox through TypeORM (@nestjs-cls/transactional-adapter-typeorm)', () => {
  let dataSource: DataSource;
  let app: INestApplication;
  let url: string;
  let table: string;
  let prefix: string;

  beforeEach(async () => {
    table = uniqueTable();
    prefix = uniquePrefix();
    const orders = new EntitySchema<Order>({
      name: `Order_${table}`,
      tableName: `${table}_orders`,
      columns: { id: { type: String, primary: true } },
    });
    dataSource = new DataSource({
      type: 'postgres',
      url: DATABASE_URL,
      entities: [orders],
      synchronize: true,
    });
    await dataSource.initialize();
    const database: DynamicModule = {
      module: class DatabaseModule {},
      providers: [{ provide: DataSource, useValue: dataSource }],
      exports: [DataSource],
    };
    const moduleRef = await Test.createTestingModule({
      imports: [
        TasksModule.forRoot({ connection: REDIS_URL, prefix }),
        ClsModule.forRoot({
          global: true,
          plugins: [
            new ClsPluginTransactional({
              imports: [database],
              adapter: new TransactionalAdapterTypeOrm({ dataSourceToken: DataSource }),
            }),
          ],
        }),
        OutboxModule.forRoot({
          typeorm: dataSource,
          transactionHost: 'app',
          table,
          createTable: true,
          relay: { pollInterval: '1h' }, // only the after-commit wake-up can publish in time
        }),
      ],
      controllers: [TypeOrmOrdersController],
      providers: [Seen, OrderTasks, { provide: ORDERS, useValue: orders }],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterEach(async () => {
    await app.close();
    await dataSource.query(`DROP TABLE IF EXISTS "${table}", "${table}_orders"`);
    await dataSource.destroy();
    await deletePrefix(prefix);
  });

  const count = async (name: string) =>
    Number((await dataSource.query(`SELECT count(*)::int AS n FROM "${name}"`))[0].n);

  it('runs the task and the subscribers of a request that commits', async () => {
    expect((await postJson(`${url}/orders`, { id: 't-1', emit: true })).status).toBe(201);
    const seen = app.get(Seen);
    await eventually(() => seen.runs.length === 3, 10_000, 'three jobs to run');
    expect(seen.runs.map((r) => r.task).sort()).toEqual(['audit', 'confirm', 'index']);
    expect(await count(`${table}_orders`)).toBe(1);
  });

  it('writes neither the entity nor the outbox rows when the handler throws', async () => {
    expect((await postJson(`${url}/orders`, { id: 't-2', emit: true, fail: true })).status).toBe(
      400,
    );
    expect(await count(`${table}_orders`)).toBe(0);
    expect(await count(table)).toBe(0);
  });

  it('refuses to write outside a TypeORM transaction', async () => {
    await expect(
      app.get(Outbox).enqueue(SendConfirmation, { orderId: 't-3' }),
    ).rejects.toBeInstanceOf(NoTransactionError);
  });
});
