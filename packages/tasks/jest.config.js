module.exports = {
  ...require('../../jest.preset.js'),
  displayName: 'tasks',
  rootDir: __dirname,
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
};
