import { defineTask } from '@conveyor/tasks';

/** Runs until cancelled: it keeps a job in a worker's registry entry for as long as a test needs. */
export const Held = defineTask<{ n: number }, void>('registry.held', { queue: 'registry' });
