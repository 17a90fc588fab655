import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { PaperbotError } from '../src/errors.ts';
import { dataFiles, openPaperbot } from '../src/composition-root.ts';
import { loadConfig, SHIPPED_CORPUS_DIR } from '../src/config.ts';
import type { PaperLibrary } from '../src/rag/library.ts';
import { openSqliteDatabase } from '../src/adapters/sqlite/sqlite-database.ts';
import { titleHashId } from '../src/rag/paper.ts';
import { SqlitePaperStore } from '../src/adapters/sqlite/sqlite-paper-store.ts';
import { queryTerms } from '../src/rag/text.ts';
import { tempDir } from './helpers/temp.ts';

const SEED_DIR = path.resolve(import.meta.dirname, '../data/corpus');
const BM25 = { k1: 1.2, b: 0.75, titleWeight: 3 };

const opened: PaperLibrary[] = [];
afterEach(() => {
  while (opened.length) opened.pop()!.close();
});

/** A keyword-only library on the real adapters, built by the composition root. */
async function openLibrary(dataDir: string, extra: { shippedCorpusDir?: string; notify?: (message: string) => void } = {}): Promise<PaperLibrary> {
  const config = loadConfig({ PAPERBOT_DATA_DIR: dataDir, RETRIEVAL_MODE: 'keyword', BM25_K1: String(BM25.k1), BM25_B: String(BM25.b), BM25_TITLE_WEIGHT: String(BM25.titleWeight), LOG_LEVEL: 'silent' });
  if (extra.shippedCorpusDir !== undefined) expect(path.resolve(extra.shippedCorpusDir)).toBe(SHIPPED_CORPUS_DIR);
  const { library } = await openPaperbot(config, { seed: extra.shippedCorpusDir !== undefined, ...(extra.notify ? { notify: extra.notify } : {}) });
  opened.push(library);
  return library;
}

const keywordIndexPath = (dataDir: string) => dataFiles(dataDir).keywordIndex;

function closeLibrary(library: PaperLibrary): void {
  library.close();
  opened.splice(opened.indexOf(library), 1);
}

function writeJsonl(dir: string, name: string, records: readonly unknown[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, `${records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n')}\n`);
  return file;
}

/** Row ids of the papers the keyword index finds for a query, best first. */
function searchIds(library: PaperLibrary, query: string, k = 5): string[] {
  const hits = library.keywordIndex.search(queryTerms(query), k);
  return library.store.getByRowIds(hits.map((h) => h.rowId)).map((p) => p.id);
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

const RECORDS = [
  { id: '2301.00001v1', title: 'Diffusion Models for Image Editing', abstract: 'We edit real images with text-guided diffusion models and null-text inversion.' },
  { id: '2301.00002', title: 'Graph Neural Networks at Scale', abstract: 'We train graph neural networks on billions of edges with sampling.' },
  { title: 'A Paper Without Any Identifier', abstract: 'Some abstracts come without ids; they are identified by their title.' },
];

describe('PaperLibrary ingest', () => {
  it('counts added papers, reports per file, and makes them searchable', async () => {
    const dir = tempDir();
    const library = await openLibrary(path.join(dir, 'data'));
    const file = writeJsonl(dir, 'papers.jsonl', RECORDS);
    const report = await library.ingest([file]);
    expect(report.totals).toEqual({ added: 3, updated: 0, unchanged: 0, rejected: 0 });
    expect(report.papers).toBe(3);
    expect(report.files).toHaveLength(1);
    expect(report.files[0]).toMatchObject({ file, format: 'jsonl', added: 3, updated: 0, unchanged: 0, rejected: [] });
    expect(library.store.count()).toBe(3);
    expect(searchIds(library, 'graph neural networks')[0]).toBe('2301.00002');
  });

  it('re-ingesting the same file changes nothing', async () => {
    const dir = tempDir();
    const library = await openLibrary(path.join(dir, 'data'));
    const file = writeJsonl(dir, 'papers.jsonl', RECORDS);
    await library.ingest([file]);
    const generation = library.store.generation();
    const indexBytes = readFileSync(keywordIndexPath(library.dataDir));
    const before = [...library.store.iterate()];

    const again = await library.ingest([file]);
    expect(again.totals).toEqual({ added: 0, updated: 0, unchanged: 3, rejected: 0 });
    expect(library.store.generation()).toBe(generation);
    expect(library.store.count()).toBe(3);
    expect([...library.store.iterate()]).toEqual(before);
    expect(readFileSync(keywordIndexPath(library.dataDir)).equals(indexBytes)).toBe(true);
  });

  it('counts updated papers when their content changes', async () => {
    const dir = tempDir();
    const library = await openLibrary(path.join(dir, 'data'));
    await library.ingest([writeJsonl(dir, 'a.jsonl', RECORDS)]);
    const changed = { ...RECORDS[1], abstract: 'A rewritten abstract about hypergraph transformers.' };
    const report = await library.ingest([writeJsonl(dir, 'b.jsonl', [RECORDS[0], changed])]);
    expect(report.totals).toEqual({ added: 0, updated: 1, unchanged: 1, rejected: 0 });
    expect(library.store.getById('2301.00002')?.abstract).toBe('A rewritten abstract about hypergraph transformers.');
    // The keyword index follows the update: new words found, old ones gone.
    expect(searchIds(library, 'hypergraph transformers')).toEqual(['2301.00002']);
    expect(searchIds(library, 'billions edges sampling')).toEqual([]);
  });

  it('counts rejected records with their line numbers and reasons', async () => {
    const dir = tempDir();
    const library = await openLibrary(path.join(dir, 'data'));
    const file = writeJsonl(dir, 'papers.jsonl', [RECORDS[0], { title: 'No abstract here' }, 'not json at all', RECORDS[1]]);
    const report = await library.ingest([file]);
    expect(report.totals).toEqual({ added: 2, updated: 0, unchanged: 0, rejected: 2 });
    expect(report.files[0]!.rejected.map((r) => r.line)).toEqual([2, 3]);
    expect(report.files[0]!.rejected[0]!.reason).toMatch(/abstract/);
    expect(report.files[0]!.rejected[1]!.reason).toMatch(/JSON/);
  });

  it('a newer arXiv version updates the paper in place, keeping its row id and versionless id', async () => {
    const dir = tempDir();
    const library = await openLibrary(path.join(dir, 'data'));
    await library.ingest([writeJsonl(dir, 'v1.jsonl', [{ id: '2301.00001v1', title: 'Old Title', abstract: 'The first version of the abstract.' }])]);
    const v1 = library.store.getById('2301.00001');
    expect(v1?.version).toBe(1);

    const report = await library.ingest([writeJsonl(dir, 'v2.jsonl', [{ id: '2301.00001v2', title: 'New Title', abstract: 'The second version, now about quantum annealing.' }])]);
    expect(report.totals).toEqual({ added: 0, updated: 1, unchanged: 0, rejected: 0 });
    expect(library.store.count()).toBe(1);
    const v2 = library.store.getById('2301.00001');
    expect(v2).toMatchObject({ rowId: v1!.rowId, id: '2301.00001', version: 2, title: 'New Title', source: 'v2.jsonl' });
    expect(library.store.getById('2301.00001v2')).toBeUndefined();
    expect(searchIds(library, 'quantum annealing')).toEqual(['2301.00001']);
    expect(library.keywordIndex.size).toBe(1);
  });

  it('an older arXiv version after a newer one leaves the paper unchanged', async () => {
    const dir = tempDir();
    const library = await openLibrary(path.join(dir, 'data'));
    await library.ingest([writeJsonl(dir, 'v2.jsonl', [{ id: '2301.00001v2', title: 'New Title', abstract: 'The second version.' }])]);
    const generation = library.store.generation();
    const report = await library.ingest([writeJsonl(dir, 'v1.jsonl', [{ id: '2301.00001v1', title: 'Old Title', abstract: 'The first version.' }])]);
    expect(report.totals).toEqual({ added: 0, updated: 0, unchanged: 1, rejected: 0 });
    expect(library.store.getById('2301.00001')).toMatchObject({ version: 2, title: 'New Title', abstract: 'The second version.' });
    expect(library.store.generation()).toBe(generation);
  });

  it('gives ids: BEIR _id kept, arXiv ids without version, otherwise a title hash shared by equal titles', async () => {
    const dir = tempDir();
    const library = await openLibrary(path.join(dir, 'data'));
    const beir = writeJsonl(dir, 'corpus.jsonl', [{ _id: 'doc-4983', title: 'A BEIR Document', text: 'Some BEIR text.' }]);
    const jsonl = writeJsonl(dir, 'papers.jsonl', [
      { id: 'arXiv:2211.09794v3', title: 'Null-text Inversion', abstract: 'Inversion of real images.' },
      { url: 'https://arxiv.org/abs/2303.07345v1', title: 'From A URL', abstract: 'The id comes from the URL.' },
      { title: 'Same Title, Different Spelling', abstract: 'First spelling.' },
    ]);
    await library.ingest([beir, jsonl]);
    expect(library.store.getById('doc-4983')?.title).toBe('A BEIR Document');
    expect(library.store.getById('2211.09794')).toMatchObject({ title: 'Null-text Inversion', version: 3 });
    expect(library.store.getById('2303.07345')?.title).toBe('From A URL');

    const hashId = titleHashId('Same Title, Different Spelling');
    expect(hashId).toMatch(/^t-[0-9a-f]{10}$/);
    expect(library.store.getById(hashId)?.abstract).toBe('First spelling.');

    // The same title, spelt differently, is the same paper: updated, not added.
    const report = await library.ingest([writeJsonl(dir, 'again.jsonl', [{ title: '  same title -- different SPELLING ', abstract: 'Second spelling.' }])]);
    expect(report.totals).toEqual({ added: 0, updated: 1, unchanged: 0, rejected: 0 });
    expect(library.store.count()).toBe(4);
    expect(library.store.getById(hashId)?.abstract).toBe('Second spelling.');
  });

  it('a bad record in the middle of a batch loses nothing before or after it', async () => {
    const dir = tempDir();
    const library = await openLibrary(path.join(dir, 'data'));
    const good = Array.from({ length: 10 }, (_, i) => ({ id: `p${i}`, title: `Paper number ${i}`, abstract: `Abstract of paper ${i} about topic${i}.` }));
    const lines: unknown[] = [...good.slice(0, 5), '{"id": "broken", "title": ', { id: 'no-abstract', title: 'Nothing' }, ...good.slice(5)];
    const report = await library.ingest([writeJsonl(dir, 'batch.jsonl', lines)]);
    expect(report.totals).toEqual({ added: 10, updated: 0, unchanged: 0, rejected: 2 });
    expect(report.files[0]!.rejected.map((r) => r.line)).toEqual([6, 7]);
    for (let i = 0; i < 10; i++) expect(library.store.getById(`p${i}`)?.title).toBe(`Paper number ${i}`);
    expect(library.store.getById('broken')).toBeUndefined();
    expect(searchIds(library, 'topic0')).toEqual(['p0']);
    expect(searchIds(library, 'topic9')).toEqual(['p9']);
  });

  it('ingests every non-hidden file of a directory, recursively', async () => {
    const dir = tempDir();
    const library = await openLibrary(path.join(dir, 'data'));
    const corpus = tempDir();
    writeJsonl(corpus, 'a.jsonl', [RECORDS[0]]);
    writeJsonl(corpus, '.hidden.jsonl', [RECORDS[1]]);
    mkdirSync(path.join(corpus, 'sub'));
    writeJsonl(path.join(corpus, 'sub'), 'b.jsonl', [RECORDS[2]]);
    const report = await library.ingest([corpus]);
    expect(report.files.map((f) => path.relative(corpus, f.file))).toEqual(['a.jsonl', path.join('sub', 'b.jsonl')]);
    expect(report.totals.added).toBe(2);
  });

  it('reports a binary file as one rejection, and an empty file with format unknown', async () => {
    const dir = tempDir();
    const library = await openLibrary(path.join(dir, 'data'));
    const binary = path.join(dir, 'a-image.png');
    writeFileSync(binary, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x00, 0x0a, 0x00, 0x01, 0x0a, 0x00]));
    const empty = path.join(dir, 'b-empty.txt');
    writeFileSync(empty, '');
    const report = await library.ingest([binary, empty]);
    expect(report.totals).toEqual({ added: 0, updated: 0, unchanged: 0, rejected: 1 });
    expect(report.files[0]!.rejected).toEqual([{ line: 1, reason: expect.stringMatching(/binary/) }]);
    expect(report.files[1]).toMatchObject({ file: empty, format: 'unknown', added: 0, rejected: [] });
    expect(report.papers).toBe(0);
  });

  it('a missing path is a not_found error, and nothing is ingested', async () => {
    const dir = tempDir();
    const library = await openLibrary(path.join(dir, 'data'));
    const good = writeJsonl(dir, 'good.jsonl', RECORDS);
    const missing = path.join(dir, 'does-not-exist.jsonl');
    const error = await expectPaperbotError(library.ingest([good, missing]), 'not_found');
    expect(error.message).toContain(missing);
    expect(library.store.count()).toBe(0);
  });
});

describe('PaperLibrary ingest failures', () => {
  function truncatedGzip(dir: string, count: number): string {
    const lines = Array.from({ length: count }, (_, i) => JSON.stringify({ id: `gz${i}`, title: `Compressed paper ${i}`, abstract: `Abstract ${i} about lighthouses.` }));
    const gz = gzipSync(`${lines.join('\n')}\n`);
    const file = path.join(dir, 'damaged.jsonl.gz');
    writeFileSync(file, gz.subarray(0, gz.length - 6)); // the gzip trailer is cut off
    return file;
  }

  it('a damaged gzip file is rejected at the damaged line, and the files around it are ingested and searchable (issue 11 row 6)', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir, 'data');
    const library = await openLibrary(dataDir);
    const good = writeJsonl(dir, 'a-good.jsonl', RECORDS);
    const damaged = truncatedGzip(dir, 5);
    const after = writeJsonl(dir, 'z-after.jsonl', [{ id: 'after-1', title: 'Lanterns after the damage', abstract: 'Lanterns on a file read after the damaged one.' }]);
    const report = await library.ingest([good, damaged, after]);
    const [, cut, last] = report.files;
    expect(cut).toMatchObject({ file: damaged, added: 5, rejected: [{ line: 6, reason: expect.stringMatching(/^damaged file/) }] });
    expect(last).toMatchObject({ added: 1, rejected: [] });
    expect(library.store.getById('2301.00002')).toBeDefined();
    expect(searchIds(library, 'graph neural networks')[0]).toBe('2301.00002');
    closeLibrary(library);
    // The keyword index was saved in step with what was committed.
    const notices: string[] = [];
    const reopened = await openLibrary(dataDir, { notify: (m) => notices.push(m) });
    expect(notices).toEqual([]);
    expect(searchIds(reopened, 'graph neural networks')[0]).toBe('2301.00002');
    expect(searchIds(reopened, 'lanterns')).toEqual(['after-1']);
  });

  it('keeps the papers read from a file before it turned out to be damaged', async () => {
    const dir = tempDir();
    const library = await openLibrary(path.join(dir, 'data'));
    const damaged = truncatedGzip(dir, 20);
    const report = await library.ingest([damaged]);
    expect(report.totals).toEqual({ added: 20, updated: 0, unchanged: 0, rejected: 1 });
    expect(library.store.count()).toBe(20);
    expect(library.store.getById('gz0')?.title).toBe('Compressed paper 0');
    expect(searchIds(library, 'lighthouses', 50)).toHaveLength(20);
  });

  it('a gzip file damaged from its first byte is an io error; the files before it stay ingested', async () => {
    const dir = tempDir();
    const library = await openLibrary(path.join(dir, 'data'));
    const good = writeJsonl(dir, 'a-good.jsonl', RECORDS);
    const garbage = path.join(dir, 'b-garbage.jsonl.gz');
    writeFileSync(garbage, Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03]), Buffer.from('not deflate data at all')]));
    const error = await expectPaperbotError(library.ingest([good, garbage]), 'io');
    expect(error.message).toContain(garbage);
    expect(error.message).toMatch(/damaged from the start/);
    expect(library.store.getById('2301.00002')).toBeDefined();
  });

  // Exposes a bug: a JSON Lines record whose numeric "published" is outside the Date range makes
  // parseJsonLine throw RangeError("Invalid time value") from inside the zod transform (`.catch`
  // does not catch thrown errors), which aborts the whole file instead of affecting one line.
  it('a record with an impossible numeric date does not stop the file', async () => {
    const dir = tempDir();
    const library = await openLibrary(path.join(dir, 'data'));
    const file = writeJsonl(dir, 'dates.jsonl', [
      { id: 'before', title: 'Before', abstract: 'The record before.' },
      { id: 'bad-date', title: 'Bad date', abstract: 'Published in the far future.', published: 1e20 },
      { id: 'after', title: 'After', abstract: 'The record after.' },
    ]);
    const report = await library.ingest([file]);
    expect(report.totals.added + report.totals.rejected).toBe(3);
    expect(library.store.getById('before')).toBeDefined();
    expect(library.store.getById('after')).toBeDefined();
  });
});

describe('PaperLibrary data directory', () => {
  it('creates a missing data directory', async () => {
    const dataDir = path.join(tempDir(), 'a', 'b', 'c');
    await openLibrary(dataDir);
    expect(statSync(dataDir).isDirectory()).toBe(true);
  });

  it('a data dir under a regular file is a data_dir error naming the path', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'file');
    writeFileSync(file, 'not a directory');
    const dataDir = path.join(file, 'sub');
    const error = await expectPaperbotError(openLibrary(dataDir), 'data_dir');
    expect(error.message).toContain(dataDir);
  });

  it('a data dir that is itself a regular file is a data_dir error', async () => {
    const file = path.join(tempDir(), 'file');
    writeFileSync(file, 'x');
    const error = await expectPaperbotError(openLibrary(file), 'data_dir');
    expect(error.message).toContain(file);
  });
});

describe('PaperLibrary seeding and reopening', () => {
  it('seeds an empty store from the shipped corpus once, and not again on reopen', async () => {
    const dataDir = tempDir();
    const notices: string[] = [];
    const first = await openLibrary(dataDir, { shippedCorpusDir: SEED_DIR, notify: (m) => notices.push(m) });
    expect(first.store.count()).toBe(53);
    expect(first.keywordIndex.size).toBe(53);
    expect(notices.some((n) => /First run/.test(n))).toBe(true);
    const generation = first.store.generation();
    expect(generation).toBeGreaterThan(0);
    closeLibrary(first);

    const laterNotices: string[] = [];
    const second = await openLibrary(dataDir, { shippedCorpusDir: SEED_DIR, notify: (m) => laterNotices.push(m) });
    expect(second.store.count()).toBe(53);
    expect(second.store.generation()).toBe(generation);
    expect(laterNotices).toEqual([]);
  });

  it('does not seed when no shipped corpus is given', async () => {
    const library = await openLibrary(tempDir());
    expect(library.store.count()).toBe(0);
    expect(library.keywordIndex.size).toBe(0);
  });

  it('reopening finds papers searchable, with the keyword index loaded from disk', async () => {
    const dataDir = tempDir();
    const corpus = tempDir();
    const first = await openLibrary(dataDir);
    await first.ingest([writeJsonl(corpus, 'papers.jsonl', RECORDS)]);
    const expected = searchIds(first, 'diffusion image editing');
    expect(expected[0]).toBe('2301.00001');
    closeLibrary(first);

    const notices: string[] = [];
    const second = await openLibrary(dataDir, { notify: (m) => notices.push(m) });
    expect(notices).toEqual([]); // no rebuild
    expect(second.keywordIndex.size).toBe(3);
    expect(searchIds(second, 'diffusion image editing')).toEqual(expected);
    expect(searchIds(second, 'graph neural networks')[0]).toBe('2301.00002');
  });
});

describe('PaperLibrary keyword index repair', () => {
  async function libraryWithIndex(): Promise<{ dataDir: string; expected: string[] }> {
    const dataDir = tempDir();
    const library = await openLibrary(dataDir, { shippedCorpusDir: SEED_DIR });
    const expected = searchIds(library, 'text-guided diffusion real image editing');
    expect(expected.length).toBeGreaterThan(0);
    closeLibrary(library);
    return { dataDir, expected };
  }

  it('rebuilds an index whose middle bytes were overwritten, with a notice', async () => {
    const { dataDir, expected } = await libraryWithIndex();
    const file = keywordIndexPath(dataDir);
    const size = statSync(file).size;
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(256, 0xa5), 0, 256, Math.floor(size / 2) - 128);
    closeSync(fd);

    const notices: string[] = [];
    const library = await openLibrary(dataDir, { shippedCorpusDir: SEED_DIR, notify: (m) => notices.push(m) });
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/Rebuilding the keyword index from 53 papers/);
    expect(library.keywordIndex.size).toBe(53);
    expect(searchIds(library, 'text-guided diffusion real image editing')).toEqual(expected);
    closeLibrary(library);

    // The rebuilt index was saved: the next open loads it silently.
    const quiet: string[] = [];
    await openLibrary(dataDir, { shippedCorpusDir: SEED_DIR, notify: (m) => quiet.push(m) });
    expect(quiet).toEqual([]);
  });

  it('rebuilds a truncated index, with a notice', async () => {
    const { dataDir, expected } = await libraryWithIndex();
    const file = keywordIndexPath(dataDir);
    truncateSync(file, Math.floor(statSync(file).size / 2));
    const notices: string[] = [];
    const library = await openLibrary(dataDir, { shippedCorpusDir: SEED_DIR, notify: (m) => notices.push(m) });
    expect(notices).toEqual([expect.stringMatching(/Rebuilding the keyword index/)]);
    expect(searchIds(library, 'text-guided diffusion real image editing')).toEqual(expected);
  });

  it('rebuilds a missing index', async () => {
    const { dataDir, expected } = await libraryWithIndex();
    rmSync(keywordIndexPath(dataDir));
    const notices: string[] = [];
    const library = await openLibrary(dataDir, { notify: (m) => notices.push(m) });
    expect(notices).toEqual([expect.stringMatching(/does not exist/)]);
    expect(searchIds(library, 'text-guided diffusion real image editing')).toEqual(expected);
  });

  it('catches up an index that is behind the store (another writer), without a rebuild', async () => {
    const dataDir = tempDir();
    const first = await openLibrary(dataDir);
    await first.ingest([writeJsonl(tempDir(), 'papers.jsonl', RECORDS)]);
    closeLibrary(first);

    // Another writer changes the store behind the index's back.
    const store = new SqlitePaperStore(openSqliteDatabase(path.join(dataDir, 'papers.sqlite')), () => new Date());
    const generationBefore = store.generation();
    store.upsert({ sourceId: '2302.99999', title: 'Written Behind The Index', abstract: 'Zeolite catalysis for ammonia synthesis.', authors: [], categories: [], metadata: {} }, 'other');
    expect(store.generation()).toBe(generationBefore + 1);
    store.close();

    const notices: string[] = [];
    const library = await openLibrary(dataDir, { notify: (m) => notices.push(m) });
    expect(notices).toEqual([]);
    expect(library.keywordIndex.size).toBe(4);
    expect(searchIds(library, 'zeolite catalysis')).toEqual(['2302.99999']);
  });
});
