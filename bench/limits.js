// Entry point of `npm run bench:limits`: run limits at a backlog (see src/limits.ts).
require('../test/support/children/register.js');
require('./src/limits.ts');
