/**
 * Runs the real CLI as a subprocess, with a clean environment: a temporary data directory and an
 * Ollama host nobody listens on. It runs the TypeScript source (src/adapters/cli/main.ts, the
 * file `npm start` and the `paperbot` bin run compiled) through tsx, so a test never runs a stale
 * dist/; test/helpers/build.ts builds dist/ for the tests of the compiled CLI.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SEED_FILE = path.join(ROOT, 'data/corpus/hf-daily-papers-14-march.txt');
/** tsx's loader as a file URL, so `--import` finds it whatever the child's working directory. */
export const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
/** The node arguments that run the CLI's TypeScript source; append the CLI's own arguments. */
export const CLI_NODE_ARGS: readonly string[] = ['--import', TSX_LOADER, path.join(ROOT, 'src/adapters/cli/main.ts')];

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], env: Record<string, string>, options: { cwd?: string; nodeArgs?: readonly string[] } = {}): CliResult {
  const result = spawnSync(process.execPath, [...(options.nodeArgs ?? []), ...CLI_NODE_ARGS, ...args], {
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
export function startCli(args: readonly string[], env: Record<string, string>, options: { cwd?: string; timeoutMs?: number; nodeArgs?: readonly string[] } = {}): StartedCli {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...CLI_NODE_ARGS, ...args], {
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
export async function runCliAsync(args: readonly string[], env: Record<string, string>, options: { cwd?: string; timeoutMs?: number; nodeArgs?: readonly string[] } = {}): Promise<CliResult> {
  const { status, stdout, stderr } = await startCli(args, env, options).done;
  return { status, stdout, stderr };
}
