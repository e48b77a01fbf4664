// Copies the page's static files next to the compiled script, so the package serves them from
// dist/ui with no CDN and no bundler.
const fs = require('node:fs');
const path = require('node:path');

const from = path.join(__dirname, '..', 'ui');
const to = path.join(__dirname, '..', 'dist', 'ui');
fs.mkdirSync(to, { recursive: true });
for (const file of ['index.html', 'style.css']) {
  fs.copyFileSync(path.join(from, file), path.join(to, file));
}
