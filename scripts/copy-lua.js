// Copies a package's Lua scripts (every `lua/` folder under src/) into dist/, which tsc does not:
// `node scripts/copy-lua.js packages/tasks`.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(process.argv[2]);
const src = path.join(root, 'src');
for (const entry of fs.readdirSync(src, { recursive: true, withFileTypes: true })) {
  if (!entry.isDirectory() || entry.name !== 'lua') continue;
  const from = path.join(entry.parentPath ?? entry.path, entry.name);
  const to = path.join(root, 'dist', path.relative(src, from));
  fs.cpSync(from, to, { recursive: true });
}
