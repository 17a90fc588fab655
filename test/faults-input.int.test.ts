/**
 * Issue 11, bad input: each case was tried on main as a user would, and failed. One test per row,
 * through the real CLI (test/helpers/cli.ts) on a copy of one seeded data directory.
 * Row 5: a file that is no paper corpus; row 6: a truncated gzip among other files; row 7 (ingest
 * half): size limits; row 9: questions and papers with invisible or fullwidth characters.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCliAsync, type CliResult } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';

interface FileReport {
  file: string;
  format: string;
  added: number;
  updated: number;
  unchanged: number;
  rejected: { line: number; reason: string }[];
}
interface IngestJson {
  files: FileReport[];
  totals: { added: number; updated: number; unchanged: number; rejected: number };
  papers: number;
}

const SEED_PAPERS = 53;
let seeded = '';
const dirs: string[] = [];

beforeAll(async () => {
  seeded = mkdtempSync(path.join(os.tmpdir(), 'paperbot-faults-input-'));
  dirs.push(seeded);
  const result = await runCliAsync(['stats', '--json'], { PAPERBOT_DATA_DIR: seeded });
  expect(result.status, result.stderr).toBe(0);
}, 60_000);

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh copy of the seeded data directory: each row starts from the shipped corpus alone. */
function dataDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paperbot-faults-input-'));
  dirs.push(dir);
  cpSync(seeded, dir, { recursive: true });
  return dir;
}

function json<T>(result: CliResult): T {
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

const byName = (report: IngestJson, name: string): FileReport => {
  const found = report.files.find((file) => path.basename(file.file) === name);
  if (!found) throw new Error(`no report for ${name}: ${report.files.map((f) => f.file).join(', ')}`);
  return found;
};

const abstract = (topic: string) => `We introduce ${topic}, a method that is fast and accurate on large benchmarks, and we release code and data for it.`;

describe('issue 11, bad input', () => {
  it('row 5: a README, a CSV, source code and a log are each rejected as a whole, adding nothing; an empty title or abstract is never stored', async () => {
    const dir = tempDir();
    const csv = path.join(dir, 'papers.csv');
    writeFileSync(csv, ['id,title,abstract', ...Array.from({ length: 20 }, (_, i) => `${i},Paper ${i} on graphs,"${abstract(`graph method ${i}`)}"`)].join('\n'));
    const source = path.join(dir, 'library.ts');
    writeFileSync(source, readFileSync(path.join(ROOT, 'src/rag/library.ts')));
    const log = path.join(dir, 'bot.log');
    writeFileSync(log, Array.from({ length: 40 }, (_, i) => `2026-12-03T14:00:${String(i).padStart(2, '0')}.000Z INFO request ${i} handled in 12 ms by worker ${i % 4} of the server, which returned status 200 to the client.`).join('\n'));
    const empties = path.join(dir, 'empties.jsonl');
    writeFileSync(
      empties,
      [
        JSON.stringify({ id: 'e1', title: '---', abstract: abstract('dashes') }),
        JSON.stringify({ id: 'e2', title: 'A table separator as abstract', abstract: '|---|---|---|' }),
        JSON.stringify({ id: 'e3', title: '\u200b\u00ad', abstract: abstract('invisible titles') }),
        JSON.stringify({ id: 'e4', title: 'Grebnitz Sampling for Sparse Models', abstract: abstract('grebnitz sampling') }),
      ].join('\n'),
    );
    const data = dataDir();
    const readme = path.join(ROOT, 'README.md');
    const result = await runCliAsync(['ingest', '--json', readme, csv, source, log, empties], { PAPERBOT_DATA_DIR: data });
    const report = json<IngestJson>(result);
    for (const name of ['README.md', 'papers.csv', 'library.ts', 'bot.log']) {
      const file = byName(report, name);
      expect(file, name).toMatchObject({ format: 'unknown', added: 0, updated: 0, unchanged: 0 });
      expect(file.rejected, name).toEqual([{ line: 1, reason: expect.stringMatching(/^not a paper corpus: .+; force a format with --format$/) }]);
    }
    expect(byName(report, 'README.md').rejected[0]!.reason).toMatch(/markdown/);
    expect(byName(report, 'papers.csv').rejected[0]!.reason).toMatch(/CSV/);
    expect(byName(report, 'library.ts').rejected[0]!.reason).toMatch(/source code/);
    expect(byName(report, 'bot.log').rejected[0]!.reason).toMatch(/a log/);
    expect(byName(report, 'empties.jsonl')).toMatchObject({
      added: 1,
      rejected: [
        { line: 1, reason: 'empty title (no letters or digits)' },
        { line: 2, reason: 'empty abstract (no letters or digits)' },
        { line: 3, reason: 'empty title (no letters or digits)' },
      ],
    });
    expect(report.papers).toBe(SEED_PAPERS + 1);

    // The text report says it in one line, and --format forces the format past the whole-file check.
    const text = await runCliAsync(['ingest', readme], { PAPERBOT_DATA_DIR: data });
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/README\.md \(unknown\): 0 added, 0 updated, 0 unchanged, 1 rejected\n {2}line 1: not a paper corpus: \d+ of the first 100 lines look like markdown, not paper titles and abstracts; force a format with --format\n/);
    const forced = json<IngestJson>(await runCliAsync(['ingest', '--json', '--format', 'papers-page', readme], { PAPERBOT_DATA_DIR: data }));
    expect(forced.files[0]!.format).toBe('papers-page');
    expect(forced.totals.added).toBeGreaterThan(0);
  }, 60_000);

  it('row 6: a truncated .jsonl.gz keeps and counts the records before the damage, is rejected at the damaged line, and the other files are ingested', async () => {
    const dir = tempDir();
    const before = path.join(dir, 'a-before.jsonl');
    writeFileSync(before, `${JSON.stringify({ id: 'b1', title: 'Quuxotic Before File', abstract: abstract('quuxotic ranking') })}\n`);
    const records = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ _id: `cut-${i}`, title: `Truncated corpus paper ${i}`, text: abstract(`widget family ${i}`) }));
    const whole = gzipSync(`${records.join('\n')}\n`);
    const cut = path.join(dir, 'b-cut.jsonl.gz');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    const after = path.join(dir, 'c-after.jsonl');
    writeFileSync(after, `${JSON.stringify({ id: 'a1', title: 'Zyzzyva After File', abstract: abstract('zyzzyva attention') })}\n`);

    const data = dataDir();
    const report = json<IngestJson>(await runCliAsync(['ingest', '--json', before, cut, after], { PAPERBOT_DATA_DIR: data }));
    const damaged = byName(report, 'b-cut.jsonl.gz');
    expect(damaged.added).toBeGreaterThan(100);
    expect(damaged.added).toBeLessThan(2000);
    expect(damaged.rejected).toEqual([{ line: damaged.added + 1, reason: expect.stringMatching(/^damaged file: the compressed data ends or breaks here \(unexpected end of file\); lines 1-\d+ were read, nothing after them/) }]);
    expect(byName(report, 'a-before.jsonl').added).toBe(1);
    expect(byName(report, 'c-after.jsonl').added).toBe(1);
    expect(report.papers).toBe(SEED_PAPERS + 2 + damaged.added);

    const search = await runCliAsync(['search', '--json', 'zyzzyva'], { PAPERBOT_DATA_DIR: data });
    expect(json<{ hits: { title: string }[] }>(search).hits[0]?.title).toBe('Zyzzyva After File');
  }, 60_000);

  it('row 7: a line over MAX_RECORD_BYTES, a title over 1,000 characters and an abstract over MAX_ABSTRACT_CHARS are rejected by line number and reason; the rest is stored', async () => {
    const file = path.join(tempDir(), 'sizes.jsonl');
    const huge = JSON.stringify({ id: 's1', title: 'A Huge Abstract', abstract: 'word '.repeat(400_000) });
    writeFileSync(
      file,
      [
        huge,
        JSON.stringify({ id: 's2', title: 'T'.repeat(1001), abstract: abstract('long titles') }),
        JSON.stringify({ id: 's3', title: 'A Long Abstract', abstract: `${'long '.repeat(1200)}end.` }),
        JSON.stringify({ id: 's4', title: 'Plonkish Sizes Within Limits', abstract: abstract('plonkish sizing') }),
      ].join('\n'),
    );
    const data = dataDir();
    // MAX_ABSTRACT_CHARS lowered to 5,000 to show the setting is read; the line limit is the 1 MB default.
    const report = json<IngestJson>(await runCliAsync(['ingest', '--json', file], { PAPERBOT_DATA_DIR: data, MAX_ABSTRACT_CHARS: '5000' }));
    expect(report.files[0]).toMatchObject({
      added: 1,
      rejected: [
        { line: 1, reason: `line is ${huge.length} bytes, over MAX_RECORD_BYTES (1048576); it was skipped unread` },
        { line: 2, reason: 'title is 1001 characters, over the limit of 1000' },
        { line: 3, reason: 'abstract is 6004 characters, over MAX_ABSTRACT_CHARS (5000)' },
      ],
    });
    const smaller = json<IngestJson>(await runCliAsync(['ingest', '--json', file], { PAPERBOT_DATA_DIR: data, MAX_RECORD_BYTES: '4096' }));
    expect(smaller.files[0]!.rejected[0]).toEqual({ line: 1, reason: `line is ${huge.length} bytes, over MAX_RECORD_BYTES (4096); it was skipped unread` });
    expect(smaller.files[0]!.unchanged).toBe(1);
  }, 60_000);

  it('row 9: a question with zero-width characters, soft hyphens, bidi controls or fullwidth letters gets the same sources as the plain one; ingested text matches too and is stored as given', async () => {
    const data = dataDir();
    const plain = 'How does null-text inversion edit real images?';
    const tricked = [
      'How does null\u00ad-text in\u200bver\u200dsion edit re\u2060al images?',
      '\u202eHow does\u202c null-text \u2066inversion\u2069 edit real\ufeff images?',
      'Ｈｏｗ ｄｏｅｓ ｎｕｌｌ-ｔｅｘｔ ｉｎｖｅｒｓｉｏｎ ｅｄｉｔ ｒｅａｌ ｉｍａｇｅｓ？',
    ];
    type AskJson = { refusal: unknown; sources: { paperId: string; score: number }[] };
    const answers = await Promise.all([plain, ...tricked].map(async (question) => json<AskJson>(await runCliAsync(['ask', '--json', question], { PAPERBOT_DATA_DIR: data }))));
    const [expected, ...others] = answers.map((answer) => ({ refusal: answer.refusal, sources: answer.sources.map((s) => [s.paperId, s.score]) }));
    expect(expected!.refusal).toBeNull();
    expect(expected!.sources.length).toBeGreaterThan(0);
    for (const [i, other] of others.entries()) expect(other, tricked[i]).toEqual(expected);

    const file = path.join(tempDir(), 'tricked.jsonl');
    const title = 'Flib\u200bbertigibbet Ｒｏｕｔｉｎｇ for Sparse Experts';
    writeFileSync(file, `${JSON.stringify({ id: 'u1', title, abstract: `We route tokens with flibberti\u00adgibbet gates. ${abstract('routing')}` })}\n`);
    expect(json<IngestJson>(await runCliAsync(['ingest', '--json', file], { PAPERBOT_DATA_DIR: data })).totals.added).toBe(1);
    const search = json<{ hits: { paperId: string; title: string }[] }>(await runCliAsync(['search', '--json', 'flibbertigibbet routing'], { PAPERBOT_DATA_DIR: data }));
    expect(search.hits[0]?.title).toBe(title);
    const paper = json<{ title: string; abstract: string }>(await runCliAsync(['paper', '--json', search.hits[0]!.paperId], { PAPERBOT_DATA_DIR: data }));
    expect(paper.title).toBe(title);
    expect(paper.abstract).toContain('flibberti\u00adgibbet');
  }, 60_000);
});
