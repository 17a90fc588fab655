/**
 * The vector index: hnswlib-node used directly, through a thin wrapper that fixes its sharp
 * edges. Cosine space; the paper's row id is the label; explicit M / efConstruction / ef, with
 * ef set again after every load (readIndex resets it to 10); resize before adding; removal by
 * markDelete; atomic saves (temp file, then rename). A JSON sidecar records the embedder id,
 * dimension, parameters, the store generation it matches, the file's size and a CRC32 of the
 * whole file, and a CRC32 of its own fields. hnswlib trusts the file it reads: a few flipped
 * bytes in its link lists make a later search read out of bounds and kill the process. So every
 * load checks the whole file against the sidecar before hnswlib sees it (on a worker thread, so
 * the check of a large index overlaps the rest of start-up); the int8 copy checks its own CRC.
 * Sidecars of older paperbots (format 1, a checksum of the first and last 64 KiB only) cannot
 * vouch for the middle of the file: such an index is reported damaged, and the caller rebuilds.
 */
import { readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import hnswlib from 'hnswlib-node';
import { z } from 'zod';
import { PaperbotError } from '../../errors.ts';
import { writeFileAtomically } from '../files/atomic-file.ts';
import { fileChecksum, fileChecksumSync } from '../files/file-checksum.ts';

import { QuantizedVectors } from './quantized-vectors.ts';

import type { IndexDescription, VectorIndex, VectorIndexHeader, VectorIndexProvider } from '../../rag/ports.ts';
import type { Clock, ScoredRowId } from '../../rag/types.ts';
const { HierarchicalNSW } = hnswlib;
type Hnsw = InstanceType<typeof HierarchicalNSW>;

export interface HnswParams {
  m: number;
  efConstruction: number;
  efSearch: number;
}

const metaSchema = z.object({
  /** 2: whole-file checksum and a sealed sidecar; 1: older paperbots (edge checksum only). */
  format: z.union([z.literal(1), z.literal(2)]),
  embedderId: z.string(),
  dimension: z.number().int().positive(),
  m: z.number().int().positive(),
  efConstruction: z.number().int().positive(),
  count: z.number().int().nonnegative(),
  storeGeneration: z.number().int(),
  /** Labels marked deleted: hnswlib's getIdsList still lists them after a load. */
  deleted: z.array(z.number().int()).default([]),
  fileBytes: z.number().int().nonnegative(),
  /** CRC32 of the whole index file (format 2). */
  checksum: z.number().int().optional(),
  /** CRC32 of the first and last 64 KiB (format 1 only; not enough to load safely). */
  edgeChecksum: z.number().int().optional(),
  savedAt: z.string(),
  /** CRC32 of the fields above (format 2): a damaged dimension or count is never believed. */
  seal: z.number().int().optional(),
});
export type VectorIndexMeta = z.output<typeof metaSchema>;

/** The sidecar's own checksum, over its fields in a fixed order. */
function sealOf(meta: VectorIndexMeta): number {
  const fields = [meta.format, meta.embedderId, meta.dimension, meta.m, meta.efConstruction, meta.count, meta.storeGeneration, meta.deleted, meta.fileBytes, meta.checksum ?? null, meta.savedAt];
  return crc32(JSON.stringify(fields)) >>> 0;
}

export function metaPath(file: string): string {
  return `${file}.json`;
}

/** The int8 copy of the vectors beside the index, for exact re-scoring. */
export function copyPath(file: string): string {
  return `${file}.q8`;
}

/** Reads the sidecar of an index file; undefined when there is none or it is unreadable. */
export function readVectorIndexMeta(file: string): VectorIndexMeta | undefined {
  try {
    return metaSchema.parse(JSON.parse(readFileSync(metaPath(file), 'utf8')));
  } catch {
    return undefined;
  }
}

export class HnswVectorIndex implements VectorIndex {
  private index: Hnsw;
  private capacity: number;
  private labels = new Set<number>();
  private deleted = new Set<number>();

  private constructor(
    readonly embedderId: string,
    readonly dimension: number,
    readonly params: HnswParams,
    index: Hnsw,
    capacity: number,
    private readonly copy: QuantizedVectors,
  ) {
    this.index = index;
    this.capacity = capacity;
  }

  static create(embedderId: string, dimension: number, params: HnswParams, initialCapacity = 1024): HnswVectorIndex {
    const index = new HierarchicalNSW('cosine', dimension);
    const capacity = Math.max(16, initialCapacity);
    index.initIndex({ maxElements: capacity, m: params.m, efConstruction: params.efConstruction, randomSeed: 100, allowReplaceDeleted: true });
    index.setEf(params.efSearch);
    return new HnswVectorIndex(embedderId, dimension, params, index, capacity, new QuantizedVectors(dimension, capacity));
  }

  /**
   * Loads an index saved by `save`. Throws an `index` error when the sidecar is missing, damaged
   * or of an older format, the file's size or whole-file checksum disagree with it, the int8
   * copy is damaged, or hnswlib cannot read it. hnswlib reads only a file that passed.
   */
  static load(file: string, params: HnswParams): { index: HnswVectorIndex; meta: VectorIndexMeta } {
    const meta = HnswVectorIndex.check(file);
    HnswVectorIndex.verify(file, meta, fileChecksumSync(file));
    const copy = QuantizedVectors.loadSync(copyPath(file));
    const index = new HierarchicalNSW('cosine', meta.dimension);
    try {
      index.readIndexSync(file, true);
    } catch (error) {
      throw new PaperbotError('index', `hnswlib could not read the vector index ${file}: ${(error as Error).message}`, { cause: error });
    }
    return { index: HnswVectorIndex.wrap(index, meta, params, copy), meta };
  }

  /**
   * Like `load`, but the whole-file checksum runs on a worker thread and hnswlib reads the file
   * on libuv's thread pool, so a large index loads while the main thread opens everything else.
   * The cheap checks run first, synchronously; hnswlib starts only once the checksum matched.
   */
  static async loadAsync(file: string, params: HnswParams): Promise<{ index: HnswVectorIndex; meta: VectorIndexMeta }> {
    const meta = HnswVectorIndex.check(file);
    const checksum = fileChecksum(file);
    checksum.catch(() => undefined); // awaited below
    const copy = QuantizedVectors.load(copyPath(file));
    copy.catch(() => undefined); // awaited below
    let actual: number;
    try {
      actual = await checksum;
    } catch (error) {
      throw new PaperbotError('index', `The vector index ${file} cannot be read: ${(error as Error).message}.`, { cause: error });
    }
    HnswVectorIndex.verify(file, meta, actual);
    // The copy is checked too before hnswlib starts, so a damaged copy costs no index read.
    const loadedCopy = await copy;
    const index = new HierarchicalNSW('cosine', meta.dimension);
    try {
      await index.readIndex(file, true);
    } catch (error) {
      throw new PaperbotError('index', `hnswlib could not read the vector index ${file}: ${(error as Error).message}`, { cause: error });
    }
    return { index: HnswVectorIndex.wrap(index, meta, params, loadedCopy), meta };
  }

  /** The sidecar and size checks (cheap); throws an `index` error when any fails. */
  private static check(file: string): VectorIndexMeta {
    const meta = readVectorIndexMeta(file);
    if (!meta) throw new PaperbotError('index', `The vector index ${file} has no readable description (${metaPath(file)}).`);
    if (meta.format === 1 || meta.checksum === undefined) {
      throw new PaperbotError('index', `The vector index ${file} was saved by an older paperbot, whose checksum cannot show that the middle of the file is intact.`);
    }
    if (meta.seal !== sealOf(meta)) throw new PaperbotError('index', `The description of the vector index (${metaPath(file)}) fails its checksum: it is damaged.`);
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      throw new PaperbotError('index', `The vector index file ${file} is missing.`);
    }
    if (size !== meta.fileBytes) throw new PaperbotError('index', `The vector index ${file} is ${size} bytes, but was saved with ${meta.fileBytes}: it is truncated or damaged.`);
    return meta;
  }

  /** The whole-file check; throws an `index` error when the file's checksum is not the saved one. */
  private static verify(file: string, meta: VectorIndexMeta, actual: number): void {
    if (actual !== meta.checksum) throw new PaperbotError('index', `The vector index ${file} fails its checksum: it is damaged.`);
  }

  private static wrap(index: Hnsw, meta: VectorIndexMeta, params: HnswParams, copy: QuantizedVectors): HnswVectorIndex {
    if (copy.dimension !== meta.dimension || copy.size !== meta.count) {
      throw new PaperbotError('index', `The vector copy beside the index holds ${copy.size} vectors of ${copy.dimension} dimensions, but the index ${meta.count} of ${meta.dimension}.`);
    }
    // readIndex resets ef to 10: set it again, or recall quietly collapses.
    index.setEf(params.efSearch);
    const wrapper = new HnswVectorIndex(meta.embedderId, meta.dimension, { ...params, m: meta.m, efConstruction: meta.efConstruction }, index, index.getMaxElements(), copy);
    for (const label of meta.deleted) wrapper.deleted.add(label);
    for (const label of index.getIdsList()) if (!wrapper.deleted.has(label)) wrapper.labels.add(label);
    return wrapper;
  }

  get size(): number {
    return this.labels.size;
  }

  get ef(): number {
    return this.index.getEf();
  }

  has(rowId: number): boolean {
    return this.labels.has(rowId);
  }

  /** Adds or replaces the vector of a paper. Grows the index first when it is full. */
  upsert(rowId: number, vector: Float32Array): void {
    if (vector.length !== this.dimension) {
      throw new PaperbotError('index', `A vector of dimension ${vector.length} cannot go into an index of dimension ${this.dimension}.`);
    }
    if (this.deleted.has(rowId)) {
      // A removed paper coming back: revive its slot, then update the vector in place.
      this.index.unmarkDelete(rowId);
      this.deleted.delete(rowId);
    } else if (!this.labels.has(rowId) && this.index.getCurrentCount() >= this.capacity) {
      this.capacity = Math.max(this.capacity * 2, this.index.getCurrentCount() + 1024);
      this.index.resizeIndex(this.capacity);
    }
    // hnswlib wants a plain array; the typed array is converted one vector at a time.
    this.index.addPoint(Array.from(vector), rowId, false);
    this.copy.set(rowId, vector);
    this.labels.add(rowId);
  }

  remove(rowId: number): void {
    if (!this.labels.has(rowId)) return;
    this.index.markDelete(rowId);
    this.copy.remove(rowId);
    this.labels.delete(rowId);
    this.deleted.add(rowId);
  }

  /** The `k` nearest papers by cosine similarity (score = 1 − cosine distance), best first. */
  search(vector: Float32Array, k: number): ScoredRowId[] {
    const count = this.labels.size;
    if (count === 0 || k <= 0) return [];
    const n = Math.min(k, count);
    // ef below k would silently return fewer or worse neighbours.
    if (this.index.getEf() < n) this.index.setEf(n);
    const result = this.index.searchKnn(Array.from(vector), n);
    if (this.index.getEf() !== Math.max(this.params.efSearch, 1)) this.index.setEf(this.params.efSearch);
    return result.neighbors.map((rowId, i) => ({ rowId, score: 1 - (result.distances[i] ?? 1) }));
  }

  /**
   * Cosine similarity of the query to the stored vectors of the given papers (those in the
   * index), from the int8 copy: cheap for hundreds of papers, and immune to HNSW's approximate recall.
   */
  similarity(vector: Float32Array, rowIds: readonly number[]): ScoredRowId[] {
    return this.copy.similarity(vector, rowIds.filter((rowId) => this.labels.has(rowId)));
  }

  /** Writes the index and its sidecar atomically, stamped with the store generation it matches. */
  save(file: string, storeGeneration: number, clock: Clock): VectorIndexMeta {
    const temp = `${file}.${process.pid}.tmp`;
    try {
      this.index.writeIndexSync(temp);
      const size = statSync(temp).size;
      const meta: VectorIndexMeta = {
        format: 2,
        embedderId: this.embedderId,
        dimension: this.dimension,
        m: this.params.m,
        efConstruction: this.params.efConstruction,
        count: this.labels.size,
        storeGeneration,
        deleted: [...this.deleted],
        fileBytes: size,
        checksum: fileChecksumSync(temp),
        savedAt: clock().toISOString(),
      };
      meta.seal = sealOf(meta);
      this.copy.save(copyPath(file));
      renameSync(temp, file);
      writeFileAtomically(metaPath(file), [Buffer.from(`${JSON.stringify(meta, null, 2)}\n`)]);
      return meta;
    } catch (error) {
      rmSync(temp, { force: true });
      throw new PaperbotError('io', `Could not write the vector index to ${file}: ${(error as Error).message}. Free some disk space, then run paperbot index --rebuild.`, { cause: error });
    }
  }
}

/**
 * `VectorIndexProvider` for HNSW indexes kept beside the store: `vector-index.hnsw`, its JSON
 * sidecar (embedder, dimension, parameters, store generation, size and checksum) and its int8
 * copy. `prefetch` starts hnswlib's thread-pool read so the rest of start-up overlaps it.
 */
export class HnswIndexFile implements VectorIndexProvider {
  private prefetched: Promise<{ index: HnswVectorIndex }> | undefined;

  constructor(
    readonly file: string,
    private readonly params: HnswParams,
    private readonly clock: Clock,
  ) {}

  header(): VectorIndexHeader | undefined {
    return readVectorIndexMeta(this.file);
  }

  prefetch(): void {
    if (this.prefetched || !this.header()) return;
    this.prefetched = HnswVectorIndex.loadAsync(this.file, this.params);
    this.prefetched.catch(() => undefined); // handled when `open` awaits it
  }

  async open(): Promise<HnswVectorIndex> {
    const loading = this.prefetched ?? HnswVectorIndex.loadAsync(this.file, this.params);
    this.prefetched = undefined;
    return (await loading).index;
  }

  create(embedderId: string, dimension: number, expectedPapers: number): HnswVectorIndex {
    return HnswVectorIndex.create(embedderId, dimension, this.params, Math.max(1024, Math.ceil(expectedPapers * 1.1)));
  }

  save(index: VectorIndex, storeGeneration: number): void {
    this.own(index).save(this.file, storeGeneration, this.clock);
  }

  describe(index: VectorIndex): IndexDescription {
    let bytes = 0;
    try {
      bytes = statSync(this.file).size;
    } catch {
      // Not saved yet.
    }
    const { m, efConstruction, efSearch } = this.own(index).params;
    return { location: this.file, bytes, parameters: { m, efConstruction, efSearch } };
  }

  private own(index: VectorIndex): HnswVectorIndex {
    if (!(index instanceof HnswVectorIndex)) throw new PaperbotError('internal', 'An HNSW index file can only hold an HNSW vector index.');
    return index;
  }
}
