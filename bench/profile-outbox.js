// Entry point of the outbox profile (see bench/src/profile-outbox.ts), through the same SWC
// require hook as bench/run.js.
require('../test/support/children/register.js');
require('./src/profile-outbox.ts');
