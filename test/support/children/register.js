// Lets a child process run the TypeScript sources directly, as the tests do: SWC compiles
// each .ts file (decorators and their metadata included) and `@conveyor/<pkg>` resolves to
// packages/<pkg>/src. Nest's ESM packages load natively through Node's require(esm).
const Module = require('node:module');
const path = require('node:path');
const fs = require('node:fs');
const { transformSync } = require('@swc/core');

const root = path.resolve(__dirname, '../../..');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  const match = /^@conveyor\/([a-z-]+)(\/internal)?$/.exec(request);
  if (match) {
    request = path.join(root, 'packages', match[1], 'src', match[2] ? 'internal.ts' : 'index.ts');
  }
  return resolve.call(this, request, ...rest);
};

require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    jsc: {
      target: 'es2022',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  });
  module._compile(code, filename);
};
