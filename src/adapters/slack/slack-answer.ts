/**
 * The Slack side of one question (`AnswerSurface`): where its answer is posted and how. All text
 * is escaped (and its mentions neutralised) in the renderer, every mrkdwn text is `verbatim`.
 */
import type { App } from '@slack/bolt';
import type { Logger } from 'pino';
import { truncate } from '../../chat-text.ts';
import type { Answer } from '../../rag/types.ts';
import type { AnswerSurface } from '../chat/chat-session.ts';
import { escapeSlackText, renderAnswerBlocks, renderStreamingBlocks, type SlackBlock, type SlackMessage } from './render.ts';

/** Short replies (failures, notices) stay well inside one section. */
const SHORT_REPLY = 2900;
const INVITE: SlackBlock = { type: 'context', elements: [{ type: 'mrkdwn', verbatim: true, text: '_I cannot post in this channel: invite me with `/invite @paperbot` to answer here for everyone._' }] };

/** A slash command's response_url (5 posts within 30 minutes). */
export type Respond = (message: { text: string; blocks?: SlackBlock[]; response_type?: 'ephemeral' | 'in_channel'; replace_original?: boolean }) => Promise<unknown>;
type WebClient = App['client'];

/** Plain text (a failure, a notice) as one safe mrkdwn text. */
export function safeText(text: string): string {
  return truncate(escapeSlackText(text), SHORT_REPLY);
}

/**
 * One answer on Slack. In a channel or thread: a "…" post grown with throttled chat.update and
 * finished with the rendered answer, overflow in its thread; when the bot may not post there (a
 * slash command in a channel it is not in), the whole answer goes to the asker through the
 * response_url with how to invite it. Privately: the whole answer through the response_url.
 */
export class SlackAnswer implements AnswerSurface {
  /** The posted message, once there is one. */
  private ts: string | undefined;
  /** Set when the answer goes through the response_url: the blocks to put above it. */
  private viaRespond: SlackBlock[] | undefined;

  constructor(
    private readonly client: WebClient,
    private readonly logger: Logger,
    public requestId: string,
    private readonly where: { channel: string; threadTs?: string; respond?: Respond } | { respond: Respond },
  ) {
    if (!('channel' in where)) this.viaRespond = [];
  }

  async begin(): Promise<void> {
    if (!('channel' in this.where)) return;
    const { channel, threadTs, respond } = this.where;
    try {
      const posted = await this.client.chat.postMessage({ channel, text: '…', ...(threadTs ? { thread_ts: threadTs } : {}) });
      this.ts = posted.ts;
      if (posted.ts) this.requestId = posted.ts;
    } catch (error) {
      if (!respond) throw error;
      // Typically not_in_channel: answer the asker through response_url instead.
      this.viaRespond = [INVITE];
    }
  }

  async progress(text: string): Promise<void> {
    await this.update({ text: '…', blocks: renderStreamingBlocks(text) });
  }

  async finish(answer: Answer, answerId: number): Promise<void> {
    const { messages } = renderAnswerBlocks(answer, { answerId });
    if (this.viaRespond && this.where.respond) {
      // A response_url takes 5 posts: every message, extra blocks first.
      for (const [i, message] of messages.slice(0, 4).entries()) {
        await this.where.respond({ response_type: 'ephemeral', text: message.text, blocks: i === 0 ? [...this.viaRespond, ...message.blocks] : message.blocks });
      }
      return;
    }
    await this.deliver(messages);
  }

  async fail(text: string): Promise<void> {
    const safe = safeText(text);
    if (this.ts) return this.update({ text: safe, blocks: [{ type: 'section', text: { type: 'mrkdwn', verbatim: true, text: safe } }] });
    if (this.where.respond) {
      await this.where.respond({ response_type: 'ephemeral', text: safe });
    } else if ('channel' in this.where) {
      // Before anything was posted (empty or too long, rate limit): say so in the thread.
      await this.client.chat.postMessage({ channel: this.where.channel, text: safe, ...(this.where.threadTs ? { thread_ts: this.where.threadTs } : {}) });
    }
  }

  private async update(message: { text: string; blocks: SlackBlock[] }): Promise<void> {
    if (this.ts && 'channel' in this.where) await this.client.chat.update({ channel: this.where.channel, ts: this.ts, text: message.text, blocks: message.blocks });
  }

  /** The first message over the "…" post, the overflow into the thread of the answer. */
  private async deliver(messages: SlackMessage[]): Promise<void> {
    if (!('channel' in this.where)) return;
    const { channel, threadTs } = this.where;
    const [first, ...rest] = messages;
    if (!first) return;
    let ts = this.ts;
    try {
      if (!ts) throw new Error('no message to update');
      await this.client.chat.update({ channel, ts, text: first.text, blocks: first.blocks });
    } catch (error) {
      // chat.update failed (deleted message, rate limit): finish with a single new post.
      this.logger.warn({ err: error }, 'slack: chat.update failed; posting the answer instead');
      const posted = await this.client.chat.postMessage({ channel, text: first.text, blocks: first.blocks, ...(threadTs ? { thread_ts: threadTs } : {}) });
      ts = posted.ts;
    }
    const thread = threadTs ?? ts;
    for (const message of rest) await this.client.chat.postMessage({ channel, text: message.text, blocks: message.blocks, ...(thread ? { thread_ts: thread } : {}) });
  }
}
