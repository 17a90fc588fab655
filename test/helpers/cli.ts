/**
 * Runs the real CLI as a subprocess (the same entry point as `npm start` and the `paperbot` bin),
 * with a clean environment: a temporary data directory and an Ollama host nobody listens on.
 */
import { spawn, spawnSync } from 'node:child_process';
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

/** A CLI run in progress (asynchronous, so fakes in the test process keep answering). */
export interface StartedCli {
  pid: number;
  /** Resolves when the process has exited (and been reaped). */
  done: Promise<CliResult & { signal: NodeJS.Signals | null }>;
  kill: (signal: NodeJS.Signals) => void;
}

/**
 * Starts the real CLI asynchronously with the same clean environment as `runCli`; it is killed
 * after `timeoutMs`. Use it (or `runCliAsync`) whenever a fake in this process must answer it.
 */
export function startCli(args: readonly string[], env: Record<string, string>, options: { cwd?: string; timeoutMs?: number } = {}): StartedCli {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/paperbot.js'), ...args], {
    cwd: options.cwd ?? os.tmpdir(),
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', OLLAMA_HOST: 'http://127.0.0.1:47', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  const done = new Promise<CliResult & { signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
  return { pid: child.pid!, done, kill: (signal) => child.kill(signal) };
}

/** `runCli`, asynchronously. */
export async function runCliAsync(args: readonly string[], env: Record<string, string>, options: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const { status, stdout, stderr } = await startCli(args, env, options).done;
  return { status, stdout, stderr };
}
