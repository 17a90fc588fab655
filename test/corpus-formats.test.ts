import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { detectFormat, parseJsonLine, PapersPageParser, type CorpusFormat, type ParsedLine } from '../src/rag/corpus/formats.ts';
import { readCorpusFile } from '../src/rag/corpus/read-corpus-file.ts';

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

async function collect(file: string, options: { format?: CorpusFormat } = {}): Promise<{ parsed: ParsedLine[]; formats: CorpusFormat[] }> {
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
