import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPaperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import type { PaperLibrary } from '../src/rag/library.ts';
import { decideRelevance, Retriever } from '../src/rag/retrieval.ts';
import { tempDir } from './helpers/temp.ts';

const THRESHOLD = 0.19;

describe('decideRelevance', () => {
  it('is the ratio of top score to the best reachable score', () => {
    expect(decideRelevance(2, 8, 0.19)).toEqual({ ratio: 0.25, threshold: 0.19, relevant: true });
    expect(decideRelevance(1, 8, 0.19)).toEqual({ ratio: 0.125, threshold: 0.19, relevant: false });
  });

  it('is relevant exactly at the threshold', () => {
    expect(decideRelevance(1, 4, 0.25).relevant).toBe(true);
    expect(decideRelevance(0.999, 4, 0.25).relevant).toBe(false);
  });

  it('caps the ratio at 1', () => {
    expect(decideRelevance(12, 10, 0.5)).toEqual({ ratio: 1, threshold: 0.5, relevant: true });
  });

  it('is never relevant when the question has no indexable term (maxScore 0)', () => {
    expect(decideRelevance(0, 0, 0.19)).toEqual({ ratio: 0, threshold: 0.19, relevant: false });
    expect(decideRelevance(0, 0, 0)).toEqual({ ratio: 0, threshold: 0, relevant: false });
    expect(decideRelevance(5, 0, 0).relevant).toBe(false);
  });

  it('is not relevant when nothing matched', () => {
    expect(decideRelevance(0, 7.5, 0.19)).toEqual({ ratio: 0, threshold: 0.19, relevant: false });
  });

  it('keeps the threshold it was given', () => {
    expect(decideRelevance(3, 10, 0.42).threshold).toBe(0.42);
  });
});

describe('keyword retrieval on the seed corpus', () => {
  // Seeding 53 papers takes a few tens of milliseconds: each test gets its own library.
  let library: PaperLibrary;
  let retriever: Retriever;

  beforeEach(async () => {
    library = (await openPaperbot(loadConfig({ PAPERBOT_DATA_DIR: tempDir(), RETRIEVAL_MODE: 'keyword', BM25_K1: '1.2', BM25_B: '0.75', BM25_TITLE_WEIGHT: '3', LOG_LEVEL: 'silent' }))).library;
    retriever = new Retriever(library.store, library.keywordIndex, null, THRESHOLD, { k: 60, keywordWeight: 1, vectorWeight: 0.5, candidates: 100, exactCandidates: 100 });
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
    expect(retrieval.relevance.ratio).toBeLessThan(THRESHOLD);
  });

  it('finds a question made only of stopwords not relevant, with no terms and no hits', async () => {
    const retrieval = (await retriever.retrieve('What is it that there is, and how can we do it?', 8, 'keyword'));
    expect(retrieval.terms).toEqual([]);
    expect(retrieval.hits).toEqual([]);
    expect(retrieval.relevance).toEqual({ ratio: 0, threshold: THRESHOLD, relevant: false });
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

  it('refuses almost every unanswerable seed question', async () => {
    const unanswerable = questions.filter((q) => q.kind === 'unanswerable');
    expect(unanswerable.length).toBeGreaterThanOrEqual(10);
    const refused: typeof unanswerable = [];
    for (const q of unanswerable) if (!(await retriever.retrieve(q.question, 8, 'keyword')).relevance.relevant) refused.push(q);
    expect(refused.length / unanswerable.length).toBeGreaterThanOrEqual(0.85);
  });
});
