/**
 * The compiled CLI: `npm install`/`npm ci` build dist/ (the `prepare` script), and the `paperbot`
 * bin and `npm start` run it. The other CLI tests run the TypeScript source; this one builds
 * dist/ from the current sources and runs bin/paperbot.js, so a broken build is caught, and so is
 * a compiled path that no longer finds the package root (the shipped corpus in data/corpus).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDist } from './helpers/build.ts';
import { ROOT } from './helpers/cli.ts';

const BIN = path.join(ROOT, 'bin/paperbot.js');
let dataDir = '';

const runBin = (args: readonly string[]) =>
  spawnSync(process.execPath, [BIN, ...args], {
    cwd: os.tmpdir(),
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', OLLAMA_HOST: 'http://127.0.0.1:47', PAPERBOT_DATA_DIR: dataDir },
    timeout: 60_000,
  });

describe('the compiled paperbot (bin/paperbot.js -> dist/)', () => {
  beforeAll(() => {
    buildDist();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'paperbot-compiled-'));
  }, 180_000);

  afterAll(() => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('--help lists the commands', () => {
    const result = runBin(['--help']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('Usage: paperbot');
    for (const command of ['ask', 'search', 'ingest', 'stats', 'serve']) expect(result.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
  });

  it('finds the shipped corpus from dist/ (a fresh data directory is seeded with its 53 papers)', () => {
    const result = runBin(['stats', '--json']);
    expect(result.status, result.stderr).toBe(0);
    expect((JSON.parse(result.stdout) as { papers: number }).papers).toBe(53);
  });
});
