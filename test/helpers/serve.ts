/**
 * Runs `paperbot serve` as a subprocess (asynchronously, so fakes in the test process keep
 * answering) and waits for its ready line on stderr; `stop()` sends SIGTERM and gives the exit code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { CLI_NODE_ARGS } from './cli.ts';

export interface Served {
  child: ChildProcess;
  stderr: () => string;
  stop: () => Promise<number | null>;
}

export async function startServe(env: Record<string, string>, ready: RegExp, timeoutMs = 20_000): Promise<Served> {
  let stderr = '';
  const child = spawn(process.execPath, [...CLI_NODE_ARGS, 'serve'], {
    cwd: os.tmpdir(),
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not become ready:\n${stderr}`)), timeoutMs);
    child.stderr!.on('data', () => {
      if (ready.test(stderr)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}:\n${stderr}`)));
  });
  return {
    child,
    stderr: () => stderr,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      }),
  };
}
