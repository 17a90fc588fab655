/**
 * Builds the compiled CLI (`dist/`, what `npm start`, `npx paperbot` and `bin/paperbot.js` run)
 * for the tests that run it, once: test files running at the same time wait for one build (a lock
 * directory), and a build newer than every file under src/ and the tsconfig files is reused.
 * A build that fails (tsc exit code not 0) throws with tsc's output.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './cli.ts';

export const DIST_MAIN = path.join(ROOT, 'dist/adapters/cli/main.js');
const STAMP = path.join(ROOT, 'dist/.paperbot-build-stamp');
const LOCK = path.join(ROOT, 'dist/.paperbot-build-lock');
const STALE_LOCK_MS = 5 * 60_000;

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(file) : statSync(file).mtimeMs);
  }
  return newest;
}

function upToDate(): boolean {
  try {
    const inputs = Math.max(newestSource(path.join(ROOT, 'src')), statSync(path.join(ROOT, 'tsconfig.json')).mtimeMs, statSync(path.join(ROOT, 'tsconfig.build.json')).mtimeMs);
    return statSync(STAMP).mtimeMs > inputs && statSync(DIST_MAIN).isFile();
  } catch {
    return false;
  }
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Runs `tsc -p tsconfig.build.json` unless dist/ is already built from the current sources. */
export function buildDist(): void {
  mkdirSync(path.join(ROOT, 'dist'), { recursive: true });
  const deadline = Date.now() + STALE_LOCK_MS;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      let age: number;
      try {
        age = Date.now() - statSync(LOCK).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      if (age > STALE_LOCK_MS || Date.now() > deadline) rmSync(LOCK, { recursive: true, force: true });
      else sleep(200);
    }
  }
  try {
    if (upToDate()) return;
    const started = Date.now();
    const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
    if (tsc.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed (exit ${tsc.status}):\n${tsc.stdout}${tsc.stderr}`);
    // Stamped with the start time: a source saved during the build makes the next call build again.
    writeFileSync(STAMP, `${new Date(started).toISOString()}\n`);
    utimesSync(STAMP, started / 1000, started / 1000);
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
