import { describe, expect, it } from 'vitest';
import { LocalHashedEmbedder } from '../src/rag/embedders/local-hashed-embedder.ts';

const DIM = 512;
const constantIdf = () => 2;

function embedder(weights?: { word: number; bigram: number; char: number }, dimension = DIM): LocalHashedEmbedder {
  return new LocalHashedEmbedder({ dimension, idf: constantIdf, ...(weights ? { weights } : {}) });
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

function norm(v: Float32Array): number {
  return Math.sqrt(dot(v, v));
}

const similarity = (e: LocalHashedEmbedder, a: string, b: string) => dot(e.vector(a), e.vector(b));

describe('LocalHashedEmbedder vectors', () => {
  it('has a versioned id and the configured dimension', () => {
    const e = embedder(undefined, 300);
    expect(e.id).toBe('local-hashed-v1');
    expect(e.dimension).toBe(300);
    expect(e.vector('Diffusion models edit real images.')).toHaveLength(300);
  });

  it('gives unit-length vectors, whatever the text length', () => {
    const e = embedder();
    for (const text of ['graph', 'Graph neural networks at scale', 'A long abstract about protein folding. '.repeat(40)]) {
      const v = e.vector(text);
      expect(v).toHaveLength(DIM);
      expect(norm(v)).toBeCloseTo(1, 5);
    }
  });

  it('gives identical vectors for identical texts, across calls and instances', async () => {
    const text = 'Null-text inversion for editing real images using guided diffusion models';
    const a = embedder().vector(text);
    const b = embedder().vector(text);
    expect(Array.from(b)).toEqual(Array.from(a));
    const [doc] = await embedder().embedDocuments([text]);
    const query = await embedder().embedQuery(text);
    expect(Array.from(doc!)).toEqual(Array.from(a));
    expect(Array.from(query)).toEqual(Array.from(a));
    expect(dot(a, b)).toBeCloseTo(1, 5);
  });

  it('embeds a batch in order, one vector per text', async () => {
    const e = embedder();
    const texts = ['graph neural networks', 'protein folding', 'reinforcement learning for robots'];
    const vectors = await e.embedDocuments(texts);
    expect(vectors).toHaveLength(3);
    vectors.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(e.vector(texts[i]!))));
  });

  it('puts a paraphrase sharing word stems closer than an unrelated text', () => {
    const e = embedder();
    const text = 'Training graph neural networks on large citation graphs';
    const paraphrase = 'Graph neural network trained on a large citation graph';
    const unrelated = 'Robotic grasping learned with reinforcement in simulation';
    const close = similarity(e, text, paraphrase);
    const far = similarity(e, text, unrelated);
    expect(close).toBeGreaterThan(0.5);
    expect(close).toBeGreaterThan(far + 0.3);
  });

  it('puts morphological variants ("annotated images" / "image annotations") closer than unrelated words', () => {
    const e = embedder();
    const variants = similarity(e, 'annotated images', 'image annotations');
    const unrelated = similarity(e, 'annotated images', 'quantum chemistry');
    expect(variants).toBeGreaterThan(unrelated + 0.3);
  });

  it('character n-grams alone relate variants that share no word stem ("pretraining" / "pre-training")', () => {
    // "pretraining" stems to one token, "pre-training" to two: only character n-grams can match them.
    const wordsOnly = embedder({ word: 1, bigram: 0, char: 0 });
    const charsOnly = embedder({ word: 0, bigram: 0, char: 1 });
    const withChars = embedder({ word: 1, bigram: 0.3, char: 2 });
    expect(Math.abs(similarity(wordsOnly, 'pretraining', 'pre-training'))).toBeLessThan(0.2);
    expect(similarity(charsOnly, 'pretraining', 'pre-training')).toBeGreaterThan(0.4);
    expect(similarity(withChars, 'pretraining', 'pre-training')).toBeGreaterThan(similarity(withChars, 'pretraining', 'segmentation') + 0.2);
    // And for the annotated/annotations pair, characters alone already see the resemblance.
    expect(similarity(charsOnly, 'annotated', 'annotations')).toBeGreaterThan(similarity(charsOnly, 'annotated', 'chemistry') + 0.2);
  });

  it('weighs words by the idf it is given: a shared rare word counts more than a shared common one', () => {
    const idf = (term: string) => (term === 'zeolit' ? 8 : 1);
    const e = new LocalHashedEmbedder({ dimension: DIM, idf, weights: { word: 1, bigram: 0, char: 0 } });
    const query = 'zeolite model';
    const sharesRare = similarity(e, query, 'zeolite synthesis');
    const sharesCommon = similarity(e, query, 'model synthesis');
    expect(sharesRare).toBeGreaterThan(sharesCommon + 0.3);
  });

  it('ignores case and a leading stopword; a stopword between words breaks their bigram', () => {
    const e = embedder();
    expect(Array.from(e.vector('The GRAPH Networks'))).toEqual(Array.from(e.vector('graph networks')));
    const split = e.vector('graph of networks');
    expect(Array.from(split)).not.toEqual(Array.from(e.vector('graph networks')));
    // Same words, no shared bigram: still very close.
    expect(dot(split, e.vector('graph networks'))).toBeGreaterThan(0.8);
  });

  it('gives a zero vector, without NaN, for an empty text or one made only of stopwords and punctuation', () => {
    const e = embedder();
    for (const text of ['', '   ', 'the and of', '!!! ... ???']) {
      const v = e.vector(text);
      expect(v).toHaveLength(DIM);
      expect(v.some((x) => Number.isNaN(x))).toBe(false);
      expect(v.every((x) => x === 0)).toBe(true);
    }
  });
});
