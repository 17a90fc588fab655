/**
 * The Ollama embedder inside the real core, in process, against the fake Ollama server on
 * loopback: the vector index it builds, the requests it sends (truncate, nomic-embed-text's task
 * prefixes), keyword-only fallback when Ollama goes away, and the error when the model is missing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createPaperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import { PaperbotError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import type { PaperbotCore } from '../src/rag/paperbot-core.ts';
import { startFakeOllama, type FakeOllama, type RecordedRequest } from './helpers/fake-ollama.ts';
import { tempDir } from './helpers/temp.ts';

const SEED_PAPERS = 53;
const NULL_TEXT_TITLE = 'Null-text Inversion for Editing Real Images using Guided Diffusion Models';
const QUERY = 'text-guided image editing with diffusion models';

const fakes: FakeOllama[] = [];
const cores: PaperbotCore[] = [];

// Registered after temp.ts's hook, so (hooks run as a stack) this closes the stores before their directories are removed.
afterEach(async () => {
  while (cores.length) cores.pop()!.close();
  while (fakes.length) await fakes.pop()!.close();
});

async function fakeOllama(options: Parameters<typeof startFakeOllama>[0]): Promise<FakeOllama> {
  const fake = await startFakeOllama(options);
  fakes.push(fake);
  return fake;
}

async function open(dir: string, host: string, embedder: 'auto' | 'ollama' | 'local', notified: string[] = []): Promise<PaperbotCore> {
  const config = loadConfig({ PAPERBOT_DATA_DIR: dir, OLLAMA_HOST: host, OLLAMA_TIMEOUT_MS: '1500', EMBEDDER: embedder, LOCAL_EMBED_DIM: '256' });
  const core = await createPaperbot(config, { logger: createLogger('silent'), notify: (message) => notified.push(message) });
  cores.push(core);
  return core;
}

interface EmbedBody {
  model: string;
  input: string[];
  truncate?: boolean;
}

const embedBodies = (requests: readonly RecordedRequest[]) => requests.filter((r) => r.path === '/api/embed').map((r) => r.body as EmbedBody);

describe('EMBEDDER=ollama', () => {
  it('builds the vector index with ollama:nomic-embed-text, truncating and prefixing documents and queries', async () => {
    const fake = await fakeOllama({ embedDimension: 16 });
    const dir = tempDir('paperbot-ollama-embedder-');
    const notified: string[] = [];
    const core = await open(dir, fake.url, 'ollama', notified);

    const stats = await core.stats();
    expect(stats.papers).toBe(SEED_PAPERS);
    expect(stats.vectorIndex.state).toBe('ready');
    if (stats.vectorIndex.state !== 'ready') throw new Error('unreachable');
    expect(stats.vectorIndex.embedder).toBe('ollama:nomic-embed-text');
    expect(stats.vectorIndex.dimension).toBe(16);
    expect(stats.vectorIndex.papers).toBe(SEED_PAPERS);
    expect(notified.some((m) => m.includes('ollama:nomic-embed-text') && m.includes('16 dimensions'))).toBe(true);

    // The model was checked in /api/tags before any embedding.
    const firstTags = fake.requests.findIndex((r) => r.path === '/api/tags');
    const firstEmbed = fake.requests.findIndex((r) => r.path === '/api/embed');
    expect(firstTags).toBeGreaterThanOrEqual(0);
    expect(firstTags).toBeLessThan(firstEmbed);

    const bodies = embedBodies(fake.requests);
    expect(bodies.length).toBeGreaterThanOrEqual(2);
    for (const body of bodies) {
      expect(body.model).toBe('nomic-embed-text');
      expect(body.truncate).toBe(true);
    }
    // The first call only learns the dimension; every paper is then embedded as a search document.
    expect(bodies[0]!.input).toEqual(['dimension probe']);
    const documents = bodies.slice(1).flatMap((b) => b.input);
    expect(documents).toHaveLength(SEED_PAPERS);
    for (const input of documents) expect(input).toMatch(/^search_document: \S/);
    const paper = core.paper(NULL_TEXT_TITLE);
    expect(documents).toContain(`search_document: ${paper.title}. ${paper.abstract}`);

    // A vector search embeds the query once, as a search query.
    const before = fake.requests.length;
    const result = await core.search(QUERY, 5, 'vector');
    expect(result.mode).toBe('vector');
    expect(result.notices).toEqual([]);
    expect(result.hits).toHaveLength(5);
    for (const hit of result.hits) expect(hit.vectorScore).toBeTypeOf('number');
    const queryBodies = embedBodies(fake.requests.slice(before));
    expect(queryBodies).toHaveLength(1);
    expect(queryBodies[0]!.input).toEqual([`search_query: ${QUERY}`]);
    expect(queryBodies[0]!.truncate).toBe(true);
  });

  it('reopened with Ollama gone and EMBEDDER=auto, falls back to keyword-only retrieval with a notice', async () => {
    const fake = await fakeOllama({ embedDimension: 16 });
    const dir = tempDir('paperbot-ollama-embedder-');
    const first = await open(dir, fake.url, 'ollama');
    expect((await first.search(QUERY, 5)).mode).toBe('hybrid');
    first.close();
    cores.pop();
    const url = fake.url;
    await fake.close();

    const notified: string[] = [];
    const core = await open(dir, url, 'auto', notified);
    const notice = notified.find((m) => m.startsWith('Using keyword search only'));
    expect(notice).toBeDefined();
    expect(notice).toContain('ollama:nomic-embed-text');
    expect(notice).toContain('not reachable');

    const stats = await core.stats();
    expect(stats.vectorIndex.state).toBe('unavailable');
    // The index built with Ollama is kept for when Ollama comes back, not replaced.
    expect(stats.papers).toBe(SEED_PAPERS);

    const result = await core.search(QUERY, 5);
    expect(result.mode).toBe('keyword');
    expect(result.hits.length).toBeGreaterThan(0);
    for (const hit of result.hits) expect(hit.vectorScore).toBeUndefined();
    expect(result.notices).toHaveLength(1);
    expect(result.notices[0]).toMatch(/^Vector search unavailable .*keyword search only/);
  });

  it('fails with ollama_model_missing and the ollama pull command when the embed model is not pulled', async () => {
    const fake = await fakeOllama({ embedDimension: 16, models: ['llama3.2:latest'] });
    const dir = tempDir('paperbot-ollama-embedder-');
    let caught: unknown;
    try {
      cores.push(await open(dir, fake.url, 'ollama'));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PaperbotError);
    expect((caught as PaperbotError).code).toBe('ollama_model_missing');
    expect((caught as PaperbotError).message).toContain('ollama pull nomic-embed-text');
    // Nothing was embedded with a model Ollama does not have.
    expect(fake.requestsTo('/api/embed')).toHaveLength(0);
  });
});

describe('EMBEDDER=auto on a fresh data directory', () => {
  it('uses Ollama when it has the embed model', async () => {
    const fake = await fakeOllama({ embedDimension: 16 });
    const core = await open(tempDir('paperbot-ollama-embedder-'), fake.url, 'auto');
    const stats = await core.stats();
    expect(stats.vectorIndex.state === 'ready' && stats.vectorIndex.embedder).toBe('ollama:nomic-embed-text');
  });

  it('uses the local embedder, saying why, when Ollama lacks the embed model', async () => {
    const fake = await fakeOllama({ embedDimension: 16, models: ['llama3.2:latest'] });
    const notified: string[] = [];
    const core = await open(tempDir('paperbot-ollama-embedder-'), fake.url, 'auto', notified);
    const stats = await core.stats();
    expect(stats.vectorIndex.state).toBe('ready');
    if (stats.vectorIndex.state !== 'ready') throw new Error('unreachable');
    expect(stats.vectorIndex.embedder).not.toMatch(/^ollama:/);
    expect(stats.vectorIndex.dimension).toBe(256);
    expect(fake.requestsTo('/api/embed')).toHaveLength(0);
    expect(notified.some((m) => m.includes('Ollama cannot embed') && m.includes('index --rebuild --embedder ollama'))).toBe(true);
    expect((await core.search(QUERY, 5)).mode).toBe('hybrid');
  });
});
