import { Injectable } from '@nestjs/common';
import { InvalidWorkflowError, type Workflows } from '@conveyor/tasks';

const WHY =
  'durable workflows (Workflows, defineWorkflow) are not modelled by ConveyorTestingModule: ' +
  'test them with TasksModule on a real Redis under a test prefix (see "Tests on a real Redis")';

/**
 * `Workflows` under `ConveyorTestingModule`: present, so services that inject it compile and
 * start in unit tests; every call rejects with an `InvalidWorkflowError` that says where to
 * test durable workflows instead.
 */
@Injectable()
export class UnsupportedWorkflows implements Pick<
  Workflows,
  'start' | 'get' | 'result' | 'signal' | 'cancel' | 'list'
> {
  start(): never {
    throw new InvalidWorkflowError(WHY);
  }
  get(): Promise<never> {
    return Promise.reject(new InvalidWorkflowError(WHY));
  }
  result(): Promise<never> {
    return Promise.reject(new InvalidWorkflowError(WHY));
  }
  signal(): Promise<never> {
    return Promise.reject(new InvalidWorkflowError(WHY));
  }
  cancel(): Promise<never> {
    return Promise.reject(new InvalidWorkflowError(WHY));
  }
  list(): Promise<never> {
    return Promise.reject(new InvalidWorkflowError(WHY));
  }
}
