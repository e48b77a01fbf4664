// Entry point of the processing profile (see bench/src/profile-processing.ts), through the
// same SWC require hook as bench/run.js.
require('../test/support/children/register.js');
require('./src/profile-processing.ts');
