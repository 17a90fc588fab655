/**
 * Retrieval metrics and dataset loaders shared by `npm run eval` and the tuning scripts.
 * Pure metric functions first; loaders read BEIR files and question sets from disk.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import { PaperbotError } from '../src/errors.ts';
import type { PaperbotCore } from '../src/rag/paperbot-core.ts';
import { titleKey } from '../src/rag/text.ts';
import type { Paper, RelevanceBand, RetrievalMode } from '../src/rag/types.ts';

/** nDCG@k with graded gains (BEIR's definition: gain = relevance, log2 discount). */
export function ndcgAt(ranked: readonly string[], relevant: ReadonlyMap<string, number>, k: number): number {
  let dcg = 0;
  ranked.slice(0, k).forEach((id, i) => {
    const gain = relevant.get(id) ?? 0;
    if (gain > 0) dcg += gain / Math.log2(i + 2);
  });
  const ideal = [...relevant.values()].filter((g) => g > 0).sort((a, b) => b - a).slice(0, k);
  const idcg = ideal.reduce((sum, gain, i) => sum + gain / Math.log2(i + 2), 0);
  return idcg > 0 ? dcg / idcg : 0;
}

export function recallAt(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
  if (!relevant.size) return 0;
  let hits = 0;
  for (const id of ranked.slice(0, k)) if (relevant.has(id)) hits += 1;
  return hits / relevant.size;
}

export function reciprocalRank(ranked: readonly string[], relevant: ReadonlySet<string>): number {
  const i = ranked.findIndex((id) => relevant.has(id));
  return i < 0 ? 0 : 1 / (i + 1);
}

export const mean = (values: readonly number[]): number | null => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : null);

export interface BeirDataset {
  corpusFile: string;
  queries: Map<string, string>;
  /** query id → (doc id → graded relevance) */
  qrels: Map<string, Map<string, number>>;
}

const queryLine = z.object({ _id: z.union([z.string(), z.number()]).transform(String), text: z.string() });

export function loadBeir(dir: string, split: string): BeirDataset {
  const corpusFile = ['corpus.jsonl.gz', 'corpus.jsonl'].map((f) => path.join(dir, f)).find((f) => existsSync(f));
  if (!corpusFile) throw new Error(`No corpus.jsonl or corpus.jsonl.gz in ${dir}`);
  const queriesFile = ['queries.jsonl', 'queries.jsonl.gz'].map((f) => path.join(dir, f)).find((f) => existsSync(f));
  if (!queriesFile) throw new Error(`No queries.jsonl in ${dir}`);
  const qrelsFile = path.join(dir, 'qrels', `${split}.tsv`);
  if (!existsSync(qrelsFile)) throw new Error(`No qrels/${split}.tsv in ${dir}`);

  const readText = (file: string) => (file.endsWith('.gz') ? gunzipSync(readFileSync(file)) : readFileSync(file)).toString('utf8');
  const queries = new Map<string, string>();
  for (const line of readText(queriesFile).split('\n')) {
    if (!line.trim()) continue;
    const parsed = queryLine.parse(JSON.parse(line));
    queries.set(parsed._id, parsed.text);
  }
  const qrels = new Map<string, Map<string, number>>();
  readText(qrelsFile)
    .split('\n')
    .slice(1) // header: query-id corpus-id score
    .forEach((line) => {
      const [queryId, docId, score] = line.trim().split('\t');
      if (!queryId || !docId) return;
      const judged = qrels.get(queryId) ?? new Map<string, number>();
      judged.set(docId, Number(score ?? 1));
      qrels.set(queryId, judged);
    });
  return { corpusFile, queries, qrels };
}

/** Scores one retrieval mode on a BEIR split: mean nDCG@10 and Recall@100 over judged queries. */
export async function scoreBeir(core: PaperbotCore, dataset: BeirDataset, mode: RetrievalMode = 'keyword'): Promise<{ 'ndcg@10': number; 'recall@100': number; queries: number }> {
  const ndcg: number[] = [];
  const recall: number[] = [];
  const retriever = core.retriever();
  for (const [queryId, judged] of dataset.qrels) {
    const query = dataset.queries.get(queryId);
    if (query === undefined) continue;
    const ranked = (await retriever.retrieve(query, 100, mode)).hits.map((hit) => hit.paper.id);
    ndcg.push(ndcgAt(ranked, judged, 10));
    recall.push(recallAt(ranked, new Set([...judged].filter(([, g]) => g > 0).map(([id]) => id)), 100));
  }
  return { 'ndcg@10': mean(ndcg) ?? 0, 'recall@100': mean(recall) ?? 0, queries: ndcg.length };
}

export const questionLine = z
  .object({
    id: z.union([z.string(), z.number()]).transform(String),
    question: z.string().min(1),
    gold: z.array(z.string()),
    kind: z.string().default('all'),
  })
  .loose();
export type Question = z.output<typeof questionLine>;

/**
 * Reads a JSON Lines file of questions, each line checked by `schema`. A line that is not JSON or
 * fails the schema is a usage error naming `FILE:LINE`, so the run stops before any work.
 */
export function loadJsonLines<Schema extends z.ZodType>(file: string, schema: Schema): Array<z.output<Schema>> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new PaperbotError('usage', `Cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return text
    .split('\n')
    .map((line, i) => ({ line, n: i + 1 }))
    .filter(({ line }) => line.trim())
    .map(({ line, n }) => {
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch {
        throw new PaperbotError('usage', `${file}:${n}: not valid JSON`);
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
        throw new PaperbotError('usage', `${file}:${n}: ${where}${issue?.message ?? 'invalid line'}`);
      }
      return parsed.data;
    });
}

export function loadQuestions(file: string): Question[] {
  return loadJsonLines(file, questionLine);
}

/** The relevance bands in display order. */
export const RELEVANCE_BANDS = ['confident', 'uncertain', 'none'] as const satisfies readonly RelevanceBand[];

/** How many questions fell in each band, split by whether they have gold papers. */
export interface BandCounts {
  answerable: Record<RelevanceBand, number>;
  unanswerable: Record<RelevanceBand, number>;
}

export function emptyBandCounts(): BandCounts {
  const zero = () => ({ confident: 0, uncertain: 0, none: 0 });
  return { answerable: zero(), unanswerable: zero() };
}

/** `bands: answerable confident 30, uncertain 5, none 2; unanswerable confident 0, uncertain 1, none 7` */
export function formatBands(bands: BandCounts): string {
  const side = (counts: Record<RelevanceBand, number>) => RELEVANCE_BANDS.map((band) => `${band} ${counts[band]}`).join(', ');
  return `bands: answerable ${side(bands.answerable)}; unanswerable ${side(bands.unanswerable)}`;
}

/** A gold entry names a paper by id or by title (compared case-, space- and punctuation-insensitively). */
export function matchesGold(paper: Pick<Paper, 'id' | 'title'>, gold: string): boolean {
  return paper.id === gold.trim() || titleKey(paper.title) === titleKey(gold);
}

export interface KindMetrics {
  n: number;
  'recall@1': number | null;
  'recall@5': number | null;
  mrr: number | null;
}

export interface QuestionEvaluation {
  overall: Omit<KindMetrics, 'n'>;
  byKind: Record<string, KindMetrics>;
  refusal: { correct: number | null; wrong: number | null };
  bands: BandCounts;
  perQuestion: Array<{ id: string; kind: string; band: RelevanceBand; refused: boolean; ratio: number; firstGoldRank: number | null; top: string[] }>;
}

export async function evaluateQuestions(core: PaperbotCore, questions: readonly Question[], mode: RetrievalMode = core.settings.retrievalMode): Promise<QuestionEvaluation> {
  const retriever = core.retriever();
  const byKind = new Map<string, { r1: number[]; r5: number[]; mrr: number[]; n: number }>();
  const overall = { r1: [] as number[], r5: [] as number[], mrr: [] as number[] };
  const correctRefusals: number[] = [];
  const wrongRefusals: number[] = [];
  const bands = emptyBandCounts();
  const perQuestion: QuestionEvaluation['perQuestion'] = [];
  for (const question of questions) {
    const retrieval = await retriever.retrieve(question.question, 100, mode);
    const refused = !retrieval.relevance.relevant;
    const band: RelevanceBand = retrieval.relevance.band;
    bands[question.gold.length === 0 ? 'unanswerable' : 'answerable'][band] += 1;
    const ranked = retrieval.hits.map((hit) => hit.paper);
    const bucket = byKind.get(question.kind) ?? { r1: [], r5: [], mrr: [], n: 0 };
    bucket.n += 1;
    byKind.set(question.kind, bucket);
    let firstGoldRank: number | null = null;
    if (question.gold.length === 0) {
      correctRefusals.push(refused ? 1 : 0);
    } else {
      wrongRefusals.push(refused ? 1 : 0);
      const isGold = (paper: Paper) => question.gold.some((gold) => matchesGold(paper, gold));
      const goldFound = new Set(ranked.slice(0, 5).flatMap((paper) => question.gold.filter((gold) => matchesGold(paper, gold))));
      const rank = ranked.findIndex(isGold);
      firstGoldRank = rank < 0 ? null : rank + 1;
      const r1 = ranked[0] && isGold(ranked[0]) ? 1 : 0;
      const r5 = goldFound.size / question.gold.length;
      const rr = rank < 0 ? 0 : 1 / (rank + 1);
      for (const target of [bucket, overall]) {
        target.r1.push(r1);
        target.r5.push(r5);
        target.mrr.push(rr);
      }
    }
    perQuestion.push({ id: question.id, kind: question.kind, band, refused, ratio: retrieval.relevance.ratio, firstGoldRank, top: ranked.slice(0, 3).map((p) => p.title) });
  }
  return {
    overall: { 'recall@1': mean(overall.r1), 'recall@5': mean(overall.r5), mrr: mean(overall.mrr) },
    byKind: Object.fromEntries(
      [...byKind].map(([kind, m]) => [kind, { n: m.n, 'recall@1': mean(m.r1), 'recall@5': mean(m.r5), mrr: mean(m.mrr) }]),
    ),
    refusal: { correct: mean(correctRefusals), wrong: mean(wrongRefusals) },
    bands,
    perQuestion,
  };
}
