// Shared Jest settings: SWC compiles TypeScript with legacy decorators and decorator
// metadata (Nest's DI needs `design:paramtypes`), and `@conveyor/*` resolves to source so
// tests never need a build first.
//
// Nest 12 ships ESM only. Node 20.19+ lets CommonJS `require()` it at run time, but Jest's
// module system cannot on Node < 24.9, and Jest's own ESM mode cannot load CommonJS packages
// that require Nest (nestjs-cls, for one). So inside Jest, SWC also compiles those ESM
// packages to CommonJS; `import.meta.url` becomes the file's own URL, dynamic `import()` a
// `require`. Production code runs the packages untouched. PGlite's CommonJS build (`.cjs`)
// still loads its WebAssembly and Node built-ins with `import()`, which Jest's VM refuses, so
// `.cjs` files of the listed packages go through SWC too.
const path = require('node:path');

const root = __dirname;
const ESM_PACKAGES = [
  '@nestjs',
  'uid',
  'load-esm',
  'file-type',
  'strtok3',
  'token-types',
  'peek-readable',
  '@tokenizer',
  'uint8array-extras',
  '@electric-sql',
];

module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          target: 'es2022',
          parser: { syntax: 'typescript', decorators: true },
          transform: {
            legacyDecorator: true,
            decoratorMetadata: true,
            useDefineForClassFields: false,
          },
          keepClassNames: true,
        },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      },
    ],
    '^.+\\.[cm]?js$': [
      '@swc/jest',
      {
        jsc: { target: 'es2022', parser: { syntax: 'ecmascript' } },
        module: { type: 'commonjs', ignoreDynamic: false },
      },
    ],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_PACKAGES.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: {
    '^@conveyor/([a-z-]+)$': path.join(root, 'packages/$1/src/index.ts'),
    '^@conveyor/([a-z-]+)/internal$': path.join(root, 'packages/$1/src/internal.ts'),
  },
};
