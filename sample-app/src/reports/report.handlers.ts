import { Injectable } from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { OutboxTransactionalAdapter } from '@conveyor/outbox';
import { Task, type TaskContext } from '@conveyor/tasks';
import {
  NightlyReport,
  type RegionSales,
  RegionTotals,
  REGIONS,
  SummarizeRegions,
} from './report.tasks';

/** Reporting tasks: a cron schedule, and a chord that fans out per region and aggregates. */
@Injectable()
export class ReportHandlers {
  constructor(private readonly txHost: TransactionHost<OutboxTransactionalAdapter>) {}

  @Task(NightlyReport, { schedule: { cron: '0 2 * * *', tz: 'UTC', payload: { kind: 'orders' } } })
  async nightly(_: { kind: string }, ctx: TaskContext) {
    const { rows } = await this.txHost.tx.query<{ orders: number; revenue: number }>(
      `SELECT count(*)::int AS orders, coalesce(sum(amount_cents), 0)::int AS revenue
         FROM orders WHERE created_at > now() - interval '1 day'`,
    );
    ctx.log.log(`nightly report: ${rows[0].orders} orders, ${rows[0].revenue} cents`);
    return { orders: rows[0].orders, revenueCents: rows[0].revenue };
  }

  /** A fake split: orders are assigned to regions by the first letter of their id. */
  @Task(RegionTotals)
  async regionTotals({ region }: { region: string }): Promise<RegionSales> {
    const index = REGIONS.indexOf(region as (typeof REGIONS)[number]);
    const { rows } = await this.txHost.tx.query<{ id: string; amount_cents: number }>(
      'SELECT id, amount_cents FROM orders',
    );
    const mine = rows.filter((row) => parseInt(row.id[0], 16) % REGIONS.length === index);
    return {
      region,
      orders: mine.length,
      revenueCents: mine.reduce((sum, row) => sum + row.amount_cents, 0),
    };
  }

  @Task(SummarizeRegions)
  summarize(regions: RegionSales[]) {
    return {
      regions: regions.length,
      orders: regions.reduce((sum, r) => sum + r.orders, 0),
      revenueCents: regions.reduce((sum, r) => sum + r.revenueCents, 0),
    };
  }
}
