/**
 * Runs the real CLI as a subprocess (the same entry point as `npm start` and the `paperbot` bin),
 * with a clean environment: a temporary data directory and an Ollama host nobody listens on.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SEED_FILE = path.join(ROOT, 'data/corpus/hf-daily-papers-14-march.txt');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], env: Record<string, string>, options: { cwd?: string } = {}): CliResult {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'bin/paperbot.js'), ...args], {
    // A temporary working directory by default, so a developer's .env in the repo is never read.
    cwd: options.cwd ?? os.tmpdir(),
    encoding: 'utf8',
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '',
      // Nothing listens here (and fetch allows the port, unlike 9): tests must pass whatever
      // OLLAMA_HOST the developer's shell holds.
      OLLAMA_HOST: 'http://127.0.0.1:47',
      ...env,
    },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
