module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'outbox',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
};
