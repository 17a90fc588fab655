/**
 * The Slack adapter (Bolt): slash commands, mentions answered in threads, thread follow-ups
 * without a mention, direct messages, and 👍/👎 buttons, in Socket Mode (app-level token, no
 * public URL) or over HTTP (signing secret; Bolt verifies signatures and rejects bad ones with
 * 401). The ask flow (checks, queue, streaming, answer log, turns) is the platform-neutral
 * `ChatSession`, with the queue and rate limit shared with Discord; this file is only transport,
 * event wiring and rendering.
 */
import { App } from '@slack/bolt';
import type { Logger } from 'pino';
import { truncate } from '../../chat-text.ts';
import type { DigestPreview } from '../../digest/model.ts';
import { PaperbotError } from '../../errors.ts';
import type { PaperbotCore } from '../../rag/paperbot-core.ts';
import type { AnswerQueue } from '../chat/answer-queue.ts';
import { ChatSession, type ChatAdapter, type ChatCommand } from '../chat/chat-session.ts';
import { SLACK_FEEDBACK_ACTIONS, feedbackButtons, type ConversationRef } from '../chat/ids.ts';
import type { RateLimiter } from '../chat/rate-limiter.ts';
import { REPLIES } from '../chat/replies.ts';
import { renderSlackDigest } from './digest-render.ts';
import { SLACK_LIMITS, escapeSlackText, type SlackBlock, type SlackMessage } from './render.ts';
import { SlackAnswer, safeText, type Respond } from './slack-answer.ts';
import { slackLogger } from './slack-logger.ts';

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

/** A response_url takes 5 posts; a digest preview keeps within them. */
const MAX_RESPONSES = 5;
/** A command's text stays inside one response. */
const COMMAND_REPLY = 3900;
/** Slack's user mentions, `<@U123>` and `<@U123|name>`, as they arrive in message text. */
const USER_MENTION = /<@[A-Z0-9]+(?:\|[^>]*)?>/g;

const HELP = [
  '*paperbot* answers questions from the paper abstracts it holds, citing each paper as [n].',
  '• `/ask <question>` (add `--private` to see the answer alone)',
  '• mention `@paperbot` with a question: the answer comes in a thread, where follow-ups need no mention',
  '• `/papers <words>` lists matching papers, `/paper <id>` shows one, `/paperbot stats` shows what I hold',
  "• `/paperbot digest [target]` shows you alone this channel's next paper digest (nothing is posted)",
  '• 👍 / 👎 under an answer tell whoever runs me how it did',
].join('\n');

export class SlackBot implements ChatAdapter {
  readonly name = 'slack' as const;
  private readonly app: App;
  private readonly session: ChatSession;
  private readonly seenEvents = new Set<string>();
  private botUserId = '';
  private closing = false;

  constructor(
    private readonly core: PaperbotCore,
    private readonly options: SlackBotOptions,
  ) {
    this.session = new ChatSession(core, { platform: 'slack', queue: options.queue, limiter: options.limiter, logger: options.logger, editIntervalMs: options.editIntervalMs });
    const shared = { token: options.botToken, clientOptions: { slackApiUrl: options.apiUrl }, logger: slackLogger(options.logger, 'bolt') };
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

  /** Stops taking questions, lets running answers finish (or tells their askers), stops the receiver. */
  async stop(graceMs = 10_000): Promise<void> {
    this.closing = true;
    await this.session.close(graceMs);
    await this.app.stop();
  }

  private register(): void {
    const names = this.options.commands;
    this.app.command(names.ask, async ({ command, ack, respond }) => {
      let text = command.text.trim();
      let isPrivate = this.options.privateDefault;
      if (/^--private\b/.test(text)) {
        isPrivate = true;
        text = text.replace(/^--private\b/, '').trim();
      }
      // Slack allows 3 s: acknowledge first, visible to the asker only.
      await ack({ response_type: 'ephemeral', text: `Searching ${this.core.paperCount()} abstracts…` });
      const where = isPrivate ? { respond } : { channel: command.channel_id, respond };
      await this.session.ask(new SlackAnswer(this.app.client, this.options.logger, command.trigger_id, where), { question: text, userId: command.user_id });
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
      const question = (event.text ?? '').replace(USER_MENTION, '').trim();
      await this.answerInThread(event.channel, event.thread_ts ?? event.ts, question, event.user ?? 'unknown');
    });

    this.app.message(async ({ message, body }) => {
      if (this.isRetry(body) || this.closing) return;
      const m = message as { subtype?: string; bot_id?: string; text?: string; user?: string; channel: string; channel_type?: string; ts: string; thread_ts?: string };
      // Replies also sent to the channel, and messages with files, are follow-ups too.
      if ((m.subtype && m.subtype !== 'thread_broadcast' && m.subtype !== 'file_share') || m.bot_id || !m.user || !m.text) return;
      if (m.channel_type === 'im') {
        await this.answerInThread(m.channel, m.thread_ts ?? m.ts, m.text.replace(USER_MENTION, '').trim(), m.user);
        return;
      }
      // In channels, mentions are answered by the app_mention handler; here only follow-ups in our threads.
      if (this.botUserId && m.text.includes(`<@${this.botUserId}>`)) return;
      if (m.thread_ts && this.session.knows({ platform: 'slack', channel: m.channel, threadTs: m.thread_ts })) {
        await this.answerInThread(m.channel, m.thread_ts, m.text.trim(), m.user);
      }
    });

    for (const actionId of Object.values(SLACK_FEEDBACK_ACTIONS)) {
      this.app.action(actionId, async ({ ack, action, body, respond }) => {
        await ack();
        const value = 'value' in action ? String(action.value ?? '') : '';
        const vote = feedbackButtons.slack.decode({ action_id: actionId, value });
        const reply = this.session.recordFeedback(vote, body.user.id, value);
        await respond({ response_type: 'ephemeral', replace_original: false, text: safeText(reply) });
      });
    }
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

  /** A mention, a follow-up or a direct message: answered in its thread, with the thread as context. */
  private async answerInThread(channel: string, threadTs: string, question: string, userId: string): Promise<void> {
    if (!question) {
      await this.app.client.chat.postMessage({ channel, thread_ts: threadTs, text: REPLIES.mentionOnly });
      return;
    }
    const conversation: ConversationRef = { platform: 'slack', channel, threadTs };
    await this.session.ask(new SlackAnswer(this.app.client, this.options.logger, threadTs, { channel, threadTs }), { question, userId, conversation });
  }

  private async runCommand(name: ChatCommand, text: string): Promise<string> {
    try {
      return truncate(escapeSlackText(await this.session.runCommand(name, () => text.trim())), COMMAND_REPLY);
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
      await say(REPLIES.noDigest);
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
    return safeText(this.session.describeFailure(error, requestId));
  }
}
