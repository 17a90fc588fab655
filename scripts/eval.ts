/**
 * `npm run eval`: retrieval and answer quality.
 *   --questions FILE.jsonl  scores retrieval on the current corpus (PAPERBOT_DATA_DIR; the seed is ingested into an empty store)
 *   --answers FILE.jsonl  asks each question as a user would (Ollama when reachable, else extractive) and scores the answers
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
import { aggregateAnswers, answerQuestionLine, type AnswerMetrics, scoreAnswer, type AnswerScore } from './eval-answers.ts';
import { evaluateQuestions, formatBands, loadBeir, loadJsonLines, loadQuestions, scoreBeir } from './eval-lib.ts';

// Like the CLI, read settings from .env in the working directory.
if (existsSync('.env')) process.loadEnvFile('.env');

const program = new Command('eval')
  .exitOverride((error) => {
    // Usage errors exit 2, as in the CLI; help is not an error.
    process.exit(error.code === 'commander.helpDisplayed' || error.code === 'commander.help' ? 0 : 2);
  })
  .option('--questions <file>', 'question set (JSON Lines: {id, question, gold, kind?})')
  .option('--answers <file>', 'answer set (JSON Lines: {id, question, gold?, facts?, kind?})')
  .option('--beir <dir>', 'BEIR dataset directory (corpus.jsonl[.gz], queries.jsonl, qrels/<split>.tsv)')
  .option('--split <name>', 'qrels split for --beir', 'test')
  .option('--details', 'with --questions: list every question with its rank, relevance ratio and band; with --answers: with its missed facts')
  .option('--mode <mode>', 'with --questions: retrieval mode (keyword, vector, hybrid; default RETRIEVAL_MODE)')
  .option('--json', 'print one JSON object')
  .parse();
const options = program.opts<{ questions?: string; answers?: string; beir?: string; split: string; json?: boolean; details?: boolean; mode?: string }>();

const fmt = (value: number | null) => (value === null ? '   –  ' : value.toFixed(3).padStart(6));
const notify = (message: string) => process.stderr.write(`eval: ${message}\n`);

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL);
  const progress = terminalProgress(config.PROGRESS === undefined ? 'auto' : config.PROGRESS ? 'on' : 'off');
  if (!options.questions && !options.answers && !options.beir) throw new PaperbotError('usage', 'Give --questions FILE.jsonl, --answers FILE.jsonl or --beir DIR.');

  if (options.questions) {
    const questions = loadQuestions(options.questions);
    const core = await createPaperbot(config, { logger, progress, notify });
    try {
      const mode = z.enum(RETRIEVAL_MODES).default(core.settings.retrievalMode).parse(options.mode);
      const result = await evaluateQuestions(core, questions, mode);
      if (options.json) {
        const summary = { overall: result.overall, byKind: result.byKind, refusal: result.refusal, bands: result.bands };
        process.stdout.write(`${JSON.stringify(options.details ? result : summary, null, 2)}\n`);
      } else {
        const lines = [`corpus: ${core.library.store.count()} papers; ${questions.length} questions; retrieval ${mode}`, 'kind            n   R@1    R@5    MRR'];
        for (const [kind, m] of Object.entries(result.byKind)) lines.push(`${kind.padEnd(14)} ${String(m.n).padStart(3)} ${fmt(m['recall@1'])} ${fmt(m['recall@5'])} ${fmt(m.mrr)}`);
        lines.push(`${'overall'.padEnd(18)} ${fmt(result.overall['recall@1'])} ${fmt(result.overall['recall@5'])} ${fmt(result.overall.mrr)}`);
        lines.push(`refusals: correct on unanswerable ${fmt(result.refusal.correct)}, wrong on answerable ${fmt(result.refusal.wrong)} (RELEVANCE_MIN_RATIO=${config.RELEVANCE_MIN_RATIO})`);
        lines.push(formatBands(result.bands));
        if (options.details) {
          for (const q of result.perQuestion) lines.push(`${q.id.padEnd(5)} ${q.kind.padEnd(13)} rank=${String(q.firstGoldRank ?? '-').padEnd(3)} ratio=${q.ratio.toFixed(3)} band=${q.band.padEnd(9)} ${q.refused ? 'REFUSED' : ''} ${q.top[0] ?? ''}`);
        }
        process.stdout.write(`${lines.join('\n')}\n`);
      }
    } finally {
      core.close();
    }
  }

  if (options.answers) {
    const questions = loadJsonLines(options.answers, answerQuestionLine);
    const core = await createPaperbot(config, { logger, progress, notify });
    try {
      const scores: AnswerScore[] = [];
      let announced = false;
      progress.start('answering', questions.length);
      try {
        for (const question of questions) {
          const answer = await core.ask(question.question);
          scores.push(scoreAnswer(question, answer));
          if (!announced && answer.mode !== 'refusal') {
            // Said once, early: a long Ollama run should not turn out to have been extractive.
            announced = true;
            notify(`answers by ${answer.mode}${answer.model ? ` (${answer.model})` : ''}`);
          }
          progress.update(scores.length);
        }
      } finally {
        progress.stop();
      }
      const report = aggregateAnswers(scores);
      const answering = Object.keys(report.answerer.modes).filter((mode) => mode !== 'refusal');
      if (answering.length > 1) notify(`answers came from several answerers: ${answering.map((mode) => `${mode} ${report.answerer.modes[mode]}`).join(', ')}`);
      if (options.json) {
        const summary = { answerer: report.answerer, overall: report.overall, byKind: report.byKind, bands: report.bands };
        process.stdout.write(`${JSON.stringify(options.details ? report : summary, null, 2)}\n`);
      } else {
        const answerer = `${report.answerer.mode}${report.answerer.model ? ` (${report.answerer.model})` : ''}`;
        const ms = (value: number | null) => (value === null ? '–' : value.toFixed(1)).padStart(7);
        const row = (kind: string, m: AnswerMetrics) =>
          `${kind.padEnd(14)} ${String(m.n).padStart(3)} ${fmt(m.factRecall)} ${fmt(m.goldCited)} ${fmt(m.weakClaimsPerAnswer)} ${ms(m.latencyMs.p50)} ${ms(m.latencyMs.p95)}`;
        const lines = [
          `corpus: ${core.library.store.count()} papers; ${questions.length} questions; answers by ${answerer}`,
          'kind            n  facts   gold   weak  p50 ms  p95 ms',
          ...Object.entries(report.byKind).map(([kind, m]) => row(kind, m)),
          row('overall', report.overall),
          formatBands(report.bands),
        ];
        if (options.details) lines.push(...perQuestionLines(report.perQuestion));
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

/** One line per answered question: band, mode, facts and gold, then the facts it missed. */
function perQuestionLines(scores: readonly AnswerScore[]): string[] {
  return scores.map((q) => {
    const gold = q.goldCited === null ? '-' : q.goldCited ? 'yes' : 'NO';
    const missed = q.missedFacts.length ? ` missed: ${q.missedFacts.map((fact) => JSON.stringify(fact)).join('; ')}` : '';
    return `${q.id.padEnd(5)} ${q.kind.padEnd(13)} band=${q.band.padEnd(9)} ${q.mode.padEnd(10)} facts=${q.factsRecalled}/${q.facts} gold=${gold.padEnd(3)} weak=${q.weakClaims} ${q.totalMs.toFixed(0)}ms${missed}`;
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`eval: ${describeError(error)}\n`);
  process.exitCode = exitCodeFor(error);
});
