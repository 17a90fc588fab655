/**
 * Keyword retrieval: an in-memory inverted index with BM25 ranking over title and abstract,
 * persisted to one binary file. We keep our own index instead of SQLite FTS5 because FTS5's OR
 * queries over natural-language questions take tens of milliseconds at 50k abstracts, and the
 * product needs under 10 ms (see ../shared/guides/platform-facts.md).
 *
 * Scoring is BM25F as FTS5's bm25() does it: a term's frequency is `titleWeight·tf(title) +
 * tf(abstract)`, length-normalised by the document's whole length; idf is Lucene's
 * ln(1 + (N − df + 0.5)/(df + 0.5)).
 *
 * Layout: postings in compressed-sparse-row form (per term a contiguous run of document slots with
 * their title and abstract term frequencies). Additions go to a pending list and are merged in by
 * `commit()` with one counting sort, which costs O(total postings): cheap next to reading a corpus.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { PaperbotError } from '../../errors.ts';
import { writeFileAtomically } from '../files/atomic-file.ts';

import { documentTerms } from '../../rag/text.ts';

import type { IndexDescription, KeywordIndex, KeywordIndexProvider } from '../../rag/ports.ts';
import type { ScoredRowId } from '../../rag/types.ts';
export interface Bm25Params {
  k1: number;
  b: number;
  titleWeight: number;
}

interface PendingDoc {
  rowId: number;
  length: number;
  terms: Map<string, { title: number; body: number }>;
}

const MAGIC = 'PBKW';
/** 2: the file ends with a CRC32 of every byte before it (header included); 1 covered the sections only. */
const FORMAT_VERSION = 2;
const TRAILER_BYTES = 4;
const MAX_TF = 0xffff;

export class Bm25KeywordIndex implements KeywordIndex {
  params: Bm25Params;
  private vocab = new Map<string, number>();
  private termList: string[] = [];
  /** offsets[t]..offsets[t+1] is term t's run in the posting arrays. */
  private offsets = new Uint32Array(1);
  private postingSlots = new Uint32Array(0);
  private postingTitleTf = new Uint16Array(0);
  private postingBodyTf = new Uint16Array(0);
  /** Per document slot: its paper row id (−1 once removed) and its length in terms. */
  private slotRowIds = new Int32Array(0);
  private slotLengths = new Uint32Array(0);
  private slotOfRowId = new Map<number, number>();
  private liveCount = 0;
  private totalLength = 0;
  private pending: PendingDoc[] = [];
  private removed = 0;
  private scratchScores = new Float64Array(0);

  constructor(params: Bm25Params) {
    this.params = { ...params };
  }

  /** Number of papers searchable after the next `commit()`. */
  get size(): number {
    return this.liveCount;
  }

  get vocabularySize(): number {
    return this.termList.length;
  }

  /** Queues a paper for indexing, replacing what the index held for the same row id. */
  add(rowId: number, title: string, abstract: string): void {
    this.remove(rowId);
    const terms = new Map<string, { title: number; body: number }>();
    const titleTerms = documentTerms(title);
    const bodyTerms = documentTerms(abstract);
    for (const term of titleTerms) {
      const counts = terms.get(term) ?? { title: 0, body: 0 };
      counts.title += 1;
      terms.set(term, counts);
    }
    for (const term of bodyTerms) {
      const counts = terms.get(term) ?? { title: 0, body: 0 };
      counts.body += 1;
      terms.set(term, counts);
    }
    const length = titleTerms.length + bodyTerms.length;
    this.pending.push({ rowId, length, terms });
    this.slotOfRowId.set(rowId, -1 - (this.pending.length - 1)); // negative: a pending document
    this.liveCount += 1;
    this.totalLength += length;
  }

  remove(rowId: number): void {
    const slot = this.slotOfRowId.get(rowId);
    if (slot === undefined) return;
    this.slotOfRowId.delete(rowId);
    this.liveCount -= 1;
    if (slot < 0) {
      const doc = this.pending[-1 - slot];
      if (doc) {
        this.totalLength -= doc.length;
        doc.rowId = -1;
      }
      return;
    }
    this.totalLength -= this.slotLengths[slot] ?? 0;
    this.slotRowIds[slot] = -1;
    this.removed += 1;
  }

  /** True when additions or removals wait for `commit()`. */
  get dirty(): boolean {
    return this.pending.length > 0 || this.removed > 0;
  }

  /** Merges pending additions and drops removed documents, rebuilding the posting arrays. */
  commit(): void {
    if (!this.dirty) return;
    const pending = this.pending.filter((doc) => doc.rowId >= 0);
    // Old slots that survive keep their relative order; new documents follow.
    const oldSlotCount = this.slotRowIds.length;
    const newSlotOfOld = new Int32Array(oldSlotCount).fill(-1);
    let slotCount = 0;
    for (let slot = 0; slot < oldSlotCount; slot++) {
      if ((this.slotRowIds[slot] ?? -1) >= 0) newSlotOfOld[slot] = slotCount++;
    }
    const firstNewSlot = slotCount;
    slotCount += pending.length;

    for (const doc of pending) {
      for (const term of doc.terms.keys()) {
        if (!this.vocab.has(term)) {
          this.vocab.set(term, this.termList.length);
          this.termList.push(term);
        }
      }
    }
    const termCount = this.termList.length;
    const counts = new Uint32Array(termCount + 1);
    for (let term = 0; term < termCount && term + 1 < this.offsets.length; term++) {
      const start = this.offsets[term]!;
      const end = this.offsets[term + 1]!;
      for (let p = start; p < end; p++) if (newSlotOfOld[this.postingSlots[p]!]! >= 0) counts[term + 1]! += 1;
    }
    for (const doc of pending) for (const term of doc.terms.keys()) counts[this.vocab.get(term)! + 1]! += 1;
    for (let term = 0; term < termCount; term++) counts[term + 1]! += counts[term]!;
    const total = counts[termCount]!;
    const offsets = counts.slice();
    const cursor = counts.slice(0, termCount);
    const slots = new Uint32Array(total);
    const titleTf = new Uint16Array(total);
    const bodyTf = new Uint16Array(total);

    for (let term = 0; term < termCount && term + 1 < this.offsets.length; term++) {
      const start = this.offsets[term]!;
      const end = this.offsets[term + 1]!;
      for (let p = start; p < end; p++) {
        const slot = newSlotOfOld[this.postingSlots[p]!]!;
        if (slot < 0) continue;
        const at = cursor[term]!++;
        slots[at] = slot;
        titleTf[at] = this.postingTitleTf[p]!;
        bodyTf[at] = this.postingBodyTf[p]!;
      }
    }
    const slotRowIds = new Int32Array(slotCount);
    const slotLengths = new Uint32Array(slotCount);
    for (let slot = 0; slot < oldSlotCount; slot++) {
      const target = newSlotOfOld[slot]!;
      if (target < 0) continue;
      slotRowIds[target] = this.slotRowIds[slot]!;
      slotLengths[target] = this.slotLengths[slot]!;
    }
    pending.forEach((doc, i) => {
      const slot = firstNewSlot + i;
      slotRowIds[slot] = doc.rowId;
      slotLengths[slot] = doc.length;
      for (const [term, tf] of doc.terms) {
        const at = cursor[this.vocab.get(term)!]!++;
        slots[at] = slot;
        titleTf[at] = Math.min(tf.title, MAX_TF);
        bodyTf[at] = Math.min(tf.body, MAX_TF);
      }
    });

    this.offsets = offsets;
    this.postingSlots = slots;
    this.postingTitleTf = titleTf;
    this.postingBodyTf = bodyTf;
    this.slotRowIds = slotRowIds;
    this.slotLengths = slotLengths;
    this.pending = [];
    this.removed = 0;
    this.reindexSlots();
  }

  /** Lucene's idf; a term that no document holds gets the highest idf the corpus allows. */
  idf(term: string): number {
    this.commit();
    const id = this.vocab.get(term);
    const df = id === undefined ? 0 : this.offsets[id + 1]! - this.offsets[id]!;
    const n = this.liveCount;
    return Math.log(1 + (n - df + 0.5) / (df + 0.5));
  }

  /** Document frequency of a term (0 when unknown). */
  documentFrequency(term: string): number {
    this.commit();
    const id = this.vocab.get(term);
    return id === undefined ? 0 : this.offsets[id + 1]! - this.offsets[id]!;
  }

  /**
   * The best score any document could reach for these terms: each term at saturation,
   * idf·(k1 + 1). The ratio top score / this is our relevance signal.
   */
  maxScore(terms: readonly string[]): number {
    let sum = 0;
    for (const term of terms) sum += this.idf(term) * (this.params.k1 + 1);
    return sum;
  }

  /** The `k` best papers for these (already analysed) query terms, best first. Commits first if needed. */
  search(terms: readonly string[], k: number): ScoredRowId[] {
    this.commit();
    const slotCount = this.slotRowIds.length;
    if (k <= 0 || slotCount === 0 || terms.length === 0) return [];
    if (this.scratchScores.length < slotCount) this.scratchScores = new Float64Array(slotCount);
    const scores = this.scratchScores;
    const touched: number[] = [];
    const { k1, b, titleWeight } = this.params;
    const averageLength = this.totalLength / Math.max(1, this.liveCount) || 1;

    for (const term of terms) {
      const id = this.vocab.get(term);
      if (id === undefined) continue;
      const start = this.offsets[id]!;
      const end = this.offsets[id + 1]!;
      const idf = this.idf(term);
      for (let p = start; p < end; p++) {
        const slot = this.postingSlots[p]!;
        const tf = titleWeight * this.postingTitleTf[p]! + this.postingBodyTf[p]!;
        if (tf === 0) continue;
        const norm = k1 * (1 - b + (b * this.slotLengths[slot]!) / averageLength);
        if (scores[slot] === 0) touched.push(slot);
        scores[slot]! += (idf * tf * (k1 + 1)) / (tf + norm);
      }
    }

    const hits = selectTop(touched, scores, k).map((slot) => ({ rowId: this.slotRowIds[slot]!, score: scores[slot]! }));
    for (const slot of touched) scores[slot] = 0; // the scratch array is reused by the next query
    return hits;
  }

  describe(): Omit<IndexDescription, 'location' | 'bytes'> {
    return { parameters: { ...this.params } };
  }

  /**
   * Writes the index atomically (temp file, fsync, rename), stamped with the store generation it
   * matches, and ending with a CRC32 of the whole file before it.
   */
  save(file: string, generation: number): void {
    this.commit();
    const vocabBytes = Buffer.from(this.termList.join('\n'), 'utf8');
    const sections: Buffer[] = [
      vocabBytes,
      asBuffer(this.offsets),
      asBuffer(this.postingSlots),
      asBuffer(this.postingTitleTf),
      asBuffer(this.postingBodyTf),
      asBuffer(this.slotRowIds),
      asBuffer(this.slotLengths),
    ];
    const lengths = sections.map((section) => section.length);
    const header = Buffer.from(
      JSON.stringify({ magic: MAGIC, version: FORMAT_VERSION, generation, terms: this.termList.length, lengths, totalLength: this.totalLength }),
      'utf8',
    );
    const headerLength = Buffer.alloc(4);
    headerLength.writeUInt32LE(header.length);

    const parts: Buffer[] = [Buffer.from(MAGIC), headerLength, header];
    for (const section of sections) {
      parts.push(section);
      // Sections start on 8-byte boundaries, so typed arrays can view them after a load.
      const padding = (8 - (section.length % 8)) % 8;
      if (padding) parts.push(Buffer.alloc(padding));
    }
    const trailer = Buffer.alloc(TRAILER_BYTES);
    trailer.writeUInt32LE(checksumOf(parts));
    parts.push(trailer);
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileAtomically(file, parts);
    } catch (error) {
      throw new PaperbotError('io', `Could not write the keyword index to ${file}: ${(error as Error).message}. Free some disk space and run the command again.`, { cause: error });
    }
  }

  /**
   * Reads an index written by `save`. Throws an `index` error when the file is truncated, damaged
   * anywhere (the trailing CRC32 covers header and sections) or of another format version; the
   * caller rebuilds from the store.
   */
  static load(file: string, params: Bm25Params): { index: Bm25KeywordIndex; generation: number } {
    const whole = readFileSync(file);
    const corrupt = (why: string) => new PaperbotError('index', `The keyword index ${file} is unusable (${why}).`);
    if (whole.length < 8 + TRAILER_BYTES || whole.subarray(0, 4).toString() !== MAGIC) throw corrupt('not a paperbot keyword index');
    const bytes = whole.subarray(0, whole.length - TRAILER_BYTES);
    if (checksumOf([bytes]) !== whole.readUInt32LE(bytes.length)) {
      // A format-1 file has no trailer: say so rather than "damaged" (it is rebuilt either way).
      throw corrupt(/"version":1[,}]/.test(whole.subarray(8, 8 + Math.min(200, whole.length - 8)).toString('latin1')) ? 'saved by an older paperbot' : 'checksum mismatch: it is damaged');
    }
    const headerLength = bytes.readUInt32LE(4);
    if (8 + headerLength > bytes.length) throw corrupt('truncated header');
    let header: { magic: string; version: number; generation: number; terms: number; lengths: number[]; totalLength: number };
    try {
      header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
    } catch {
      throw corrupt('unreadable header');
    }
    if (header.version !== FORMAT_VERSION || !Array.isArray(header.lengths) || header.lengths.length !== 7) throw corrupt(`format version ${header.version}`);
    const sections: Buffer[] = [];
    let at = 8 + headerLength;
    for (const length of header.lengths) {
      if (at + length > bytes.length) throw corrupt('truncated: the file is shorter than its header says');
      sections.push(bytes.subarray(at, at + length));
      at += length + ((8 - (length % 8)) % 8);
    }
    const [vocab, offsets, slots, titleTf, bodyTf, rowIds, lengths] = sections as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];

    const index = new Bm25KeywordIndex(params);
    index.termList = vocab.length ? vocab.toString('utf8').split('\n') : [];
    if (index.termList.length !== header.terms) throw corrupt('vocabulary size mismatch');
    index.termList.forEach((term, id) => index.vocab.set(term, id));
    index.offsets = copyInto(Uint32Array, offsets);
    index.postingSlots = copyInto(Uint32Array, slots);
    index.postingTitleTf = copyInto(Uint16Array, titleTf);
    index.postingBodyTf = copyInto(Uint16Array, bodyTf);
    index.slotRowIds = copyInto(Int32Array, rowIds);
    index.slotLengths = copyInto(Uint32Array, lengths);
    if (index.offsets.length !== index.termList.length + 1 || index.slotLengths.length !== index.slotRowIds.length) throw corrupt('inconsistent sections');
    index.totalLength = header.totalLength;
    index.reindexSlots();
    return { index, generation: header.generation };
  }

  private reindexSlots(): void {
    this.slotOfRowId.clear();
    this.slotRowIds.forEach((rowId, slot) => {
      if (rowId >= 0) this.slotOfRowId.set(rowId, slot);
    });
    this.liveCount = this.slotOfRowId.size;
  }
}

/** The `k` highest-scoring slots, best first; ties broken by lower slot (earlier ingested) first. */
function selectTop(candidates: readonly number[], scores: Float64Array, k: number): number[] {
  if (candidates.length > 4 * k) return partialTop(candidates, scores, k);
  return [...candidates].sort((a, b) => scores[b]! - scores[a]! || a - b).slice(0, k);
}

/** Min-heap selection: O(n log k) instead of sorting every touched document. */
function partialTop(candidates: readonly number[], scores: Float64Array, k: number): number[] {
  const heap: number[] = [];
  const worse = (a: number, b: number) => scores[a]! < scores[b]! || (scores[a] === scores[b] && a > b);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && worse(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && worse(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (const slot of candidates) {
    if (heap.length < k) {
      heap.push(slot);
      for (let i = heap.length - 1; i > 0; ) {
        const parent = (i - 1) >> 1;
        if (!worse(heap[i]!, heap[parent]!)) break;
        [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
        i = parent;
      }
    } else if (worse(heap[0]!, slot)) {
      heap[0] = slot;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => scores[b]! - scores[a]! || a - b);
}

/** CRC32 (unsigned) over the parts in order. Empty ones are skipped: zlib restarts the checksum on an empty buffer. */
function checksumOf(parts: readonly Buffer[]): number {
  let checksum = 0;
  for (const part of parts) if (part.length) checksum = crc32(part, checksum);
  return checksum >>> 0;
}

function asBuffer(view: ArrayBufferView): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

function copyInto<T extends Uint32Array | Uint16Array | Int32Array>(
  Kind: { new (buffer: ArrayBuffer): T; BYTES_PER_ELEMENT: number },
  bytes: Buffer,
): T {
  if (bytes.length % Kind.BYTES_PER_ELEMENT !== 0) throw new PaperbotError('index', 'The keyword index has a section of the wrong size.');
  // Copy into a fresh, aligned ArrayBuffer: file buffers need not be aligned for typed arrays.
  const copy = new ArrayBuffer(bytes.length);
  new Uint8Array(copy).set(bytes);
  return new Kind(copy);
}

/**
 * `KeywordIndexProvider` for BM25 indexes kept in one file of the data directory
 * (`keyword-index.bin`), in the format of `Bm25KeywordIndex.save`.
 */
export class Bm25IndexFile implements KeywordIndexProvider {
  constructor(
    readonly file: string,
    private readonly params: Bm25Params,
  ) {}

  create(): Bm25KeywordIndex {
    return new Bm25KeywordIndex(this.params);
  }

  load(): { index: Bm25KeywordIndex; generation: number } {
    return Bm25KeywordIndex.load(this.file, this.params);
  }

  save(index: KeywordIndex, generation: number): void {
    this.own(index).save(this.file, generation);
  }

  describe(index: KeywordIndex): IndexDescription {
    let bytes = 0;
    try {
      bytes = statSync(this.file).size;
    } catch {
      // Not saved yet (an empty library): nothing on disk.
    }
    return { location: this.file, bytes, ...index.describe() };
  }

  private own(index: KeywordIndex): Bm25KeywordIndex {
    if (!(index instanceof Bm25KeywordIndex)) throw new PaperbotError('internal', 'A BM25 index file can only save a BM25 keyword index.');
    return index;
  }
}
