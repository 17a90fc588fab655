/**
 * A compact copy of every vector in the index (int8, one scale per vector), for exact cosine
 * scoring of chosen candidates. hnswlib can return a stored vector (`getPoint`), but copying 2048
 * numbers into a JS array costs about 0.3 ms a paper, far too slow for re-scoring the keyword
 * candidates of each query; this copy costs a quarter of the float index's memory and scores a
 * hundred candidates in well under a millisecond. Quantisation error on a cosine is about 1%.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { PaperbotError } from '../../errors.ts';
import { writeFileAtomically } from '../files/atomic-file.ts';
import type { ScoredRowId } from '../../rag/types.ts';
const MAGIC = 'PBQ8';
/** Format 2: the CRC32 covers every byte but its own; older copies (0 here) covered ids and scales only. */
const FORMAT = 2;
const HEADER_BYTES = 20;

/** CRC32 of a copy file's bytes except the checksum field itself (bytes 12–15 of the header). */
function checksumOf(header: Buffer, body: readonly Buffer[]): number {
  let checksum = crc32(header.subarray(16, HEADER_BYTES), crc32(header.subarray(0, 12)));
  for (const part of body) if (part.length) checksum = crc32(part, checksum);
  return checksum >>> 0;
}

export class QuantizedVectors {
  private slotOf = new Map<number, number>();
  private rowIds: Int32Array;
  private scales: Float32Array;
  private data: Int8Array;
  private used = 0;
  private free: number[] = [];

  constructor(readonly dimension: number, capacity = 1024) {
    this.rowIds = new Int32Array(capacity).fill(-1);
    this.scales = new Float32Array(capacity);
    this.data = new Int8Array(capacity * dimension);
  }

  get size(): number {
    return this.slotOf.size;
  }

  set(rowId: number, vector: Float32Array): void {
    let slot = this.slotOf.get(rowId);
    if (slot === undefined) {
      slot = this.free.pop() ?? this.used++;
      if (slot >= this.rowIds.length) this.grow(Math.max(slot + 1, this.rowIds.length * 2));
      this.slotOf.set(rowId, slot);
      this.rowIds[slot] = rowId;
    }
    let norm = 0;
    let max = 0;
    for (let i = 0; i < vector.length; i++) {
      const value = vector[i]!;
      norm += value * value;
      if (Math.abs(value) > max) max = Math.abs(value);
    }
    // Stored as a unit vector times 127/max, so a dot product needs one multiplication to undo.
    const scale = max > 0 ? 127 / max : 0;
    const offset = slot * this.dimension;
    for (let i = 0; i < vector.length; i++) this.data[offset + i] = Math.round(vector[i]! * scale);
    this.scales[slot] = scale > 0 && norm > 0 ? 1 / (scale * Math.sqrt(norm)) : 0;
  }

  remove(rowId: number): void {
    const slot = this.slotOf.get(rowId);
    if (slot === undefined) return;
    this.slotOf.delete(rowId);
    this.rowIds[slot] = -1;
    this.free.push(slot);
  }

  /** Cosine similarity of `query` to each stored paper among `rowIds` (unknown ones skipped). */
  similarity(query: Float32Array, rowIds: readonly number[]): ScoredRowId[] {
    let queryNorm = 0;
    for (let i = 0; i < query.length; i++) queryNorm += query[i]! * query[i]!;
    queryNorm = Math.sqrt(queryNorm) || 1;
    const dimension = this.dimension;
    const scored: ScoredRowId[] = [];
    for (const rowId of rowIds) {
      const slot = this.slotOf.get(rowId);
      if (slot === undefined) continue;
      const offset = slot * dimension;
      let dot = 0;
      for (let i = 0; i < dimension; i++) dot += this.data[offset + i]! * query[i]!;
      scored.push({ rowId, score: (dot * this.scales[slot]!) / queryNorm });
    }
    return scored;
  }

  /**
   * Writes atomically: header (magic, dimension, slots, CRC32, format), row ids, scales, int8
   * data. The CRC32 covers the whole file, so damage anywhere is caught on load.
   */
  save(file: string): void {
    const rowIds = Buffer.from(this.rowIds.buffer, 0, this.used * 4);
    const scales = Buffer.from(this.scales.buffer, 0, this.used * 4);
    const data = Buffer.from(this.data.buffer, 0, this.used * this.dimension);
    const header = Buffer.alloc(HEADER_BYTES);
    header.write(MAGIC, 0);
    header.writeUInt32LE(this.dimension, 4);
    header.writeUInt32LE(this.used, 8);
    header.writeUInt32LE(FORMAT, 16);
    header.writeUInt32LE(checksumOf(header, [rowIds, scales, data]), 12);
    writeFileAtomically(file, [header, rowIds, scales, data]);
  }

  static async load(file: string): Promise<QuantizedVectors> {
    return QuantizedVectors.parse(file, await readFile(file).catch(() => null));
  }

  static loadSync(file: string): QuantizedVectors {
    let bytes: Buffer | null;
    try {
      bytes = readFileSync(file);
    } catch {
      bytes = null;
    }
    return QuantizedVectors.parse(file, bytes);
  }

  private static parse(file: string, bytes: Buffer | null): QuantizedVectors {
    const corrupt = (why: string) => new PaperbotError('index', `The vector copy ${file} is unusable (${why}).`);
    if (!bytes) throw corrupt('missing');
    if (bytes.length < HEADER_BYTES || bytes.toString('latin1', 0, 4) !== MAGIC) throw corrupt('not a paperbot vector copy');
    const dimension = bytes.readUInt32LE(4);
    const used = bytes.readUInt32LE(8);
    if (dimension === 0 || bytes.length !== HEADER_BYTES + used * (8 + dimension)) throw corrupt('truncated or damaged');
    // Checked before anything is sized or copied from the header's numbers.
    if (checksumOf(bytes.subarray(0, HEADER_BYTES), [bytes.subarray(HEADER_BYTES)]) !== bytes.readUInt32LE(12)) {
      throw corrupt(bytes.readUInt32LE(16) === FORMAT ? 'checksum mismatch: it is damaged' : 'saved by an older paperbot');
    }
    const rowIds = bytes.subarray(HEADER_BYTES, HEADER_BYTES + used * 4);
    const scales = bytes.subarray(HEADER_BYTES + used * 4, HEADER_BYTES + used * 8);
    const data = bytes.subarray(HEADER_BYTES + used * 8);
    const store = new QuantizedVectors(dimension, Math.max(used, 16));
    store.used = used;
    store.rowIds.set(new Int32Array(rowIds.buffer.slice(rowIds.byteOffset, rowIds.byteOffset + rowIds.length)));
    store.scales.set(new Float32Array(scales.buffer.slice(scales.byteOffset, scales.byteOffset + scales.length)));
    store.data.set(new Int8Array(data.buffer, data.byteOffset, data.length));
    for (let slot = 0; slot < used; slot++) {
      const rowId = store.rowIds[slot]!;
      if (rowId >= 0) store.slotOf.set(rowId, slot);
      else store.free.push(slot);
    }
    return store;
  }

  private grow(capacity: number): void {
    const rowIds = new Int32Array(capacity).fill(-1);
    rowIds.set(this.rowIds);
    const scales = new Float32Array(capacity);
    scales.set(this.scales);
    const data = new Int8Array(capacity * this.dimension);
    data.set(this.data);
    this.rowIds = rowIds;
    this.scales = scales;
    this.data = data;
  }
}
