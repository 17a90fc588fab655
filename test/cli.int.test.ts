/**
 * End-to-end tests of the paperbot CLI: each case runs the real CLI (its TypeScript source) as a
 * subprocess, against a temporary data directory, with no network (see helpers/cli.ts).
 * Subprocesses are slow, so read-only cases share one data directory seeded once in beforeAll.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCorpusFile } from '../src/rag/corpus/read-corpus-file.ts';
import { buildDist } from './helpers/build.ts';
import { ROOT, runCli, SEED_FILE, type CliResult } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';

const PHOTO_QUESTION = 'How can I edit a real photo with a text-guided diffusion model?';
const NULL_TEXT_TITLE = 'Null-text Inversion for Editing Real Images using Guided Diffusion Models';
// The unanswerable seed question (test/fixtures/seed-questions.jsonl, q49).
const OFF_TOPIC_QUESTION = 'What is a good recipe for sourdough bread with a long cold fermentation?';
const MIXED_JSONL = path.join(ROOT, 'test/fixtures/cli/mixed-papers.jsonl');
const PROGRESS_CHARS = /[█░]/;

async function seedTitles(): Promise<string[]> {
  const titles: string[] = [];
  for await (const parsed of readCorpusFile(SEED_FILE)) if (parsed.kind === 'paper') titles.push(parsed.record.title);
  return titles;
}

/** Every `[n]` marker in a piece of text, as numbers. */
function citationNumbers(text: string): number[] {
  return [...text.matchAll(/\[(\d+)\]/g)].map((match) => Number(match[1]));
}

/** Parses `  [n] Title (date · url)` source lines into n → the rest of the line. */
function sourceLines(lines: readonly string[]): Map<number, string> {
  const sources = new Map<number, string>();
  for (const line of lines) {
    const match = /^\s*\[(\d+)\] (.+)$/.exec(line);
    if (match) sources.set(Number(match[1]), match[2]!);
  }
  return sources;
}

/** True when a rendered source line (title plus optional " (details)") shows one of the titles. */
function showsOneOf(rest: string, titles: readonly string[]): boolean {
  return titles.some((title) => rest === title || rest.startsWith(`${title} (`));
}

function parseJson(result: CliResult): Record<string, unknown> {
  // The whole of stdout must be one JSON object: JSON.parse fails on anything before or after it.
  const value: unknown = JSON.parse(result.stdout);
  expect(value).toBeTypeOf('object');
  expect(Array.isArray(value)).toBe(false);
  return value as Record<string, unknown>;
}

let titles: string[] = [];
let sharedDir = '';
/** The first run against the shared data directory: it seeds the shipped corpus. */
let firstRun: CliResult;

beforeAll(async () => {
  titles = await seedTitles();
  sharedDir = mkdtempSync(path.join(os.tmpdir(), 'paperbot-cli-shared-'));
  firstRun = runCli(['ask', PHOTO_QUESTION], { PAPERBOT_DATA_DIR: sharedDir });
});

afterAll(() => {
  if (sharedDir) rmSync(sharedDir, { recursive: true, force: true });
});

const shared = (args: readonly string[], env: Record<string, string> = {}) => runCli(args, { PAPERBOT_DATA_DIR: sharedDir, ...env });

describe('paperbot ask', () => {
  it('answers the photo-editing question on a fresh data dir, citing seed papers, with Null-text Inversion first', () => {
    expect(titles).toHaveLength(53);
    expect(titles).toContain(NULL_TEXT_TITLE);
    expect(firstRun.status, firstRun.stderr).toBe(0);

    const { stdout } = firstRun;
    const lines = stdout.split('\n');
    const sourcesAt = lines.indexOf('Sources:');
    expect(sourcesAt, stdout).toBeGreaterThan(0);
    const answerPart = lines.slice(0, sourcesAt).join('\n');
    const sources = sourceLines(lines.slice(sourcesAt + 1));

    const cited = citationNumbers(answerPart);
    expect(cited.length, stdout).toBeGreaterThan(0);
    expect(lines[sourcesAt + 1]).toMatch(/^\s*\[1\] /);
    expect(sources.get(1)).toBeDefined();
    expect(showsOneOf(sources.get(1)!, [NULL_TEXT_TITLE]), lines[sourcesAt + 1]).toBe(true);
    for (const n of cited) {
      expect(sources.has(n), `[${n}] has no source line`).toBe(true);
      expect(showsOneOf(sources.get(n)!, titles), `[${n}] ${sources.get(n)} is not a seed title`).toBe(true);
    }
  });

  it('prints the first-run notice on stderr only, and draws no progress bar when stderr is not a terminal', () => {
    expect(firstRun.stderr).toMatch(/first run/i);
    expect(firstRun.stdout).not.toMatch(/first run/i);
    expect(firstRun.stdout).not.toContain('paperbot:');
    expect(firstRun.stderr).not.toMatch(PROGRESS_CHARS);
    expect(firstRun.stdout).not.toMatch(PROGRESS_CHARS);
  });

  it('PROGRESS=true forces the progress bar on even when stderr is not a terminal (README settings table)', () => {
    // Also the positive control for the check above: the bar's characters do reach a captured stderr.
    const result = runCli(['stats'], { PAPERBOT_DATA_DIR: tempDir(), PROGRESS: 'true' });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(PROGRESS_CHARS);
    expect(result.stdout).not.toMatch(PROGRESS_CHARS);
  });

  it('--json prints exactly one JSON answer whose [n] markers all name a source', () => {
    const result = shared(['ask', '--json', PHOTO_QUESTION]);
    expect(result.status, result.stderr).toBe(0);
    const answer = parseJson(result);

    expect(answer['mode']).toBe('extractive');
    expect(answer['refusal']).toBeNull();
    expect(answer['text']).toBeTypeOf('string');
    const text = answer['text'] as string;

    const sources = answer['sources'] as { n: number; paperId: string; title: string }[];
    expect(Array.isArray(sources)).toBe(true);
    expect(sources.length).toBeGreaterThan(0);
    expect(sources[0]!.title).toBe(NULL_TEXT_TITLE);
    const byN = new Map(sources.map((source) => [source.n, source]));

    const citations = answer['citations'] as { n: unknown; paperId: unknown; title: unknown }[];
    expect(citations.length).toBeGreaterThan(0);
    for (const citation of citations) {
      expect(citation.n).toBeTypeOf('number');
      expect(citation.paperId).toBeTypeOf('string');
      expect(citation.title).toBeTypeOf('string');
      expect(byN.get(citation.n as number)?.paperId).toBe(citation.paperId);
      expect(titles).toContain(citation.title);
    }

    const markers = citationNumbers(text);
    expect(markers.length).toBeGreaterThan(0);
    for (const n of markers) expect(byN.has(n), `[${n}] in text has no source`).toBe(true);

    const timings = answer['timings'] as Record<string, unknown>;
    for (const key of ['retrievalMs', 'answerMs', 'totalMs']) expect(timings[key]).toBeTypeOf('number');
  });

  it('keeps stdout pure with LOG_LEVEL=info: logs go to stderr, stdout is still one JSON object', () => {
    // A fresh data dir, so the seeding ingest logs at info level.
    const result = runCli(['ask', '--json', PHOTO_QUESTION], { PAPERBOT_DATA_DIR: tempDir(), LOG_LEVEL: 'info' });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain('"level":30');
    const answer = parseJson(result);
    expect(answer['mode']).toBe('extractive');
  });

  it('declines an off-topic question in plain words and lists the closest papers', () => {
    const result = shared(['ask', OFF_TOPIC_QUESTION]);
    expect(result.status, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^Nothing\b.*\./);
    expect(lines[0]).not.toMatch(/\[\d+\]/);
    expect(result.stdout).not.toContain('Sources:');
    const closestAt = lines.indexOf('Closest, probably not what you need:');
    expect(closestAt, result.stdout).toBeGreaterThan(0);
    const closest = sourceLines(lines.slice(closestAt + 1));
    expect(closest.size).toBeGreaterThan(0);
    for (const rest of closest.values()) expect(showsOneOf(rest, titles), rest).toBe(true);
  });
});

describe('exit codes and error messages', () => {
  it('exits 2 on an empty question', () => {
    const result = shared(['ask', '']);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/empty/i);
  });

  it('exits 2 on a question over the 2000-character default limit, naming the limit', () => {
    const question = 'word '.repeat(401).slice(0, 2001);
    expect(question.trim()).toHaveLength(2001);
    const result = shared(['ask', question]);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('2000');
  });

  it('honours MAX_QUESTION_CHARS: a 60-character question exits 2 with the limit 50', () => {
    const question = 'diffusion models for editing real images with text prompts';
    const padded = `${question}${'s'.repeat(60 - question.length)}`;
    expect(padded).toHaveLength(60);
    const result = shared(['ask', padded], { MAX_QUESTION_CHARS: '50' });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('50');
  });

  it('exits 2 on an unknown flag', () => {
    const result = shared(['ask', '--bogus', 'x']);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('--bogus');
  });

  it('exits 2 on invalid configuration and names every bad key', () => {
    const result = shared(['ask', PHOTO_QUESTION], { TOP_K: 'abc', EMBEDDER: 'nope' });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('TOP_K');
    expect(result.stderr).toContain('EMBEDDER');
  });

  it('exits 1 with a reason for an unknown paper id', () => {
    const result = shared(['paper', 'no-such-id']);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('no-such-id');
  });

  it('exits 1 when a file to ingest does not exist', () => {
    const result = shared(['ingest', '/no/such/file']);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('/no/such/file');
  });

  it('exits 1 naming the path when the data directory cannot be created', () => {
    const blocker = path.join(tempDir(), 'a-regular-file');
    writeFileSync(blocker, 'not a directory\n');
    const dataDir = path.join(blocker, 'sub');
    const result = runCli(['stats'], { PAPERBOT_DATA_DIR: dataDir });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(dataDir);
  });
});

describe('paperbot search and entry points', () => {
  it('search --json prints one JSON object with numbered, scored hits', () => {
    const result = shared(['search', 'diffusion', '--json']);
    expect(result.status, result.stderr).toBe(0);
    const output = parseJson(result);
    const hits = output['hits'] as { n: unknown; paperId: unknown; title: unknown; score: unknown }[];
    expect(hits.length).toBeGreaterThan(0);
    hits.forEach((hit, i) => {
      expect(hit.n).toBe(i + 1);
      expect(hit.paperId).toBeTypeOf('string');
      expect(titles).toContain(hit.title);
      expect(hit.score).toBeTypeOf('number');
    });
    expect(hits.some((hit) => /diffusion/i.test(hit.title as string))).toBe(true);
  });

  it('npm start -- <command> runs the same CLI as bin/paperbot.js, with nothing but JSON on stdout', () => {
    buildDist(); // npm start runs the compiled CLI in dist/
    const viaNpm = spawnSync('npm', ['start', '--', 'stats', '--json'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', OLLAMA_HOST: 'http://127.0.0.1:9', PAPERBOT_DATA_DIR: sharedDir },
      timeout: 60_000,
    });
    expect(viaNpm.status, viaNpm.stderr).toBe(0);
    const npmStats = JSON.parse(viaNpm.stdout) as Record<string, unknown>;

    const viaBin = shared(['stats', '--json']);
    expect(viaBin.status, viaBin.stderr).toBe(0);
    const binStats = parseJson(viaBin);

    expect(npmStats['papers']).toBe(53);
    expect(binStats['papers']).toBe(53);
    expect(npmStats['dataDir']).toBe(binStats['dataDir']);
    expect(npmStats['settings']).toEqual(binStats['settings']);
  });
});

describe('paperbot ingest', () => {
  let ingestDir = '';
  let firstIngest: CliResult;

  beforeAll(() => {
    ingestDir = mkdtempSync(path.join(os.tmpdir(), 'paperbot-cli-ingest-'));
    // The first run seeds the shipped corpus, then ingests the file.
    firstIngest = runCli(['ingest', MIXED_JSONL], { PAPERBOT_DATA_DIR: ingestDir });
  });

  afterAll(() => {
    if (ingestDir) rmSync(ingestDir, { recursive: true, force: true });
  });

  const inIngestDir = (args: readonly string[]) => runCli(args, { PAPERBOT_DATA_DIR: ingestDir });

  it('adds the good lines and reports each rejected line with its number', () => {
    expect(firstIngest.status, firstIngest.stderr).toBe(0);
    const { stdout } = firstIngest;
    expect(stdout).toMatch(/\b3 added\b/);
    expect(stdout).toMatch(/\b3 rejected\b/);
    expect(stdout).toMatch(/line 4: .*title/i);
    expect(stdout).toMatch(/line 5: .*abstract/i);
    expect(stdout).toMatch(/line 6: .*JSON/i);
    expect(stdout).not.toMatch(/line [123]:/);
  });

  it('re-ingesting the same file adds nothing; --json reports totals and per-file rejections', () => {
    const result = inIngestDir(['ingest', '--json', MIXED_JSONL]);
    expect(result.status, result.stderr).toBe(0);
    const report = parseJson(result);
    expect(report['totals']).toEqual({ added: 0, updated: 0, unchanged: 3, rejected: 3 });
    const files = report['files'] as { rejected: { line: unknown; reason: unknown }[] }[];
    expect(files).toHaveLength(1);
    expect(files[0]!.rejected.map((r) => r.line)).toEqual([4, 5, 6]);
    for (const rejected of files[0]!.rejected) {
      expect(rejected.reason).toBeTypeOf('string');
      expect((rejected.reason as string).length).toBeGreaterThan(0);
    }
    expect(report['papers']).toBe(56);
  });

  it('reports a binary file as rejected and adds nothing', () => {
    // Deterministic pseudo-random bytes, with NULs sprinkled through them.
    const bytes = Buffer.alloc(4096);
    let state = 12345;
    for (let i = 0; i < bytes.length; i++) {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      bytes[i] = i % 97 === 5 ? 0 : state >>> 23;
    }
    const binary = path.join(tempDir(), 'blob.bin');
    writeFileSync(binary, bytes);

    const result = inIngestDir(['ingest', '--json', binary]);
    expect(result.status, result.stderr).toBe(0);
    const report = parseJson(result);
    const totals = report['totals'] as Record<string, number>;
    expect(totals['added']).toBe(0);
    expect(totals['updated']).toBe(0);
    expect(totals['rejected']).toBeGreaterThan(0);
    const files = report['files'] as { rejected: { reason: string }[] }[];
    expect(files[0]!.rejected.some((r) => /binary/i.test(r.reason))).toBe(true);
    expect(report['papers']).toBe(56);
  });

  it('search finds an ingested paper by a word of its title', () => {
    const result = inIngestDir(['search', 'zorblax']);
    expect(result.status, result.stderr).toBe(0);
    const first = result.stdout.split('\n')[0] ?? '';
    expect(first).toContain('Zorblax Quantum Widgets for Sparse Tensor Sketching');
    expect(first).toContain('[2401.00001]');
  });

  it('paper <id> shows the ingested paper, in text and as JSON with its abstract', () => {
    const text = inIngestDir(['paper', '2401.00001']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout.split('\n')[0]).toBe('Zorblax Quantum Widgets for Sparse Tensor Sketching');
    expect(text.stdout).toContain('Ada Lovelace, Alan Turing');
    expect(text.stdout).toContain('We introduce zorblax widgets, a sketching method for sparse tensors.');

    const json = inIngestDir(['paper', '--json', '2401.00001']);
    expect(json.status, json.stderr).toBe(0);
    const paper = parseJson(json);
    expect(paper['id']).toBe('2401.00001');
    expect(paper['title']).toBe('Zorblax Quantum Widgets for Sparse Tensor Sketching');
    expect(paper['abstract']).toBe('We introduce zorblax widgets, a sketching method for sparse tensors. It is fast and accurate on large benchmarks.');
  });

  it('stats --json counts the seed papers plus the three ingested ones', () => {
    const result = inIngestDir(['stats', '--json']);
    expect(result.status, result.stderr).toBe(0);
    const stats = parseJson(result);
    expect(stats['papers']).toBe(titles.length + 3);
    expect(stats['papers']).toBe(56);
    const index = stats['keywordIndex'] as Record<string, unknown>;
    expect(index['papers']).toBe(56);
    expect(index['upToDate']).toBe(true);
  });
});
