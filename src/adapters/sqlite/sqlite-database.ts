/**
 * Opens paperbot's SQLite database (better-sqlite3 12): WAL, one writer, a busy timeout so a
 * second process waits instead of failing. The composition root opens it once and hands the
 * connection to every SQLite store (papers, conversations and feedback, digests).
 */
import { accessSync, constants, copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { PaperbotError } from '../../errors.ts';

export type { SqliteDatabase };

/**
 * Opens (creating if needed) the database at `file`; `:memory:` works for tests. With
 * `readOnly` the file must exist and nothing is ever written to it (`ingest --dry-run`).
 */
export function openSqliteDatabase(file: string, options: { readOnly?: boolean } = {}): SqliteDatabase {
  try {
    if (options.readOnly) return openReadOnly(file);
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    return db;
  } catch (error) {
    throw damagedDatabase(file, error);
  }
}

/**
 * A read-only connection. SQLite reads a WAL database only where it may create the shared-memory
 * file beside it; in a read-only directory without one, the connection reads a private copy
 * instead (in the system's temporary directory, removed at exit), so a dry run still works there.
 */
function openReadOnly(file: string): SqliteDatabase {
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    db.prepare('SELECT count(*) FROM sqlite_master').get(); // opening is lazy: fail here, not later
    return db;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code !== 'SQLITE_READONLY_DIRECTORY' && code !== 'SQLITE_CANTOPEN') throw error;
  }
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'paperbot-read-only-'));
  process.once('exit', () => rmSync(scratch, { recursive: true, force: true }));
  const copy = path.join(scratch, path.basename(file));
  copyFileSync(file, copy);
  if (existsSync(`${file}-wal`)) copyFileSync(`${file}-wal`, `${copy}-wal`);
  const db = new Database(copy, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return db;
}

/** True when the database or its directory cannot be written (permissions, a read-only mount). */
function isReadOnly(file: string, error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('SQLITE_READONLY') || code === 'EACCES' || code === 'EROFS' || code === 'EPERM')) return true;
  if (code !== 'SQLITE_CANTOPEN' && code !== 'SQLITE_IOERR') return false;
  // SQLite says only that it cannot open a file (the database, its -wal or -shm): ask the file system.
  const writable = (target: string) => {
    try {
      accessSync(target, constants.W_OK);
      return true;
    } catch (failure) {
      return (failure as NodeJS.ErrnoException).code === 'ENOENT';
    }
  };
  return !writable(path.dirname(file)) || !writable(file);
}

/**
 * The error for a database that cannot be opened or read: what happened and what to do. A
 * read-only data directory is said to be one; only a file that is really unreadable is called
 * damaged.
 */
export function damagedDatabase(file: string, error: unknown): PaperbotError {
  if (file !== ':memory:' && file !== '' && isReadOnly(file, error)) {
    return new PaperbotError(
      'data_dir',
      `The data directory ${path.dirname(file)} is read-only (${(error as Error).message}): paperbot writes its database and indexes there. Make it writable, or set PAPERBOT_DATA_DIR to a directory paperbot can write to.`,
      { cause: error },
    );
  }
  return new PaperbotError(
    'data_dir',
    `Cannot open the paper database at ${file}: ${(error as Error).message}. If the file is damaged, move it away and run paperbot again to rebuild from your corpus files.`,
    { cause: error },
  );
}
