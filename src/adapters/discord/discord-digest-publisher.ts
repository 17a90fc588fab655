/**
 * Posts digests to Discord through its REST API alone (discord.js `REST`, no gateway), so the
 * CLI's `digest --now` can post as well as `serve`. The channel message goes first and is
 * reported through `onMainPosted` before anything else is sent, so the caller records it even if
 * the thread replies then fail; the thread is started from that message and filled in order.
 *
 * Discord's refusals become `PaperbotError('platform')` messages that say what to change: the
 * channel permissions, the channel id in paperbot.digest.yml, or DISCORD_TOKEN.
 */
import { DiscordAPIError, HTTPError, REST, Routes } from 'discord.js';
import type { Logger } from 'pino';
import type { DigestLayout, DigestPublisher, PostedDigest } from '../../digest/model.ts';
import { PaperbotError } from '../../errors.ts';
import { neutraliseMentions } from '../../chat-text.ts';
import { renderDiscordDigest, type DiscordDigestPayload } from './digest-render.ts';

export interface DiscordDigestPublisherOptions {
  token: string;
  /** DISCORD_API_BASE, handed to discord.js's REST client unchanged (it appends the API version). */
  apiBase: string;
  logger?: Logger;
  /** Per-request timeout in milliseconds (default 15 000). */
  timeoutMs?: number;
}

/** How many messages `findPosted` reads: the last day's digests and chatter in a busy channel. */
const HISTORY_LIMIT = 50;
/** A thread stays open for a day without activity, then archives itself (still readable). */
const THREAD_AUTO_ARCHIVE_MINUTES = 1440;
/**
 * discord.js would re-send a request after a 5xx or a timeout, and a re-sent message create whose
 * first answer was lost posts the digest twice. So no retries: an uncertain failure is settled by
 * reading the channel (findPosted) instead. 429s are still waited out by discord.js (not posted).
 */
const REST_RETRIES = 0;
const PERMISSIONS = 'View Channel, Send Messages, Create Public Threads, Send Messages in Threads and Read Message History';

/** Discord's JSON error codes that matter here. */
const DiscordCode = { UnknownChannel: 10003, UnknownMessage: 10008, MissingAccess: 50001, MissingPermissions: 50013 } as const;

/** The part of a Discord message object `findPosted` reads; everything else is ignored. */
interface HistoryMessage {
  id: string;
  content: string;
  embeds: { title?: unknown; description?: unknown; footer?: unknown }[];
  fromBot: boolean;
  authorId: string | undefined;
}

export class DiscordDigestPublisher implements DigestPublisher {
  readonly platform = 'discord' as const;
  private readonly rest: REST;
  /** null: not asked yet. */
  private selfId: string | undefined | null = null;

  constructor(private readonly options: DiscordDigestPublisherOptions) {
    this.rest = new REST({ api: options.apiBase, retries: REST_RETRIES, timeout: options.timeoutMs ?? 15_000 }).setToken(options.token);
  }

  async publish(channel: string, layout: DigestLayout, onMainPosted?: (posted: PostedDigest) => void): Promise<PostedDigest> {
    const rendered = renderDiscordDigest(layout);
    const main = await this.call('post the digest', channel, () => this.rest.post(Routes.channelMessages(channel), { body: apiBody(rendered.main) }));
    const posted: PostedDigest = { messageRef: messageId(main, 'the posted digest message') };
    onMainPosted?.(posted);
    this.options.logger?.info({ channel, messageRef: posted.messageRef, target: layout.target, slot: layout.slot }, 'discord: digest posted');
    if (!rendered.thread.length) return posted;

    // The main message is out and recorded: a failure from here on must say so, or a retry
    // would look like the safe thing to do and post the digest twice.
    const posting = `the digest was posted (message ${posted.messageRef}) but its thread replies were not`;
    const thread = await this.call('start the digest thread', channel, () =>
      this.rest.post(Routes.threads(channel, posted.messageRef), { body: { name: rendered.threadName, auto_archive_duration: THREAD_AUTO_ARCHIVE_MINUTES } }),
    ).catch((error: unknown) => {
      throw withContext(error, posting);
    });
    const threadId = messageId(thread, 'the started thread');
    for (const payload of rendered.thread) {
      await this.call('post in the digest thread', threadId, () => this.rest.post(Routes.channelMessages(threadId), { body: apiBody(payload) })).catch((error: unknown) => {
        throw withContext(error, posting);
      });
    }
    return posted;
  }

  async findPosted(channel: string, marker: string): Promise<string | null> {
    const raw = await this.call('read the recent messages', channel, () => this.rest.get(Routes.channelMessages(channel), { query: new URLSearchParams({ limit: String(HISTORY_LIMIT) }) }));
    if (!Array.isArray(raw)) throw new PaperbotError('platform', `Discord answered the message history of channel ${channel} with something other than a list; check DISCORD_API_BASE.`);
    // The renderer neutralises the marker like all text; a marker never needs it, but match either form.
    const forms = [...new Set([marker, neutraliseMentions(marker)])];
    for (const message of raw.map(historyMessage)) {
      if (!message) continue;
      const texts = [message.content, ...message.embeds.flatMap((embed) => [embed.title, embed.description, footerText(embed.footer)])];
      if (!texts.some((text) => typeof text === 'string' && forms.some((form) => text.includes(form)))) continue;
      // A person quoting a marker does not make a digest posted: only the bot's own messages count
      // (flagged as a bot's, or written by paperbot's user; a message without author is taken as ours).
      if (message.fromBot || message.authorId === undefined || message.authorId === (await this.ownUserId())) return message.id;
    }
    return null;
  }

  /** paperbot's own user id (asked once); undefined when Discord will not say. */
  private async ownUserId(): Promise<string | undefined> {
    if (this.selfId === null) {
      try {
        const me: unknown = await this.rest.get(Routes.user());
        this.selfId = isRecord(me) && typeof me['id'] === 'string' ? me['id'] : undefined;
      } catch (error) {
        this.options.logger?.info({ err: error }, 'discord: could not ask who paperbot is; only bot-flagged messages count as its digests');
        this.selfId = undefined;
      }
    }
    return this.selfId;
  }

  /** Runs one REST call and turns Discord's refusals into errors that say what to fix. */
  private async call(action: string, channel: string, request: () => Promise<unknown>): Promise<unknown> {
    try {
      return await request();
    } catch (error) {
      const mapped = describeRefusal(error, action, channel);
      this.options.logger?.warn({ err: error, channel, action }, 'discord: digest request refused');
      throw mapped;
    }
  }
}

function describeRefusal(error: unknown, action: string, channel: string): PaperbotError {
  const options = { cause: error };
  if (error instanceof DiscordAPIError) {
    const reason = `${error.status} ${error.message}`;
    if (error.status === 401) return new PaperbotError('platform', `Discord refused the bot token (${reason}) when trying to ${action}: check DISCORD_TOKEN.`, options);
    if (error.status === 403 || error.code === DiscordCode.MissingAccess || error.code === DiscordCode.MissingPermissions) {
      return new PaperbotError('platform', `Discord did not let paperbot ${action} in channel ${channel} (${reason}): give paperbot ${PERMISSIONS} in that channel.`, options);
    }
    if (error.code === DiscordCode.UnknownChannel || (error.status === 404 && error.code !== DiscordCode.UnknownMessage)) {
      return new PaperbotError('platform', `Discord does not know channel ${channel} (${reason}): check the target's channel id in paperbot.digest.yml (Developer Mode, right-click the channel, Copy Channel ID) and that paperbot is in that server.`, options);
    }
    if (error.code === DiscordCode.UnknownMessage) {
      return new PaperbotError('platform', `Discord lost the digest message in channel ${channel} before paperbot could ${action} (${reason}): it was probably deleted; the next digest will carry its papers.`, options);
    }
    return new PaperbotError('platform', `Discord refused to ${action} in channel ${channel} (${reason}); see the log for the request.`, options);
  }
  // A 5xx, a timeout or a lost connection leaves open whether Discord created the message.
  if (error instanceof HTTPError) {
    return new PaperbotError('platform_uncertain', `Discord failed to ${action} in channel ${channel} (HTTP ${error.status}); try again later, or see https://discordstatus.com.`, options);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new PaperbotError('platform_uncertain', `Could not reach Discord to ${action} in channel ${channel} (${message}): check the network and DISCORD_API_BASE.`, options);
}

/** The same refusal, saying what state the digest was left in. */
function withContext(error: unknown, context: string): PaperbotError {
  if (!(error instanceof PaperbotError)) return new PaperbotError('platform', `${context}: ${String(error)}`, { cause: error });
  return new PaperbotError(error.code, `${context[0]?.toUpperCase() ?? ''}${context.slice(1)}. ${error.message}`, { cause: error.cause });
}

/** Discord's API JSON for a payload (snake_case), which the raw REST client sends as it is. */
function apiBody(payload: DiscordDigestPayload): Record<string, unknown> {
  const body: Record<string, unknown> = { content: payload.content, embeds: payload.embeds, allowed_mentions: { parse: [] } };
  if (payload.flags !== undefined) body['flags'] = payload.flags;
  return body;
}

function messageId(response: unknown, what: string): string {
  const id = isRecord(response) ? response['id'] : undefined;
  if (typeof id !== 'string' || !id) throw new PaperbotError('platform', `Discord answered without an id for ${what}; check DISCORD_API_BASE.`);
  return id;
}

/** The fields of a history entry `findPosted` needs, or undefined when it is not a message. */
function historyMessage(raw: unknown): HistoryMessage | undefined {
  if (!isRecord(raw) || typeof raw['id'] !== 'string') return undefined;
  const author = raw['author'];
  return {
    id: raw['id'],
    content: typeof raw['content'] === 'string' ? raw['content'] : '',
    embeds: Array.isArray(raw['embeds']) ? raw['embeds'].filter(isRecord) : [],
    fromBot: isRecord(author) && author['bot'] === true,
    authorId: isRecord(author) && typeof author['id'] === 'string' ? author['id'] : undefined,
  };
}

function footerText(footer: unknown): unknown {
  return isRecord(footer) ? footer['text'] : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
