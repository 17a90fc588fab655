/**
 * `npm run eval -- --answers`: fact matching, percentiles and aggregation as pure functions, the
 * question loader's errors, and one run of the real script over the shipped corpus.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { exitCodeFor, PaperbotError } from '../src/errors.ts';
import type { Answer } from '../src/rag/types.ts';
import { aggregateAnswers, answerQuestionLine, type AnswerScore, contentWords, factRecalled, percentile, scoreAnswer } from '../scripts/eval-answers.ts';
import { loadJsonLines } from '../scripts/eval-lib.ts';
import { ROOT, SEED_FILE, TSX_LOADER } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';

const NULL_TEXT = 'Null-text Inversion for Editing Real Images using Guided Diffusion Models';
const LD_PRUNER = 'LD-Pruner: Efficient Pruning of Latent Diffusion Models using Task-Agnostic Insights';

describe('contentWords', () => {
  it('drops stopwords, question words and short words, stems the rest, keeps numbers whole', () => {
    expect(contentWords('How does the paper reduce the cost of 7B models by 1,000x or 34.9%?')).toEqual(['reduc', 'cost', '7b', 'model', '1000x', '34.9']);
    expect(contentWords('1,000 tokens and 12,345,678 more')).toEqual(['1000', 'token', '12345678', 'more']);
  });
});

describe('factRecalled', () => {
  it('recalls a fact whose content words appear in other inflections', () => {
    expect(factRecalled('a single pivotal noise vector for each timestamp', 'We use one pivotal noise vectors per timestamps and optimise around it.')).toBe(true);
    expect(factRecalled('keeping the model weights intact', 'This keeps both the model’s weight and the conditional embedding intact.')).toBe(true);
  });

  it('does not recall a fact stated with a different number', () => {
    expect(factRecalled('improving FID by 5.2% on MS-COCO', 'while simultaneously improving its FID by 5.2 % on the MS-COCO benchmark')).toBe(true);
    expect(factRecalled('improving FID by 5.2% on MS-COCO', 'while simultaneously improving its FID by 7.1% on the MS-COCO benchmark')).toBe(false);
    // 5.2 is not 5 and 2.
    expect(factRecalled('FID improved by 5.2%', 'FID improved by 5 points on 2 benchmarks')).toBe(false);
    expect(factRecalled('trained on 1,000 images', 'trained on 1000 images')).toBe(true);
  });

  it('needs more than half of the content words', () => {
    // Content words: random, gaussian, token, vector.
    expect(factRecalled('random Gaussian token vectors', 'tokens become vectors')).toBe(false);
    expect(factRecalled('random Gaussian token vectors', 'tokens become random vectors')).toBe(true);
  });

  it('does not recall facts from a refusal', () => {
    expect(factRecalled('random Gaussian token vectors', "I couldn't find papers on this in the library.")).toBe(false);
  });
});

describe('percentile', () => {
  it('is the nearest rank', () => {
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([5, 1, 4, 2, 3], 95)).toBe(5);
    expect(percentile([10, 20], 50)).toBe(10);
    expect(percentile([10, 20], 95)).toBe(20);
    expect(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 95)).toBe(95);
    expect(percentile([7], 50)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });
});

function answer(overrides: Partial<Answer>): Answer {
  return {
    question: 'q',
    text: '',
    mode: 'extractive',
    citations: [],
    sources: [],
    refusal: null,
    citationsRemoved: 0,
    relevance: { ratio: 0.5, threshold: 0.3, band: 'confident' },
    claims: [],
    weakClaims: 0,
    notices: [],
    timings: { retrievalMs: 1, answerMs: 1, totalMs: 2 },
    ...overrides,
  };
}

const question = (line: Record<string, unknown>) => answerQuestionLine.parse({ id: 'x', question: 'q?', ...line });

describe('scoreAnswer', () => {
  it('counts a gold paper only when the answer cites it', () => {
    const gold = question({ gold: [NULL_TEXT], facts: ['pivotal noise vector', 'classifier-free guidance'] });
    const source = { n: 1, paperId: '2211.09794', title: NULL_TEXT, score: 1 };
    const cited = scoreAnswer(gold, answer({ text: 'A pivotal noise vector [1].', sources: [{ ...source, cited: true }] }));
    expect(cited).toMatchObject({ goldCited: true, factsRecalled: 1, facts: 2, missedFacts: ['classifier-free guidance'] });
    const byCitation = scoreAnswer(question({ gold: ['2211.09794'] }), answer({ citations: [{ n: 1, paperId: '2211.09794', title: 'other' }] }));
    expect(byCitation.goldCited).toBe(true);
    expect(scoreAnswer(gold, answer({ sources: [{ ...source, cited: false }] })).goldCited).toBe(false);
    expect(scoreAnswer(question({}), answer({})).goldCited).toBeNull();
  });
});

describe('aggregateAnswers', () => {
  const score = (s: Partial<AnswerScore>): AnswerScore => ({
    id: 'x', kind: 'all', band: 'confident', answerable: s.goldCited !== undefined && s.goldCited !== null, mode: 'ollama', factsRecalled: 0, facts: 0, goldCited: null, weakClaims: 0, totalMs: 0, missedFacts: [], ...s,
  });
  const report = aggregateAnswers([
    score({ kind: 'unanswerable', band: 'none', mode: 'refusal', totalMs: 1 }),
    score({ kind: 'direct', model: 'llama3.2', factsRecalled: 2, facts: 2, goldCited: true, weakClaims: 1, totalMs: 100 }),
    score({ kind: 'direct', band: 'uncertain', factsRecalled: 0, facts: 3, goldCited: false, weakClaims: 2, totalMs: 300 }),
    score({ kind: 'direct', band: 'uncertain', goldCited: true, totalMs: 200 }),
    score({ kind: 'unanswerable', band: 'uncertain', mode: 'extractive', totalMs: 5 }),
  ]);

  it('reports overall and by kind', () => {
    expect(Object.keys(report.byKind)).toEqual(['unanswerable', 'direct']);
    // factRecall averages over questions with facts only; goldCited over questions with gold only.
    const none = { confident: 0, uncertain: 0, none: 0 };
    expect(report.byKind['direct']).toEqual({
      n: 3, factRecall: 0.5, goldCited: 2 / 3, weakClaimsPerAnswer: 1, latencyMs: { p50: 200, p95: 300 },
      bands: { answerable: { confident: 1, uncertain: 2, none: 0 }, unanswerable: none },
    });
    expect(report.byKind['unanswerable']).toEqual({
      n: 2, factRecall: null, goldCited: null, weakClaimsPerAnswer: 0, latencyMs: { p50: 1, p95: 5 },
      bands: { answerable: none, unanswerable: { confident: 0, uncertain: 1, none: 1 } },
    });
    expect(report.overall).toMatchObject({ n: 5, factRecall: 0.5, goldCited: 2 / 3, weakClaimsPerAnswer: 0.6, latencyMs: { p50: 100, p95: 300 } });
  });

  it('counts bands by answerable and unanswerable, and names the first non-refusal answerer', () => {
    expect(report.bands).toEqual({ answerable: { confident: 1, uncertain: 2, none: 0 }, unanswerable: { confident: 0, uncertain: 1, none: 1 } });
    expect(report.answerer).toEqual({ mode: 'ollama', model: 'llama3.2', modes: { refusal: 1, ollama: 3, extractive: 1 } });
    expect(aggregateAnswers([score({ mode: 'refusal' })]).answerer.mode).toBe('refusal');
    // Facts without gold papers still make a question answerable.
    expect(aggregateAnswers([score({ facts: 2, answerable: true })]).bands.answerable.confident).toBe(1);
  });
});

describe('loading answer questions', () => {
  it('defaults gold, facts and kind', () => {
    const file = path.join(tempDir(), 'q.jsonl');
    writeFileSync(file, '{"id": 1, "question": "Why?", "extra": true}\n\n');
    expect(loadJsonLines(file, answerQuestionLine)).toEqual([{ id: '1', question: 'Why?', gold: [], facts: [], kind: 'all', extra: true }]);
  });

  it.each([
    ['{"id": "a", "question": "Why?"}\n{"id": "b", "question": "Why?", "facts": [3]}\n', /q\.jsonl:2: facts\.0: /],
    ['{"id": "a", "question": "Why?", "facts": ["of the"]}\n', /q\.jsonl:1: facts\.0: a fact needs at least one content word/],
    ['{"id": "a", "question": ""}\n', /q\.jsonl:1: question: /],
    ['{"id": "a",\n', /q\.jsonl:1: not valid JSON/],
  ])('reports a malformed line as FILE:LINE, a usage error (%#)', (text, message) => {
    const file = path.join(tempDir(), 'q.jsonl');
    writeFileSync(file, text);
    let error: unknown;
    try {
      loadJsonLines(file, answerQuestionLine);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PaperbotError);
    expect((error as Error).message).toMatch(message);
    expect(exitCodeFor(error)).toBe(2);
  });
});

describe('npm run eval -- --answers (end to end, extractive)', () => {
  it('answers over the shipped corpus and reports JSON', () => {
    const seed = readFileSync(SEED_FILE, 'utf8');
    // The facts are in the abstracts, and the extractive answer quotes the sentences holding them.
    for (const text of [NULL_TEXT, 'based on the publicly available Stable Diffusion model', LD_PRUNER, 'we reduce the inference time of Stable Diffusion (SD) by 34.9%']) expect(seed).toContain(text);
    const dir = tempDir();
    const file = path.join(dir, 'answers.jsonl');
    writeFileSync(
      file,
      [
        { id: 'nt', question: 'How does Null-text Inversion make it possible to edit a real image with Stable Diffusion using text prompts?', gold: [NULL_TEXT], facts: ['based on the publicly available Stable Diffusion model'], kind: 'direct' },
        { id: 'ld', question: 'By how much does LD-Pruner cut the inference time of Stable Diffusion?', gold: [LD_PRUNER], facts: ['inference time of Stable Diffusion reduced by 34.9%'], kind: 'numeric' },
        { id: 'rye', question: 'What is the best sourdough hydration for rye bread?', kind: 'unanswerable' },
      ].map((line) => JSON.stringify(line)).join('\n'),
    );
    const result = spawnSync(process.execPath, ['--import', TSX_LOADER, path.join(ROOT, 'scripts/eval.ts'), '--answers', file, '--json', '--details'], {
      cwd: dir, // no developer .env
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', PAPERBOT_DATA_DIR: path.join(dir, 'data'), OLLAMA_HOST: 'http://127.0.0.1:47', LOG_LEVEL: 'silent' },
      timeout: 60_000,
    });
    expect(result.stderr).toContain('answers by extractive');
    expect(result.status).toBe(0);

    const band = z.enum(['confident', 'uncertain', 'none']);
    const bands = z.strictObject({ confident: z.number(), uncertain: z.number(), none: z.number() });
    const metrics = z.strictObject({
      n: z.number(),
      factRecall: z.number().nullable(),
      goldCited: z.number().nullable(),
      weakClaimsPerAnswer: z.number().nullable(),
      latencyMs: z.strictObject({ p50: z.number().nullable(), p95: z.number().nullable() }),
      bands: z.strictObject({ answerable: bands, unanswerable: bands }),
    });
    const report = z
      .strictObject({
        answerer: z.strictObject({ mode: z.string(), model: z.string().optional(), modes: z.record(z.string(), z.number()) }),
        overall: metrics,
        byKind: z.record(z.string(), metrics),
        bands: z.strictObject({ answerable: bands, unanswerable: bands }),
        perQuestion: z.array(
          z.strictObject({
            id: z.string(), kind: z.string(), band, answerable: z.boolean(), mode: z.string(), model: z.string().optional(), factsRecalled: z.number(), facts: z.number(),
            goldCited: z.boolean().nullable(), weakClaims: z.number(), totalMs: z.number(), missedFacts: z.array(z.string()),
          }),
        ),
      })
      .parse(JSON.parse(result.stdout));

    expect(report.answerer).toEqual({ mode: 'extractive', modes: { extractive: 2, refusal: 1 } });
    expect(Object.keys(report.byKind)).toEqual(['direct', 'numeric', 'unanswerable']);
    expect(report.overall).toMatchObject({ n: 3, factRecall: 1, goldCited: 1 });
    expect(report.byKind['unanswerable']).toMatchObject({ n: 1, factRecall: null, goldCited: null });
    const [nt, ld, rye] = report.perQuestion;
    for (const answered of [nt, ld]) {
      expect(answered).toMatchObject({ mode: 'extractive', goldCited: true, factsRecalled: 1, facts: 1, missedFacts: [] });
      expect(answered?.band).not.toBe('none');
    }
    expect(rye).toMatchObject({ id: 'rye', mode: 'refusal', band: 'none', goldCited: null });
    expect(report.bands.answerable.none).toBe(0);
    expect(report.bands.unanswerable).toEqual({ confident: 0, uncertain: 0, none: 1 });
  });
});

describe('npm run eval -- --questions --json (bands beside the retrieval figures)', () => {
  it('adds bands by answerable and unanswerable; refusal keeps meaning band none', () => {
    const dir = tempDir();
    const file = path.join(dir, 'questions.jsonl');
    writeFileSync(
      file,
      [
        { id: 'nt', question: 'How does Null-text Inversion edit a real image with Stable Diffusion?', gold: [NULL_TEXT], kind: 'direct' },
        { id: 'rye', question: 'What is the best sourdough hydration for rye bread?', gold: [], kind: 'unanswerable' },
      ].map((line) => JSON.stringify(line)).join('\n'),
    );
    const result = spawnSync(process.execPath, ['--import', TSX_LOADER, path.join(ROOT, 'scripts/eval.ts'), '--questions', file, '--json'], {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', PAPERBOT_DATA_DIR: path.join(dir, 'data'), OLLAMA_HOST: 'http://127.0.0.1:47', LOG_LEVEL: 'silent' },
      timeout: 60_000,
    });
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { overall: object; byKind: object; refusal: { correct: number; wrong: number }; bands: Record<string, Record<string, number>> };
    expect(report.overall).toBeDefined();
    expect(report.byKind).toBeDefined();
    expect(report.bands).toEqual({ answerable: { confident: 1, uncertain: 0, none: 0 }, unanswerable: { confident: 0, uncertain: 0, none: 1 } });
    expect(report.refusal).toEqual({ correct: 1, wrong: 0 });
  });
});
