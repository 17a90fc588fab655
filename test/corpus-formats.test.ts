import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { checkRecord, CorpusCheck, DEFAULT_CORPUS_LIMITS, detectFormat, foreignShape, parseJsonLine, PapersPageParser, type CorpusFormat, type ParsedLine } from '../src/rag/corpus/formats.ts';
import { readCorpusLines } from '../src/rag/corpus/line-reader.ts';
import { readCorpusFile, type ReadCorpusOptions } from '../src/rag/corpus/read-corpus-file.ts';
import { documentTerms, normaliseForMatching, queryTerms, titleKey, words } from '../src/rag/text.ts';

import { tempDir } from './helpers/temp.ts';

import type { PaperRecord } from '../src/rag/types.ts';
const ABSTRACT_A =
  'Recent text-guided diffusion models provide powerful image generation capabilities. We introduce an accurate inversion technique that enables intuitive text-based editing of real images with a pivotal noise vector per timestep.';
const ABSTRACT_B =
  'Large language models can be fine-tuned to hide text. We show that a simple token forcing procedure reveals hidden text, and we propose a defence that keeps the model useful while removing the hidden payload.';
const ABSTRACT_C =
  'We study unsupervised pretraining and prove that it can reduce the number of labelled examples needed for downstream tasks, under mild assumptions on the latent variable model and the function classes involved.';

function paperOf(parsed: ParsedLine): PaperRecord {
  if (parsed.kind !== 'paper') throw new Error(`expected a paper, got a rejection at line ${parsed.line}: ${parsed.reason}`);
  return parsed.record;
}

function rejectionOf(parsed: ParsedLine): { line: number; reason: string } {
  if (parsed.kind !== 'rejected') throw new Error(`expected a rejection, got paper "${parsed.record.title}"`);
  return parsed;
}

/** Feeds lines (1-based numbers) through a parser and collects everything it reports, including `finish()`. */
function parsePage(lines: readonly string[]): ParsedLine[] {
  const parser = new PapersPageParser();
  const out: ParsedLine[] = [];
  lines.forEach((line, i) => out.push(...parser.push(line, i + 1)));
  out.push(...parser.finish());
  return out;
}

async function collect(file: string, options: Pick<ReadCorpusOptions, 'format' | 'limits'> = {}): Promise<{ parsed: ParsedLine[]; formats: CorpusFormat[] }> {
  const parsed: ParsedLine[] = [];
  const formats: CorpusFormat[] = [];
  for await (const item of readCorpusFile(file, { ...options, onFormat: (format) => formats.push(format) })) parsed.push(item);
  return { parsed, formats };
}

const papersOnly = (parsed: readonly ParsedLine[]) => parsed.filter((p) => p.kind === 'paper').map((p) => paperOf(p));
const rejectionsOnly = (parsed: readonly ParsedLine[]) => parsed.filter((p) => p.kind === 'rejected').map((p) => rejectionOf(p));

const SEED_SHAPE = [
  'new',
  '',
  'Get trending papers in your email inbox!',
  '',
  'Subscribe',
  '',
  'byAK and the research community',
  '',
  'Mar 14',
  '',
  'Null-text Inversion for Editing Real Images using Guided Diffusion Models',
  '',
  ABSTRACT_A,
  '',
  'Hiding Text in Large Language Models: Introducing Unconditional Token Forcing Confusion',
  '',
  ABSTRACT_B,
];

describe('detectFormat', () => {
  it('recognises BEIR by an _id key', () => {
    expect(detectFormat('{"_id": "4983", "title": "t", "text": "x"}')).toBe('beir');
    expect(detectFormat('   {"_id": 1}  ')).toBe('beir');
  });

  it('treats other JSON objects, and malformed JSON lines, as JSON Lines', () => {
    expect(detectFormat('{"id": "2301.00001", "title": "t", "abstract": "a"}')).toBe('jsonl');
    expect(detectFormat('{"title": "t", "abstract": ')).toBe('jsonl');
    expect(detectFormat('{"title": "has _id in a value", "abstract": "_id"}')).toBe('jsonl');
  });

  it('treats anything else as a papers-page dump', () => {
    expect(detectFormat('new')).toBe('papers-page');
    expect(detectFormat('Null-text Inversion for Editing Real Images')).toBe('papers-page');
    expect(detectFormat('["not", "an", "object"]')).toBe('papers-page');
  });
});

describe('parseJsonLine', () => {
  it('treats a blank url as absent and skips an empty _id in favour of id', () => {
    const record = paperOf(parseJsonLine(JSON.stringify({ _id: '', id: 'x-1', title: 'T', abstract: 'A.', url: '   ' }), 1));
    expect(record.sourceId).toBe('x-1');
    expect(record.url).toBeUndefined();
  });

  it('reads the abstract from abstract, summary or text, in that order of preference', () => {
    expect(paperOf(parseJsonLine(JSON.stringify({ title: 'T', abstract: 'From abstract.' }), 1)).abstract).toBe('From abstract.');
    expect(paperOf(parseJsonLine(JSON.stringify({ title: 'T', summary: 'From summary.' }), 1)).abstract).toBe('From summary.');
    expect(paperOf(parseJsonLine(JSON.stringify({ title: 'T', text: 'From text.' }), 1)).abstract).toBe('From text.');
    expect(paperOf(parseJsonLine(JSON.stringify({ title: 'T', abstract: '  ', summary: 'Fallback summary.', text: 'Text.' }), 1)).abstract).toBe(
      'Fallback summary.',
    );
  });

  it('normalises whitespace in title and abstract and keeps the line number', () => {
    const parsed = parseJsonLine(JSON.stringify({ title: '  A\n  Title\twith  gaps ', abstract: 'Line one\nline   two.' }), 17);
    expect(parsed.line).toBe(17);
    const record = paperOf(parsed);
    expect(record.title).toBe('A Title with gaps');
    expect(record.abstract).toBe('Line one line two.');
  });

  it('accepts authors as a string, an array of strings, or an array of {name}', () => {
    const asString = paperOf(parseJsonLine(JSON.stringify({ title: 'T', abstract: 'A.', authors: 'Ada Lovelace, Alan Turing and Grace Hopper' }), 1));
    expect(asString.authors).toEqual(['Ada Lovelace', 'Alan Turing', 'Grace Hopper']);
    const asArray = paperOf(parseJsonLine(JSON.stringify({ title: 'T', abstract: 'A.', authors: ['Ada Lovelace', ' Alan  Turing '] }), 1));
    expect(asArray.authors).toEqual(['Ada Lovelace', 'Alan Turing']);
    const asObjects = paperOf(parseJsonLine(JSON.stringify({ title: 'T', abstract: 'A.', authors: [{ name: 'Ada Lovelace', affiliation: 'X' }, { name: 'Alan Turing' }] }), 1));
    expect(asObjects.authors).toEqual(['Ada Lovelace', 'Alan Turing']);
    const mixed = paperOf(parseJsonLine(JSON.stringify({ title: 'T', abstract: 'A.', authors: ['Ada Lovelace', { name: 'Alan Turing' }] }), 1));
    expect(mixed.authors).toEqual(['Ada Lovelace', 'Alan Turing']);
  });

  it('does not split author names that merely contain "and"', () => {
    const record = paperOf(parseJsonLine(JSON.stringify({ title: 'T', abstract: 'A.', authors: 'Alexander Anderson; Sandra Landau' }), 1));
    expect(record.authors).toEqual(['Alexander Anderson', 'Sandra Landau']);
  });

  it('ignores authors of an unusable type instead of rejecting the paper', () => {
    const record = paperOf(parseJsonLine(JSON.stringify({ title: 'T', abstract: 'A.', authors: 42 }), 1));
    expect(record.authors).toEqual([]);
  });

  it('accepts categories as an array or a space/comma separated string', () => {
    expect(paperOf(parseJsonLine(JSON.stringify({ title: 'T', abstract: 'A.', categories: ['cs.CV', ' cs.LG '] }), 1)).categories).toEqual(['cs.CV', 'cs.LG']);
    expect(paperOf(parseJsonLine(JSON.stringify({ title: 'T', abstract: 'A.', categories: 'cs.CV cs.LG,stat.ML' }), 1)).categories).toEqual([
      'cs.CV',
      'cs.LG',
      'stat.ML',
    ]);
    expect(paperOf(parseJsonLine(JSON.stringify({ title: 'T', abstract: 'A.' }), 1)).categories).toEqual([]);
  });

  it('keeps id, url and published date', () => {
    const record = paperOf(
      parseJsonLine(JSON.stringify({ id: ' 2211.09794v2 ', title: 'T', abstract: 'A.', url: 'https://arxiv.org/abs/2211.09794', published: '2022-11-17' }), 3),
    );
    expect(record.sourceId).toBe('2211.09794v2');
    expect(record.url).toBe('https://arxiv.org/abs/2211.09794');
    expect(record.published).toBe('2022-11-17');
  });

  it('turns a numeric id into a string', () => {
    expect(paperOf(parseJsonLine(JSON.stringify({ id: 12345, title: 'T', abstract: 'A.' }), 1)).sourceId).toBe('12345');
  });

  it('maps BEIR records: _id kept, text is the abstract, metadata.authors/categories/date_file mapped', () => {
    const line = JSON.stringify({
      _id: '4983',
      title: 'Microstructural development of human newborn cerebral white matter',
      text: 'Alterations of the architecture of cerebral white matter in the developing human brain can affect cortical development.',
      metadata: { authors: ['J. Neil', 'S. Shiran'], categories: 'q-bio.NC physics.med-ph', date_file: '2003-06-01', journal: 'Radiology' },
    });
    const record = paperOf(parseJsonLine(line, 9));
    expect(record.sourceId).toBe('4983');
    expect(record.title).toBe('Microstructural development of human newborn cerebral white matter');
    expect(record.abstract).toMatch(/^Alterations of the architecture/);
    expect(record.authors).toEqual(['J. Neil', 'S. Shiran']);
    expect(record.categories).toEqual(['q-bio.NC', 'physics.med-ph']);
    expect(record.published).toBe('2003-06-01');
    // authors and categories moved onto the paper; other metadata kept as given.
    expect(record.metadata).not.toHaveProperty('authors');
    expect(record.metadata).not.toHaveProperty('categories');
    expect(record.metadata['journal']).toBe('Radiology');
  });

  it('prefers top-level authors and published over BEIR metadata', () => {
    const record = paperOf(
      parseJsonLine(JSON.stringify({ _id: 'x', title: 'T', text: 'A.', authors: ['Top Level'], published: '2020-01-01', metadata: { authors: ['Meta'], date_file: '1999-01-01' } }), 1),
    );
    expect(record.authors).toEqual(['Top Level']);
    expect(record.published).toBe('2020-01-01');
  });

  it('rejects a record without a title, with a reason', () => {
    const missing = rejectionOf(parseJsonLine(JSON.stringify({ abstract: 'An abstract.' }), 4));
    expect(missing.line).toBe(4);
    expect(missing.reason).toMatch(/title/i);
    const blank = rejectionOf(parseJsonLine(JSON.stringify({ title: '   ', abstract: 'An abstract.' }), 5));
    expect(blank.reason).toMatch(/title/i);
    const wrongType = rejectionOf(parseJsonLine(JSON.stringify({ title: 7, abstract: 'An abstract.' }), 6));
    expect(wrongType.line).toBe(6);
  });

  it('rejects a record without an abstract, naming the accepted fields', () => {
    const rejected = rejectionOf(parseJsonLine(JSON.stringify({ id: 'x', title: 'A title' }), 8));
    expect(rejected.line).toBe(8);
    expect(rejected.reason).toMatch(/abstract/);
    expect(rejected.reason).toMatch(/summary/);
    expect(rejected.reason).toMatch(/text/);
  });

  it('rejects invalid JSON', () => {
    const rejected = rejectionOf(parseJsonLine('{"title": "T", "abstract": ', 2));
    expect(rejected.line).toBe(2);
    expect(rejected.reason).toMatch(/not valid JSON/);
  });

  it('rejects JSON that is not an object', () => {
    for (const text of ['[1, 2]', '"a string"', '42', 'null', 'true']) {
      const rejected = rejectionOf(parseJsonLine(text, 1));
      expect(rejected.reason, text).toBe('not a JSON object');
    }
  });

  it('turns a numeric published timestamp into an ISO date', () => {
    const record = paperOf(parseJsonLine(JSON.stringify({ title: 'T', abstract: 'A.', published: Date.UTC(2023, 2, 14) }), 1));
    expect(record.published).toBe('2023-03-14T00:00:00.000Z');
  });

  // Exposes a bug: `new Date(1e20).toISOString()` throws RangeError inside the zod transform of
  // `published`; `.catch(undefined)` does not catch thrown errors, so parseJsonLine throws instead
  // of returning a paper (date ignored) or a rejection.
  it('does not throw on a numeric published date outside the Date range', () => {
    const text = JSON.stringify({ title: 'T', abstract: 'A.', published: 1e20 });
    let parsed: ParsedLine | undefined;
    expect(() => (parsed = parseJsonLine(text, 5))).not.toThrow();
    expect(parsed?.line).toBe(5);
    if (parsed?.kind === 'paper') expect(parsed.record.published).toBeUndefined();
  });

  it('rejects an id of an impossible type', () => {
    const rejected = rejectionOf(parseJsonLine(JSON.stringify({ id: { nested: true }, title: 'T', abstract: 'A.' }), 3));
    expect(rejected.reason).toMatch(/id/);
  });
});

describe('PapersPageParser', () => {
  it('reads the seed shape: header words skipped, titles paired with abstracts, listing date kept', () => {
    const out = parsePage(SEED_SHAPE);
    expect(rejectionsOnly(out)).toEqual([]);
    const papers = out.filter((p) => p.kind === 'paper');
    expect(papers).toHaveLength(2);
    const [first, second] = papers.map(paperOf) as [PaperRecord, PaperRecord];
    expect(first.title).toBe('Null-text Inversion for Editing Real Images using Guided Diffusion Models');
    expect(first.abstract).toBe(ABSTRACT_A);
    expect(second.title).toBe('Hiding Text in Large Language Models: Introducing Unconditional Token Forcing Confusion');
    expect(second.abstract).toBe(ABSTRACT_B);
    // A paper is reported at its title's line.
    expect(papers.map((p) => p.line)).toEqual([11, 15]);
    for (const paper of [first, second]) {
      expect(paper.metadata['listed']).toBe('Mar 14');
      expect(paper.authors).toEqual([]);
      expect(paper.categories).toEqual([]);
    }
  });

  it('does not need blank lines between title and abstract', () => {
    const out = parsePage(['Title One Of A Paper', ABSTRACT_A, 'Title Two Of A Paper', ABSTRACT_B]);
    expect(papersOnly(out).map((p) => p.title)).toEqual(['Title One Of A Paper', 'Title Two Of A Paper']);
    expect(rejectionsOnly(out)).toEqual([]);
  });

  it('skips stray header words between papers', () => {
    const out = parsePage(['Mar 14', 'Paper One Title Here', ABSTRACT_A, 'Subscribe', '', 'Next', 'Paper Two Title Here', '', ABSTRACT_B]);
    expect(papersOnly(out).map((p) => p.title)).toEqual(['Paper One Title Here', 'Paper Two Title Here']);
    expect(rejectionsOnly(out)).toEqual([]);
  });

  it('rejects an abstract with no title before it, by its line number, and keeps going', () => {
    const out = parsePage(['Paper One Title Here', ABSTRACT_A, '', ABSTRACT_B, '', 'Paper Three Title Here', ABSTRACT_C]);
    expect(rejectionsOnly(out)).toEqual([{ kind: 'rejected', line: 4, reason: expect.stringMatching(/no title/) }]);
    expect(papersOnly(out).map((p) => p.title)).toEqual(['Paper One Title Here', 'Paper Three Title Here']);
  });

  it('rejects a title left waiting at the end of the file', () => {
    const out = parsePage(['Paper One Title Here', ABSTRACT_A, '', 'A Trailing Title Without Abstract', '']);
    expect(papersOnly(out)).toHaveLength(1);
    expect(rejectionsOnly(out)).toEqual([{ kind: 'rejected', line: 4, reason: expect.stringMatching(/title line with no abstract/) }]);
  });

  it('rejects a title directly followed by another title', () => {
    const out = parsePage(['Paper One Title Here', ABSTRACT_A, 'An Orphaned Title Line', 'Paper Two Title Here', ABSTRACT_B]);
    expect(papersOnly(out).map((p) => p.title)).toEqual(['Paper One Title Here', 'Paper Two Title Here']);
    expect(rejectionsOnly(out)).toEqual([{ kind: 'rejected', line: 3, reason: expect.stringMatching(/no abstract/) }]);
  });

  it('keeps the latest listing date for the papers after it', () => {
    const out = parsePage(['Mar 14', 'Paper One Title Here', ABSTRACT_A, 'Mar 15', 'Paper Two Title Here', ABSTRACT_B]);
    expect(papersOnly(out).map((p) => p.metadata['listed'])).toEqual(['Mar 14', 'Mar 15']);
  });

  it('has no listing date in metadata when the page gave none', () => {
    const [paper] = papersOnly(parsePage(['Paper One Title Here', ABSTRACT_A]));
    expect(paper).toBeDefined();
    expect(paper!.metadata).not.toHaveProperty('listed');
  });
});

describe('readCorpusFile', () => {
  const jsonl = [
    JSON.stringify({ id: '2301.00001', title: 'First Paper', abstract: 'The first abstract.' }),
    JSON.stringify({ id: '2301.00002', title: 'Second Paper', abstract: 'The second abstract.' }),
    JSON.stringify({ id: '2301.00003', title: 'Third Paper', abstract: 'The third abstract.' }),
  ].join('\n');

  it('reads a papers-page dump with Windows line ends', async () => {
    const file = path.join(tempDir(), 'page.txt');
    writeFileSync(file, `${SEED_SHAPE.join('\r\n')}\r\n`);
    const { parsed, formats } = await collect(file);
    expect(formats).toEqual(['papers-page']);
    expect(rejectionsOnly(parsed)).toEqual([]);
    const papers = papersOnly(parsed);
    expect(papers.map((p) => p.title)).toEqual([
      'Null-text Inversion for Editing Real Images using Guided Diffusion Models',
      'Hiding Text in Large Language Models: Introducing Unconditional Token Forcing Confusion',
    ]);
    for (const paper of papers) {
      expect(paper.title).not.toMatch(/\r/);
      expect(paper.abstract).not.toMatch(/\r/);
      expect(paper.metadata['listed']).toBe('Mar 14');
    }
    expect(papers[1]!.abstract).toBe(ABSTRACT_B);
  });

  it('detects JSON Lines and BEIR from the content', async () => {
    const dir = tempDir();
    const jsonlFile = path.join(dir, 'papers.jsonl');
    writeFileSync(jsonlFile, `\n${jsonl}\n`);
    const beirFile = path.join(dir, 'corpus.jsonl');
    writeFileSync(beirFile, `${JSON.stringify({ _id: 'd1', title: 'Doc', text: 'Body text.' })}\n`);
    const fromJsonl = await collect(jsonlFile);
    expect(fromJsonl.formats).toEqual(['jsonl']);
    expect(papersOnly(fromJsonl.parsed).map((p) => p.title)).toEqual(['First Paper', 'Second Paper', 'Third Paper']);
    // Line numbers count the leading blank line.
    expect(fromJsonl.parsed.map((p) => p.line)).toEqual([2, 3, 4]);
    const fromBeir = await collect(beirFile);
    expect(fromBeir.formats).toEqual(['beir']);
    expect(papersOnly(fromBeir.parsed)[0]?.sourceId).toBe('d1');
  });

  it('reads a gzip-compressed file the same as the plain one', async () => {
    const dir = tempDir();
    const plain = path.join(dir, 'page.txt');
    const gz = path.join(dir, 'page.txt.gz');
    const text = `${SEED_SHAPE.join('\n')}\n`;
    writeFileSync(plain, text);
    writeFileSync(gz, gzipSync(text));
    const fromPlain = await collect(plain);
    const fromGz = await collect(gz);
    expect(papersOnly(fromPlain.parsed)).toHaveLength(2);
    expect(fromGz.parsed).toEqual(fromPlain.parsed);
    expect(fromGz.formats).toEqual(fromPlain.formats);
  });

  it('reads a gzip-compressed JSON Lines file, even without a .gz name', async () => {
    const file = path.join(tempDir(), 'papers.jsonl');
    writeFileSync(file, gzipSync(jsonl));
    const { parsed, formats } = await collect(file);
    expect(formats).toEqual(['jsonl']);
    expect(papersOnly(parsed).map((p) => p.sourceId)).toEqual(['2301.00001', '2301.00002', '2301.00003']);
  });

  it('rejects a binary file once and yields no papers', async () => {
    const file = path.join(tempDir(), 'image.bin');
    const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x00, 0x00, 0x0d, 0x0a, 0x00, 0x01, 0x02, 0x0a, 0x41, 0x00, 0x42, 0x0a]);
    writeFileSync(file, bytes);
    const { parsed } = await collect(file);
    expect(papersOnly(parsed)).toEqual([]);
    expect(parsed).toHaveLength(1);
    const rejected = rejectionOf(parsed[0]!);
    expect(rejected.line).toBe(1);
    expect(rejected.reason).toMatch(/binary/);
  });

  it('rejects exactly the one line that is not UTF-8 and keeps the others', async () => {
    const file = path.join(tempDir(), 'mixed.jsonl');
    const lines = jsonl.split('\n');
    const bad = Buffer.concat([Buffer.from('{"title": "Bad '), Buffer.from([0xff, 0xfe]), Buffer.from('", "abstract": "x."}')]);
    writeFileSync(file, Buffer.concat([Buffer.from(`${lines[0]}\n`), bad, Buffer.from(`\n${lines[1]}\n${lines[2]}\n`)]));
    const { parsed } = await collect(file);
    expect(rejectionsOnly(parsed)).toEqual([{ kind: 'rejected', line: 2, reason: expect.stringMatching(/UTF-8/) }]);
    expect(papersOnly(parsed).map((p) => p.title)).toEqual(['First Paper', 'Second Paper', 'Third Paper']);
    expect(parsed.filter((p) => p.kind === 'paper').map((p) => p.line)).toEqual([1, 3, 4]);
  });

  it('rejects a lone non-UTF-8 line in a papers-page dump by its number', async () => {
    const file = path.join(tempDir(), 'page.txt');
    const before = Buffer.from(`${SEED_SHAPE.join('\n')}\n`);
    const after = Buffer.from(`\nPaper Three Title Here\n${ABSTRACT_C}\n`);
    writeFileSync(file, Buffer.concat([before, Buffer.from([0xff, 0xfe]), after]));
    const { parsed } = await collect(file);
    const badLine = SEED_SHAPE.length + 1;
    expect(rejectionsOnly(parsed)).toEqual([{ kind: 'rejected', line: badLine, reason: expect.stringMatching(/UTF-8/) }]);
    expect(papersOnly(parsed)).toHaveLength(3);
  });

  it('strips a UTF-8 byte order mark before detecting the format', async () => {
    const file = path.join(tempDir(), 'bom.jsonl');
    writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(jsonl)]));
    const { parsed, formats } = await collect(file);
    expect(formats).toEqual(['jsonl']);
    expect(papersOnly(parsed)).toHaveLength(3);
  });

  it('obeys a forced format instead of detecting one', async () => {
    const file = path.join(tempDir(), 'papers.jsonl');
    writeFileSync(file, `${jsonl}\n`);
    // Forced to papers-page, JSON lines are short lines: no papers come out of it.
    const forcedPage = await collect(file, { format: 'papers-page' });
    expect(forcedPage.formats).toEqual(['papers-page']);
    expect(papersOnly(forcedPage.parsed)).toEqual([]);

    const pageFile = path.join(tempDir(), 'page.txt');
    writeFileSync(pageFile, `${SEED_SHAPE.join('\n')}\n`);
    // Forced to jsonl, every non-blank line of a page dump is invalid JSON.
    const forcedJsonl = await collect(pageFile, { format: 'jsonl' });
    expect(forcedJsonl.formats).toEqual(['jsonl']);
    expect(papersOnly(forcedJsonl.parsed)).toEqual([]);
    const nonBlank = SEED_SHAPE.filter((line) => line.trim()).length;
    expect(rejectionsOnly(forcedJsonl.parsed)).toHaveLength(nonBlank);
    expect(rejectionsOnly(forcedJsonl.parsed)[0]).toEqual({ kind: 'rejected', line: 1, reason: expect.stringMatching(/not valid JSON/) });
  });

  it('yields nothing, and detects no format, for an empty or blank file', async () => {
    const dir = tempDir();
    for (const [name, content] of [['empty.txt', ''], ['blank.txt', '\n\n   \n']] as const) {
      const file = path.join(dir, name);
      writeFileSync(file, content);
      const { parsed, formats } = await collect(file);
      expect(parsed, name).toEqual([]);
      expect(formats, name).toEqual([]);
    }
  });

  it('rejects a damaged line with NUL bytes after papers, and keeps reading', async () => {
    const file = path.join(tempDir(), 'damaged.jsonl');
    const [first, second, third] = jsonl.split('\n') as [string, string, string];
    writeFileSync(file, Buffer.concat([Buffer.from(`${first}\n${second}\n`), Buffer.from([0x7b, 0x00, 0x00, 0x7d]), Buffer.from(`\n${third}\n`)]));
    const { parsed } = await collect(file);
    expect(rejectionsOnly(parsed)).toEqual([{ kind: 'rejected', line: 3, reason: expect.stringMatching(/binary/) }]);
    expect(papersOnly(parsed).map((p) => p.title)).toEqual(['First Paper', 'Second Paper', 'Third Paper']);
  });
});

const ROOT = path.resolve(import.meta.dirname, '..');
const SHIPPED_PAGE = path.join(ROOT, 'data/corpus/hf-daily-papers-14-march.txt');
const MIXED_JSONL = path.join(ROOT, 'test/fixtures/cli/mixed-papers.jsonl');

/** A README-like markdown file: headings over paragraphs, a table, a list and a code block. */
const MARKDOWN = [
  '# paperbot',
  '',
  'Answers researchers questions about paper abstracts, with citations, from the command line, Discord and Slack, using a retrieval core that fuses keyword and vector search over the stored papers.',
  '',
  '## Settings',
  '',
  '| name | default | meaning | where it is read | since which version |',
  '|---|---|---|---|---|',
  '| TOP_K | 8 | sources per answer | the composition root | 0.1 |',
  '| RRF_K | 10 | fusion constant | the composition root | 0.1 |',
  '',
  '## Install',
  '',
  '- Node 20 or later, with npm 11 and a compiler toolchain for the native modules it builds.',
  '- Ollama, optional: without it the answers are extractive quotes from the stored abstracts.',
  '',
  '```sh',
  'npm install && npm run build && npm start -- ask "what is null-text inversion, and why does it help?"',
  '```',
  '',
  '## How it fits together',
  '',
  'The arrows point down only: shared types at the bottom, ports above them, the core above those, adapters and the composition root at the edge, and a lint rule keeps them so.',
].join('\n');

function csvFile(rows: number): string {
  const lines = ['id,title,abstract,authors'];
  for (let i = 0; i < rows; i++) lines.push(`${i},Paper ${i} on graphs,"We study graph neural networks and show that message passing with attention improves accuracy on molecule benchmarks by a wide margin, at a small cost.","A. Smith; B. Jones"`);
  return lines.join('\n');
}

const SOURCE = readFileSync(path.join(ROOT, 'src/rag/library.ts'), 'utf8');

function logFile(lines: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    out.push(`2026-12-03T14:${String(i % 60).padStart(2, '0')}:00.000Z INFO request ${i} handled in 12 ms by worker ${i % 4} of the main server process and returned status 200 to the client at the far end of the line.`);
  }
  return out.join('\n');
}

describe('the whole-file check of a detected format', () => {
  it('passes the shipped corpus, the mixed JSON Lines fixture and a small BEIR corpus', async () => {
    const shipped = await collect(SHIPPED_PAGE);
    expect(shipped.formats).toEqual(['papers-page']);
    expect(papersOnly(shipped.parsed)).toHaveLength(53);
    expect(rejectionsOnly(shipped.parsed)).toEqual([]);

    const mixed = await collect(MIXED_JSONL);
    expect(papersOnly(mixed.parsed)).toHaveLength(3);
    expect(rejectionsOnly(mixed.parsed).map((r) => r.line)).toEqual([4, 5, 6]);

    const beir = path.join(tempDir(), 'corpus.jsonl.gz');
    const docs = [ABSTRACT_A, ABSTRACT_B, ABSTRACT_C].map((text, i) => JSON.stringify({ _id: `d${i}`, title: `Doc ${i}`, text, metadata: {} }));
    writeFileSync(beir, gzipSync(`${docs.join('\n')}\n`));
    const fromBeir = await collect(beir);
    expect(fromBeir.formats).toEqual(['beir']);
    expect(papersOnly(fromBeir.parsed).map((p) => p.sourceId)).toEqual(['d0', 'd1', 'd2']);
  });

  it.each([
    ['README.md', MARKDOWN, /look like markdown/],
    ['papers.csv', csvFile(30), /look like a table or CSV/],
    ['library.ts', SOURCE, /look like source code/],
    ['server.log', logFile(40), /look like a log/],
  ])('rejects %s as a whole, once, and detects no format', async (name, content, why) => {
    const file = path.join(tempDir(), name);
    writeFileSync(file, content);
    const { parsed, formats } = await collect(file);
    expect(formats).toEqual([]);
    expect(parsed).toHaveLength(1);
    const rejected = rejectionOf(parsed[0]!);
    expect(rejected.line).toBe(1);
    expect(rejected.reason).toMatch(/^not a paper corpus: .+; force a format with --format$/);
    expect(rejected.reason).toMatch(why);
  });

  it('rejects a JSON file that holds no paper records (package.json, a JSON log)', async () => {
    const dir = tempDir();
    const pkg = path.join(dir, 'package.json');
    writeFileSync(pkg, readFileSync(path.join(ROOT, 'package.json')));
    const log = path.join(dir, 'bot.log');
    writeFileSync(log, Array.from({ length: 20 }, (_, i) => JSON.stringify({ level: 30, time: i, msg: 'ingested file', added: i })).join('\n'));
    for (const file of [pkg, log]) {
      const { parsed } = await collect(file);
      expect(parsed, file).toHaveLength(1);
      expect(rejectionOf(parsed[0]!).reason).toMatch(/^not a paper corpus: none of the first \d+ lines is a paper record/);
    }
  });

  it('rejects a text file without any title and abstract pair', async () => {
    const file = path.join(tempDir(), 'fonts.txt');
    writeFileSync(file, ['Font directories:', '/usr/share/fonts', '/usr/local/share/fonts', '/usr/share/fonts/truetype'].join('\n'));
    const { parsed } = await collect(file);
    expect(parsed.map((p) => rejectionOf(p).reason)).toEqual([expect.stringMatching(/^not a paper corpus: no title line followed by an abstract in the first 4 lines;/)]);
  });

  it('decides on the first lines only: junk after a clean start is checked record by record', async () => {
    const file = path.join(tempDir(), 'long.txt');
    const papers = Array.from({ length: 60 }, (_, i) => [`Paper Number ${i} About Widgets`, ABSTRACT_A]).flat();
    writeFileSync(file, `${[...papers, '| a | b |', `|${' --- |'.repeat(26)}`].join('\n')}\n`);
    const { parsed } = await collect(file);
    expect(papersOnly(parsed)).toHaveLength(60);
    // The table separator is long enough to pass as an abstract, but has no words: never stored.
    expect(rejectionsOnly(parsed)).toEqual([{ kind: 'rejected', line: 121, reason: 'empty abstract (no letters or digits)' }]);
  });

  it('is bypassed by a forced format, which still checks every record', async () => {
    const file = path.join(tempDir(), 'README.md');
    writeFileSync(file, MARKDOWN);
    const { parsed, formats } = await collect(file, { format: 'papers-page' });
    expect(formats).toEqual(['papers-page']);
    expect(papersOnly(parsed).map((p) => p.title)).toEqual(['# paperbot', '## Install', '## How it fits together']);
  });

  it('names the shape of a foreign line, and none for titles, abstracts and page chrome', () => {
    expect(foreignShape('## Settings')).toBe('markdown');
    expect(foreignShape('| TOP_K | 8 |')).toBe('a table or CSV');
    expect(foreignShape('1,"A title","An abstract"')).toBe('a table or CSV');
    expect(foreignShape('  const files = paths.flatMap((p) => listCorpusFiles(p));')).toBe('source code');
    expect(foreignShape('update-alternatives 2025-06-24 14:36:53: run with --quiet')).toBe('a log');
    expect(foreignShape('<div class="paper">')).toBe('HTML or XML');
    expect(foreignShape('  "title": "x",')).toBe('JSON');
    for (const line of SHIPPED_SHAPE_SAMPLE) expect(foreignShape(line), line).toBeNull();
  });

  it('counts size and encoding rejections neither way', () => {
    const check = new CorpusCheck('beir');
    check.noteLine('{"_id": "1"}');
    check.noteOutcome({ kind: 'paper', line: 2, record: { title: 'T', abstract: 'A.', authors: [], categories: [], metadata: {} } });
    expect(check.verdict()).toBeNull();
  });
});

const SHIPPED_SHAPE_SAMPLE = [...SEED_SHAPE, 'Mar 14', '12', 'Submitted by akhaliq', 'ABSTRACT_C', ABSTRACT_C, 'GPT-4 Technical Report', 'Sparks of AGI: early experiments with GPT-4'];

describe('checkRecord', () => {
  const record = (title: string, abstract: string): ParsedLine => ({ kind: 'paper', line: 7, record: { title, abstract, authors: [], categories: [], metadata: {} } });

  it('rejects an empty title or abstract: no letters or digits, invisible characters alone do not count', () => {
    expect(checkRecord(record('---', ABSTRACT_A), DEFAULT_CORPUS_LIMITS)).toEqual({ kind: 'rejected', line: 7, reason: 'empty title (no letters or digits)' });
    expect(checkRecord(record('\u200b\u00ad', ABSTRACT_A), DEFAULT_CORPUS_LIMITS)).toMatchObject({ kind: 'rejected', reason: 'empty title (no letters or digits)' });
    expect(checkRecord(record('A Title', '|---|---|---|'), DEFAULT_CORPUS_LIMITS)).toEqual({ kind: 'rejected', line: 7, reason: 'empty abstract (no letters or digits)' });
    expect(checkRecord(record('ÄÖ', 'Ω.'), DEFAULT_CORPUS_LIMITS).kind).toBe('paper');
  });

  it('rejects a title over 1,000 characters and an abstract over MAX_ABSTRACT_CHARS, counting characters, not UTF-16 units', () => {
    expect(checkRecord(record('T'.repeat(1000), 'a'.repeat(20_000)), DEFAULT_CORPUS_LIMITS).kind).toBe('paper');
    expect(checkRecord(record('T'.repeat(1001), ABSTRACT_A), DEFAULT_CORPUS_LIMITS)).toEqual({ kind: 'rejected', line: 7, reason: 'title is 1001 characters, over the limit of 1000' });
    expect(checkRecord(record('T', 'a'.repeat(20_001)), DEFAULT_CORPUS_LIMITS)).toEqual({ kind: 'rejected', line: 7, reason: 'abstract is 20001 characters, over MAX_ABSTRACT_CHARS (20000)' });
    // 1,000 letters from outside the BMP are 2,000 UTF-16 units but 1,000 characters.
    expect(checkRecord(record('𝐀'.repeat(1000), ABSTRACT_A), DEFAULT_CORPUS_LIMITS).kind).toBe('paper');
    expect(checkRecord(record('T', 'a'.repeat(150)), { maxTitleChars: 1000, maxAbstractChars: 100 })).toMatchObject({ reason: 'abstract is 150 characters, over MAX_ABSTRACT_CHARS (100)' });
  });
});

describe('over-long lines', () => {
  async function lines(file: string, maxLineBytes: number) {
    const out = [];
    for await (const line of readCorpusLines(file, { maxLineBytes })) out.push(line);
    return out;
  }

  it('skips a line over the limit while it streams past (many read chunks long), counting its bytes, and keeps the lines around it', async () => {
    const file = path.join(tempDir(), 'huge.jsonl');
    const huge = 'x'.repeat(3 * (1 << 20) + 5);
    writeFileSync(file, `first\n${huge}\nthird\n${'y'.repeat(100)}\n${'z'.repeat(101)}`);
    expect(await lines(file, 100)).toEqual([
      { lineNumber: 1, text: 'first', binary: false },
      { lineNumber: 2, text: null, binary: false, overLimitBytes: huge.length },
      { lineNumber: 3, text: 'third', binary: false },
      { lineNumber: 4, text: 'y'.repeat(100), binary: false },
      { lineNumber: 5, text: null, binary: false, overLimitBytes: 101 },
    ]);
  });

  it('does the same inside a gzip stream', async () => {
    const file = path.join(tempDir(), 'huge.jsonl.gz');
    writeFileSync(file, gzipSync(`first\n${'x'.repeat(2 << 20)}\nthird\n`));
    expect((await lines(file, 1 << 20)).map((l) => [l.lineNumber, 'overLimitBytes' in l ? l.overLimitBytes : undefined])).toEqual([
      [1, undefined],
      [2, 2 << 20],
      [3, undefined],
    ]);
  });

  it('rejects the line by number and reason, reads the next records, and drops the title of a skipped papers-page abstract', async () => {
    const dir = tempDir();
    const jsonl = path.join(dir, 'big.jsonl');
    const big = JSON.stringify({ title: 'Huge', abstract: 'word '.repeat(300_000) });
    writeFileSync(jsonl, [JSON.stringify({ title: 'Before', abstract: 'A.' }), big, JSON.stringify({ title: 'After', abstract: 'B.' })].join('\n'));
    const fromJsonl = await collect(jsonl);
    expect(papersOnly(fromJsonl.parsed).map((p) => p.title)).toEqual(['Before', 'After']);
    expect(rejectionsOnly(fromJsonl.parsed)).toEqual([{ kind: 'rejected', line: 2, reason: `line is ${big.length} bytes, over MAX_RECORD_BYTES (1048576); it was skipped unread` }]);

    const page = path.join(dir, 'page.txt');
    writeFileSync(page, [...SEED_SHAPE, 'A Paper With A Huge Abstract', `${'word '.repeat(1000)}.`, 'Paper Three Title Here', ABSTRACT_C].join('\n'));
    const fromPage = await collect(page, { limits: { maxRecordBytes: 2048 } });
    expect(papersOnly(fromPage.parsed).map((p) => p.title)).toEqual([
      'Null-text Inversion for Editing Real Images using Guided Diffusion Models',
      'Hiding Text in Large Language Models: Introducing Unconditional Token Forcing Confusion',
      'Paper Three Title Here',
    ]);
    expect(rejectionsOnly(fromPage.parsed)).toEqual([{ kind: 'rejected', line: SEED_SHAPE.length + 2, reason: expect.stringMatching(/^line is 5001 bytes, over MAX_RECORD_BYTES \(2048\)/) }]);
  });
});

describe('a damaged gzip file', () => {
  const records = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ _id: `d${i}`, title: `Paper ${i} on widgets`, text: `Widgets of kind ${i} are fast and accurate on ${i % 7} benchmarks.` }));

  it('keeps the lines before the damage and rejects the file at the line the damage cut', async () => {
    const file = path.join(tempDir(), 'cut.jsonl.gz');
    const whole = gzipSync(`${records.join('\n')}\n`);
    writeFileSync(file, whole.subarray(0, Math.floor(whole.length / 2)));
    const { parsed } = await collect(file);
    const papers = papersOnly(parsed);
    expect(papers.length).toBeGreaterThan(100);
    expect(papers.length).toBeLessThan(3000);
    expect(papers.map((p) => p.sourceId)).toEqual(records.slice(0, papers.length).map((_, i) => `d${i}`));
    const rejected = rejectionsOnly(parsed);
    expect(rejected).toEqual([{ kind: 'rejected', line: papers.length + 1, reason: expect.stringMatching(/^damaged file: the compressed data ends or breaks here \(unexpected end of file\); lines 1-\d+ were read/) }]);
    expect(parsed.at(-1)).toBe(parsed.find((p) => p.kind === 'rejected'));
  });

  it('is an error when nothing of it can be read', async () => {
    const file = path.join(tempDir(), 'garbage.jsonl.gz');
    writeFileSync(file, Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03]), Buffer.from('not deflate data at all, not at all')]));
    await expect(collect(file)).rejects.toThrow(/damaged from the start/);
  });
});

describe('normalisation for matching (text.ts)', () => {
  const plain = 'Null-text inversion for editing real images';

  it('removes zero-width, soft hyphen, bidi and other invisible characters, and folds fullwidth letters and ligatures (NFKC)', () => {
    const tricked = [
      'Null\u00ad-text in\u200bver\u200csion for edi\u2060ting real images',
      '\u202eNull-text\u202c \u2066inversion\u2069 for \ufeffediting real\u200e images',
      'Ｎｕｌｌ-ｔｅｘｔ ｉｎｖｅｒｓｉｏｎ ｆｏｒ ｅｄｉｔｉｎｇ ｒｅａｌ ｉｍａｇｅｓ',
      'Null-text inversion for editing real images\ufe0f',
    ];
    for (const text of tricked) {
      expect(words(text), text).toEqual(words(plain));
      expect(queryTerms(text), text).toEqual(queryTerms(plain));
      expect(documentTerms(text), text).toEqual(documentTerms(plain));
      expect(titleKey(text), text).toBe(titleKey(plain));
    }
    expect(words('ﬁne-tuning')).toEqual(['fine', 'tuning']);
    // Decomposed and precomposed accents are one word either way.
    expect(words('cafe\u0301 na\u00efve')).toEqual(words('caf\u00e9 nai\u0308ve'));
  });

  it('leaves plain ASCII untouched, so keyword indexes built before stay valid', () => {
    const ascii = 'Plain ASCII text, with punctuation: (a) and [b]; x-y z.';
    expect(normaliseForMatching(ascii)).toBe(ascii);
    expect(words(ascii)).toEqual(['plain', 'ascii', 'text', 'with', 'punctuation', 'a', 'and', 'b', 'x', 'y', 'z']);
  });

  it('changes title keys (and so the ids of papers without one) only for invisible characters', () => {
    // NFKD without marks, as before: Hangul stays decomposed, so stored Korean titles keep their key.
    expect(titleKey('한국어 논문')).toBe('한국어 논문'.normalize('NFKD'));
    expect(titleKey('Ｆｕｌｌｗｉｄｔｈ ﬁne Café')).toBe('fullwidth fine cafe');
    expect(titleKey('Null\u00adtext in\u200bversion')).toBe('nulltext inversion');
  });
});
