import { captureTrace, traceEnqueue } from './task-tracing';

describe('tracing without an SDK', () => {
  it('captures no context and leaves job options untouched', async () => {
    expect(captureTrace()).toBeUndefined();
    const opts = {};
    await expect(traceEnqueue('email.send', 'email', opts, async () => 'added')).resolves.toBe(
      'added',
    );
    expect(opts).toEqual({});
  });
});
