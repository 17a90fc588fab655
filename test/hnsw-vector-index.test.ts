import { closeSync, existsSync, openSync, readFileSync, readSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PaperbotError } from '../src/errors.ts';
import { HnswVectorIndex, metaPath, readVectorIndexMeta } from '../src/adapters/hnswlib/hnsw-vector-index.ts';
import { tempDir } from './helpers/temp.ts';

const DIM = 16;
const PARAMS = { m: 12, efConstruction: 80, efSearch: 37 };

/** A small deterministic PRNG (mulberry32), so every run sees the same vectors. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function unitVectors(count: number, dimension = DIM, seed = 42): Float32Array[] {
  const random = prng(seed);
  return Array.from({ length: count }, () => {
    const v = Float32Array.from({ length: dimension }, () => random() * 2 - 1);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}

/** An index holding `vectors` under row ids 1..n. */
function filledIndex(vectors: readonly Float32Array[], capacity = 1024): HnswVectorIndex {
  const index = HnswVectorIndex.create('test-embedder', DIM, PARAMS, capacity);
  vectors.forEach((v, i) => index.upsert(i + 1, v));
  return index;
}

function expectIndexError(work: () => unknown): PaperbotError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(PaperbotError);
    expect((error as PaperbotError).code).toBe('index');
    return error as PaperbotError;
  }
  throw new Error('expected a PaperbotError with code index, but nothing was thrown');
}

/** Saves a 100-vector index into a fresh directory and returns the file and its vectors. */
function savedIndex(generation = 7): { file: string; vectors: Float32Array[]; index: HnswVectorIndex } {
  const vectors = unitVectors(100);
  const index = filledIndex(vectors);
  const file = path.join(tempDir(), 'vector-index.hnsw');
  index.save(file, generation, () => new Date());
  return { file, vectors, index };
}

describe('HnswVectorIndex in memory', () => {
  it('finds each stored vector as its own nearest neighbour, with score ≈ 1', () => {
    const vectors = unitVectors(60);
    const index = filledIndex(vectors);
    expect(index.size).toBe(60);
    expect(index.dimension).toBe(DIM);
    expect(index.embedderId).toBe('test-embedder');
    vectors.forEach((v, i) => {
      const hits = index.search(v, 3);
      expect(hits).toHaveLength(3);
      expect(hits[0]!.rowId).toBe(i + 1);
      expect(hits[0]!.score).toBeCloseTo(1, 5);
      // Best first, and the others are genuinely less similar.
      expect(hits[1]!.score).toBeLessThan(hits[0]!.score);
      expect(hits[2]!.score).toBeLessThanOrEqual(hits[1]!.score);
    });
  });

  it('scores by cosine similarity: an opposite vector scores ≈ −1, an orthogonal one ≈ 0', () => {
    const index = HnswVectorIndex.create('t', 4, PARAMS, 16);
    index.upsert(1, Float32Array.from([1, 0, 0, 0]));
    index.upsert(2, Float32Array.from([0, 1, 0, 0]));
    index.upsert(3, Float32Array.from([-1, 0, 0, 0]));
    const scores = new Map(index.search(Float32Array.from([2, 0, 0, 0]), 3).map((h) => [h.rowId, h.score]));
    expect(scores.get(1)).toBeCloseTo(1, 5);
    expect(scores.get(2)).toBeCloseTo(0, 5);
    expect(scores.get(3)).toBeCloseTo(-1, 5);
  });

  it('upserting an existing row id replaces its vector instead of adding a second entry', () => {
    const [a, b, ...rest] = unitVectors(20);
    const index = filledIndex(rest);
    index.upsert(500, a!);
    expect(index.size).toBe(19);
    index.upsert(500, b!);
    expect(index.size).toBe(19);
    const forNew = index.search(b!, 1)[0]!;
    expect(forNew.rowId).toBe(500);
    expect(forNew.score).toBeCloseTo(1, 5);
    // The old vector is gone: searching for it no longer finds row 500 as an exact match.
    const forOld = index.search(a!, 19).find((h) => h.rowId === 500)!;
    expect(forOld.score).toBeLessThan(0.99);
  });

  it('remove hides a row from search and from size; removing an unknown row does nothing', () => {
    const vectors = unitVectors(30);
    const index = filledIndex(vectors);
    index.remove(5);
    index.remove(999);
    expect(index.size).toBe(29);
    expect(index.has(5)).toBe(false);
    expect(index.has(6)).toBe(true);
    const hits = index.search(vectors[4]!, 30);
    expect(hits).toHaveLength(29);
    expect(hits.map((h) => h.rowId)).not.toContain(5);
  });

  // Exposes a bug: the index is created with allowReplaceDeleted, and hnswlib refuses addPoint for
  // a label marked deleted in that mode, so upsert() after remove() throws a raw hnswlib Error
  // ("Can't use addPoint to update deleted elements if replacement of deleted elements is enabled.").
  it('a removed row id can be upserted again', () => {
    const vectors = unitVectors(10);
    const index = filledIndex(vectors);
    index.remove(3);
    index.upsert(3, vectors[2]!);
    expect(index.has(3)).toBe(true);
    expect(index.size).toBe(10);
    expect(index.search(vectors[2]!, 1)[0]!.rowId).toBe(3);
  });

  it('returns every stored vector when k exceeds the size, and nothing for k ≤ 0 or an empty index', () => {
    const vectors = unitVectors(7);
    const index = filledIndex(vectors);
    const hits = index.search(vectors[0]!, 50);
    expect(hits).toHaveLength(7);
    expect(new Set(hits.map((h) => h.rowId))).toEqual(new Set([1, 2, 3, 4, 5, 6, 7]));
    for (let i = 1; i < hits.length; i++) expect(hits[i - 1]!.score).toBeGreaterThanOrEqual(hits[i]!.score);
    expect(index.search(vectors[0]!, 0)).toEqual([]);
    expect(HnswVectorIndex.create('t', DIM, PARAMS).search(vectors[0]!, 5)).toEqual([]);
  });

  it('a search for more than efSearch neighbours leaves ef at the configured efSearch', () => {
    const vectors = unitVectors(100);
    const index = filledIndex(vectors);
    expect(index.ef).toBe(PARAMS.efSearch);
    expect(index.search(vectors[0]!, 90)).toHaveLength(90);
    expect(index.ef).toBe(PARAMS.efSearch);
  });

  it('grows past its initial capacity (created for 16, given 100)', () => {
    const vectors = unitVectors(100);
    const index = filledIndex(vectors, 16);
    expect(index.size).toBe(100);
    vectors.forEach((v, i) => expect(index.search(v, 1)[0]!.rowId).toBe(i + 1));
  });

  it('rejects a vector of the wrong dimension with an index error, storing nothing', () => {
    const index = HnswVectorIndex.create('t', DIM, PARAMS);
    const error = expectIndexError(() => index.upsert(1, new Float32Array(DIM - 1).fill(0.25)));
    expect(error.message).toContain(String(DIM));
    expectIndexError(() => index.upsert(1, new Float32Array(DIM + 1).fill(0.25)));
    expect(index.size).toBe(0);
    expect(index.has(1)).toBe(false);
  });
});

describe('HnswVectorIndex save and load', () => {
  it('loads an index that answers exactly as the saved one did', () => {
    const { file, vectors, index } = savedIndex();
    const { index: loaded } = HnswVectorIndex.load(file, PARAMS);
    expect(loaded.size).toBe(100);
    expect(loaded.dimension).toBe(DIM);
    expect(loaded.embedderId).toBe('test-embedder');
    expect(loaded.has(100)).toBe(true);
    expect(loaded.has(101)).toBe(false);
    for (const query of [...vectors.slice(0, 10), ...unitVectors(5, DIM, 7)]) {
      const before = index.search(query, 10);
      const after = loaded.search(query, 10);
      expect(after.map((h) => h.rowId)).toEqual(before.map((h) => h.rowId));
      after.forEach((h, i) => expect(h.score).toBeCloseTo(before[i]!.score, 6));
    }
  });

  it('sets ef back to the configured efSearch after loading (hnswlib resets it to 10)', () => {
    const { file } = savedIndex();
    const { index: loaded } = HnswVectorIndex.load(file, PARAMS);
    expect(loaded.ef).toBe(PARAMS.efSearch);
    expect(loaded.params.efSearch).toBe(PARAMS.efSearch);
    const other = HnswVectorIndex.load(file, { ...PARAMS, efSearch: 123 }).index;
    expect(other.ef).toBe(123);
  });

  it('writes a sidecar recording embedder id, dimension, parameters, count, generation and size', () => {
    const { file } = savedIndex(41);
    const meta = readVectorIndexMeta(file);
    expect(meta).toMatchObject({ format: 2, embedderId: 'test-embedder', dimension: DIM, m: PARAMS.m, efConstruction: PARAMS.efConstruction, count: 100, storeGeneration: 41 });
    expect(meta!.fileBytes).toBe(statSync(file).size);
    expect(Number.isNaN(Date.parse(meta!.savedAt))).toBe(false);
    expect(JSON.parse(readFileSync(metaPath(file), 'utf8'))).toEqual(meta);
    // The load returns the same description.
    expect(HnswVectorIndex.load(file, PARAMS).meta).toEqual(meta);
    // Atomic save: no temporary files are left behind.
    expect(existsSync(`${file}.${process.pid}.tmp`)).toBe(false);
    expect(existsSync(`${metaPath(file)}.${process.pid}.tmp`)).toBe(false);
  });

  it('keeps the parameters the index was built with (m, efConstruction) over those given to load', () => {
    const { file } = savedIndex();
    const { index } = HnswVectorIndex.load(file, { m: 40, efConstruction: 400, efSearch: 50 });
    expect(index.params).toEqual({ m: PARAMS.m, efConstruction: PARAMS.efConstruction, efSearch: 50 });
  });

  it('a loaded index accepts new vectors and can be saved again', () => {
    const { file } = savedIndex();
    const { index } = HnswVectorIndex.load(file, PARAMS);
    const extra = unitVectors(20, DIM, 99);
    extra.forEach((v, i) => index.upsert(1000 + i, v));
    expect(index.size).toBe(120);
    index.save(file, 8, () => new Date());
    const { index: again, meta } = HnswVectorIndex.load(file, PARAMS);
    expect(meta.count).toBe(120);
    expect(meta.storeGeneration).toBe(8);
    expect(again.search(extra[3]!, 1)[0]!.rowId).toBe(1003);
  });

  // Exposes a bug: load() rebuilds its label set from hnswlib's getIdsList(), which also lists
  // labels marked deleted, so a removed row comes back: size is 100 (the sidecar says 99) and
  // has(removed) is true.
  it('a removed row stays removed after save and load', () => {
    const vectors = unitVectors(100);
    const index = filledIndex(vectors);
    index.remove(10);
    const file = path.join(tempDir(), 'vector-index.hnsw');
    const saved = index.save(file, 1, () => new Date());
    expect(saved.count).toBe(99);
    const { index: loaded } = HnswVectorIndex.load(file, PARAMS);
    expect(loaded.search(vectors[9]!, 100).map((h) => h.rowId)).not.toContain(10);
    expect(loaded.has(10)).toBe(false);
    expect(loaded.size).toBe(99);
  });

  it('a truncated index file is an index error', () => {
    const { file } = savedIndex();
    truncateSync(file, statSync(file).size - 100);
    const error = expectIndexError(() => HnswVectorIndex.load(file, PARAMS));
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/truncated|damaged/);
  });

  it('an index file with bytes flipped in its first 64 KiB is an index error', () => {
    const { file } = savedIndex();
    const size = statSync(file).size;
    expect(size).toBeGreaterThan(4096);
    const fd = openSync(file, 'r+');
    try {
      const byte = Buffer.alloc(1);
      for (const offset of [40, 3000]) {
        readSync(fd, byte, 0, 1, offset);
        byte[0] = byte[0]! ^ 0xff;
        writeSync(fd, byte, 0, 1, offset);
      }
    } finally {
      closeSync(fd);
    }
    expect(statSync(file).size).toBe(size);
    const error = expectIndexError(() => HnswVectorIndex.load(file, PARAMS));
    expect(error.message).toMatch(/checksum|damaged/);
  });

  it('a missing sidecar is an index error; so is a missing index file', () => {
    const first = savedIndex();
    rmSync(metaPath(first.file));
    expect(readVectorIndexMeta(first.file)).toBeUndefined();
    const error = expectIndexError(() => HnswVectorIndex.load(first.file, PARAMS));
    expect(error.message).toContain(metaPath(first.file));

    const second = savedIndex();
    rmSync(second.file);
    expectIndexError(() => HnswVectorIndex.load(second.file, PARAMS));
  });

  it('an unreadable sidecar is treated as missing', () => {
    const { file } = savedIndex();
    const fd = openSync(metaPath(file), 'w');
    writeSync(fd, '{"format": 1, "embedderId": ');
    closeSync(fd);
    expect(readVectorIndexMeta(file)).toBeUndefined();
    expectIndexError(() => HnswVectorIndex.load(file, PARAMS));
  });
});
