/**
 * Opens paperbot's SQLite database (better-sqlite3 12): WAL, one writer, a busy timeout so a
 * second process waits instead of failing. The composition root opens it once and hands the
 * connection to every SQLite store (papers, conversations and feedback, digests).
 */
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { PaperbotError } from '../../errors.ts';

export type { SqliteDatabase };

/** Opens (creating if needed) the database at `file`; `:memory:` works for tests. */
export function openSqliteDatabase(file: string): SqliteDatabase {
  try {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    return db;
  } catch (error) {
    throw damagedDatabase(file, error);
  }
}

/** The error for a database that cannot be opened or read: what happened and what to do. */
export function damagedDatabase(file: string, error: unknown): PaperbotError {
  return new PaperbotError(
    'data_dir',
    `Cannot open the paper database at ${file}: ${(error as Error).message}. If the file is damaged, move it away and run paperbot again to rebuild from your corpus files.`,
    { cause: error },
  );
}
