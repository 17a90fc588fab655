/**
 * Issue 12, trustworthy answers, through the real core and the CLI: the three relevance bands
 * end to end, the model's "not in these abstracts" marker, and the claim check of a model's
 * cited sentences (the real `ollama` client against the fake Ollama on loopback), rendered in the
 * CLI, Discord and Slack. The pure parts have their own tests (relevance, claims, extractive).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AnswerQueue } from '../src/adapters/chat/answer-queue.ts';
import { ChatSession, type AnswerSurface } from '../src/adapters/chat/chat-session.ts';
import { RateLimiter } from '../src/adapters/chat/rate-limiter.ts';
import { renderAnswer as renderDiscord } from '../src/adapters/discord/render.ts';
import { renderAnswerBlocks as renderSlack } from '../src/adapters/slack/render.ts';
import { answerToText } from '../src/commands/render.ts';
import { createPaperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { UNCERTAIN_CAVEAT } from '../src/rag/answer.ts';
import type { CoreEvent, PaperbotCore } from '../src/rag/paperbot-core.ts';
import { NOT_IN_ABSTRACTS } from '../src/rag/prompt.ts';
import type { Answer } from '../src/rag/types.ts';
import { runCliAsync } from './helpers/cli.ts';
import { startFakeOllama, type ChatRequestBody, type FakeOllama, type FakeOllamaOptions } from './helpers/fake-ollama.ts';
import { tempDir } from './helpers/temp.ts';

const PHOTO_QUESTION = 'How can I edit a real photo with a text-guided diffusion model?';
const LD_PRUNER_QUESTION = 'By how much does LD-Pruner reduce the inference time of Stable Diffusion?';
const OFF_TOPIC_QUESTION = 'What is a good recipe for sourdough bread with a long cold fermentation?';
// A long chat-style question whose paper is ranked first but shares few of its words (tuning set h13).
const UNCERTAIN_QUESTION = 'making diffusion sampling cheaper on a phone without wrecking image quality, any tricks?';

let fake: FakeOllama | undefined;
let core: PaperbotCore | undefined;
afterEach(async () => {
  core?.close();
  core = undefined;
  await fake?.close();
  fake = undefined;
});

async function setup(options: FakeOllamaOptions = {}): Promise<{ fake: FakeOllama; core: PaperbotCore }> {
  fake = await startFakeOllama(options);
  core = await createPaperbot(loadConfig({ PAPERBOT_DATA_DIR: tempDir('paperbot-trust-'), OLLAMA_HOST: fake.url, EMBEDDER: 'local', LOCAL_EMBED_DIM: '256' }), {
    logger: createLogger('silent'),
  });
  return { fake, core };
}

async function collect(stream: AsyncIterable<CoreEvent>): Promise<{ deltas: string[]; notices: string[]; answer: Answer }> {
  const deltas: string[] = [];
  const notices: string[] = [];
  let answer: Answer | undefined;
  for await (const event of stream) {
    if (event.type === 'delta') deltas.push(event.text);
    else if (event.type === 'notice') notices.push(event.text);
    else answer = event.answer;
  }
  return { deltas, notices, answer: answer! };
}

/** Abstract `n` of the prompt the model was sent (the fake's reply is written from it). */
function abstractOf(request: ChatRequestBody, n: number): { title: string; abstract: string } {
  const document = JSON.parse(request.messages[1]!.content) as { abstracts: Array<{ number: number; title: string; abstract: string }> };
  return document.abstracts.find((a) => a.number === n)!;
}

interface AskJson {
  text: string;
  mode: string;
  relevance: { band: string };
  refusal: { closest: unknown[] } | null;
  claims: { text: string; cites: number[]; support: string }[];
  weakClaims: number;
}

describe('three relevance bands, end to end (ask --json, embedded default)', () => {
  const dir = tempDir('paperbot-trust-cli-');
  const env = { PAPERBOT_DATA_DIR: dir, OLLAMA_HOST: 'http://127.0.0.1:47', LOG_LEVEL: 'silent' };
  const ask = async (question: string): Promise<AskJson> => {
    const run = await runCliAsync(['ask', '--json', question], env, { timeoutMs: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as AskJson;
  };

  it('confident: answered as before, no caveat', { timeout: 60_000 }, async () => {
    const answer = await ask(PHOTO_QUESTION);
    expect(answer.relevance.band).toBe('confident');
    expect(answer.mode).toBe('extractive');
    expect(answer.text).not.toContain(UNCERTAIN_CAVEAT);
    expect(answer.claims.length).toBeGreaterThan(0);
    expect(answer.claims.every((claim) => claim.support === 'quoted')).toBe(true);
    expect(answer.weakClaims).toBe(0);
  });

  it('uncertain: answered with citations, the caveat as its first line (JSON and text)', { timeout: 60_000 }, async () => {
    const answer = await ask(UNCERTAIN_QUESTION);
    expect(answer.relevance.band).toBe('uncertain');
    expect(answer.refusal).toBeNull();
    expect(answer.text.split('\n')[0]).toBe(UNCERTAIN_CAVEAT);
    expect(answer.text).toMatch(/\[1\]/);
    const text = await runCliAsync(['ask', UNCERTAIN_QUESTION], env, { timeoutMs: 60_000 });
    expect(text.stdout.split('\n')[0]).toBe(UNCERTAIN_CAVEAT);
  });

  it('none: the refusal with the closest titles', { timeout: 60_000 }, async () => {
    const answer = await ask(OFF_TOPIC_QUESTION);
    expect(answer.relevance.band).toBe('none');
    expect(answer.mode).toBe('refusal');
    expect(answer.refusal?.closest.length).toBeGreaterThan(0);
    expect(answer.claims).toEqual([]);
  });
});

describe('the uncertain caveat on both chat platforms', () => {
  it('a chat answer in band uncertain starts with the caveat, on Discord and on Slack', async () => {
    const { core } = await setup({ chatReply: (request) => `${abstractOf(request, 1).title} speeds up sampling [1].` });
    let finished: Answer | undefined;
    const surface: AnswerSurface = {
      requestId: 'r1',
      begin: async () => undefined,
      progress: async () => undefined,
      finish: async (answer) => void (finished = answer),
      fail: async (text) => {
        throw new Error(text);
      },
    };
    const session = new ChatSession(core, { platform: 'slack', queue: new AnswerQueue({ concurrency: 1 }), limiter: new RateLimiter({ limit: 10, windowMs: 60_000 }), logger: createLogger('silent'), editIntervalMs: 0 });
    await session.ask(surface, { question: UNCERTAIN_QUESTION, userId: 'U1' });
    expect(finished?.relevance.band).toBe('uncertain');
    expect(finished?.text.split('\n')[0]).toBe(UNCERTAIN_CAVEAT);
    expect(renderDiscord(finished!)[0]!.content.split('\n')[0]).toBe(UNCERTAIN_CAVEAT);
    expect(JSON.stringify(renderSlack(finished!).messages[0])).toContain(UNCERTAIN_CAVEAT.slice(0, 40));
  });
});

describe('follow-ups in a thread', () => {
  it("the thread's earlier question helps retrieval but does not make an unrelated follow-up confident", async () => {
    const { core } = await setup();
    const first = await core.ask(PHOTO_QUESTION);
    expect(first.relevance.band).toBe('confident');
    const history = [{ question: PHOTO_QUESTION, answer: first }];
    const offTopic = await core.ask('Who won the football world cup in 2022?', { history });
    expect(offTopic.relevance.band).toBe('uncertain');
    expect(offTopic.text.split('\n')[0]).toBe(UNCERTAIN_CAVEAT);
    const related = await core.ask('Does the inversion need to tune the model weights of Stable Diffusion?', { history });
    expect(related.relevance.band).toBe('confident');
  });
});

describe('the model may say the abstracts do not answer', () => {
  it('a reply that starts with the marker becomes a refusal (band none, closest titles); the marker is never shown', async () => {
    const { core } = await setup({ chatReply: () => `${NOT_IN_ABSTRACTS}\nThe abstracts are about other things.`, chunkSize: 3 });
    const { deltas, answer } = await collect(core.askStream(PHOTO_QUESTION));
    expect(answer.mode).toBe('refusal');
    expect(answer.relevance.band).toBe('none');
    expect(answer.refusal?.closest.length).toBeGreaterThan(0);
    expect(answer.refusal?.reason).toMatch(/found nothing in the closest abstracts/);
    expect(deltas.join('')).not.toMatch(/NOT_IN|THESE_ABS/);
    expect(answer.text).not.toContain(NOT_IN_ABSTRACTS);
    // The refusal's sentence is streamed like any refusal's (the CLI prints the deltas).
    expect(deltas.join('')).toBe(answer.text);
  });

  it('a reply of a few characters that only look like the marker start is text, not a refusal', async () => {
    const { core } = await setup({ chatReply: () => 'NO' });
    const answer = await core.ask(PHOTO_QUESTION);
    expect(answer.mode).toBe('ollama');
    expect(answer.text).toBe('NO');
  });

  it('the marker inside an answer is dropped, even split across chunks', async () => {
    const { core } = await setup({ chatReply: (request) => `${abstractOf(request, 1).title} is the paper [1]. ${NOT_IN_ABSTRACTS} More.`, chunkSize: 5 });
    const { deltas, answer } = await collect(core.askStream(PHOTO_QUESTION));
    expect(answer.mode).toBe('ollama');
    expect(deltas.join('')).toBe(answer.text);
    expect(answer.text).not.toMatch(/NOT_IN|THESE_ABS/);
  });

  it('the prompt asks for the marker', async () => {
    const { fake, core } = await setup();
    await core.ask(PHOTO_QUESTION);
    const system = (fake.requestsTo('/api/chat')[0]!.body as ChatRequestBody).messages[0]!.content;
    expect(system).toContain(NOT_IN_ABSTRACTS);
  });
});

describe('every cited sentence of a model answer checked', () => {
  const reply = (request: ChatRequestBody) => {
    const first = abstractOf(request, 1).abstract;
    // Abstract 1 of the LD-Pruner question is LD-Pruner: a paraphrase with its numbers, then a claim it never makes.
    expect(first).toContain('34.9%');
    return 'LD-Pruner cuts the inference time of Stable Diffusion by 34.9% and improves its FID by 5.2% [1]. The method also cures cancer in mice [1].';
  };

  it('a paraphrase with its numbers is supported; a claim the abstract never makes is weak, marked, and counted in a notice', async () => {
    const { core } = await setup({ chatReply: reply, chunkSize: 7 });
    const { deltas, notices, answer } = await collect(core.askStream(LD_PRUNER_QUESTION));
    expect(answer.mode).toBe('ollama');
    expect(answer.claims.map((claim) => [claim.cites, claim.support])).toEqual([
      [[1], 'supported'],
      [[1], 'weak'],
    ]);
    expect(answer.weakClaims).toBe(1);
    expect(answer.text).toContain('cures cancer in mice [1]. ⚠ not found in [1]');
    expect(answer.text).not.toMatch(/5\.2% \[1\]\. ⚠/);
    // Streamed as it will stay: the marker is in the deltas, not added afterwards.
    expect(deltas.join('')).toBe(answer.text);
    expect(notices.some((notice) => /1 sentence \(marked ⚠\) could not be checked/.test(notice))).toBe(true);
    expect(answer.notices.some((notice) => /1 sentence \(marked ⚠\)/.test(notice))).toBe(true);

    // The CLI, Discord and Slack show the marker, and the footer count.
    expect(answerToText(answer)).toContain('⚠ not found in [1]');
    const discord = renderDiscord(answer);
    expect(discord.map((message) => message.content).join('\n')).toContain('⚠ not found in [1]');
    expect(discord.at(-1)!.embeds.at(-1)?.footer?.text).toMatch(/1 sentence \(marked ⚠\) could not be checked/);
    const slack = JSON.stringify(renderSlack(answer));
    expect(slack).toContain('⚠ not found in [1]');
    expect(slack).toMatch(/1 sentence \(marked ⚠\) could not be checked/);
  });

  it('a weak sentence is a number the abstract does not hold', async () => {
    const { core } = await setup({ chatReply: () => 'LD-Pruner cuts the inference time of Stable Diffusion by 43.9% [1].' });
    const answer = await core.ask(LD_PRUNER_QUESTION);
    expect(answer.claims).toEqual([{ text: 'LD-Pruner cuts the inference time of Stable Diffusion by 43.9% [1].', cites: [1], support: 'weak' }]);
  });

  it('ask --json carries claims and weakClaims, and the CLI text marks the weak sentence', { timeout: 60_000 }, async () => {
    const { fake } = await setup({ chatReply: reply });
    const env = { PAPERBOT_DATA_DIR: tempDir('paperbot-trust-cli-model-'), OLLAMA_HOST: fake.url, EMBEDDER: 'local', LOCAL_EMBED_DIM: '256', LOG_LEVEL: 'silent' };
    const json = await runCliAsync(['ask', '--json', LD_PRUNER_QUESTION], env, { timeoutMs: 60_000 });
    expect(json.status, json.stderr).toBe(0);
    const parsed = JSON.parse(json.stdout) as AskJson;
    expect(parsed.weakClaims).toBe(1);
    expect(parsed.claims.map((claim) => claim.support)).toEqual(['supported', 'weak']);
    const text = await runCliAsync(['ask', LD_PRUNER_QUESTION], env, { timeoutMs: 60_000 });
    expect(text.stdout).toContain('cures cancer in mice [1]. ⚠ not found in [1]');
    expect(text.stderr).toMatch(/1 sentence \(marked ⚠\) could not be checked/);
  });
});
