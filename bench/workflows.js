// Entry point of `npm run bench:workflows`: one durable workflow step against a plain task
// (see src/workflow-steps.ts).
require('../test/support/children/register.js');
require('./src/workflow-steps.ts');
