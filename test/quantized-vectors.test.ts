import { existsSync, rmSync, truncateSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PaperbotError } from '../src/errors.ts';
import { QuantizedVectors } from '../src/adapters/hnswlib/quantized-vectors.ts';
import { tempDir } from './helpers/temp.ts';

/** Deterministic pseudo-random unit-ish vectors (no Math.random: failures must reproduce). */
function vector(seed: number, dimension = 64): Float32Array {
  const v = new Float32Array(dimension);
  let x = seed * 2654435761;
  for (let i = 0; i < dimension; i++) {
    x = (Math.imul(x ^ (x >>> 15), 2246822507) + i) | 0;
    v[i] = ((x >>> 8) % 2001) / 1000 - 1;
  }
  return v;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

describe('QuantizedVectors', () => {
  it('scores cosine similarity within 0.02 of the exact value, for the rows asked only', () => {
    const store = new QuantizedVectors(64, 4);
    for (let rowId = 1; rowId <= 50; rowId++) store.set(rowId, vector(rowId));
    const query = vector(1000);
    const scored = store.similarity(query, [3, 7, 49, 999]);
    expect(scored.map((s) => s.rowId)).toEqual([3, 7, 49]);
    for (const { rowId, score } of scored) expect(Math.abs(score - cosine(query, vector(rowId)))).toBeLessThan(0.02);
    expect(store.similarity(vector(7), [7])[0]!.score).toBeGreaterThan(0.99);
  });

  it('replaces a vector set twice, forgets a removed one, and reuses its slot', () => {
    const store = new QuantizedVectors(64);
    store.set(1, vector(1));
    store.set(2, vector(2));
    store.set(1, vector(5));
    expect(store.size).toBe(2);
    expect(store.similarity(vector(5), [1])[0]!.score).toBeGreaterThan(0.99);
    store.remove(2);
    expect(store.similarity(vector(2), [2])).toEqual([]);
    store.set(3, vector(3));
    expect(store.size).toBe(2);
  });

  it('round-trips through a file, sync and async, and rejects a truncated or missing file', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'v.q8');
    const store = new QuantizedVectors(64);
    for (let rowId = 1; rowId <= 20; rowId++) store.set(rowId, vector(rowId));
    store.remove(4);
    store.save(file);
    expect(existsSync(file)).toBe(true);
    const query = vector(77);
    const expected = store.similarity(query, [1, 4, 10, 20]);
    expect(QuantizedVectors.loadSync(file).similarity(query, [1, 4, 10, 20])).toEqual(expected);
    const loaded = await QuantizedVectors.load(file);
    expect(loaded.size).toBe(19);
    expect(loaded.similarity(query, [1, 4, 10, 20])).toEqual(expected);

    truncateSync(file, statSync(file).size - 10);
    expect(() => QuantizedVectors.loadSync(file)).toThrow(PaperbotError);
    rmSync(file);
    await expect(QuantizedVectors.load(file)).rejects.toMatchObject({ code: 'index' });
  });
});
