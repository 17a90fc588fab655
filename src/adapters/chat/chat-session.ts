/**
 * The ask flow of every chat platform, written once: check the question and the asker's rate
 * limit, take a place in the answer queue (telling the asker where they stand), stream the answer
 * with throttled edits that go out one at a time and in order, then log the answer (its id goes
 * into the feedback buttons), remember the turn of a thread, and turn any failure into the one
 * failure text. Feedback and the platform-neutral commands are recorded and run here too.
 *
 * A platform implements only an `AnswerSurface` per question (where the answer appears and how
 * it is drawn) plus its transport; it never sees the queue, the limiter or the answer log.
 */
import type { Logger } from 'pino';
import { MentionNeutraliser } from '../../chat-text.ts';
import { commands } from '../../commands/index.ts';
import { PaperbotError } from '../../errors.ts';
import type { Platform } from '../../platforms.ts';
import type { PaperbotCore } from '../../rag/paperbot-core.ts';
import type { Answer, PastTurn } from '../../rag/types.ts';
import type { AnswerQueue } from './answer-queue.ts';
import { describeChatFailure } from './failure.ts';
import { encodeConversation, type ConversationRef, type FeedbackVote } from './ids.ts';
import type { RateLimiter } from './rate-limiter.ts';
import { REPLIES } from './replies.ts';

/** The platform-neutral commands a chat user may run (the others change the library or read its logs). */
export const CHAT_COMMANDS = ['search', 'paper', 'stats'] as const;
export type ChatCommand = (typeof CHAT_COMMANDS)[number];

export function isChatCommand(name: string): name is ChatCommand {
  return CHAT_COMMANDS.some((command) => command === name);
}

/** What `serve` runs: one per configured chat platform. */
export interface ChatAdapter {
  readonly name: Platform;
  /** Connects; resolves with a line such as `ready as paperbot#0001`. */
  start(): Promise<string>;
  /** Stops taking questions, lets running answers finish for up to `graceMs` (or tells their askers), disconnects. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Where one question's answer appears, implemented by each platform. The session calls, in
 * order: `begin` once the question passed its checks, `waiting` and `starting` while it is
 * queued, `progress` while it streams, then `finish` or `fail`; `fail` may also come before
 * `begin` (a refused question). Never two calls at once: each waits for the one before.
 */
export interface AnswerSurface {
  /** Goes into the log and the failure text; may change once begun (the posted message's id). */
  readonly requestId: string;
  /** The question will be answered: post a placeholder, or nothing (a reply already deferred). */
  begin(): Promise<void>;
  /** The question waits for the model, number `position` in line. */
  waiting?(position: number): Promise<void>;
  /** The model is about to start on it. */
  starting?(): Promise<void>;
  /** The answer so far (plain, its mentions neutralised, a possible mention's start held back), at most once per edit interval. */
  progress?(text: string): Promise<void>;
  /** The final answer, logged under `answerId` (for its feedback buttons). */
  finish(answer: Answer, answerId: number): Promise<void>;
  /** The question was refused or failed; `text` (plain) says why. */
  fail(text: string): Promise<void>;
}

export interface ChatQuestion {
  question: string;
  userId: string;
  /** The thread it was asked in: its earlier turns are the context, and this turn is remembered. */
  conversation?: ConversationRef;
}

export interface ChatSessionOptions {
  platform: Platform;
  /** Shared by every platform: one line in front of the model. */
  queue: AnswerQueue;
  /** Shared by every platform: one allowance per user. */
  limiter: RateLimiter;
  logger: Logger;
  /** The least time between two progress edits of one answer (the platform's rate limit). */
  editIntervalMs: number;
}

/** Earlier turns given to a follow-up: enough for context, bounded for the prompt. */
const HISTORY_TURNS = 5;
/** How long a shutdown waits, once the queue is drained, for askers to be told. */
const FAREWELL_MS = 3000;

export class ChatSession {
  /** Questions being handled, so a shutdown lets them tell their askers before disconnecting. */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly core: PaperbotCore,
    private readonly options: ChatSessionOptions,
  ) {}

  /** True when paperbot has answered in this conversation before (it survives restarts). */
  knows(conversation: ConversationRef): boolean {
    return this.core.conversation(encodeConversation(conversation), 1).length > 0;
  }

  /**
   * Answers one question on `surface`. Resolves with the answer, or undefined when it was refused
   * or failed (the asker has been told); never rejects.
   */
  ask(surface: AnswerSurface, question: ChatQuestion): Promise<Answer | undefined> {
    const running = this.answer(surface, question);
    this.inFlight.add(running);
    void running.finally(() => this.inFlight.delete(running));
    return running;
  }

  /** The reply to a 👍/👎 press (`vote` undefined: a button that decoded to nothing). Plain text. */
  recordFeedback(vote: FeedbackVote | undefined, userId: string, requestId: string): string {
    if (!vote) return REPLIES.unknownFeedback;
    try {
      this.core.recordFeedback(vote.answerId, userId, vote.rating);
      return REPLIES.feedbackThanks[vote.rating];
    } catch (error) {
      return this.describeFailure(error, requestId);
    }
  }

  /**
   * Runs a platform-neutral command with each argument's value from `argument`, and returns its
   * text (plain).
   * @throws PaperbotError (`usage`) when the input does not pass the command's schema; whatever the command throws.
   */
  async runCommand(name: ChatCommand, argument: (name: string) => string): Promise<string> {
    const definition = commands.find((command) => command.name === name);
    if (!definition) throw new PaperbotError('internal', `The ${name} command is missing from the command list.`);
    const input: Record<string, unknown> = {};
    for (const { name: argumentName } of definition.arguments) input[argumentName] = argument(argumentName);
    const parsed = definition.input.safeParse(input);
    if (!parsed.success) throw new PaperbotError('usage', REPLIES.invalidInput(parsed.error.issues[0]?.message));
    return definition.toText(await definition.run(this.core, parsed.data));
  }

  /** What the user is told about `error` (plain text); unexpected errors are logged under `requestId`. */
  describeFailure(error: unknown, requestId: string): string {
    return describeChatFailure(error, requestId, this.options.logger, this.options.platform);
  }

  /** Stops taking questions, lets running ones finish for up to `graceMs`, and waits (briefly) for their askers to be told. */
  async close(graceMs: number): Promise<void> {
    await this.options.queue.close({ cancelWaiting: true, graceMs });
    // The cancelled askers' surfaces now say "restarting…": let them finish.
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((resolve) => setTimeout(resolve, FAREWELL_MS).unref())]);
  }

  private async answer(surface: AnswerSurface, { question, userId, conversation }: ChatQuestion): Promise<Answer | undefined> {
    const { logger, platform } = this.options;
    const edits = new EditChain((error) => logger.warn({ err: error, requestId: surface.requestId }, `${platform}: could not update the answer's message`));
    let answer: Answer;
    try {
      // An empty or over-long question, or one over the rate limit, is refused before anything is posted.
      this.core.validateQuestion(question);
      const decision = this.options.limiter.take(userId);
      if (!decision.allowed) {
        await this.tell(surface, edits, REPLIES.rateLimited(decision.retryAfterMs));
        return undefined;
      }
      await surface.begin();
      const id = conversation ? encodeConversation(conversation) : undefined;
      const history = id ? this.core.conversation(id, HISTORY_TURNS) : [];
      answer = await this.options.queue.enqueue((signal) => this.stream(surface, edits, question, history, signal), {
        ...(surface.waiting ? { onPosition: (position: number) => edits.push(() => surface.waiting!(position)) } : {}),
        ...(surface.starting ? { onStart: () => edits.push(() => surface.starting!()) } : {}),
      });
      if (id) this.remember(id, { question, answer }, surface.requestId);
    } catch (error) {
      await this.tell(surface, edits, this.describeFailure(error, surface.requestId));
      return undefined;
    }
    return answer;
  }

  private async stream(surface: AnswerSurface, edits: EditChain, question: string, history: readonly PastTurn[], signal: AbortSignal): Promise<Answer> {
    // The progress text is neutralised as it grows, a mention split across two deltas included.
    const mentions = new MentionNeutraliser();
    let text = '';
    let lastEdit = 0;
    let final: Answer | undefined;
    for await (const event of this.core.askStream(question, { signal, history })) {
      if (event.type === 'delta') {
        text += mentions.push(event.text);
        const now = Date.now();
        if (surface.progress && now - lastEdit >= this.options.editIntervalMs) {
          lastEdit = now;
          // One edit in flight at a time: a slow platform slows the edits, never reorders them.
          await edits.idle();
          const shown = text;
          edits.push(() => surface.progress!(shown));
        }
      } else if (event.type === 'answer') {
        final = event.answer;
      }
    }
    await edits.idle();
    if (!final) throw new PaperbotError('internal', 'The answer stream ended without an answer.');
    // Refusals too: a wrong "nothing relevant" is the answer feedback matters most for.
    const answerId = this.core.logAnswer(final, this.options.platform);
    await edits.run(() => surface.finish(final, answerId));
    return final;
  }

  /** Says `text` on the surface after any edit still going out; a failure to say it is only logged. */
  private async tell(surface: AnswerSurface, edits: EditChain, text: string): Promise<void> {
    await edits.run(() => surface.fail(text)).catch((error: unknown) =>
      this.options.logger.warn({ err: error, requestId: surface.requestId }, `${this.options.platform}: could not tell the asker`),
    );
  }

  /** The answer is out: a turn that cannot be stored costs the next follow-up its context, not this answer. */
  private remember(id: string, turn: PastTurn, requestId: string): void {
    try {
      this.core.rememberTurn(id, turn);
    } catch (error) {
      this.options.logger.warn({ err: error, requestId }, `${this.options.platform}: could not remember the turn`);
    }
  }
}

/** Runs a surface's calls one after another, in the order they were made. */
class EditChain {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly onError: (error: unknown) => void) {}

  /** Runs `step` after the steps before it; settles as it does. */
  run(step: () => Promise<void>): Promise<void> {
    const done = this.tail.then(step);
    this.tail = done.catch(() => undefined);
    return done;
  }

  /** Like `run`, for a step whose failure only needs logging (a progress edit). */
  push(step: () => Promise<void>): void {
    this.run(step).catch(this.onError);
  }

  /** Resolves once every step so far has settled. */
  idle(): Promise<void> {
    return this.tail;
  }
}
