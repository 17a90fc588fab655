/**
 * The platform-neutral ask flow against a real core and the fake Ollama on loopback, through a
 * surface that records what a platform would be asked to show.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnswerQueue } from '../src/adapters/chat/answer-queue.ts';
import { ChatSession, type AnswerSurface } from '../src/adapters/chat/chat-session.ts';
import { encodeConversation } from '../src/adapters/chat/ids.ts';
import { RateLimiter } from '../src/adapters/chat/rate-limiter.ts';
import { REPLIES } from '../src/adapters/chat/replies.ts';
import { createPaperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import type { PaperbotCore } from '../src/rag/paperbot-core.ts';
import type { Answer } from '../src/rag/types.ts';
import { startFakeOllama, type FakeOllama } from './helpers/fake-ollama.ts';
import { tempDir } from './helpers/temp.ts';

const QUESTION = 'How can I edit a real photo with a text-guided diffusion model?';
const REPLY = 'Invert the photo first, then edit the prompt [1]. '.repeat(6).trim();

/** Records every call, and how many ran at once; each call takes `delayMs` like a slow platform. */
class RecordingSurface implements AnswerSurface {
  readonly calls: string[] = [];
  readonly progressed: string[] = [];
  readonly failures: string[] = [];
  finished: { answer: Answer; answerId: number } | undefined;
  maxInFlight = 0;
  private inFlight = 0;
  private readonly seen = new Map<string, () => void>();

  constructor(
    readonly requestId = 'request-1',
    private readonly delayMs = 0,
  ) {}

  /** Resolves once a call named `name` has been made. */
  reached(name: string): Promise<void> {
    if (this.calls.includes(name)) return Promise.resolve();
    return new Promise((resolve) => this.seen.set(name, resolve));
  }

  begin = () => this.record('begin');
  waiting = (position: number) => this.record(`waiting ${position}`);
  starting = () => this.record('starting');
  progress = (text: string) => {
    this.progressed.push(text);
    return this.record('progress');
  };
  finish = (answer: Answer, answerId: number) => {
    this.finished = { answer, answerId };
    return this.record('finish');
  };
  fail = (text: string) => {
    this.failures.push(text);
    return this.record('fail');
  };

  private async record(name: string): Promise<void> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.calls.push(name);
    this.seen.get(name)?.();
    if (this.delayMs) await sleep(this.delayMs);
    this.inFlight -= 1;
  }
}

describe('ChatSession', () => {
  let ollama: FakeOllama;
  let core: PaperbotCore;
  const logger = pino({ level: 'silent' });
  const session = (overrides: { concurrency?: number; limit?: number } = {}) =>
    new ChatSession(core, {
      platform: 'discord',
      queue: new AnswerQueue({ concurrency: overrides.concurrency ?? 1 }),
      limiter: new RateLimiter({ limit: overrides.limit ?? 100, windowMs: 60_000 }),
      logger,
      editIntervalMs: 5,
    });

  beforeAll(async () => {
    ollama = await startFakeOllama({ chatReply: () => REPLY, chunkSize: 10, chunkDelayMs: 15 });
    core = await createPaperbot(loadConfig({ PAPERBOT_DATA_DIR: tempDir(), OLLAMA_HOST: ollama.url, EMBEDDER: 'local', LOCAL_EMBED_DIM: '256', LOG_LEVEL: 'silent' }), { logger });
  }, 60_000);

  afterAll(async () => {
    core?.close();
    await ollama?.close();
  });

  it('streams with edits one at a time and in order, then logs the answer and remembers the turn', async () => {
    const chat = session();
    const surface = new RecordingSurface('thread-message', 40);
    const conversation = { platform: 'discord', threadId: 'thread-1' } as const;
    expect(chat.knows(conversation)).toBe(false);

    const answer = await chat.ask(surface, { question: QUESTION, userId: 'U1', conversation });

    expect(answer?.mode).toBe('ollama');
    expect(surface.calls[0]).toBe('begin');
    expect(surface.calls[1]).toBe('starting');
    expect(surface.calls.at(-1)).toBe('finish');
    expect(surface.calls.filter((call) => call === 'progress').length).toBeGreaterThanOrEqual(2);
    expect(surface.maxInFlight).toBe(1);
    // Each edit shows more of the same text: none overtook an earlier one.
    for (const [i, text] of surface.progressed.entries()) if (i > 0) expect(text.startsWith(surface.progressed[i - 1]!)).toBe(true);
    expect(surface.finished?.answer).toBe(answer);

    // The answer id goes into the buttons: a press on it is stored.
    expect(chat.recordFeedback({ rating: 'up', answerId: surface.finished!.answerId }, 'U2', 'press')).toBe(REPLIES.feedbackThanks.up);
    expect(core.feedback(1)[0]).toMatchObject({ platform: 'discord', rating: 'up', question: QUESTION });
    expect(chat.knows(conversation)).toBe(true);
    expect(core.conversation(encodeConversation(conversation), 5).map((turn) => turn.question)).toEqual([QUESTION]);
  });

  it('refuses an empty question and one over the rate limit before anything is posted', async () => {
    const chat = session({ limit: 1 });
    const empty = new RecordingSurface();
    expect(await chat.ask(empty, { question: '   ', userId: 'U3' })).toBeUndefined();
    expect(empty.calls).toEqual(['fail']);
    expect(empty.failures[0]).toMatch(/empty/i);

    await chat.ask(new RecordingSurface(), { question: QUESTION, userId: 'U3' });
    const limited = new RecordingSurface();
    expect(await chat.ask(limited, { question: QUESTION, userId: 'U3' })).toBeUndefined();
    expect(limited.calls).toEqual(['fail']);
    expect(limited.failures[0]).toMatch(/^You have asked a lot in the last minute; try again in \d+ (s|min)\.$/);
  });

  it('tells a waiting asker their place, and that paperbot is restarting when it stops; the running answer still finishes', async () => {
    const chat = session({ concurrency: 1 });
    const first = new RecordingSurface('first');
    const second = new RecordingSurface('second');
    const answering = chat.ask(first, { question: QUESTION, userId: 'U4' });
    await first.reached('starting');
    const waiting = chat.ask(second, { question: QUESTION, userId: 'U5' });
    await second.reached('waiting 1');

    await chat.close(10_000);

    expect(await waiting).toBeUndefined();
    expect(second.calls).toEqual(['begin', 'waiting 1', 'fail']);
    expect(second.failures[0]).toContain('restarting');
    expect((await answering)?.mode).toBe('ollama');
    expect(first.calls.at(-1)).toBe('finish');
  });

  it('answers a press on an unknown or malformed button in words', () => {
    const chat = session();
    expect(chat.recordFeedback(undefined, 'U6', 'press')).toBe(REPLIES.unknownFeedback);
    expect(chat.recordFeedback({ rating: 'down', answerId: 999_999 }, 'U6', 'press')).toContain('No answer 999999 to rate');
  });
});
