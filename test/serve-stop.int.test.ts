/**
 * A clean stop of the compiled bot: `kill -TERM` of the process that `npm start -- serve` (or
 * `npx paperbot serve`) started stops the bot within 15 s, with no paperbot process left (none
 * reparented to init either), its port closed and its database closed. Slack in HTTP mode against
 * the fake Slack Web API, so the bot holds a listening port; no Ollama.
 *
 * "Closed database": while paperbot has papers.sqlite open in WAL mode, SQLite keeps
 * papers.sqlite-wal next to it; the last connection's close() checkpoints the log into the
 * database and deletes it. A process that dies without closing (SIGKILL, a crash, an orphan still
 * running) leaves it behind.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildDist } from './helpers/build.ts';
import { ROOT } from './helpers/cli.ts';
import { startFakeSlack, type FakeSlack } from './helpers/fake-slack.ts';

const STOP_WITHIN_MS = 15_000;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves true if something accepts connections on the port, false if it is refused. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Live processes (zombies excluded) whose environment holds `marker`: npm, sh and node alike. */
function processesWith(marker: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const state = /\) (\S)/.exec(readFileSync(`/proc/${entry}/stat`, 'utf8'))?.[1];
      if (state === 'Z' || state === 'X') continue;
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      if (!environ.includes(marker)) continue;
      found.push({ pid: Number(entry), cmdline: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim() });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.each([
  // The start script execs node, so npm's forwarded SIGTERM reaches the bot, and npm exits with its code.
  { how: 'npm start -- serve', command: 'npm', args: ['start', '--', 'serve'], exit: { code: 0, signal: null } },
  // npx runs `sh -c "paperbot serve"`; the shell dies of the SIGTERM npm passes it, npm then kills
  // itself with the same signal, and the bot, re-parented, stops on its own (see serve() in main.ts).
  { how: 'npx paperbot serve', command: 'npx', args: ['paperbot', 'serve'], exit: { code: null, signal: 'SIGTERM' } },
])('kill -TERM of `$how`', ({ command, args, exit }) => {
  let slack: FakeSlack;
  let dataDir: string;

  beforeAll(async () => {
    buildDist(); // both run the compiled CLI in dist/
    slack = await startFakeSlack();
  }, 180_000);

  afterEach(() => {
    // Whatever happened, leave nothing running.
    for (const { pid } of dataDir ? processesWith(`PAPERBOT_DATA_DIR=${dataDir}`) : []) process.kill(pid, 'SIGKILL');
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  afterAll(async () => {
    await slack?.close();
  });

  it('stops the bot within 15 s: npm gone, no paperbot process left, the port closed, the database closed', async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'paperbot-serve-stop-'));
    const port = await freePort();
    const marker = `PAPERBOT_DATA_DIR=${dataDir}`;
    const child = spawn(command, args, {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        PAPERBOT_DATA_DIR: dataDir,
        DIGEST_CONFIG: path.join(dataDir, 'no-digest.yml'),
        OLLAMA_HOST: 'http://127.0.0.1:47',
        EMBEDDER: 'local',
        LOCAL_EMBED_DIM: '256',
        SLACK_BOT_TOKEN: 'xoxb-test',
        SLACK_SIGNING_SECRET: 'test-signing-secret',
        SLACK_PORT: String(port),
        SLACK_API_URL: slack.apiUrl,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout!.resume();
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));

    const ready = await Promise.race([until(() => /slack: ready \(http :\d+\)/.test(stderr), 60_000), exited.then(() => false)]);
    expect(ready, `serve did not become ready:\n${stderr}`).toBe(true);
    // The checks below would pass for a bot that never ran: first see it running.
    const running = processesWith(marker);
    expect(running.some((p) => path.basename(p.cmdline.split(' ')[0] ?? '') === 'node' && p.cmdline.endsWith(' serve')), JSON.stringify(running)).toBe(true);
    expect(await listening(port)).toBe(true);
    expect(existsSync(path.join(dataDir, 'papers.sqlite-wal'))).toBe(true);

    const signalled = Date.now();
    process.kill(child.pid!, 'SIGTERM');
    const npmExited = await Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_WITHIN_MS))]);
    expect(npmExited, `${command} did not exit within 15 s of SIGTERM:\n${stderr}`).toBe(true);
    const allGone = await until(() => processesWith(marker).length === 0, Math.max(0, STOP_WITHIN_MS - (Date.now() - signalled)));
    expect(allGone, `left running: ${JSON.stringify(processesWith(marker))}\n${stderr}`).toBe(true);
    expect(Date.now() - signalled).toBeLessThanOrEqual(STOP_WITHIN_MS);
    expect(await listening(port)).toBe(false);
    expect(existsSync(path.join(dataDir, 'papers.sqlite-wal')), 'papers.sqlite-wal is left: the database was not closed').toBe(false);
    expect(stderr).toContain('SIGTERM: stopping');
    expect(stderr).toMatch(/^paperbot: stopped$/m);
    expect(await exited, stderr).toEqual(exit);
  }, 120_000);
});
