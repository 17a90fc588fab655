/**
 * Reads a corpus file line by line, plain or gzip-compressed (detected from the magic bytes),
 * without holding it whole in memory. Lines are decoded strictly as UTF-8, so a line that is not
 * valid text is reported as such instead of being silently mangled into replacement characters.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

export interface CorpusLine {
  /** 1-based line number in the (decompressed) file. */
  lineNumber: number;
  /** The line without its line end, or null when the bytes are not valid UTF-8. */
  text: string | null;
  /** True when the line holds NUL bytes: a binary file, not text. */
  binary: boolean;
}

export interface LineReaderOptions {
  /** Called as compressed bytes are consumed, for progress bars. */
  onBytes?: (bytesRead: number) => void;
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

export async function* readCorpusLines(filePath: string, options: LineReaderOptions = {}): AsyncGenerator<CorpusLine> {
  const gzip = await isGzipFile(filePath);
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
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      let buffer = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      let newline = buffer.indexOf(0x0a);
      let start = 0;
      while (newline !== -1) {
        lineNumber += 1;
        yield decodeLine(buffer.subarray(start, newline), lineNumber);
        start = newline + 1;
        newline = buffer.indexOf(0x0a, start);
      }
      buffer = buffer.subarray(start);
      carry = Buffer.from(buffer);
    }
    if (carry.length) {
      lineNumber += 1;
      yield decodeLine(carry, lineNumber);
    }
  } finally {
    raw.destroy();
  }
}
