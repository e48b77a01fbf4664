import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The page's files, built into `dist/ui` at package build time and read once. */
export interface UiAssets {
  html(base: string): string;
  file(name: string): { body: string; type: string } | undefined;
}

// The page is app.js, the ES modules it imports (one per view, side by side) and style.css.
const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};
const typeOf = (name: string) => TYPES[name.slice(name.lastIndexOf('.'))];

// From dist/page/ (the published package) the built files are in dist/ui; from src/page/
// (tests and ts-node run the source) they are in the package's dist/ui, once built.
const CANDIDATES = [join(__dirname, '..', 'ui'), join(__dirname, '..', '..', 'dist', 'ui')];

export function loadUiAssets(): UiAssets {
  const dir = CANDIDATES.find((candidate) => existsSync(join(candidate, 'app.js')));
  if (!dir) {
    throw new Error(
      `@conveyor/dashboard: the page is not built (looked in ${CANDIDATES.join(', ')}); run its build (nx run dashboard:build)`,
    );
  }
  const files = new Map(
    readdirSync(dir)
      .filter((name) => typeOf(name))
      .map((name) => [name, readFileSync(join(dir, name), 'utf8')]),
  );
  const template = readFileSync(join(dir, 'index.html'), 'utf8');
  return {
    // The base path goes in an attribute, so escape what could end it.
    html: (base) => template.replaceAll('__CONVEYOR_BASE__', escapeAttribute(base)),
    file: (name) => {
      const body = files.get(name);
      return body === undefined ? undefined : { body, type: typeOf(name) };
    },
  };
}

function escapeAttribute(text: string): string {
  return text.replace(/[&"<>']/g, (c) => `&#${c.charCodeAt(0)};`);
}
