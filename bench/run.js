// Entry point of `npm run bench`: runs the TypeScript sources through the same SWC require
// hook as the test children (decorator metadata included; Nest 12 loads via require(esm)).
require('../test/support/children/register.js');
require('./src/main.ts');
