/**
 * Reads a corpus file line by line, plain or gzip-compressed (detected from the magic bytes),
 * without holding it whole in memory. Lines are decoded strictly as UTF-8, so a line that is not
 * valid text is reported as such instead of being silently mangled into replacement characters.
 * An over-long line is skipped while it streams past, and a damaged gzip stream ends the file with
 * a report of where, so neither a huge line nor a cut download costs memory or loses the lines before.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

export interface CorpusLine {
  /** 1-based line number in the (decompressed) file. */
  lineNumber: number;
  /** The line without its line end; null when the bytes are not valid UTF-8 or the line is over the limit. */
  text: string | null;
  /** True when the line holds NUL bytes: a binary file, not text. */
  binary: boolean;
  /** Set when the line is longer than `maxLineBytes`: its length in bytes. Its bytes were skipped, never held. */
  overLimitBytes?: number;
}

/** The end of the readable part of a damaged file (a truncated or corrupt gzip stream). */
export interface CorpusDamage {
  /** The line the damage cut: the lines before it were read whole. */
  lineNumber: number;
  /** What the decompressor said, e.g. `unexpected end of file`. */
  damage: string;
}

export interface LineReaderOptions {
  /** Called as compressed bytes are consumed, for progress bars. */
  onBytes?: (bytesRead: number) => void;
  /** A longer line is skipped (counted, not buffered) and reported with `overLimitBytes`. Default: no limit. */
  maxLineBytes?: number;
}

export async function isGzipFile(filePath: string): Promise<boolean> {
  const handle = await open(filePath, 'r');
  try {
    const magic = Buffer.alloc(2);
    const { bytesRead } = await handle.read(magic, 0, 2, 0);
    return bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function decodeLine(bytes: Buffer, lineNumber: number): CorpusLine {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0d) end -= 1; // Windows line ends
  let start = 0;
  if (lineNumber === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3; // BOM
  const slice = bytes.subarray(start, end);
  const binary = slice.includes(0);
  try {
    return { lineNumber, text: strictUtf8.decode(slice), binary };
  } catch {
    return { lineNumber, text: null, binary };
  }
}

/** Errors of node:zlib on bad compressed data (not I/O errors, which still throw). */
function isCompressedDataError(error: unknown): error is Error {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && /^Z_(?:BUF|DATA|NEED_DICT|STREAM)_ERROR$/.test(code);
}

/**
 * Yields the lines of a file in order. A line over `maxLineBytes` is skipped without being held
 * in memory and yielded with `overLimitBytes`. A damaged gzip stream ends the lines with one
 * `CorpusDamage` (the lines before it are complete; the cut line is not yielded).
 */
export async function* readCorpusLines(filePath: string, options: LineReaderOptions = {}): AsyncGenerator<CorpusLine | CorpusDamage> {
  const gzip = await isGzipFile(filePath);
  const maxLineBytes = options.maxLineBytes ?? Number.POSITIVE_INFINITY;
  const raw = createReadStream(filePath, { highWaterMark: 1 << 20 });
  let bytesRead = 0;
  raw.on('data', (chunk) => {
    bytesRead += chunk.length;
    options.onBytes?.(bytesRead);
  });
  const source: Readable = gzip ? raw.pipe(createGunzip()) : raw;
  raw.on('error', (error) => source.destroy(error));

  let lineNumber = 0;
  let carry: Buffer = Buffer.alloc(0);
  // Bytes of an over-long line skipped so far; -1 when not inside one.
  let skipped = -1;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      let start = 0;
      let newline = chunk.indexOf(0x0a);
      if (skipped >= 0) {
        if (newline === -1) {
          skipped += chunk.length;
          continue;
        }
        lineNumber += 1;
        yield { lineNumber, text: null, binary: false, overLimitBytes: skipped + newline };
        skipped = -1;
        start = newline + 1;
        newline = chunk.indexOf(0x0a, start);
      }
      if (newline !== -1 && carry.length) {
        // The carried start of a line ends in this chunk.
        const length = carry.length + newline - start;
        lineNumber += 1;
        yield length > maxLineBytes ? { lineNumber, text: null, binary: false, overLimitBytes: length } : decodeLine(Buffer.concat([carry, chunk.subarray(start, newline)]), lineNumber);
        carry = Buffer.alloc(0);
        start = newline + 1;
        newline = chunk.indexOf(0x0a, start);
      }
      while (newline !== -1) {
        lineNumber += 1;
        const length = newline - start;
        yield length > maxLineBytes ? { lineNumber, text: null, binary: false, overLimitBytes: length } : decodeLine(chunk.subarray(start, newline), lineNumber);
        start = newline + 1;
        newline = chunk.indexOf(0x0a, start);
      }
      const rest = chunk.length - start;
      if (carry.length + rest > maxLineBytes) {
        // Past the limit with no line end in sight: stop holding the line, only count it.
        skipped = carry.length + rest;
        carry = Buffer.alloc(0);
      } else if (rest > 0) {
        carry = carry.length ? Buffer.concat([carry, chunk.subarray(start)]) : Buffer.from(chunk.subarray(start));
      }
    }
    if (skipped >= 0) {
      lineNumber += 1;
      yield { lineNumber, text: null, binary: false, overLimitBytes: skipped };
    } else if (carry.length) {
      lineNumber += 1;
      yield decodeLine(carry, lineNumber);
    }
  } catch (error) {
    if (!isCompressedDataError(error)) throw error;
    yield { lineNumber: lineNumber + 1, damage: error.message };
  } finally {
    raw.destroy();
  }
}
