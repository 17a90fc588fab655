import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPaperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import { PaperbotError } from '../src/errors.ts';

import { UNCERTAIN_CAVEAT } from '../src/rag/answer.ts';
import { EXTRACTIVE_HEADING, MAX_QUOTE_CHARS, MAX_QUOTED_CHARS, capQuote, questionFocus } from '../src/rag/extractive-answerer.ts';
import { DEFAULT_BAND_THRESHOLDS } from '../src/rag/retrieval.ts';
import type { PaperbotCore } from '../src/rag/paperbot-core.ts';
import { splitSentences } from '../src/rag/text.ts';
import { tempDir } from './helpers/temp.ts';

import type { Answer } from '../src/rag/types.ts';
const NULL_TEXT = 'Null-text Inversion for Editing Real Images using Guided Diffusion Models';
const ON_TOPIC = [
  'How can I edit a real photo with a text-guided diffusion model?',
  'How can machine unlearning work without labels?',
  'Which methods compress large embedding tables for recommendation?',
  'Can hidden text planted in a large language model by fine-tuning be detected?',
];

let core: PaperbotCore;

beforeEach(async () => {
  const dir = tempDir();
  core = await createPaperbot(loadConfig({ PAPERBOT_DATA_DIR: dir, LOG_LEVEL: 'silent', OLLAMA_HOST: 'http://127.0.0.1:47', EMBEDDER: 'local', LOCAL_EMBED_DIM: '256' }), { seed: true });
});

afterEach(() => core.close());

async function expectUsageError(promise: Promise<unknown>): Promise<PaperbotError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PaperbotError);
    expect((error as PaperbotError).code).toBe('usage');
    return error as PaperbotError;
  }
  throw new Error('expected a usage error');
}

/** The `[n]` markers in an answer's text, in order. */
function markers(answer: Answer): number[] {
  return [...answer.text.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1]));
}

function checkExtractiveAnswer(answer: Answer): void {
  expect(answer.mode).toBe('extractive');
  expect(answer.refusal).toBeNull();
  // Band `uncertain` puts its caveat first; the extractive heading follows.
  const body = answer.relevance.band === 'uncertain' ? answer.text.slice(UNCERTAIN_CAVEAT.length + 1) : answer.text;
  expect(body.startsWith(EXTRACTIVE_HEADING)).toBe(true);
  expect(answer.citations.length).toBeGreaterThan(0);
  expect(answer.citations.length).toBeLessThanOrEqual(4);
  expect(answer.citations.reduce((sum, c) => sum + (c.quote?.length ?? 0), 0)).toBeLessThanOrEqual(MAX_QUOTED_CHARS);
  // Every quote is a claim, all verbatim.
  expect(answer.claims.map((claim) => claim.support)).toEqual(answer.citations.map(() => 'quoted'));
  expect(answer.weakClaims).toBe(0);

  // Sources are numbered 1..N, cited ones first.
  expect(answer.sources.map((s) => s.n)).toEqual(answer.sources.map((_, i) => i + 1));
  const citedFlags = answer.sources.map((s) => s.cited);
  const firstUncited = citedFlags.indexOf(false);
  if (firstUncited >= 0) expect(citedFlags.slice(firstUncited)).not.toContain(true);
  expect(new Set(answer.sources.map((s) => s.paperId)).size).toBe(answer.sources.length);

  // Every [n] in the text names a cited source, and every citation appears in the text.
  const bySourceNumber = new Map(answer.sources.map((s) => [s.n, s]));
  const used = markers(answer);
  expect(used.length).toBe(answer.citations.length);
  for (const n of used) {
    expect(bySourceNumber.get(n)?.cited, `[${n}]`).toBe(true);
  }
  expect(new Set(used)).toEqual(new Set(answer.sources.filter((s) => s.cited).map((s) => s.n)));

  for (const citation of answer.citations) {
    const source = bySourceNumber.get(citation.n);
    expect(source?.paperId).toBe(citation.paperId);
    expect(source?.title).toBe(citation.title);
    expect(answer.text).toContain(`"${citation.quote}" [${citation.n}]`);
    // The quote is a verbatim sentence of the cited paper's abstract.
    const paper = core.paper(citation.paperId);
    expect(citation.quote).toBeTruthy();
    expectVerbatimQuote(citation.quote!, paper.abstract);
  }
}

/** A quote is a sentence of the abstract, verbatim, or (over 400 characters) its start up to a word, then "…". */
function expectVerbatimQuote(quote: string, abstract: string): void {
  expect(quote.length).toBeLessThanOrEqual(MAX_QUOTE_CHARS);
  const sentences = splitSentences(abstract);
  if (sentences.includes(quote)) return;
  expect(quote.endsWith('…')).toBe(true);
  const head = quote.slice(0, -1);
  const sentence = sentences.find((s) => s.startsWith(head));
  expect(sentence, quote.slice(0, 60)).toBeDefined();
  expect(sentence!.length).toBeGreaterThan(MAX_QUOTE_CHARS);
  // Cut at a word: the next character of the sentence is whitespace.
  expect(sentence![head.length]).toMatch(/\s/);
}

describe('PaperbotCore.ask with the extractive answerer', () => {
  it('answers the photo-editing question from Null-text Inversion, with verbatim quotes', async () => {
    const answer = await core.ask('  How can I edit a real photo with a text-guided diffusion model?  ');
    checkExtractiveAnswer(answer);
    expect(answer.question).toBe('How can I edit a real photo with a text-guided diffusion model?');
    expect(answer.sources[0]?.title).toBe(NULL_TEXT);
    expect(answer.sources[0]?.cited).toBe(true);
    expect(answer.citations[0]?.title).toBe(NULL_TEXT);
    expect(answer.sources.length).toBeLessThanOrEqual(8);
    expect(answer.relevance.ratio).toBeGreaterThanOrEqual(answer.relevance.threshold);
    expect(answer.relevance.threshold).toBe(DEFAULT_BAND_THRESHOLDS.minRatio);
    expect(answer.relevance.band).toBe('confident');
    expect(answer.timings.totalMs).toBeGreaterThanOrEqual(0);
    // The seed papers have no arXiv id: their ids are title hashes, and they carry the listing date.
    expect(answer.sources[0]?.paperId).toMatch(/^t-[0-9a-f]{10}$/);
    expect(answer.sources[0]?.date).toBe('Mar 14');
  });

  it.each(ON_TOPIC)('keeps citations consistent for: %s', async (question) => {
    checkExtractiveAnswer(await core.ask(question));
  });

  it('quotes at most three sentences of the top paper and two of any other', async () => {
    for (const question of ON_TOPIC) {
      const answer = await core.ask(question);
      const perPaper = new Map<string, number>();
      for (const c of answer.citations) perPaper.set(c.paperId, (perPaper.get(c.paperId) ?? 0) + 1);
      for (const [id, count] of perPaper) expect(count, `${question} / ${id}`).toBeLessThanOrEqual(id === answer.sources[0]?.paperId ? 3 : 2);
    }
  });

  it('refuses an off-topic question and names the closest papers', async () => {
    const answer = await core.ask('What is the best recipe for sourdough bread?');
    expect(answer.mode).toBe('refusal');
    expect(answer.citations).toEqual([]);
    expect(answer.text.startsWith('Nothing')).toBe(true);
    expect(answer.text).toContain('53 papers');
    expect(answer.text).not.toMatch(/\[\d+\]/);
    expect(answer.refusal).not.toBeNull();
    expect(answer.refusal!.closest.length).toBeGreaterThan(0);
    expect(answer.refusal!.closest.length).toBeLessThanOrEqual(3);
    expect(answer.refusal!.closest.every((s) => !s.cited)).toBe(true);
    expect(answer.sources).toEqual(answer.refusal!.closest);
    expect(answer.relevance.ratio).toBeLessThan(answer.relevance.threshold);
  });

  it('refuses a question of stopwords only, with no closest papers to show', async () => {
    const answer = await core.ask('What is it, and how?');
    expect(answer.mode).toBe('refusal');
    expect(answer.citations).toEqual([]);
    expect(answer.refusal?.closest).toEqual([]);
    expect(answer.text.startsWith('Nothing')).toBe(true);
  });

  it('rejects an empty question with a usage error', async () => {
    await expectUsageError(core.ask(''));
    await expectUsageError(core.ask('   \n\t '));
  });

  it('rejects a question over the limit with a usage error naming the limit', async () => {
    const error = await expectUsageError(core.ask('diffusion '.repeat(201)));
    expect(error.message).toContain('2000');
    expect(error.message).toContain('MAX_QUESTION_CHARS');
    // Exactly at the limit is fine (surrounding whitespace does not count).
    const atLimit = `${'a'.repeat(1990)} diffusion`;
    expect(atLimit.length).toBe(2000);
    const answer = await core.ask(`  ${atLimit}  `);
    expect(['extractive', 'refusal']).toContain(answer.mode);
  });

  it('quotes a sentence over 400 characters up to a word boundary, then "…", and still verbatim', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'long.jsonl');
    // One "sentence" of about 5,000 characters (no sentence break), about a topic nothing else covers.
    const words = Array.from({ length: 500 }, (_, i) => ['quasicrystal', 'phonon', 'lattice', 'annealing'][i % 4]).join(' ');
    writeFileSync(file, `${JSON.stringify({ id: 'long-1', title: 'Quasicrystal phonon lattice annealing', abstract: words })}\n`);
    await core.ingest([file]);
    const answer = await core.ask('How does quasicrystal phonon lattice annealing work?');
    checkExtractiveAnswer(answer);
    const quote = answer.citations.find((c) => c.paperId === 'long-1')?.quote;
    expect(quote).toBeDefined();
    expect(quote!.length).toBeLessThanOrEqual(400);
    expect(quote!.length).toBeGreaterThan(350);
    expect(quote!.endsWith('…')).toBe(true);
    expect(answer.text.length).toBeLessThan(2000);
  });

  it('capQuote keeps short sentences whole and cuts long ones at a word, or hard when one word is too long', () => {
    expect(capQuote('A short sentence.')).toBe('A short sentence.');
    const long = 'alpha beta gamma '.repeat(40).trim();
    const cut = capQuote(long);
    expect(cut.length).toBeLessThanOrEqual(400);
    expect(cut.endsWith('…')).toBe(true);
    expect(long.startsWith(cut.slice(0, -1))).toBe(true);
    expect(long[cut.length - 1]).toBe(' ');
    const oneWord = 'x'.repeat(1000);
    expect(capQuote(oneWord)).toBe(`${'x'.repeat(399)}…`);
    // Never half an emoji.
    const emoji = '😀'.repeat(300);
    expect(capQuote(emoji).length).toBeLessThanOrEqual(400);
    expect(capQuote(emoji)).toMatch(/^(😀)+…$/u);
  });

  it('looks papers up by id and by title', async () => {
    const answer = await core.ask('How can I edit a real photo with a text-guided diffusion model?');
    const id = answer.sources[0]!.paperId;
    expect(core.paper(id).title).toBe(NULL_TEXT);
    expect(core.paper(NULL_TEXT.toUpperCase()).id).toBe(id);
    expect(() => core.paper('no-such-paper')).toThrowError(expect.objectContaining({ code: 'not_found' }));
  });
});

describe('sentence splitting for quotes', () => {
  it.each([
    ['abbreviations e.g. and i.e. do not end a sentence', 'We test on images, e.g. COCO and i.e. real photos. Then we edit them.', ['We test on images, e.g. COCO and i.e. real photos.', 'Then we edit them.']],
    ['et al. does not end a sentence', 'As Smith et al. (2020) showed, it works. We extend it.', ['As Smith et al. (2020) showed, it works.', 'We extend it.']],
    ['decimals stay whole', 'Accuracy rises by 3.5 points to 91.2%. The cost is 0.7 s.', ['Accuracy rises by 3.5 points to 91.2%.', 'The cost is 0.7 s.']],
    ['etc. before a capital ends a sentence', 'It handles text, images, audio, etc. We release the code.', ['It handles text, images, audio, etc.', 'We release the code.']],
    ['Fig. and approx. do not end a sentence', 'See Fig. 2 for the approx. 5 times speedup. It holds.', ['See Fig. 2 for the approx. 5 times speedup.', 'It holds.']],
    ['question and exclamation marks end one', 'Can it scale? Yes! It does.', ['Can it scale?', 'Yes!', 'It does.']],
  ])('%s', (_name, text, expected) => {
    expect(splitSentences(text)).toEqual(expected);
  });
});

describe('which sentences an extractive answer quotes', () => {
  it('questionFocus: how-much and which-dataset questions ask for a number or a name', () => {
    expect(questionFocus('By how much does LD-Pruner reduce inference time?')).toEqual({ number: true, name: false });
    expect(questionFocus('Which benchmark was LD-Pruner evaluated on?')).toEqual({ number: false, name: true });
    expect(questionFocus('How does null-text inversion work?')).toEqual({ number: false, name: false });
  });

  it('a question whose answer is a number gets the sentence with the number', async () => {
    const answer = await core.ask('By how much does LD-Pruner reduce the inference time of Stable Diffusion?');
    expect(answer.citations.map((c) => c.quote).join('\n')).toContain('34.9%');
  });

  it('never quotes two sentences that say the same thing', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'repeats.jsonl');
    const abstract =
      'Zorblat networks compress embedding tables for recommendation by 40%. Zorblat networks compress embedding tables for recommendation, by 40%. ' +
      'A separate study of zorblat training shows it converges in 3 epochs.';
    writeFileSync(file, `${JSON.stringify({ id: '2612.00777', title: 'Zorblat Networks', abstract })}\n`);
    await core.ingest([file]);
    const answer = await core.ask('How much do zorblat networks compress embedding tables for recommendation?');
    const quotes = answer.citations.filter((c) => c.paperId === '2612.00777').map((c) => c.quote);
    expect(quotes.filter((quote) => quote?.startsWith('Zorblat networks compress'))).toHaveLength(1);
  });

  it('stays within 4 quotes and 1,000 characters of quoted text, however many sentences match', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'long.jsonl');
    const sentence = (i: number) => `Quuxite lattice ${i} improves quuxite retrieval accuracy by ${i}.5% with a long explanation of the quuxite method that keeps going on for a while.`;
    writeFileSync(file, `${JSON.stringify({ id: '2612.00778', title: 'Quuxite Lattices', abstract: Array.from({ length: 12 }, (_, i) => sentence(i + 1)).join(' ') })}\n`);
    await core.ingest([file]);
    const answer = await core.ask('How much do quuxite lattices improve quuxite retrieval accuracy?');
    expect(answer.citations.length).toBeLessThanOrEqual(4);
    expect(answer.citations.reduce((sum, c) => sum + c.quote!.length, 0)).toBeLessThanOrEqual(MAX_QUOTED_CHARS);
  });
});
