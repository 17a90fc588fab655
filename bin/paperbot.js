#!/usr/bin/env node
// The `paperbot` command: runs the compiled CLI in dist/ (built from src/ by `npm run build`, which
// `npm install` and `npm ci` run through the `prepare` script), so no TypeScript is compiled at start.
// `npm start` runs the same file. Tests run the TypeScript source instead (test/helpers/cli.ts).
import { existsSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';

const main = new URL('../dist/adapters/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('paperbot: dist/ is missing: run `npm run build` (or `npm install`) in the paperbot directory first.\n');
  process.exit(1);
}
await import(main.href);
