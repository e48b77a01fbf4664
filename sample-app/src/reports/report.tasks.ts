import { defineTask } from '@conveyor/tasks';

export interface RegionSales {
  region: string;
  orders: number;
  revenueCents: number;
}

// No queue here: TasksModule.forRoot({ routes: { 'reports.**': 'reports' } }) routes them all.

/** Every night: a report of the day's orders (a cron schedule on the handler). */
export const NightlyReport = defineTask<{ kind: string }, { orders: number; revenueCents: number }>(
  'reports.nightly',
);

/** One member of the summary chord: the sales of one region. */
export const RegionTotals = defineTask<{ region: string }, RegionSales>('reports.region-totals', {
  attempts: 3,
});

/** The chord's callback: all regions' totals, in order, folded into one summary. */
export const SummarizeRegions = defineTask<
  RegionSales[],
  { regions: number; orders: number; revenueCents: number }
>('reports.summarize');

export const REGIONS = ['eu', 'us', 'apac'] as const;
