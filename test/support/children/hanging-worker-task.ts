import { defineTask } from '@conveyor/tasks';

/** The task of the hanging worker, shared with the tests that enqueue it. */
export const Hang = defineTask<{ n: number }, string>('fault.hang');
