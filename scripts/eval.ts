/**
 * `npm run eval`: retrieval quality.
 *   --questions FILE.jsonl  scores the current corpus (PAPERBOT_DATA_DIR; the seed is ingested into an empty store)
 *   --beir DIR [--split test]  loads a BEIR dataset into a temporary store, removed afterwards
 * With --json, stdout holds one JSON object; otherwise a table.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { RETRIEVAL_MODES } from '../src/rag/retrieval.ts';
import { createPaperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import { describeError, exitCodeFor, PaperbotError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import { terminalProgress } from '../src/adapters/cli/progress.ts';
import { evaluateQuestions, loadBeir, loadQuestions, scoreBeir } from './eval-lib.ts';

// Like the CLI, read settings from .env in the working directory.
if (existsSync('.env')) process.loadEnvFile('.env');

const program = new Command('eval')
  .exitOverride((error) => {
    // Usage errors exit 2, as in the CLI; help is not an error.
    process.exit(error.code === 'commander.helpDisplayed' || error.code === 'commander.help' ? 0 : 2);
  })
  .option('--questions <file>', 'question set (JSON Lines: {id, question, gold, kind?})')
  .option('--beir <dir>', 'BEIR dataset directory (corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv)')
  .option('--split <name>', 'qrels split for --beir', 'test')
  .option('--details', 'with --questions: list every question with its rank and relevance ratio')
  .option('--mode <mode>', 'with --questions: retrieval mode (keyword, vector, hybrid; default RETRIEVAL_MODE)')
  .option('--json', 'print one JSON object')
  .parse();
const options = program.opts<{ questions?: string; beir?: string; split: string; json?: boolean; details?: boolean; mode?: string }>();

const fmt = (value: number | null) => (value === null ? '   –  ' : value.toFixed(3).padStart(6));
const notify = (message: string) => process.stderr.write(`eval: ${message}\n`);

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const progress = terminalProgress(config.PROGRESS === undefined ? 'auto' : config.PROGRESS ? 'on' : 'off');
  if (!options.questions && !options.beir) throw new PaperbotError('usage', 'Give --questions FILE.jsonl or --beir DIR.');

  if (options.questions) {
    const questions = loadQuestions(options.questions);
    const core = await createPaperbot(config, { logger, progress, notify });
    try {
      const mode = z.enum(RETRIEVAL_MODES).default(core.settings.retrievalMode).parse(options.mode);
      const result = await evaluateQuestions(core, questions, mode);
      if (options.json) {
        const summary = { overall: result.overall, byKind: result.byKind, refusal: result.refusal };
        process.stdout.write(`${JSON.stringify(options.details ? result : summary, null, 2)}\n`);
      } else {
        const lines = [`corpus: ${core.library.store.count()} papers; ${questions.length} questions; retrieval ${mode}`, 'kind            n   R@1    R@5    MRR'];
        for (const [kind, m] of Object.entries(result.byKind)) lines.push(`${kind.padEnd(14)} ${String(m.n).padStart(3)} ${fmt(m['recall@1'])} ${fmt(m['recall@5'])} ${fmt(m.mrr)}`);
        lines.push(`${'overall'.padEnd(18)} ${fmt(result.overall['recall@1'])} ${fmt(result.overall['recall@5'])} ${fmt(result.overall.mrr)}`);
        lines.push(`refusals: correct on unanswerable ${fmt(result.refusal.correct)}, wrong on answerable ${fmt(result.refusal.wrong)} (RELEVANCE_MIN_RATIO=${config.RELEVANCE_MIN_RATIO})`);
        if (options.details) {
          for (const q of result.perQuestion) lines.push(`${q.id.padEnd(5)} ${q.kind.padEnd(13)} rank=${String(q.firstGoldRank ?? '-').padEnd(3)} ratio=${q.ratio.toFixed(3)} ${q.refused ? 'REFUSED' : ''} ${q.top[0] ?? ''}`);
        }
        process.stdout.write(`${lines.join('\n')}\n`);
      }
    } finally {
      core.close();
    }
  }

  if (options.beir) {
    const dataset = loadBeir(options.beir, options.split);
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paperbot-eval-'));
    try {
      const core = await createPaperbot(config, { logger, progress, notify, seed: false, dataDir });
      try {
        const report = await core.ingest([dataset.corpusFile], 'beir');
        notify(`loaded ${report.totals.added} documents from ${dataset.corpusFile}`);
        if (report.totals.rejected) {
          notify(`${report.totals.rejected} documents were rejected (e.g. ${report.files[0]?.rejected[0]?.reason ?? '?'}); judged ones among them count as misses`);
        }
        const modes = core.library.vectors?.state.kind === 'ready' ? RETRIEVAL_MODES : (['keyword'] as const);
        const scores: Record<string, { 'ndcg@10': number; 'recall@100': number }> = {};
        let queries = 0;
        for (const mode of modes) {
          const score = await scoreBeir(core, dataset, mode);
          scores[mode] = { 'ndcg@10': score['ndcg@10'], 'recall@100': score['recall@100'] };
          queries = score.queries;
        }
        const stats = await core.stats();
        if (options.json) {
          process.stdout.write(`${JSON.stringify(scores, null, 2)}\n`);
        } else {
          const vector = stats.vectorIndex.state === 'ready' ? `${stats.vectorIndex.embedder}, ${stats.vectorIndex.dimension} dims, ${Object.entries(stats.vectorIndex.parameters).map(([name, value]) => `${name}=${value}`).join(' ')}` : `none (${stats.vectorIndex.state})`;
          const fusion = core.settings.fusion;
          process.stdout.write(
            [
              `BEIR ${path.basename(path.resolve(options.beir))} ${options.split}: ${queries} queries, ${report.papers} documents`,
              `keyword index ${Object.entries(stats.keywordIndex.parameters).map(([name, value]) => `${name}=${value}`).join(' ')}; vectors: ${vector}; RRF k=${fusion.k} weights keyword ${fusion.keywordWeight} / vector ${fusion.vectorWeight}`,
              'method     nDCG@10  Recall@100',
              ...Object.entries(scores).map(([mode, s]) => `${mode.padEnd(10)} ${s['ndcg@10'].toFixed(4)}   ${s['recall@100'].toFixed(4)}`),
            ].join('\n') + '\n',
          );
        }
      } finally {
        core.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`eval: ${describeError(error)}\n`);
  process.exitCode = exitCodeFor(error);
});
