import { existsSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPaperbot, dataFiles, type CompositionOptions } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import { PaperbotError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import type { PaperbotCore, Stats } from '../src/rag/paperbot-core.ts';
import { DEFAULT_BAND_THRESHOLDS, Retriever } from '../src/rag/retrieval.ts';
import { copyPath, metaPath, readVectorIndexMeta } from '../src/adapters/hnswlib/hnsw-vector-index.ts';
import { tempDir } from './helpers/temp.ts';

const vectorIndexPath = (dataDir: string) => dataFiles(dataDir).vectorIndex;

/** The configured defaults, so these tests follow a re-tuning instead of pinning old numbers. */
const DEFAULTS = loadConfig({});

/** Nothing listens on the discard port: every Ollama call is refused at once. */
const DEAD_OLLAMA = 'http://127.0.0.1:9';
const FUSION = { k: 60, keywordWeight: 1, vectorWeight: 0.5, candidates: 100, exactCandidates: 20 };
const NULL_TEXT = 'Null-text Inversion for Editing Real Images using Guided Diffusion Models';

const opened: PaperbotCore[] = [];
afterEach(() => {
  while (opened.length) opened.pop()!.close();
});

interface Opened {
  core: PaperbotCore;
  notices: string[];
}

async function open(dataDir: string, env: Record<string, string> = {}, options: CompositionOptions = {}): Promise<Opened> {
  const notices: string[] = [];
  const config = loadConfig({ PAPERBOT_DATA_DIR: dataDir, OLLAMA_HOST: DEAD_OLLAMA, EMBEDDER: 'auto', LOCAL_EMBED_DIM: '256', ...env });
  const core = await createPaperbot(config, { logger: createLogger('silent'), notify: (m) => notices.push(m), ...options });
  opened.push(core);
  return { core, notices };
}

function close(core: PaperbotCore): void {
  core.close();
  opened.splice(opened.indexOf(core), 1);
}

async function expectPaperbotError(promise: Promise<unknown>, code: string): Promise<PaperbotError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PaperbotError);
    expect((error as PaperbotError).code).toBe(code);
    return error as PaperbotError;
  }
  throw new Error(`expected a PaperbotError with code ${code}, but nothing was thrown`);
}

function readyVectorIndex(stats: Stats): Extract<Stats['vectorIndex'], { state: 'ready' }> {
  expect(stats.vectorIndex.state).toBe('ready');
  return stats.vectorIndex as Extract<Stats['vectorIndex'], { state: 'ready' }>;
}

/** A data directory whose first open (auto, local embedder at 256 dimensions) has finished. */
async function builtDataDir(): Promise<string> {
  const dataDir = tempDir();
  const { core } = await open(dataDir);
  close(core);
  return dataDir;
}

const NEW_PAPERS = [
  { id: '2409.00001', title: 'Zeolite Catalysts for Ammonia Synthesis', abstract: 'Zeolite frameworks loaded with ruthenium catalyse ammonia synthesis at low pressure, replacing the Haber-Bosch process.' },
  { id: '2409.00002', title: 'Forecasting Coral Reef Bleaching from Satellite Sea Temperatures', abstract: 'Satellite sea surface temperatures forecast coral bleaching events on reefs weeks ahead.' },
  { id: '2409.00003', title: 'Acoustic Monitoring of Beehive Health', abstract: 'Microphones inside beehives detect swarming and queen loss from the buzzing of the colony.' },
];

function writeJsonl(dir: string, name: string, records: readonly unknown[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
  return file;
}

describe('VectorIndexManager through the composition root', () => {
  it('first open: auto picks the local embedder (Ollama unreachable), says so, and indexes all 53 seed papers', async () => {
    const dataDir = tempDir();
    const { core, notices } = await open(dataDir);
    const building = notices.filter((n) => /Building the vector index/.test(n));
    expect(building).toHaveLength(1);
    expect(building[0]).toContain('for 53 papers with local-hashed-v1 (256 dimensions)');
    expect(building[0]).toMatch(/Ollama cannot embed/);
    expect(building[0]).toContain(DEAD_OLLAMA);

    const stats = await core.stats();
    expect(stats.papers).toBe(53);
    const vectors = readyVectorIndex(stats);
    expect(vectors).toMatchObject({ embedder: 'local-hashed-v1', dimension: 256, papers: 53, file: vectorIndexPath(dataDir), m: DEFAULTS.HNSW_M, efConstruction: DEFAULTS.HNSW_EF_CONSTRUCTION, efSearch: DEFAULTS.HNSW_EF_SEARCH });
    expect(vectors.bytes).toBe(statSync(vectorIndexPath(dataDir)).size);

    const meta = readVectorIndexMeta(vectorIndexPath(dataDir));
    expect(meta).toMatchObject({ embedderId: 'local-hashed-v1', dimension: 256, count: 53, storeGeneration: stats.storeGeneration });

    const result = await core.search('null-text inversion for editing a real image with guided diffusion', 5, 'vector');
    expect(result.mode).toBe('vector');
    expect(result.notices).toEqual([]);
    expect(result.hits[0]!.title).toBe(NULL_TEXT);
    expect(result.hits[0]!.vectorScore).toBeGreaterThan(0.3);
  });

  it('reopening loads the saved index without rebuilding it', async () => {
    const dataDir = await builtDataDir();
    const savedAt = readVectorIndexMeta(vectorIndexPath(dataDir))!.savedAt;
    const { core, notices } = await open(dataDir);
    expect(notices).toEqual([]);
    expect(readyVectorIndex(await core.stats())).toMatchObject({ embedder: 'local-hashed-v1', dimension: 256, papers: 53 });
    // Not rewritten: the sidecar is the one the first open saved.
    expect(readVectorIndexMeta(vectorIndexPath(dataDir))!.savedAt).toBe(savedAt);
    expect((await core.search('null-text inversion real image editing', 3, 'vector')).hits[0]!.title).toBe(NULL_TEXT);
  });

  it('ingest embeds the new papers, which vector search then finds; the index stays in step on reopen', async () => {
    const dataDir = await builtDataDir();
    const { core } = await open(dataDir);
    const report = await core.ingest([writeJsonl(tempDir(), 'new.jsonl', NEW_PAPERS)]);
    expect(report.totals.added).toBe(3);

    const stats = await core.stats();
    expect(stats.papers).toBe(56);
    expect(readyVectorIndex(stats).papers).toBe(56);
    const meta = readVectorIndexMeta(vectorIndexPath(dataDir))!;
    expect(meta.count).toBe(56);
    expect(meta.storeGeneration).toBe(stats.storeGeneration);

    const queries: Array<[string, string]> = [
      ['zeolite catalysis of ammonia', '2409.00001'],
      ['predicting coral bleaching with satellites', '2409.00002'],
      ['listening to beehives to detect swarming', '2409.00003'],
    ];
    for (const [query, id] of queries) {
      const result = await core.search(query, 5, 'vector');
      expect(result.mode).toBe('vector');
      expect(result.hits[0]?.paperId).toBe(id);
    }
    close(core);

    const reopened = await open(dataDir);
    expect(reopened.notices).toEqual([]);
    expect(readyVectorIndex(await reopened.core.stats()).papers).toBe(56);
    expect((await reopened.core.search('zeolite catalysis of ammonia', 5, 'vector')).hits[0]?.paperId).toBe('2409.00001');
  });

  it('papers ingested while vector search was off are embedded on the next open', async () => {
    const dataDir = await builtDataDir();
    const keywordOnly = await open(dataDir, { RETRIEVAL_MODE: 'keyword' });
    expect(keywordOnly.core.library.vectors).toBeNull();
    await keywordOnly.core.ingest([writeJsonl(tempDir(), 'new.jsonl', NEW_PAPERS)]);
    close(keywordOnly.core);
    expect(readVectorIndexMeta(vectorIndexPath(dataDir))!.count).toBe(53);

    const { core, notices } = await open(dataDir);
    expect(notices).toEqual([]);
    const stats = await core.stats();
    expect(readyVectorIndex(stats).papers).toBe(56);
    expect(readVectorIndexMeta(vectorIndexPath(dataDir))).toMatchObject({ count: 56, storeGeneration: stats.storeGeneration });
    expect((await core.search('predicting coral bleaching with satellites', 5, 'vector')).hits[0]?.paperId).toBe('2409.00002');
  });

  // Regression test: at f7e6379 a library opened empty (seed: false, as `scripts/eval.ts --beir`
  // does) kept vector state 'empty' through its ingest, because catchUp() only worked on a 'ready'
  // index, so vector and hybrid search fell back to keywords until the next open.
  it('a library opened empty builds its vector index when papers are first ingested', async () => {
    const { core } = await open(tempDir(), {}, { seed: false });
    await core.ingest([writeJsonl(tempDir(), 'new.jsonl', NEW_PAPERS)]);
    expect(readyVectorIndex(await core.stats())).toMatchObject({ embedder: 'local-hashed-v1', papers: 3 });
    const result = await core.search('zeolite catalysis of ammonia', 3, 'vector');
    expect(result.mode).toBe('vector');
    expect(result.hits[0]?.paperId).toBe('2409.00001');
  });

  it('an updated paper gets a new vector in place, not a second one', async () => {
    const dataDir = await builtDataDir();
    const { core } = await open(dataDir);
    const dir = tempDir();
    await core.ingest([writeJsonl(dir, 'a.jsonl', NEW_PAPERS)]);
    const changed = { ...NEW_PAPERS[0]!, title: 'Volcanic Ash Dispersion Models', abstract: 'Volcanic ash plumes are tracked with dispersion models for aviation safety.' };
    const report = await core.ingest([writeJsonl(dir, 'b.jsonl', [changed])]);
    expect(report.totals.updated).toBe(1);
    expect(readyVectorIndex(await core.stats()).papers).toBe(56);
    expect((await core.search('volcanic ash dispersion for aviation', 5, 'vector')).hits[0]?.paperId).toBe('2409.00001');
    const zeolite = await core.search('zeolite catalysis of ammonia', 5, 'vector');
    expect(zeolite.hits[0]?.paperId).not.toBe('2409.00001');
  });

  it('reopening with EMBEDDER=ollama is an embedder_mismatch naming paperbot index --rebuild', async () => {
    const dataDir = await builtDataDir();
    const error = await expectPaperbotError(open(dataDir, { EMBEDDER: 'ollama' }), 'embedder_mismatch');
    expect(error.message).toContain('paperbot index --rebuild');
    expect(error.message).toContain('local-hashed-v1');
    expect(error.message).toContain('ollama:nomic-embed-text');
    expect(error.message).toContain('EMBEDDER=auto');
    // Nothing was changed: the index still opens with auto.
    const { core, notices } = await open(dataDir);
    expect(notices).toEqual([]);
    expect(readyVectorIndex(await core.stats()).papers).toBe(53);
  });

  it('reopening with EMBEDDER=local at another LOCAL_EMBED_DIM is an embedder_mismatch too', async () => {
    const dataDir = await builtDataDir();
    const error = await expectPaperbotError(open(dataDir, { EMBEDDER: 'local', LOCAL_EMBED_DIM: '512' }), 'embedder_mismatch');
    expect(error.message).toContain('paperbot index --rebuild');
    expect(error.message).toContain('256');
    expect(error.message).toContain('512');
    // The same dimension matches.
    const { core, notices } = await open(dataDir, { EMBEDDER: 'local', LOCAL_EMBED_DIM: '256' });
    expect(notices).toEqual([]);
    expect(readyVectorIndex(await core.stats()).dimension).toBe(256);
  });

  it('EMBEDDER=auto keeps the recorded embedder and dimension, whatever LOCAL_EMBED_DIM says now', async () => {
    const dataDir = await builtDataDir();
    const { core, notices } = await open(dataDir, { EMBEDDER: 'auto', LOCAL_EMBED_DIM: '512' });
    expect(notices).toEqual([]);
    expect(readyVectorIndex(await core.stats())).toMatchObject({ embedder: 'local-hashed-v1', dimension: 256, papers: 53 });
    expect((await core.search('null-text inversion real image editing', 3, 'vector')).hits[0]!.title).toBe(NULL_TEXT);
    expect(readVectorIndexMeta(vectorIndexPath(dataDir))!.dimension).toBe(256);
  });

  it('index --rebuild fixes a mismatch: rebuilt at the new dimension, it then opens with EMBEDDER=local', async () => {
    const dataDir = await builtDataDir();
    const { core, notices } = await open(dataDir, { EMBEDDER: 'local', LOCAL_EMBED_DIM: '512' }, { rebuilding: true });
    expect(notices).toEqual([]);
    const stats = await core.rebuildIndexes('local');
    expect(readyVectorIndex(stats)).toMatchObject({ embedder: 'local-hashed-v1', dimension: 512, papers: 53 });
    expect(notices).toEqual([expect.stringMatching(/Building the vector index for 53 papers with local-hashed-v1 \(512 dimensions\) because EMBEDDER=local/)]);
    close(core);

    const reopened = await open(dataDir, { EMBEDDER: 'local', LOCAL_EMBED_DIM: '512' });
    expect(reopened.notices).toEqual([]);
    expect(readyVectorIndex(await reopened.core.stats()).dimension).toBe(512);
  });

  it('a missing int8 vector copy is rebuilt on open, with a notice, and hybrid search works again', async () => {
    const dataDir = await builtDataDir();
    rmSync(copyPath(vectorIndexPath(dataDir)));
    const { core, notices } = await open(dataDir);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/vector copy .* is unusable \(missing\)/);
    expect(existsSync(copyPath(vectorIndexPath(dataDir)))).toBe(true);
    const result = await core.search('text-guided diffusion real image editing', 5, 'hybrid');
    expect(result.mode).toBe('hybrid');
    expect(result.hits[0]!.title).toBe(NULL_TEXT);
    close(core);
  });

  it('a truncated vector index file is rebuilt on open, with a notice, and search still works', async () => {
    const dataDir = await builtDataDir();
    const file = vectorIndexPath(dataDir);
    const before = readVectorIndexMeta(file)!;
    truncateSync(file, Math.floor(statSync(file).size / 2));

    const { core, notices } = await open(dataDir);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain(file);
    expect(notices[0]).toMatch(/truncated or damaged/);
    expect(notices[0]).toMatch(/Rebuilding it with local-hashed-v1/);
    expect(readyVectorIndex(await core.stats())).toMatchObject({ embedder: 'local-hashed-v1', dimension: 256, papers: 53 });
    expect((await core.search('null-text inversion real image editing', 3, 'vector')).hits[0]!.title).toBe(NULL_TEXT);

    const after = readVectorIndexMeta(file)!;
    expect(after.fileBytes).toBe(statSync(file).size);
    expect(after.fileBytes).toBe(before.fileBytes);
    expect(after.savedAt >= before.savedAt).toBe(true);
    close(core);

    // The repaired index was saved: the next open is silent.
    const again = await open(dataDir);
    expect(again.notices).toEqual([]);
  });

  it('rebuildIndexes("local") replaces both indexes and says so', async () => {
    const dataDir = await builtDataDir();
    const { core, notices } = await open(dataDir);
    const before = readVectorIndexMeta(vectorIndexPath(dataDir))!;
    const stats = await core.rebuildIndexes('local');
    expect(readyVectorIndex(stats)).toMatchObject({ embedder: 'local-hashed-v1', dimension: 256, papers: 53 });
    expect(stats.keywordIndex).toMatchObject({ papers: 53, upToDate: true });
    expect(notices).toEqual([expect.stringMatching(/Building the vector index for 53 papers .* because EMBEDDER=local/)]);
    const after = readVectorIndexMeta(vectorIndexPath(dataDir))!;
    expect(after).toMatchObject({ embedderId: 'local-hashed-v1', count: 53, storeGeneration: stats.storeGeneration });
    expect(after.savedAt >= before.savedAt).toBe(true);
    expect((await core.search('null-text inversion real image editing', 3, 'vector')).hits[0]!.title).toBe(NULL_TEXT);
  });

  it('hybrid search fuses both rankings and reports each side\'s score', async () => {
    const { core } = await open(tempDir());
    const result = await core.search('text-guided diffusion real image editing', 5, 'hybrid');
    expect(result.mode).toBe('hybrid');
    expect(result.notices).toEqual([]);
    expect(result.hits).toHaveLength(5);
    expect(result.hits[0]!.title).toBe(NULL_TEXT);
    for (const hit of result.hits) expect(hit.keywordScore !== undefined || hit.vectorScore !== undefined).toBe(true);
    expect(result.hits.some((h) => h.keywordScore !== undefined && h.vectorScore !== undefined)).toBe(true);
    // Fused RRF scores are small (≤ Σ weights / (k + 1)) and best first.
    const bound = (DEFAULTS.RRF_KEYWORD_WEIGHT + DEFAULTS.RRF_VECTOR_WEIGHT) / (DEFAULTS.RRF_K + 1);
    for (const hit of result.hits) expect(hit.score).toBeLessThanOrEqual(bound + 1e-3);
    for (let i = 1; i < result.hits.length; i++) expect(result.hits[i - 1]!.score).toBeGreaterThanOrEqual(result.hits[i]!.score);
  });
});

describe('Retriever falls back to keyword search when vectors are unavailable', () => {
  it('without a vector index manager, hybrid becomes keyword with a notice', async () => {
    const { core } = await open(tempDir(), { RETRIEVAL_MODE: 'keyword' });
    expect(core.library.vectors).toBeNull();
    const retriever = new Retriever(core.library.store, core.library.keywordIndex, null, DEFAULT_BAND_THRESHOLDS, FUSION);
    const retrieval = await retriever.retrieve('text-guided diffusion real image editing', 5, 'hybrid');
    expect(retrieval.mode).toBe('keyword');
    expect(retrieval.notices).toHaveLength(1);
    expect(retrieval.notices[0]).toMatch(/Vector search unavailable.*keyword search only/);
    expect(retrieval.hits[0]!.paper.title).toBe(NULL_TEXT);
    for (const hit of retrieval.hits) {
      expect(hit.keywordScore).toBeGreaterThan(0);
      expect(hit.vectorScore).toBeUndefined();
      expect(hit.score).toBe(hit.keywordScore);
    }
    const keyword = await retriever.retrieve('text-guided diffusion real image editing', 5, 'keyword');
    expect(retrieval.hits.map((h) => h.paper.id)).toEqual(keyword.hits.map((h) => h.paper.id));
    expect(keyword.notices).toEqual([]);
    // Vector mode falls back the same way.
    expect((await retriever.retrieve('diffusion image editing', 5, 'vector')).mode).toBe('keyword');
  });

  it('with an index built by an embedder this paperbot lacks, auto opens keyword-only and says why', async () => {
    const dataDir = await builtDataDir();
    const sidecar = metaPath(vectorIndexPath(dataDir));
    const meta = JSON.parse(readFileSync(sidecar, 'utf8')) as Record<string, unknown>;
    writeFileSync(sidecar, JSON.stringify({ ...meta, embedderId: 'local-hashed-v0' }));

    const { core, notices } = await open(dataDir);
    expect(notices).toEqual([expect.stringMatching(/^Using keyword search only: the vector index was built with local-hashed-v0, which is unavailable/)]);
    const stats = await core.stats();
    expect(stats.vectorIndex.state).toBe('unavailable');
    const result = await core.search('text-guided diffusion real image editing', 5, 'hybrid');
    expect(result.mode).toBe('keyword');
    expect(result.notices).toEqual([expect.stringMatching(/Vector search unavailable .*local-hashed-v0.*; using keyword search only\./)]);
    expect(result.hits[0]!.title).toBe(NULL_TEXT);
  });

  it('with an empty library (no vector index yet), hybrid falls back to keyword with a notice', async () => {
    const { core, notices } = await open(tempDir(), {}, { seed: false });
    expect(notices).toEqual([]);
    expect((await core.stats()).vectorIndex.state).toBe('empty');
    const result = await core.search('graph neural networks', 5, 'hybrid');
    expect(result.mode).toBe('keyword');
    expect(result.hits).toEqual([]);
    expect(result.notices).toEqual([expect.stringMatching(/no vector index yet/)]);
  });
});

describe('a store from before the vector index', () => {
  it('embeds every paper when its vector index is first built, including rows whose change generation is 0', async () => {
    const dataDir = tempDir();
    // Build a keyword-only library, then zero the change generations, as a database migrated
    // from the first release has them.
    const keywordOnly = await createPaperbot(loadConfig({ PAPERBOT_DATA_DIR: dataDir, RETRIEVAL_MODE: 'keyword', OLLAMA_HOST: 'http://127.0.0.1:47' }), { logger: createLogger('silent') });
    keywordOnly.close();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path.join(dataDir, 'papers.sqlite'));
    db.exec('UPDATE papers SET changed_generation = 0');
    db.close();

    const core = await createPaperbot(loadConfig({ PAPERBOT_DATA_DIR: dataDir, EMBEDDER: 'local', LOCAL_EMBED_DIM: '256', OLLAMA_HOST: 'http://127.0.0.1:47' }), { logger: createLogger('silent') });
    try {
      const stats = await core.stats();
      expect(stats.vectorIndex.state).toBe('ready');
      expect(stats.vectorIndex.state === 'ready' && stats.vectorIndex.papers).toBe(53);
    } finally {
      core.close();
    }
  });
});
