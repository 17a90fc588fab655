/**
 * The chat packages are optional: `--help`, `ask`, `search`, `ingest` and `stats` run with
 * discord.js, @slack/bolt and @slack/web-api absent from node_modules. "Absent" is simulated by
 * test/helpers/block-chat-packages.mjs, a module.register resolve hook that fails every import
 * of them with ERR_MODULE_NOT_FOUND, as Node does for a package that is not installed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, type CliResult } from './helpers/cli.ts';

const BLOCK = pathToFileURL(path.join(ROOT, 'test/helpers/block-chat-packages.mjs')).href;
const CHAT_PACKAGES = ['discord.js', '@slack/bolt', '@slack/web-api'];
const MIXED_JSONL = path.join(ROOT, 'test/fixtures/cli/mixed-papers.jsonl');
const QUESTION = 'How can I edit a real photo with a text-guided diffusion model?';

// One data directory for the whole file: seeded once (by `stats`), then shared.
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paperbot-no-chat-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** The CLI (TypeScript source, through tsx) with the chat packages blocked. */
const withoutChat = (args: readonly string[], env: Record<string, string> = {}): CliResult => runCli(args, { PAPERBOT_DATA_DIR: dataDir, ...env }, { nodeArgs: ['--import', BLOCK] });

const ok = (result: CliResult) => {
  expect(result.status, result.stderr).toBe(0);
  for (const name of CHAT_PACKAGES) expect(result.stderr).not.toContain(`'${name}'`);
};

describe('the block-chat-packages hook', () => {
  it.each(CHAT_PACKAGES)('fails an import of %s (and of its subpaths) with ERR_MODULE_NOT_FOUND', (name) => {
    const script = `for (const s of [${JSON.stringify(name)}, ${JSON.stringify(`${name}/package.json`)}]) { try { await import(s); console.log('imported ' + s); } catch (e) { console.log(e.code + ' ' + s); } } await import('zod'); console.log('zod imported');`;
    const result = spawnSync(process.execPath, ['--import', BLOCK, '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toBe(`ERR_MODULE_NOT_FOUND ${name}\nERR_MODULE_NOT_FOUND ${name}/package.json\nzod imported\n`);
  });
});

describe('the CLI without discord.js, @slack/bolt and @slack/web-api', () => {
  it('--help', () => {
    const result = withoutChat(['--help']);
    ok(result);
    expect(result.stdout).toContain('Usage: paperbot');
    expect(result.stdout).toMatch(/^\s+ask /m);
  });

  it('stats (seeding the shipped corpus on the way)', () => {
    const result = withoutChat(['stats']);
    ok(result);
    expect(result.stdout).toMatch(/^papers: 53$/m);
  });

  it('search', () => {
    const result = withoutChat(['search', 'diffusion']);
    ok(result);
    expect(result.stdout).toMatch(/^ 1\. .*Diffusion/m);
  });

  it('ask (an extractive answer with a citation: no Ollama here)', () => {
    const result = withoutChat(['ask', QUESTION]);
    ok(result);
    expect(result.stdout).toContain('Extractive answer');
    expect(result.stdout).toMatch(/\[1\]/);
  });

  it('ingest', () => {
    const result = withoutChat(['ingest', MIXED_JSONL]);
    ok(result);
    expect(result.stdout).toMatch(/3 added/);
  });

  it('serve with DISCORD_TOKEN set fails with a message naming discord.js, not a crash', () => {
    const result = withoutChat(['serve'], { DISCORD_TOKEN: 'test-token', DISCORD_APP_ID: '1' });
    expect(result.status).not.toBe(0);
    expect(result.status).not.toBeNull();
    expect(result.stderr).toMatch(/^paperbot: .*discord\.js/m);
    expect(result.stderr).toMatch(/DISCORD_TOKEN is set, but discord\.js is not installed: run `npm install`/);
    expect(result.status).toBe(2);
    expect(result.stderr).not.toMatch(/discord: ready/);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });
});
