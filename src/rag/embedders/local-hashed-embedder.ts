/**
 * The embedded default embedder: no download, no server. A text becomes a hashed, signed,
 * L2-normalised TF-IDF vector over three kinds of feature (see ../shared/guides/retrieval-findings.md):
 *  - stemmed words, weighted by their idf;
 *  - bigrams of adjacent content words (phrases such as "knowledge graph");
 *  - character 3–5-grams of each word, which match morphological variants and compounds that
 *    stemming misses ("annotated"/"annotations", "pretraining"/"pre-training").
 * Word idf comes from the live keyword index, so the vector space follows the corpus; vectors
 * made before a large ingest keep the idf of their time until `paperbot index --rebuild`.
 */
import type { Embedder } from '../ports.ts';
import { isStopword, stem, words } from '../text.ts';

export interface LocalHashedEmbedderOptions {
  dimension: number;
  /** Inverse document frequency of a stemmed word; unknown words should get a high value. */
  idf: (stemmedWord: string) => number;
  /** Relative weights of the three feature kinds. */
  weights?: { word: number; bigram: number; char: number };
}

export const LOCAL_EMBEDDER_VERSION = 1;
const DEFAULT_WEIGHTS = { word: 1, bigram: 0.5, char: 0.5 } as const;
const SEED_WORD = 0x811c9dc5;
const SEED_BIGRAM = 0x01000193;
const SEED_CHAR = 0x5bd1e995;

/** FNV-1a over a range of a string, without allocating a substring. */
function fnv1a(text: string, start: number, end: number, seed: number): number {
  let hash = seed >>> 0;
  for (let i = start; i < end; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // A final avalanche so nearby strings spread over buckets and sign bits.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  return hash >>> 0;
}

export class LocalHashedEmbedder implements Embedder {
  readonly id: string;
  readonly dimension: number;
  /** Pure computation: any batch the caller likes. */
  readonly maxBatch = Number.MAX_SAFE_INTEGER;
  private readonly weights: { word: number; bigram: number; char: number };

  constructor(private readonly options: LocalHashedEmbedderOptions) {
    this.dimension = options.dimension;
    this.weights = options.weights ?? DEFAULT_WEIGHTS;
    this.id = `local-hashed-v${LOCAL_EMBEDDER_VERSION}`;
  }

  async embedDocuments(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((text) => this.vector(text));
  }

  async embedQuery(text: string): Promise<Float32Array> {
    return this.vector(text);
  }

  /** The vector of one text (synchronous: pure CPU work). */
  vector(text: string): Float32Array {
    const dimension = this.dimension;
    const vector = new Float32Array(dimension);
    const add = (hash: number, weight: number) => {
      // The top bit chooses the sign, so colliding features cancel out on average instead of piling up.
      vector[hash % dimension]! += hash & 0x80000000 ? -weight : weight;
    };

    const wordCounts = new Map<string, number>();
    const bigramCounts = new Map<string, number>();
    let previous: string | null = null;
    for (const word of words(text)) {
      if (isStopword(word)) {
        previous = null;
        continue;
      }
      wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
      const stemmed = stem(word);
      if (previous !== null) {
        const bigram = `${previous} ${stemmed}`;
        bigramCounts.set(bigram, (bigramCounts.get(bigram) ?? 0) + 1);
      }
      previous = stemmed;
    }

    const stemWeights = new Map<string, number>();
    for (const [word, count] of wordCounts) {
      const stemmed = stem(word);
      const idf = this.options.idf(stemmed);
      const tf = 1 + Math.log(count);
      stemWeights.set(stemmed, (stemWeights.get(stemmed) ?? 0) + tf * idf);
      if (this.weights.char > 0 && word.length >= 3) {
        const padded = `<${word}>`;
        let grams = 0;
        for (let n = 3; n <= 5; n++) grams += Math.max(0, padded.length - n + 1);
        const weight = (this.weights.char * tf * idf) / Math.sqrt(grams);
        for (let n = 3; n <= 5; n++) {
          for (let i = 0; i + n <= padded.length; i++) add(fnv1a(padded, i, i + n, SEED_CHAR), weight);
        }
      }
    }
    for (const [stemmed, weight] of stemWeights) add(fnv1a(stemmed, 0, stemmed.length, SEED_WORD), this.weights.word * weight);
    if (this.weights.bigram > 0) {
      for (const [bigram, count] of bigramCounts) {
        const space = bigram.indexOf(' ');
        const idf = (this.options.idf(bigram.slice(0, space)) + this.options.idf(bigram.slice(space + 1))) / 2;
        add(fnv1a(bigram, 0, bigram.length, SEED_BIGRAM), this.weights.bigram * (1 + Math.log(count)) * idf);
      }
    }

    let norm = 0;
    for (let i = 0; i < dimension; i++) norm += vector[i]! * vector[i]!;
    if (norm > 0) {
      const scale = 1 / Math.sqrt(norm);
      for (let i = 0; i < dimension; i++) vector[i]! *= scale;
    }
    return vector;
  }
}
