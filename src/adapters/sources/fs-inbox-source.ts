/**
 * `InboxSource` on a folder (`DIGEST_INBOX`). Each file is claimed by renaming it into
 * `.processing/` (a second process scanning the same folder finds it gone), ingested, then moved
 * to `processed/` (or `failed/` when it cannot be read), keeping its name unless that is taken.
 * A file a crashed scan left in `.processing/` goes back to the inbox after ten minutes;
 * ingesting it twice changes nothing.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { InboxFileReport, InboxSource } from '../../digest/model.ts';

/** A file changed this recently may still be being copied in. */
const SETTLE_MS = 2000;
const ABANDONED_AFTER_MS = 10 * 60 * 1000;

export class FsInboxSource implements InboxSource {
  readonly name = 'inbox' as const;
  readonly label = 'inbox';

  constructor(private readonly options: { dir: string; clock: () => Date; logger: Logger }) {}

  async scan(ingest: (file: string) => Promise<{ added: number; updated: number; rejected: number }>, options: { leaveFiles?: boolean } = {}): Promise<InboxFileReport[]> {
    const inbox = this.options.dir;
    const { logger } = this.options;
    const results: InboxFileReport[] = [];
    let entries: string[];
    try {
      mkdirSync(inbox, { recursive: true });
      this.requeueAbandoned();
      entries = readdirSync(inbox, { withFileTypes: true })
        .filter((entry) => entry.isFile() && !entry.name.startsWith('.'))
        .map((entry) => entry.name)
        .sort();
    } catch (error) {
      logger.warn({ err: error, inbox }, 'digest: cannot read the inbox');
      return [{ file: inbox, added: 0, updated: 0, rejected: 0, error: `cannot read the inbox: ${(error as Error).message}` }];
    }
    for (const name of entries) {
      const file = path.join(inbox, name);
      const stamp = this.options.clock().toISOString().replace(/[:.]/g, '-');
      if (options.leaveFiles) {
        let settled: boolean;
        try {
          settled = Date.now() - statSync(file).mtimeMs >= SETTLE_MS;
        } catch {
          continue; // gone meanwhile
        }
        if (settled) results.push(await this.ingestInPlace(file, name, ingest));
        continue;
      }
      let claimed: string;
      try {
        if (Date.now() - statSync(file).mtimeMs < SETTLE_MS) continue;
        claimed = moveInto(file, path.join(inbox, '.processing'), `${stamp}-${process.pid}-${name}`);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // another process took it
        throw error;
      }
      try {
        const totals = await ingest(claimed);
        moveInto(claimed, path.join(inbox, 'processed'), name, stamp);
        results.push({ file: name, added: totals.added, updated: totals.updated, rejected: totals.rejected });
        logger.info({ file: name, ...totals }, 'digest: inbox file ingested');
      } catch (error) {
        moveInto(claimed, path.join(inbox, 'failed'), name, stamp);
        results.push({ file: name, added: 0, updated: 0, rejected: 0, error: (error as Error).message });
        logger.warn({ err: error, file: name }, 'digest: inbox file could not be ingested; moved to failed/');
      }
    }
    return results;
  }

  /** A dry run's scan: the papers become askable (ingesting again later changes nothing); the file stays for the real scan. */
  private async ingestInPlace(file: string, name: string, ingest: (file: string) => Promise<{ added: number; updated: number; rejected: number }>): Promise<InboxFileReport> {
    try {
      const totals = await ingest(file);
      return { file: name, added: totals.added, updated: totals.updated, rejected: totals.rejected };
    } catch (error) {
      return { file: name, added: 0, updated: 0, rejected: 0, error: (error as Error).message };
    }
  }

  /** Files a crashed scan had claimed (in .processing/ for over ten minutes) go back to the inbox. */
  private requeueAbandoned(): void {
    const processing = path.join(this.options.dir, '.processing');
    let names: string[];
    try {
      names = readdirSync(processing);
    } catch {
      return;
    }
    for (const name of names) {
      const file = path.join(processing, name);
      try {
        // rename() sets ctime, so ctime is when the file was claimed.
        if (Date.now() - statSync(file).ctimeMs < ABANDONED_AFTER_MS) continue;
        const original = name.replace(/^[\dT-]+Z-\d+-/, '');
        renameSync(file, path.join(this.options.dir, original));
        this.options.logger.warn({ file: original }, 'digest: an inbox file left by an interrupted scan goes back to the inbox');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  }
}

/** Moves `file` into `dir` as `name`; when that name is taken (the same file dropped again), as `<stamp>-<name>`. */
function moveInto(file: string, dir: string, name: string, stampIfTaken?: string): string {
  mkdirSync(dir, { recursive: true });
  let destination = path.join(dir, name);
  if (stampIfTaken && existsSync(destination)) destination = path.join(dir, `${stampIfTaken}-${name}`);
  renameSync(file, destination);
  return destination;
}
