/**
 * `WriteLock` as a file in the data directory (`write.lock`): one JSON line with the holder's
 * pid, host and a random token. It is created whole and atomically (written to a temporary file,
 * then hard-linked to its name, which fails when the lock exists), so a reader never sees half a
 * lock. A lock whose process is gone (same host, pid not running; or this process's pid without
 * one of this process's tokens, as after a container restart) is stale and taken over, under a
 * short-lived guard directory so two processes never both take it over.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { PaperbotError } from '../../errors.ts';
import type { WriteLock, WriteLockHold } from '../../rag/ports.ts';

export interface FileWriteLockOptions {
  /** Give up after waiting this long (WRITE_LOCK_TIMEOUT_MS); 0 tries once. */
  timeoutMs: number;
  /** One-line notices for the user (stderr in the CLI): the waiting message. */
  notify?: (message: string) => void;
  logger?: Logger;
  /** How often a waiting process looks again, in milliseconds. */
  pollMs?: number;
}

interface LockContent {
  pid: number;
  host: string;
  token: string;
  since: string;
}

/** Tokens of the locks this process holds (any instance): another instance here is alive, not stale. */
const heldHere = new Map<string, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A process that exits without releasing (process.exit after an error) leaves no lock behind.
  process.once('exit', () => {
    for (const [token, file] of heldHere) {
      if (readLock(file)?.token === token) rmSync(file, { force: true });
    }
  });
}

function readLock(file: string): LockContent | null | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockContent>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string' && typeof parsed.token === 'string') {
      return { pid: parsed.pid, host: parsed.host, token: parsed.token, since: String(parsed.since ?? '') };
    }
  } catch {
    // Not ours, or damaged: treated as stale below.
  }
  return null;
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How old an unreadable lock file must be before it is taken over. */
const UNREADABLE_LOCK_GRACE_MS = 10_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class FileWriteLock implements WriteLock {
  private readonly host = hostname();

  constructor(
    readonly file: string,
    private readonly options: FileWriteLockOptions,
  ) {}

  tryAcquire(): WriteLockHold | undefined {
    return this.attempt().hold;
  }

  async acquire(): Promise<WriteLockHold> {
    const deadline = Date.now() + this.options.timeoutMs;
    const pollMs = this.options.pollMs ?? 100;
    let announced: number | undefined;
    for (;;) {
      const { hold, holder } = this.attempt();
      if (hold) return hold;
      if (holder !== undefined && holder !== announced) {
        announced = holder;
        this.options.notify?.(`waiting for another paperbot writer (pid ${holder})…`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        const who = holder === undefined ? 'Another paperbot writer' : `Another paperbot writer (pid ${holder})`;
        throw new PaperbotError(
          'data_dir',
          `${who} still holds the write lock ${this.file} after ${this.options.timeoutMs} ms (WRITE_LOCK_TIMEOUT_MS): run the command again once it has finished, or raise WRITE_LOCK_TIMEOUT_MS; if no paperbot is running, delete ${this.file}.`,
        );
      }
      // A little jitter, so waiting processes do not retry in lockstep.
      await sleep(Math.min(left, pollMs * (0.75 + Math.random() / 2)));
    }
  }

  /** One try: the hold, or the pid of the live holder (undefined when it could not be read). */
  private attempt(): { hold?: WriteLockHold; holder?: number } {
    // Looked at first, so a waiting process writes nothing while the lock is held.
    const current = readLock(this.file);
    if (current === undefined) return this.createLock();
    if (current && !this.isStale(current)) return { holder: current.pid };
    // Unreadable content is not paperbot's (creation is atomic): taken over only once it has
    // sat there a while, in case another tool is using the name.
    if (current === null && !this.olderThan(UNREADABLE_LOCK_GRACE_MS)) return {};
    // Stale: take it over under the guard, checking again inside it that it is the same stale lock.
    if (!this.takeOver(current)) return current ? { holder: current.pid } : {};
    this.options.logger?.warn({ file: this.file, pid: current?.pid }, 'took over a write lock left by a process that is no longer running');
    return this.createLock();
  }

  /** Creates the lock, or (another process got there first) names its holder. */
  private createLock(): { hold?: WriteLockHold; holder?: number } {
    const content: LockContent = { pid: process.pid, host: this.host, token: randomBytes(8).toString('hex'), since: new Date().toISOString() };
    if (this.create(content)) return { hold: this.holdOf(content) };
    const winner = readLock(this.file);
    return winner ? { holder: winner.pid } : {};
  }

  private olderThan(ms: number): boolean {
    try {
      return Date.now() - statSync(this.file).mtimeMs > ms;
    } catch {
      return true; // gone: the next try creates it
    }
  }

  private create(content: LockContent): boolean {
    const temp = `${this.file}.${process.pid}.${content.token}.tmp`;
    try {
      writeFileSync(temp, `${JSON.stringify(content)}\n`);
      linkSync(temp, this.file);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new PaperbotError('data_dir', `Cannot create the write lock ${this.file}: ${(error as Error).message}. Check that paperbot may write to its data directory.`, { cause: error });
    } finally {
      rmSync(temp, { force: true });
    }
  }

  private isStale(lock: LockContent): boolean {
    if (lock.host !== this.host) return false; // another machine: its pid means nothing here
    if (lock.pid === process.pid) return !heldHere.has(lock.token);
    return !processRuns(lock.pid);
  }

  /** Removes the stale lock `seen` (null: unreadable) unless someone else is already at it; true when removed. */
  private takeOver(seen: LockContent | null): boolean {
    const guard = `${this.file}.takeover`;
    try {
      mkdirSync(guard);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A guard left by a process that died mid-takeover is cleared after a while.
      try {
        if (Date.now() - statSync(guard).mtimeMs > 10_000) rmdirSync(guard);
      } catch {
        // Gone already.
      }
      return false;
    }
    try {
      const again = readLock(this.file);
      const same = again === undefined || (seen === null ? again === null : again?.token === seen.token);
      if (!same) return false;
      rmSync(this.file, { force: true });
      return true;
    } finally {
      rmdirSync(guard);
    }
  }

  private holdOf(content: LockContent): WriteLockHold {
    installExitHook();
    heldHere.set(content.token, this.file);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        heldHere.delete(content.token);
        try {
          if (readLock(this.file)?.token === content.token) unlinkSync(this.file);
        } catch (error) {
          this.options.logger?.warn({ err: error, file: this.file }, 'could not remove the write lock');
        }
      },
    };
  }
}
