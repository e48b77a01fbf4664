#!/usr/bin/env node
// The npm registry reachable from our build machines serves only the linux-x64/arm64 builds of
// packages with native binaries (@swc/core, nx, msgpackr-extract, …). `npm install` then
// leaves the other platforms' optional packages out of package-lock.json, and `npm ci`
// refuses the lockfile as out of sync. This adds an entry for each missing optional
// platform package (version from its parent; `optional`, so npm skips it on a platform it
// does not fit or cannot fetch). Run after every `npm install` that changes the lockfile:
//   npm install && node scripts/complete-lockfile.js
const fs = require('node:fs');
const path = require('node:path');

const file = path.join(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const packages = lock.packages;
let added = 0;

for (const [location, entry] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const base = location ? `${location}/node_modules/${name}` : `node_modules/${name}`;
    const hoisted = `node_modules/${name}`;
    if (packages[base] || packages[hoisted]) continue;
    packages[hoisted] = { version: version.replace(/^[\^~=]/, ''), dev: entry.dev, optional: true };
    if (!entry.dev) delete packages[hoisted].dev;
    added++;
  }
}

lock.packages = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
fs.writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(
  `complete-lockfile: added ${added} optional platform package entr${added === 1 ? 'y' : 'ies'}`,
);
