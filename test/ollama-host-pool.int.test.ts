/**
 * A pool of Ollama hosts (OLLAMA_HOSTS, issue 13 part 4): the real core and `ollama` client
 * against two fake Ollama servers on loopback. Answers go to the host with the fewest in flight;
 * a failing host is left out for OLLAMA_HOST_COOLDOWN_MS and the answer goes to another; after the
 * cooldown it is tried again; `stats` lists each host.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openPaperbot, type Paperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import { PaperbotError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import { runCliAsync } from './helpers/cli.ts';
import { startFakeOllama, type FakeOllama, type FakeOllamaOptions } from './helpers/fake-ollama.ts';
import { tempDir } from './helpers/temp.ts';

const QUESTION = 'How can I edit a real photo with a text-guided diffusion model?';
const fakes: FakeOllama[] = [];
let paperbot: Paperbot | undefined;
afterEach(async () => {
  paperbot?.close();
  paperbot = undefined;
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
});

async function fake(options: FakeOllamaOptions = {}): Promise<FakeOllama> {
  const started = await startFakeOllama(options);
  fakes.push(started);
  return started;
}

async function open(hosts: readonly FakeOllama[], extra: Record<string, string> = {}): Promise<Paperbot> {
  paperbot = await openPaperbot(
    loadConfig({ PAPERBOT_DATA_DIR: tempDir('paperbot-pool-'), OLLAMA_HOSTS: hosts.map((h) => h.url).join(','), EMBEDDER: 'local', LOCAL_EMBED_DIM: '256', OLLAMA_TIMEOUT_MS: '3000', ...extra }),
    { logger: createLogger('silent') },
  );
  return paperbot;
}

const chats = (host: FakeOllama) => host.requestsTo('/api/chat').length;

describe('OLLAMA_HOSTS', () => {
  it('parses a comma-separated list like OLLAMA_HOST, dropping repeats; a bad entry is a config error', () => {
    expect(loadConfig({ OLLAMA_HOSTS: 'gpu1:11434, http://gpu2:8080 ,gpu1:11434' }).OLLAMA_HOSTS).toEqual(['http://gpu1:11434', 'http://gpu2:8080']);
    expect(loadConfig({}).OLLAMA_HOSTS).toBeUndefined();
    expect(() => loadConfig({ OLLAMA_HOSTS: 'gpu1, ftp://x' })).toThrowError(PaperbotError);
  });

  it('two answers at once go to two hosts (fewest in flight)', async () => {
    const a = await fake({ chunkSize: 4, chunkDelayMs: 20 });
    const b = await fake({ chunkSize: 4, chunkDelayMs: 20 });
    const { core } = await open([a, b]);
    const answers = await Promise.all([core.ask(QUESTION), core.ask(QUESTION)]);
    expect(answers.map((answer) => answer.mode)).toEqual(['ollama', 'ollama']);
    expect([chats(a), chats(b)]).toEqual([1, 1]);
    // One at a time, they take turns (the least recently used host of two idle ones).
    await core.ask(QUESTION);
    await core.ask(QUESTION);
    expect([chats(a), chats(b)]).toEqual([2, 2]);
  });

  it('a failing host is left out for the cooldown, its answer goes to another, and it is tried again after', async () => {
    const broken = await fake({ faults: { status500: true } });
    const good = await fake();
    const { core } = await open([broken, good], { OLLAMA_HOST_COOLDOWN_MS: '400' });
    const first = await core.ask(QUESTION);
    expect(first.mode).toBe('ollama');
    expect(chats(broken)).toBe(1);
    expect(chats(good)).toBe(1);
    // Left out: the next answers go straight to the good host.
    await core.ask(QUESTION);
    await core.ask(QUESTION);
    expect(chats(broken)).toBe(1);
    expect(chats(good)).toBe(3);
    // After the cooldown it is tried again (and, healed, answers).
    broken.faults = {};
    await new Promise((resolve) => setTimeout(resolve, 450));
    await core.ask(QUESTION);
    await core.ask(QUESTION);
    expect(chats(broken)).toBe(2);
  });

  it('when every host fails the answer is extractive, with the notice saying why', async () => {
    const a = await fake({ faults: { status500: true } });
    const b = await fake({ faults: { status500: true } });
    const { core } = await open([a, b]);
    const answer = await core.ask(QUESTION);
    expect(answer.mode).toBe('extractive');
    expect(answer.notices.join('\n')).toMatch(/This is an extractive answer instead/);
    expect([chats(a), chats(b)]).toEqual([1, 1]);
  });

  it('stats lists each answer host with its state', { timeout: 60_000 }, async () => {
    const up = await fake();
    const down = await fake();
    await down.close();
    const env = { PAPERBOT_DATA_DIR: tempDir('paperbot-pool-stats-'), OLLAMA_HOST: up.url, OLLAMA_HOSTS: `${up.url},${down.url}`, EMBEDDER: 'local', LOCAL_EMBED_DIM: '256', LOG_LEVEL: 'silent' };
    const json = await runCliAsync(['stats', '--json'], env, { timeoutMs: 60_000 });
    expect(json.status, json.stderr).toBe(0);
    const hosts = (JSON.parse(json.stdout) as { models: { answerHosts: Array<{ host: string; reachable: boolean; hasChatModel: boolean }> } }).models.answerHosts;
    expect(hosts.map((h) => [h.host, h.reachable, h.hasChatModel])).toEqual([
      [up.url, true, true],
      [down.url, false, false],
    ]);
    const text = await runCliAsync(['stats'], env, { timeoutMs: 60_000 });
    expect(text.stdout).toContain('answer hosts (OLLAMA_HOSTS, 2):');
    expect(text.stdout).toMatch(new RegExp(`${up.url.replace(/[.:/]/g, '\\$&')}: ready, 0 in flight`));
    expect(text.stdout).toMatch(/not reachable/);
  });
});
