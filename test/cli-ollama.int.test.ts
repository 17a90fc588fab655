/**
 * The paperbot CLI as a subprocess, talking to the fake Ollama server that runs in this test
 * process. The subprocess is started with an async `spawn`: `spawnSync` (helpers/cli.ts) would
 * block this process's event loop, and with it the fake, which could then never answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCorpusFile } from '../src/rag/corpus/read-corpus-file.ts';
import { SEED_FILE, runCliAsync, type CliResult } from './helpers/cli.ts';
import { startFakeOllama, type ChatRequestBody, type FakeOllama } from './helpers/fake-ollama.ts';
import { tempDir } from './helpers/temp.ts';

const PHOTO_QUESTION = 'How can I edit a real photo with a text-guided diffusion model?';
const REPLY = 'Invert the photo with null-text inversion, then edit it with a new prompt [1].';

function parseJson(result: CliResult): Record<string, unknown> {
  // The whole of stdout must be one JSON object: JSON.parse fails on anything before or after it.
  const value: unknown = JSON.parse(result.stdout);
  expect(value).toBeTypeOf('object');
  expect(Array.isArray(value)).toBe(false);
  return value as Record<string, unknown>;
}

const stderrLines = (result: CliResult) => result.stderr.split('\n').filter((line) => line.trim() !== '');

const titles: string[] = [];
let fake: FakeOllama;

beforeAll(async () => {
  for await (const parsed of readCorpusFile(SEED_FILE)) if (parsed.kind === 'paper') titles.push(parsed.record.title);
  fake = await startFakeOllama({ chatReply: () => REPLY });
});

afterAll(async () => {
  await fake?.close();
});

/** The environment of one case: a fresh data directory, the local embedder, the fake Ollama. */
function caseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PAPERBOT_DATA_DIR: tempDir('paperbot-cli-ollama-'), OLLAMA_HOST: fake.url, EMBEDDER: 'local', LOCAL_EMBED_DIM: '256', ...extra };
}

describe('paperbot ask with Ollama', () => {
  it('prints the model answer with [1] and a Sources list whose [1] is a seed paper; --json says mode ollama', async () => {
    const env = caseEnv();
    const chatsBefore = fake.requestsTo('/api/chat').length;
    const result = await runCliAsync(['ask', PHOTO_QUESTION], env);
    expect(result.status, result.stderr).toBe(0);
    expect(fake.requestsTo('/api/chat').length).toBe(chatsBefore + 1);
    const chat = fake.requestsTo('/api/chat').at(-1)!.body as ChatRequestBody;
    expect(chat.stream).toBe(true);

    const [answerText, trailer] = result.stdout.split('\n\nSources:\n');
    expect(answerText).toBe(REPLY);
    expect(trailer).toBeDefined();
    const first = /^ {2}\[1\] (.+?)(?: \(.*\))?$/m.exec(trailer!);
    expect(first).not.toBeNull();
    expect(titles).toContain(first![1]);
    // The source [1] is the first abstract the model was given.
    const document = JSON.parse(chat.messages[1]!.content) as { abstracts: Array<{ number: number; title: string }> };
    expect(first![1]).toBe(document.abstracts[0]!.title);
    expect(result.stderr).not.toContain('extractive');

    const json = await runCliAsync(['ask', PHOTO_QUESTION, '--json'], env);
    expect(json.status, json.stderr).toBe(0);
    const answer = parseJson(json);
    expect(answer['mode']).toBe('ollama');
    expect(answer['text']).toBe(REPLY);
    const citations = answer['citations'] as Array<{ n: number; title: string }>;
    expect(citations.map((c) => c.n)).toEqual([1]);
    expect(titles).toContain(citations[0]!.title);
    expect(citations[0]!.title).toBe(first![1]);
    expect(json.stderr).toBe('');
  });

  it('with Ollama down, prints the extractive answer and one stderr line saying why', async () => {
    const down = await startFakeOllama();
    const downUrl = down.url;
    await down.close();
    const env = caseEnv({ OLLAMA_HOST: downUrl });
    // Seed the data directory first, so the ask's stderr holds only its own notice.
    const seeded = await runCliAsync(['search', '--mode', 'keyword', 'diffusion'], env);
    expect(seeded.status, seeded.stderr).toBe(0);

    const result = await runCliAsync(['ask', PHOTO_QUESTION], env);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Extractive answer: /);
    expect(result.stdout).toContain('\n\nSources:\n  [1] ');
    const lines = stderrLines(result);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^paperbot: .*not reachable.*This is an extractive answer instead\.$/);
    expect(lines[0]).toContain(downUrl);
  });
});

describe('paperbot stats, index and search with Ollama', () => {
  it('stats --json reports Ollama reachable with the chat model, and a ready vector index', async () => {
    const result = await runCliAsync(['stats', '--json'], caseEnv());
    expect(result.status, result.stderr).toBe(0);
    const stats = parseJson(result) as {
      papers: number;
      models: { chatModel: string; ollamaHost: string; ollama: { reachable: boolean; hasChatModel: boolean; hasEmbedModel: boolean; models: string[] } };
      vectorIndex: { state: string; embedder?: string; dimension?: number };
      answers: { primary: string };
    };
    expect(stats.papers).toBe(titles.length);
    expect(stats.models.ollamaHost).toBe(fake.url);
    expect(stats.models.ollama.reachable).toBe(true);
    expect(stats.models.ollama.hasChatModel).toBe(true);
    expect(stats.models.ollama.hasEmbedModel).toBe(true);
    expect(stats.models.ollama.models).toContain('llama3.2:latest');
    expect(stats.vectorIndex.state).toBe('ready');
    expect(stats.vectorIndex.dimension).toBe(256);
    expect(stats.answers.primary).toBe('ollama');
  });

  it('an index built with EMBEDDER=local is refused under EMBEDDER=ollama (exit 2, names index --rebuild) until rebuilt', async () => {
    const env = caseEnv();
    const built = await runCliAsync(['stats', '--json'], env);
    expect(built.status, built.stderr).toBe(0);
    const local = (parseJson(built)['vectorIndex'] as { embedder: string }).embedder;
    expect(local).not.toMatch(/^ollama:/);

    const mismatch = await runCliAsync(['stats'], { ...env, EMBEDDER: 'ollama' });
    expect(mismatch.status).toBe(2);
    expect(mismatch.stdout).toBe('');
    expect(mismatch.stderr).toContain('paperbot index --rebuild');
    expect(mismatch.stderr).toContain(local);

    const rebuilt = await runCliAsync(['index', '--rebuild', '--embedder', 'local', '--json'], env);
    expect(rebuilt.status, rebuilt.stderr).toBe(0);
    const rebuiltStats = parseJson(rebuilt) as { vectorIndex: { state: string; embedder: string; papers: number } };
    expect(rebuiltStats.vectorIndex.state).toBe('ready');
    expect(rebuiltStats.vectorIndex.embedder).toBe(local);
    expect(rebuiltStats.vectorIndex.papers).toBe(titles.length);

    const search = await runCliAsync(['search', '--mode', 'keyword', 'diffusion', '--json'], env);
    expect(search.status, search.stderr).toBe(0);
    const result = parseJson(search) as { mode: string; hits: Array<{ title: string; keywordScore?: number; vectorScore?: number }> };
    expect(result.mode).toBe('keyword');
    expect(result.hits.length).toBeGreaterThan(0);
    for (const hit of result.hits) {
      expect(titles).toContain(hit.title);
      expect(hit.vectorScore).toBeUndefined();
    }
    expect(result.hits[0]!.title.toLowerCase()).toContain('diffusion');
  });
});
