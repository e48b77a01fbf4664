import { captureTrace, startSendSpan } from './task-tracing';

describe('tracing without an SDK', () => {
  it('captures no context and leaves job options untouched', () => {
    expect(captureTrace()).toBeUndefined();
    const opts = {};
    expect(startSendSpan('email.send', 'email', opts)).toBeUndefined();
    expect(opts).toEqual({});
  });
});
