/**
 * Whole-file CRC32, for the load-time integrity check of large index files: damage anywhere in
 * the file (not only near its ends) is caught before a native library reads it. The file is
 * streamed in chunks, never held whole. `fileChecksum` runs on a worker thread, so a 600 MB
 * vector index is checked while the main thread loads the rest of the library (small files, where
 * starting a worker would cost more than hashing, are checked inline).
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { crc32 } from 'node:zlib';

const CHUNK_BYTES = 4 << 20;
/** Files up to this size are checked inline: a worker takes longer to start (40–60 ms) than they to hash. */
const INLINE_BYTES = 32 << 20;

/** CRC32 (unsigned) of the whole file, read in 4 MiB chunks on the calling thread. */
export function fileChecksumSync(file: string): number {
  const fd = openSync(file, 'r');
  try {
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    let checksum = 0;
    // Never an empty buffer: zlib's crc32 restarts on one.
    for (let read = readSync(fd, chunk, 0, CHUNK_BYTES, null); read > 0; read = readSync(fd, chunk, 0, CHUNK_BYTES, null)) {
      checksum = crc32(chunk.subarray(0, read), checksum);
    }
    return checksum >>> 0;
  } finally {
    closeSync(fd);
  }
}

// The same loop as `fileChecksumSync`, as CommonJS source: an eval'd worker needs no file of its
// own, so it runs the same from the TypeScript sources (tsx) and from dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { closeSync, openSync, readSync } = require('node:fs');
const { crc32 } = require('node:zlib');
const fd = openSync(workerData.file, 'r');
try {
  const chunk = Buffer.allocUnsafe(workerData.chunkBytes);
  let checksum = 0;
  for (let read = readSync(fd, chunk, 0, chunk.length, null); read > 0; read = readSync(fd, chunk, 0, chunk.length, null)) {
    checksum = crc32(chunk.subarray(0, read), checksum);
  }
  parentPort.postMessage(checksum >>> 0);
} finally {
  closeSync(fd);
}
`;

/** `fileChecksumSync` on a worker thread (inline for small files); rejects with the error (ENOENT, EACCES…). */
export function fileChecksum(file: string): Promise<number> {
  try {
    if (statSync(file).size <= INLINE_BYTES) return Promise.resolve(fileChecksumSync(file));
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, chunkBytes: CHUNK_BYTES } });
    let settled = false;
    worker.once('message', (checksum: number) => {
      settled = true;
      resolve(checksum);
    });
    worker.once('error', (error) => {
      settled = true;
      reject(error);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`the checksum worker exited with code ${code}`));
    });
  });
}
