/**
 * The Slack adapter (Bolt): slash commands, mentions answered in threads, thread follow-ups
 * without a mention, direct messages, and 👍/👎 buttons, in Socket Mode (app-level token, no
 * public URL) or over HTTP (signing secret; Bolt verifies signatures and rejects bad ones with
 * 401). It only renders the core's answers; the queue and rate limit are shared with Discord.
 */
import { App, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import type { Logger } from 'pino';
import { commands } from '../../commands/index.ts';
import type { DigestPreview } from '../../digest/model.ts';
import { PaperbotError } from '../../errors.ts';
import type { Answer } from '../../rag/answer.ts';
import type { PaperbotCore, PastTurn } from '../../rag/paperbot-core.ts';
import { AnswerQueue } from '../shared/answer-queue.ts';
import { describeChatFailure } from '../shared/failure.ts';
import { RateLimiter, describeRetry } from '../shared/rate-limiter.ts';
import { renderSlackDigest } from './digest-render.ts';
import { SLACK_LIMITS, escapeSlackText, renderAnswerBlocks, renderStreamingBlocks, type SlackBlock, type SlackMessage } from './render.ts';

export interface SlackCommandNames {
  ask: string;
  search: string;
  paper: string;
  help: string;
}

export interface SlackBotOptions {
  botToken: string;
  /** Socket Mode when set; HTTP otherwise (then `signingSecret` is required). */
  appToken?: string;
  signingSecret?: string;
  port: number;
  /** Web API base, used as given (keep the trailing slash). */
  apiUrl: string;
  privateDefault: boolean;
  commands: SlackCommandNames;
  editIntervalMs: number;
  queue: AnswerQueue;
  limiter: RateLimiter;
  logger: Logger;
  /** Lays out the next digest for `/paperbot digest`; absent when no digest is configured. */
  digestPreview?: DigestPreview;
}

/** Bolt's logger interface on top of our pino logger, so its logs are structured like ours. */
function boltLogger(logger: Logger): BoltLogger {
  let level = LogLevel.WARN;
  return {
    debug: (...msg: unknown[]) => logger.debug({ bolt: msg }, 'bolt'),
    info: (...msg: unknown[]) => logger.info({ bolt: msg }, 'bolt'),
    warn: (...msg: unknown[]) => logger.warn({ bolt: msg }, 'bolt'),
    error: (...msg: unknown[]) => logger.error({ bolt: msg }, 'bolt'),
    setLevel: (next: LogLevel) => (level = next),
    getLevel: () => level,
    setName: () => undefined,
  };
}

/** A response_url takes 5 posts; a digest preview keeps within them. */
const MAX_RESPONSES = 5;

type Respond = (message: { text: string; blocks?: SlackBlock[]; response_type?: 'ephemeral' | 'in_channel' }) => Promise<unknown>;

/** Where an answer is written: a channel (with thread), or an ephemeral response_url. */
interface SlackTarget {
  channel: string;
  threadTs?: string;
  /** For slash commands: the fallback when the bot may not post in the channel. */
  respond?: Respond;
}

const HELP = [
  '*paperbot* answers questions from the paper abstracts it holds, citing each paper as [n].',
  '• `/ask <question>` (add `--private` to see the answer alone)',
  '• mention `@paperbot` with a question: the answer comes in a thread, where follow-ups need no mention',
  '• `/papers <words>` lists matching papers, `/paper <id>` shows one, `/paperbot stats` shows what I hold',
  "• `/paperbot digest [target]` shows you alone this channel's next paper digest (nothing is posted)",
  '• 👍 / 👎 under an answer tell whoever runs me how it did',
].join('\n');

export class SlackBot {
  private readonly app: App;
  private readonly seenEvents = new Set<string>();
  private botUserId = '';
  private closing = false;

  constructor(
    private readonly core: PaperbotCore,
    private readonly options: SlackBotOptions,
  ) {
    const shared = { token: options.botToken, clientOptions: { slackApiUrl: options.apiUrl }, logger: boltLogger(options.logger) };
    this.app = options.appToken
      ? new App({ ...shared, appToken: options.appToken, socketMode: true })
      : new App({ ...shared, signingSecret: options.signingSecret ?? '', port: options.port });
    this.register();
    this.app.error(async (error) => {
      options.logger.error({ err: error }, 'slack: handler failed');
    });
  }

  /** Starts the receiver; resolves with `ready (socket mode)` or `ready (http :PORT)`. */
  async start(): Promise<string> {
    const auth = await this.app.client.auth.test().catch((error: unknown) => {
      throw new PaperbotError('config', `Slack refused the bot token (${(error as Error).message}): check SLACK_BOT_TOKEN.`, { cause: error });
    });
    this.botUserId = String(auth.user_id ?? '');
    if (this.options.appToken) {
      await this.app.start();
      return 'ready (socket mode)';
    }
    await this.app.start(this.options.port);
    return `ready (http :${this.options.port})`;
  }

  async stop(graceMs = 10_000): Promise<void> {
    this.closing = true;
    await this.options.queue.close({ cancelWaiting: true, graceMs });
    await this.app.stop();
  }

  private register(): void {
    const names = this.options.commands;
    this.app.command(names.ask, async ({ command, ack, respond, logger }) => {
      let text = command.text.trim();
      let isPrivate = this.options.privateDefault;
      if (/^--private\b/.test(text)) {
        isPrivate = true;
        text = text.replace(/^--private\b/, '').trim();
      }
      // Slack allows 3 s: acknowledge first, visible to the asker only.
      await ack({ response_type: 'ephemeral', text: `Searching ${this.core.library.store.count()} abstracts…` });
      try {
        if (isPrivate) {
          this.precheck(text, command.user_id);
          await this.respondAll((message) => respond(message), await this.answer(text, [], async () => undefined));
          return;
        }
        await this.answerInChannel({ channel: command.channel_id, respond: (message) => respond(message) }, text, command.user_id, []);
      } catch (error) {
        logger.debug(error);
        await respond({ response_type: 'ephemeral', text: this.describeFailure(error, command.trigger_id) });
      }
    });

    for (const [name, definitionName] of [
      [names.search, 'search'],
      [names.paper, 'paper'],
    ] as const) {
      this.app.command(name, async ({ command, ack, respond }) => {
        await ack();
        await respond({ response_type: 'ephemeral', text: await this.runCommand(definitionName, command.text) }).catch((error: unknown) =>
          this.options.logger.warn({ err: error, requestId: command.trigger_id }, 'slack: could not respond'),
        );
      });
    }
    this.app.command(names.help, async ({ command, ack, respond }) => {
      const [sub = '', ...rest] = command.text.trim().split(/\s+/);
      if (sub.toLowerCase() === 'digest') {
        // Laying out may wait for the model's summaries: acknowledge first (Slack allows 3 s).
        await ack({ response_type: 'ephemeral', text: 'Laying out the next digest…' });
        try {
          await this.previewDigest(command.channel_id, rest.join(' ').trim(), (message) => respond(message));
        } catch (error) {
          await respond({ response_type: 'ephemeral', text: this.describeFailure(error, command.trigger_id) }).catch((failure: unknown) =>
            this.options.logger.warn({ err: failure, requestId: command.trigger_id }, 'slack: could not respond'),
          );
        }
        return;
      }
      await ack();
      await respond({ response_type: 'ephemeral', text: sub.toLowerCase() === 'stats' ? await this.runCommand('stats', '') : HELP });
    });

    this.app.event('app_mention', async ({ event, body }) => {
      if (this.isRetry(body)) return;
      const question = (event.text ?? '').replace(/<@[A-Z0-9]+(?:\|[^>]*)?>/g, '').trim();
      const threadTs = event.thread_ts ?? event.ts;
      await this.answerConversation(event.channel, threadTs, question, event.user ?? 'unknown');
    });

    this.app.message(async ({ message, body }) => {
      if (this.isRetry(body) || this.closing) return;
      const m = message as { subtype?: string; bot_id?: string; text?: string; user?: string; channel: string; channel_type?: string; ts: string; thread_ts?: string };
      // Replies also sent to the channel, and messages with files, are follow-ups too.
      if ((m.subtype && m.subtype !== 'thread_broadcast' && m.subtype !== 'file_share') || m.bot_id || !m.user || !m.text) return;
      if (m.channel_type === 'im') {
        await this.answerConversation(m.channel, m.thread_ts ?? m.ts, m.text.replace(/<@[A-Z0-9]+(?:\|[^>]*)?>/g, '').trim(), m.user);
        return;
      }
      // In channels, mentions are answered by the app_mention handler; here only follow-ups in our threads.
      if (this.botUserId && m.text.includes(`<@${this.botUserId}>`)) return;
      if (m.thread_ts && this.core.conversation(this.conversationId(m.channel, m.thread_ts), 1).length) {
        await this.answerConversation(m.channel, m.thread_ts, m.text.trim(), m.user);
      }
    });

    for (const [actionId, rating] of [
      ['feedback_up', 'up'],
      ['feedback_down', 'down'],
    ] as const) {
      this.app.action(actionId, async ({ ack, action, body, respond }) => {
        await ack();
        const value = 'value' in action ? String(action.value ?? '') : '';
        try {
          this.core.recordFeedback(Number(value), body.user.id, rating);
          await respond({ response_type: 'ephemeral', replace_original: false, text: rating === 'up' ? 'Thanks, noted 👍' : 'Thanks, noted 👎: this helps whoever runs paperbot improve it.' });
        } catch (error) {
          await respond({ response_type: 'ephemeral', replace_original: false, text: this.describeFailure(error, value) });
        }
      });
    }
  }

  private conversationId(channel: string, threadTs: string): string {
    return `slack:${channel}:${threadTs}`;
  }

  /** Slack retries events it thinks were not acknowledged: answer each event id once. */
  private isRetry(body: unknown): boolean {
    const id = (body as { event_id?: string }).event_id;
    if (!id) return false;
    if (this.seenEvents.has(id)) return true;
    this.seenEvents.add(id);
    if (this.seenEvents.size > 5000) this.seenEvents.delete(this.seenEvents.values().next().value!);
    return false;
  }

  private async answerConversation(channel: string, threadTs: string, question: string, userId: string): Promise<void> {
    const client = this.app.client;
    if (!question) {
      await client.chat.postMessage({ channel, thread_ts: threadTs, text: 'Ask me something after the mention, e.g. `@paperbot how can I edit a real photo with a diffusion model?`' });
      return;
    }
    const id = this.conversationId(channel, threadTs);
    try {
      const answer = await this.answerInChannel({ channel, threadTs }, question, userId, this.core.conversation(id, 5));
      if (answer) this.core.rememberTurn(id, { question, answer });
    } catch (error) {
      // Before anything was posted (empty or too long, rate limit): say so in the thread.
      await client.chat.postMessage({ channel, thread_ts: threadTs, text: this.describeFailure(error, threadTs) });
    }
  }

  /** Checks the question and the asker's rate limit before anything is posted; throws a usage error. */
  private precheck(question: string, userId: string): void {
    this.core.validateQuestion(question);
    const decision = this.options.limiter.take(userId);
    if (!decision.allowed) throw new PaperbotError('usage', `You have asked a lot in the last minute; try again ${describeRetry(decision.retryAfterMs)}.`);
  }

  /**
   * Posts, grows the message with throttled chat.update, and finishes with the rendered answer.
   * A failure after the first post replaces that post with a short, honest message.
   */
  private async answerInChannel(target: SlackTarget, question: string, userId: string, history: readonly PastTurn[]): Promise<Answer | undefined> {
    this.precheck(question, userId);
    const client = this.app.client;
    let ts: string | undefined;
    try {
      const posted = await client.chat.postMessage({ channel: target.channel, text: '…', ...(target.threadTs ? { thread_ts: target.threadTs } : {}) });
      ts = posted.ts;
    } catch (error) {
      if (!target.respond) throw error;
      // Typically not_in_channel: answer the asker through response_url instead.
      const answer = await this.answer(question, history, async () => undefined);
      const invite: SlackBlock = { type: 'context', elements: [{ type: 'mrkdwn', verbatim: true, text: '_I cannot post in this channel: invite me with `/invite @paperbot` to answer here for everyone._' }] };
      await this.respondAll(target.respond, answer, [invite]);
      return answer;
    }
    const update = async (message: { text: string; blocks: SlackBlock[] }) => {
      if (ts) await client.chat.update({ channel: target.channel, ts, text: message.text, blocks: message.blocks });
    };
    let answer: Answer;
    try {
      answer = await this.answer(question, history, (text) => update({ text: '…', blocks: renderStreamingBlocks(text) }));
    } catch (error) {
      const text = this.describeFailure(error, ts ?? 'slack');
      await update({ text, blocks: [{ type: 'section', text: { type: 'mrkdwn', verbatim: true, text } }] }).catch(() => undefined);
      return undefined;
    }
    const { messages } = renderAnswerBlocks(answer, { answerId: this.core.logAnswer(answer, 'slack') });
    await this.deliver(target, ts, messages);
    return answer;
  }

  /** Sends a whole answer through response_url (5 uses allowed): every message, extra blocks first. */
  private async respondAll(respond: NonNullable<SlackTarget['respond']>, answer: Answer, lead: SlackBlock[] = []): Promise<void> {
    const { messages } = renderAnswerBlocks(answer, { answerId: this.core.logAnswer(answer, 'slack') });
    for (const [i, message] of messages.slice(0, 4).entries()) {
      await respond({ response_type: 'ephemeral', text: message.text, blocks: i === 0 ? [...lead, ...message.blocks] : message.blocks });
    }
  }

  private async deliver(target: SlackTarget, ts: string | undefined, messages: SlackMessage[]): Promise<void> {
    const client = this.app.client;
    const [first, ...rest] = messages;
    if (!first) return;
    try {
      if (!ts) throw new Error('no message to update');
      await client.chat.update({ channel: target.channel, ts, text: first.text, blocks: first.blocks });
    } catch (error) {
      // chat.update failed (deleted message, rate limit): finish with a single new post.
      this.options.logger.warn({ err: error }, 'slack: chat.update failed; posting the answer instead');
      const posted = await client.chat.postMessage({ channel: target.channel, text: first.text, blocks: first.blocks, ...(target.threadTs ? { thread_ts: target.threadTs } : {}) });
      ts = posted.ts;
    }
    // Overflow goes into the thread of the answer.
    const threadTs = target.threadTs ?? ts;
    for (const message of rest) await client.chat.postMessage({ channel: target.channel, text: message.text, blocks: message.blocks, ...(threadTs ? { thread_ts: threadTs } : {}) });
  }

  /** Queue, stream; `onProgress` gets the growing text at most once per edit interval. */
  private async answer(question: string, history: readonly PastTurn[], onProgress: (text: string) => Promise<unknown>): Promise<Answer> {
    return this.options.queue.enqueue(async (signal) => {
      let text = '';
      let last = 0;
      let final: Answer | undefined;
      for await (const event of this.core.askStream(question, { signal, history })) {
        if (event.type === 'delta') {
          text += event.text;
          if (Date.now() - last >= this.options.editIntervalMs) {
            last = Date.now();
            await onProgress(text).catch((error: unknown) => this.options.logger.warn({ err: error }, 'slack: progress update failed'));
          }
        } else if (event.type === 'answer') {
          final = event.answer;
        }
      }
      if (!final) throw new PaperbotError('internal', 'The answer stream ended without an answer.');
      return final;
    });
  }

  private async runCommand(name: string, text: string): Promise<string> {
    const definition = commands.find((command) => command.name === name);
    if (!definition) return HELP;
    const input: Record<string, unknown> = {};
    for (const argument of definition.arguments) input[argument.name] = text.trim();
    const parsed = definition.input.safeParse(input);
    if (!parsed.success) return `That does not look right: ${parsed.error.issues[0]?.message ?? 'invalid input'}.`;
    try {
      return escapeSlackText(definition.toText(await definition.run(this.core, parsed.data))).slice(0, 3900);
    } catch (error) {
      return this.describeFailure(error, name);
    }
  }

  /**
   * `/paperbot digest [target]`: the next digest of this channel's targets (or the named one),
   * rendered exactly as it would be posted, channel message then thread replies, to the asker alone.
   */
  private async previewDigest(channel: string, targetName: string, respond: Respond): Promise<void> {
    const say = (text: string) => respond({ response_type: 'ephemeral', text: escapeSlackText(text) });
    if (!this.options.digestPreview) {
      await say('No digest is configured: whoever runs paperbot can set one up in paperbot.digest.yml (see the README).');
      return;
    }
    const result = await this.options.digestPreview({ platform: 'slack', channel, ...(targetName ? { targetName } : {}) });
    if (!result.ok) {
      await say(result.message);
      return;
    }
    const messages: SlackMessage[] = [];
    for (const layout of result.layouts) {
      const { main, thread } = renderSlackDigest(layout);
      const note: SlackBlock = { type: 'context', elements: [{ type: 'mrkdwn', verbatim: true, text: `_Preview of the next digest for ${escapeSlackText(layout.target)}: only you can see this, and nothing was posted._` }] };
      // The note goes on top when the message has room for one more block; the rendering is unchanged otherwise.
      messages.push({ text: main.text, blocks: main.blocks.length < SLACK_LIMITS.blocksPerMessage ? [note, ...main.blocks] : main.blocks }, ...thread);
    }
    if (!messages.length) {
      await say('No digest targets post to this channel.');
      return;
    }
    const shown = messages.length > MAX_RESPONSES ? messages.slice(0, MAX_RESPONSES - 1) : messages;
    for (const message of shown) await respond({ response_type: 'ephemeral', text: message.text, blocks: message.blocks });
    if (shown.length < messages.length) {
      await say(`${messages.length - shown.length} more preview messages are not shown here (Slack allows ${MAX_RESPONSES} replies to a command); \`npm start -- digest --dry-run\` prints them all.`);
    }
  }

  private describeFailure(error: unknown, requestId: string): string {
    return escapeSlackText(describeChatFailure(error, requestId, this.options.logger, 'slack')).slice(0, 2900);
  }

}
