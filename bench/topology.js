// Entry point of `npm run bench:cluster`: one Redis against three masters (see src/topology.ts).
require('../test/support/children/register.js');
require('./src/topology.ts');
