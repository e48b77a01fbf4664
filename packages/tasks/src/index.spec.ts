import * as api from './index';
import * as internal from './internal';

// What apps import is '@conveyor/tasks'; what Conveyor's packages share is
// '@conveyor/tasks/internal', which may change in any release. Nothing of the second leaks
// into the first, so apps cannot come to depend on it by accident.
describe('the public entry point', () => {
  it('exports the API and none of the internals', () => {
    expect(api).toHaveProperty('TasksModule');
    expect(api).toHaveProperty('TaskProducer');
    expect(api).toHaveProperty('validatePayload');
    for (const name of Object.keys(internal)) expect(api).not.toHaveProperty(name);
  });

  it('keeps the internals the sibling packages use in the internal entry point', () => {
    for (const name of ['checkKnownKeys', 'buildJobOptions', 'parseDuration', 'TasksRegistry']) {
      expect(internal).toHaveProperty(name);
    }
  });
});
