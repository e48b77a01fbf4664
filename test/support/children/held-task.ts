import { defineTask } from '@conveyor/tasks';

/** The task of the held worker, shared with the tests that enqueue and drain it. */
export const Held = defineTask<{ n: number }, number>('fault.held');
