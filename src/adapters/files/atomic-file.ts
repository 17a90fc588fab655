/**
 * Writes a file so that readers see either the old content or the whole new one, never a half:
 * a temporary file beside it, fsync, then rename. Used by every index file paperbot saves.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

export function writeFileAtomically(file: string, parts: readonly Uint8Array[]): void {
  const temp = `${file}.${process.pid}.tmp`;
  let fd: number | undefined = openSync(temp, 'w');
  try {
    for (const part of parts) {
      // writeSync may write less than asked (a full disk reports ENOSPC on the next call).
      for (let written = 0; written < part.length; ) written += writeSync(fd, part, written, part.length - written);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, file);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
}
