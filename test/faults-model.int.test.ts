/**
 * Issue 11, the model-side rows: what a model that floods, never stops, never answers or splits a
 * mention across chunks does to an answer. Each case drives the real core (and the real `ollama`
 * client) against the fake Ollama on loopback, or the real CLI as a subprocess; renderers and the
 * streaming neutraliser are checked as the pure functions they are.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AnswerQueue } from '../src/adapters/chat/answer-queue.ts';
import { ChatSession, type AnswerSurface } from '../src/adapters/chat/chat-session.ts';
import { RateLimiter } from '../src/adapters/chat/rate-limiter.ts';
import { renderAnswer } from '../src/adapters/discord/render.ts';
import { OllamaHostHealth } from '../src/adapters/ollama/ollama-client.ts';
import { renderAnswerBlocks } from '../src/adapters/slack/render.ts';
import { MentionNeutraliser, neutraliseMentions } from '../src/chat-text.ts';
import { createPaperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import { PaperbotError } from '../src/errors.ts';
import type { CoreEvent, PaperbotCore } from '../src/rag/paperbot-core.ts';
import type { Answer } from '../src/rag/types.ts';
import { runCliAsync } from './helpers/cli.ts';
import { startFakeOllama, type ChatRequestBody, type FakeOllama, type FakeOllamaOptions } from './helpers/fake-ollama.ts';
import { hasLivePing } from './helpers/pings.ts';
import { tempDir } from './helpers/temp.ts';

const QUESTION = 'How can I edit a real photo with a text-guided diffusion model?';
const logger = pino({ level: 'silent' });

let fake: FakeOllama | undefined;
let core: PaperbotCore | undefined;

afterEach(async () => {
  core?.close();
  core = undefined;
  await fake?.close();
  fake = undefined;
});

async function setup(options: FakeOllamaOptions, env: Record<string, string> = {}): Promise<{ fake: FakeOllama; core: PaperbotCore; dir: string }> {
  fake = await startFakeOllama(options);
  const dir = tempDir('paperbot-faults-model-');
  core = await createPaperbot(loadConfig({ PAPERBOT_DATA_DIR: dir, OLLAMA_HOST: fake.url, EMBEDDER: 'local', LOCAL_EMBED_DIM: '256', LOG_LEVEL: 'silent', ...env }), { logger });
  return { fake, core, dir };
}

async function collect(stream: AsyncIterable<CoreEvent>): Promise<{ events: CoreEvent[]; answer: Answer; ms: number }> {
  const started = performance.now();
  const events: CoreEvent[] = [];
  for await (const event of stream) events.push(event);
  const last = events.at(-1);
  if (last?.type !== 'answer') throw new Error('the stream did not end with an answer');
  return { events, answer: last.answer, ms: performance.now() - started };
}

const notices = (events: readonly CoreEvent[]) => events.flatMap((e) => (e.type === 'notice' ? [e.text] : []));
const streamed = (events: readonly CoreEvent[]) => events.flatMap((e) => (e.type === 'delta' ? [e.text] : [])).join('');
const chatOptions = (f: FakeOllama) => f.requestsTo('/api/chat').map((r) => (r.body as ChatRequestBody).options ?? {});

describe('row 7 (output): size limits of what is posted', () => {
  it('a model answer of 100,000 characters is posted as at most 3 messages on Discord and on Slack, ending "… see the sources", sources listed', async () => {
    const sentence = 'Inversion recovers the image, then the prompt edits it [1]. ';
    const reply = sentence.repeat(Math.ceil(100_000 / sentence.length));
    const { core } = await setup({ chatReply: () => reply, chunkSize: 5000 }, { OLLAMA_MAX_TOKENS: '100000' });
    const answer = await core.ask(QUESTION);
    expect(answer.mode).toBe('ollama');
    expect(answer.text.length).toBeGreaterThanOrEqual(100_000);

    const discord = renderAnswer(answer);
    expect(discord).toHaveLength(3);
    expect(discord[2]!.content.endsWith('… see the sources')).toBe(true);
    expect(discord[2]!.embeds[0]?.description).toContain(`[1] ${answer.sources[0]!.title}`);

    const { messages } = renderAnswerBlocks(answer, { answerId: 1 });
    expect(messages.length).toBeLessThanOrEqual(3);
    const slackTexts = messages.flatMap((m) => m.blocks.flatMap((b) => (b.type === 'section' ? [b.text.text] : b.type === 'context' ? b.elements.map((e) => e.text) : [])));
    expect(slackTexts).toContain('… see the sources');
    expect(slackTexts.join('\n')).toContain('*Sources*');
  });

  it('an extractive quote of a one-line abstract is at most 400 characters, cut at a word, verbatim up to "…"', async () => {
    // The model is down: the answer is extractive, from an abstract with no sentence break.
    const { core, dir } = await setup({}, { OLLAMA_HOST: 'http://127.0.0.1:47' });
    const words = Array.from({ length: 2000 }, (_, i) => ['quasicrystal', 'phonon', 'lattice', 'annealing', 'kinetics'][i % 5]).join(' ');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${dir}/one-line.jsonl`, `${JSON.stringify({ id: 'one-line', title: 'Quasicrystal phonon lattice annealing kinetics', abstract: words })}\n`);
    await core.ingest([`${dir}/one-line.jsonl`]);
    const answer = await core.ask('What do we know about quasicrystal phonon lattice annealing kinetics?');
    expect(answer.mode).toBe('extractive');
    const quote = answer.citations.find((c) => c.paperId === 'one-line')?.quote;
    expect(quote).toBeDefined();
    expect(quote!.length).toBeLessThanOrEqual(400);
    expect(quote!.endsWith('…')).toBe(true);
    expect(words.startsWith(quote!.slice(0, -1))).toBe(true);
    expect(words[quote!.length - 1]).toBe(' ');
    expect(answer.text).toContain(`"${quote}" [`);
    expect(renderAnswer(answer)).toHaveLength(1);
  });
});

/** The text without claim-check markers: these rows are about cuts and mentions, not claims (made-up replies are weak). */
const unmarked = (text: string) => text.replace(/ ⚠ not found in \[[\d, ]+\]/g, '');
const isCut = (notice: string) => notice.startsWith('The answer was cut');

describe('row 8: a model that never stops, or never answers', () => {
  it('a never-ending stream is cut at ANSWER_TIMEOUT_MS: the text so far kept, its citations checked, one notice', async () => {
    const { fake, core } = await setup(
      { chatReply: () => 'Invert the photo first [1]. ', chunkSize: 100, faults: { endless: 'More [1] and [42]. ' }, chunkDelayMs: 10 },
      { ANSWER_TIMEOUT_MS: '800', OLLAMA_MAX_TOKENS: '100000', OLLAMA_TIMEOUT_MS: '5000' },
    );
    const { events, answer, ms } = await collect(core.askStream(QUESTION));
    expect(ms).toBeGreaterThanOrEqual(700);
    expect(ms).toBeLessThan(2500);
    expect(answer.mode).toBe('ollama');
    expect(unmarked(answer.text).startsWith('Invert the photo first [1]. More [1] and . ')).toBe(true);
    expect(answer.text).not.toContain('[42]');
    expect(answer.citationsRemoved).toBeGreaterThan(0);
    expect(streamed(events)).toBe(answer.text);
    const cut = 'The answer was cut after 0.8 s (ANSWER_TIMEOUT_MS); what the model wrote until then is shown, its citations checked.';
    expect(answer.notices.filter(isCut)).toEqual([cut]);
    expect(notices(events).filter(isCut)).toEqual([cut]);
    // The stream was closed: the answer slot is free for the next question at once.
    fake.faults = {};
    const next = await collect(core.askStream(QUESTION));
    expect(next.answer.notices.filter(isCut)).toEqual([]);
    expect(next.ms).toBeLessThan(1500);
  });

  it('the token cap goes to Ollama as num_predict; a reply cut there (done_reason "length") is kept with one notice', async () => {
    const { fake, core } = await setup({ chatReply: () => 'Edit it with inversion [1]. '.repeat(50), chunkSize: 4 }, { OLLAMA_MAX_TOKENS: '16' });
    const { events, answer } = await collect(core.askStream(QUESTION));
    expect(chatOptions(fake)[0]).toMatchObject({ num_predict: 16 });
    expect(answer.mode).toBe('ollama');
    expect(answer.text).toBe('Edit it with inversion [1]. '.repeat(50).slice(0, 64).replace(/\[\d*$/, ''));
    const cut = 'The answer was cut at 16 tokens (OLLAMA_MAX_TOKENS); what the model wrote until then is shown, its citations checked.';
    expect(answer.notices).toEqual([cut]);
    expect(notices(events)).toEqual([cut]);
  });

  it('the default cap is 1024 tokens, and an endless stream stops there', async () => {
    const { fake, core } = await setup({ chatReply: () => 'Start [1]. ', faults: { endless: 'x' }, chunkDelayMs: 0 });
    const answer = await core.ask(QUESTION);
    expect(chatOptions(fake)[0]).toMatchObject({ num_predict: 1024 });
    // 2 chunks of the reply, then the endless text up to 1024 chunks in all.
    expect(unmarked(answer.text)).toBe(`Start [1]. ${'x'.repeat(1022)}`);
    expect(answer.notices.filter(isCut)).toEqual(['The answer was cut at 1024 tokens (OLLAMA_MAX_TOKENS); what the model wrote until then is shown, its citations checked.']);
  });

  it('a model that writes nothing before ANSWER_TIMEOUT_MS gives the extractive answer and one notice saying why', async () => {
    const { core } = await setup({ faults: { neverAnswer: true } }, { ANSWER_TIMEOUT_MS: '600', OLLAMA_TIMEOUT_MS: '5000' });
    const { events, answer, ms } = await collect(core.askStream(QUESTION));
    expect(ms).toBeLessThan(2000);
    expect(answer.mode).toBe('extractive');
    expect(notices(events)).toEqual(['The model "llama3.2" wrote nothing within 0.6 s (ANSWER_TIMEOUT_MS). This is an extractive answer instead.']);
  });

  it('a silent Ollama (accepts, never answers) costs one OLLAMA_TIMEOUT_MS per ask, not one for the embedding and one for the chat', async () => {
    // A vector index built by the Ollama embedder, so the question's embedding needs Ollama too.
    const { fake, core } = await setup({}, { EMBEDDER: 'ollama', OLLAMA_TIMEOUT_MS: '1000' });
    expect((await core.stats()).vectorIndex.state).toBe('ready');
    fake.faults = { neverAnswer: true };
    const { events, answer, ms } = await collect(core.askStream(QUESTION));
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(ms).toBeLessThan(1700);
    expect(answer.mode).toBe('extractive');
    const said = notices(events);
    expect(said).toHaveLength(2);
    expect(said[0]).toMatch(/^Vector search unavailable \(Ollama at .* did not answer within 1 s \(OLLAMA_TIMEOUT_MS=1000\)\.?\); using keyword search only\.$/);
    expect(said[1]).toMatch(/^Ollama at .* did not answer within 1 s \(OLLAMA_TIMEOUT_MS=1000\)\. That was \d+ s ago; paperbot tries it again in \d+ s\. This is an extractive answer instead\.$/);
    // Only the embedding reached the silent server; the chat was not even tried.
    expect(fake.requestsTo('/api/chat')).toHaveLength(0);
  });

  it('the CLI with a silent Ollama: the connect probe times out once and the chat is not waited for', async () => {
    fake = await startFakeOllama();
    const dir = tempDir('paperbot-faults-model-cli-');
    const env = { PAPERBOT_DATA_DIR: dir, OLLAMA_HOST: fake.url, EMBEDDER: 'ollama', OLLAMA_TIMEOUT_MS: '20000', OLLAMA_CONNECT_TIMEOUT_MS: '500' };
    // Built while Ollama answers: the index needs the Ollama embedder from now on.
    (await createPaperbot(loadConfig({ ...env, LOG_LEVEL: 'silent' }), { logger })).close();
    fake.faults = { neverAnswer: true };
    const started = performance.now();
    const result = await runCliAsync(['ask', QUESTION], env, { timeoutMs: 40_000 });
    const ms = performance.now() - started;
    expect(result.status, result.stderr).toBe(0);
    // Before: the probe, then the chat waited its 20 s.
    expect(ms).toBeLessThan(12_000);
    expect(result.stdout).toContain('Extractive answer');
    // The timeout is said once (by the vector index's notice); the answer's notice adds only its own part.
    const said = result.stderr.trim().split('\n');
    expect(said).toHaveLength(2);
    expect(said[0]).toMatch(/did not answer within 0\.5 s \(OLLAMA_CONNECT_TIMEOUT_MS=500\)\./);
    expect(said[1]).toMatch(/^paperbot: That was \d+ s ago; paperbot tries it again in \d+ s\. This is an extractive answer instead\.$/);
    expect(fake.requestsTo('/api/chat')).toHaveLength(0);
  });

  it('the host health: a timeout refuses calls for the cooldown, a refused connection does not, a success or the cooldown ends it', () => {
    let now = 0;
    const health = new OllamaHostHealth(60_000, () => now);
    const timeout = new PaperbotError('ollama_timeout', 'Ollama at http://h did not answer within 60 s (OLLAMA_TIMEOUT_MS=60000).');
    health.record(new PaperbotError('ollama_unreachable', 'Ollama is not reachable at http://h (ECONNREFUSED).'));
    expect(() => health.check()).not.toThrow();
    health.record(timeout);
    now = 3_000;
    expect(() => health.check()).toThrowError(/did not answer within 60 s \(OLLAMA_TIMEOUT_MS=60000\)\. That was 3 s ago; paperbot tries it again in 57 s\./);
    now = 60_000;
    expect(() => health.check()).not.toThrow();
    health.record(timeout);
    health.record('ok');
    expect(() => health.check()).not.toThrow();
  });
});

describe('row 10: a mention split across streamed chunks', () => {
  const CHUNKS = ['Hello ', '@every', 'one', ', <@', '123', '> and <!chan', 'nel>, @HE', 'RE too [1].'];
  const WHOLE = CHUNKS.join('');

  it('the CLI never prints a live mention when "@every" and "one" arrive in two chunks', async () => {
    fake = await startFakeOllama({ chatChunks: () => CHUNKS });
    const result = await runCliAsync(['ask', QUESTION], { PAPERBOT_DATA_DIR: tempDir('paperbot-faults-model-cli-'), OLLAMA_HOST: fake.url, EMBEDDER: 'local', LOCAL_EMBED_DIM: '256' });
    expect(result.status, result.stderr).toBe(0);
    const [text] = result.stdout.split('\n\nSources:\n');
    expect(unmarked(text!)).toBe(neutraliseMentions(WHOLE));
    expect(hasLivePing(result.stdout)).toBe(false);
    expect(result.stdout).not.toContain('@everyone');
  });

  it('the chat session shows progress without a live mention, whichever chunk it is cut after', async () => {
    const { core } = await setup({ chatChunks: () => CHUNKS, chunkDelayMs: 5 });
    const progressed: string[] = [];
    let finished: Answer | undefined;
    const surface: AnswerSurface = {
      requestId: 'r1',
      begin: async () => undefined,
      progress: async (text) => void progressed.push(text),
      finish: async (answer) => void (finished = answer),
      fail: async (text) => {
        throw new Error(text);
      },
    };
    const session = new ChatSession(core, { platform: 'discord', queue: new AnswerQueue({ concurrency: 1 }), limiter: new RateLimiter({ limit: 10, windowMs: 60_000 }), logger, editIntervalMs: 0 });
    await session.ask(surface, { question: QUESTION, userId: 'U1' });
    expect(unmarked(finished!.text)).toBe(WHOLE);
    expect(progressed.length).toBeGreaterThanOrEqual(4);
    for (const text of progressed) {
      expect(hasLivePing(text), text).toBe(false);
      expect(neutraliseMentions(WHOLE).startsWith(unmarked(text))).toBe(true);
    }
  });

  it('MentionNeutraliser: any chunking of hostile text gives neutraliseMentions of the whole', () => {
    const hostile = 'a @everyone b @here, @channel <@123> <@!4> <@&5> <@U1|bob> <!channel> <!here|here> <!subteam^S1> @every one <3 a<b @everyones x@here.';
    for (let seed = 1; seed <= 300; seed++) {
      let state = seed;
      const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const neutraliser = new MentionNeutraliser();
      let out = '';
      for (let at = 0; at < hostile.length; ) {
        const size = 1 + Math.floor(random() * 6);
        out += neutraliser.push(hostile.slice(at, at + size));
        expect(hasLivePing(out)).toBe(false);
        at += size;
      }
      out += neutraliser.flush();
      expect(out).toBe(neutraliseMentions(hostile));
    }
    // An unclosed "<!" is not held forever: it is released, broken, after 256 characters.
    const neutraliser = new MentionNeutraliser();
    const released = neutraliser.push(`<!${'x'.repeat(300)}`);
    expect(released.length).toBeGreaterThan(250);
    expect(hasLivePing(released + neutraliser.push('>') + neutraliser.flush())).toBe(false);
  });
});
