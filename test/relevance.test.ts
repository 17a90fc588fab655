import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPaperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import type { PaperLibrary } from '../src/rag/library.ts';
import { DEFAULT_BAND_THRESHOLDS, decideBand, decideRelevance, Retriever, termCoverage } from '../src/rag/retrieval.ts';
import type { RelevanceSignals } from '../src/rag/types.ts';
import { tempDir } from './helpers/temp.ts';

const THRESHOLD = DEFAULT_BAND_THRESHOLDS.minRatio;

const T = DEFAULT_BAND_THRESHOLDS;
const signals = (ratio: number, terms: number, extra: Partial<RelevanceSignals> = {}): RelevanceSignals => ({ ratio, evidence: ratio * terms, coverage: 0.5, agree: true, terms, ...extra });

describe('decideBand (three relevance bands from fixed signals)', () => {
  it('is none below both the minimum ratio and the minimum evidence', () => {
    expect(decideBand(signals(T.minRatio - 0.01, 3), T)).toBe('none');
    expect(decideBand(signals(0, 12), T)).toBe('none');
  });

  it('a long question with a low ratio but enough evidence is not refused', () => {
    // 25 terms at ratio 0.1: 2.5 terms matched at full strength, as long natural paraphrases do.
    expect(decideBand(signals(0.1, 25), T)).toBe('uncertain');
  });

  it('is confident at the confident ratio (a short question matching all it asks) or the confident evidence (a long one)', () => {
    expect(decideBand(signals(T.confidentRatio, 3), T)).toBe('confident');
    expect(decideBand(signals(T.confidentRatio - 0.01, 3), T)).toBe('uncertain');
    expect(decideBand(signals(0.2, 30, { evidence: T.confidentEvidence }), T)).toBe('confident');
    expect(decideBand(signals(0.2, 30, { evidence: T.confidentEvidence - 0.01 }), T)).toBe('uncertain');
  });

  it('is none for a question with no indexable term, whatever else it says', () => {
    expect(decideBand(signals(1, 0, { evidence: 10 }), T)).toBe('none');
  });

  it('uses the thresholds it is given', () => {
    const strict = { ...T, confidentRatio: 0.9, confidentEvidence: 100 };
    expect(decideBand(signals(0.6, 8), T)).toBe('confident');
    expect(decideBand(signals(0.6, 8), strict)).toBe('uncertain');
  });

  it('decideRelevance reports the band, relevant exactly when not none, and the minimum ratio as threshold', () => {
    expect(decideRelevance(signals(0.5, 10), T)).toMatchObject({ band: 'confident', relevant: true, ratio: 0.5, threshold: T.minRatio });
    expect(decideRelevance(signals(0.05, 4), T)).toMatchObject({ band: 'none', relevant: false });
  });
});

describe('termCoverage', () => {
  it('is the idf-weighted share of the terms found in the text', () => {
    const idf = (term: string) => (term === 'diffus' ? 3 : 1);
    expect(termCoverage(['diffus', 'model'], 'Diffusion models', idf)).toBe(1);
    expect(termCoverage(['diffus', 'cat'], 'Diffusion models', idf)).toBe(0.75);
    expect(termCoverage([], 'anything', idf)).toBe(0);
  });
});

describe('keyword retrieval on the seed corpus', () => {
  // Seeding 53 papers takes a few tens of milliseconds: each test gets its own library.
  let library: PaperLibrary;
  let retriever: Retriever;

  beforeEach(async () => {
    library = (await openPaperbot(loadConfig({ PAPERBOT_DATA_DIR: tempDir(), RETRIEVAL_MODE: 'keyword', BM25_K1: '1.2', BM25_B: '0.75', BM25_TITLE_WEIGHT: '3', LOG_LEVEL: 'silent' }))).library;
    retriever = new Retriever(library.store, library.keywordIndex, null, DEFAULT_BAND_THRESHOLDS, { k: 60, keywordWeight: 1, vectorWeight: 0.5, candidates: 100, exactCandidates: 100 });
  });

  afterEach(() => library.close());

  it('ranks Null-text Inversion first for a question about editing a real photo, and finds it relevant', async () => {
    const retrieval = (await retriever.retrieve('How can I edit a real photo with a text-guided diffusion model?', 8, 'keyword'));
    expect(retrieval.hits[0]?.paper.title).toBe('Null-text Inversion for Editing Real Images using Guided Diffusion Models');
    expect(retrieval.relevance.relevant).toBe(true);
    expect(retrieval.relevance.ratio).toBeGreaterThanOrEqual(THRESHOLD);
    expect(retrieval.relevance.ratio).toBeLessThanOrEqual(1);
    expect(retrieval.relevance.threshold).toBe(THRESHOLD);
    expect(retrieval.terms).toEqual(['edit', 'real', 'photo', 'text', 'guid', 'diffus', 'model']);
    expect(retrieval.corpusSize).toBe(53);
    expect(retrieval.hits.length).toBeGreaterThan(1);
    expect(retrieval.hits.length).toBeLessThanOrEqual(8);
    for (let i = 1; i < retrieval.hits.length; i++) expect(retrieval.hits[i - 1]!.score).toBeGreaterThanOrEqual(retrieval.hits[i]!.score);
    expect(retrieval.retrievalMs).toBeGreaterThanOrEqual(0);
  });

  it('finds an off-topic question about sourdough bread not relevant', async () => {
    const retrieval = (await retriever.retrieve('What is the best recipe for sourdough bread?', 8, 'keyword'));
    expect(retrieval.relevance.relevant).toBe(false);
    expect(retrieval.relevance.band).toBe('none');
    expect(retrieval.relevance.ratio).toBeLessThan(THRESHOLD);
  });

  it('finds a question made only of stopwords not relevant, with no terms and no hits', async () => {
    const retrieval = (await retriever.retrieve('What is it that there is, and how can we do it?', 8, 'keyword'));
    expect(retrieval.terms).toEqual([]);
    expect(retrieval.hits).toEqual([]);
    expect(retrieval.relevance).toMatchObject({ ratio: 0, threshold: THRESHOLD, relevant: false, band: 'none' });
  });

  it('respects k', async () => {
    expect((await retriever.retrieve('diffusion models', 2, 'keyword')).hits).toHaveLength(2);
  });

  const questions = readFileSync(path.resolve(import.meta.dirname, 'fixtures/seed-questions.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as { id: string; question: string; gold: string[]; kind: string });

  it('ranks the gold paper first, and finds it relevant, for every direct seed question', async () => {
    const direct = questions.filter((q) => q.kind === 'direct');
    expect(direct.length).toBeGreaterThanOrEqual(10);
    for (const q of direct) {
      const retrieval = (await retriever.retrieve(q.question, 8, 'keyword'));
      expect(retrieval.hits[0]?.paper.title, q.id).toBe(q.gold[0]);
      expect(retrieval.relevance.relevant, q.id).toBe(true);
    }
  });

  it('puts no unanswerable seed question in band confident, and refuses most of them', async () => {
    const unanswerable = questions.filter((q) => q.kind === 'unanswerable');
    expect(unanswerable.length).toBeGreaterThanOrEqual(10);
    const bands = await Promise.all(unanswerable.map(async (q) => (await retriever.retrieve(q.question, 8, 'keyword')).relevance.band));
    expect(bands.filter((band) => band === 'confident')).toEqual([]);
    expect(bands.filter((band) => band === 'none').length / bands.length).toBeGreaterThanOrEqual(0.5);
  });

  it('refuses no answerable seed question', async () => {
    const answerable = questions.filter((q) => q.gold.length > 0);
    const refused: string[] = [];
    for (const q of answerable) if ((await retriever.retrieve(q.question, 8, 'keyword')).relevance.band === 'none') refused.push(q.id);
    expect(refused).toEqual([]);
  });
});
