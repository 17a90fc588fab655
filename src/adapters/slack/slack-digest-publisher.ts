/**
 * Posts digests to Slack through the Web API (`@slack/web-api`, without Bolt's App: the digest
 * runs on a schedule and needs no receiver). The channel message carries the digest's marker both
 * as message metadata and as visible text, so `findPosted` can tell from one history read whether
 * a digest claimed before a crash was posted. Slack's refusals become `PaperbotError('platform')`
 * messages that say what to fix.
 */
import { WebClient } from '@slack/web-api';
import { pino, type Logger } from 'pino';
import { z } from 'zod';
import { PaperbotError } from '../../errors.ts';
import type { DigestLayout, DigestPublisher, PostedDigest } from '../../digest/model.ts';
import { renderSlackDigest } from './digest-render.ts';
import { escapeSlackText, type SlackMessage } from './render.ts';
import { slackLogger } from './slack-logger.ts';

export interface SlackDigestPublisherOptions {
  /** The bot token (SLACK_BOT_TOKEN). */
  token: string;
  /** Web API base (SLACK_API_URL), used as given: keep the trailing slash. */
  apiUrl: string;
  logger?: Logger;
}

/** The `event_type` of the metadata on every digest's channel message. */
export const DIGEST_METADATA_EVENT = 'paperbot_digest';

/** One history read: enough to see yesterday's digest in all but the busiest channels. */
const HISTORY_LIMIT = 50;

/** Only the fields `findPosted` reads; everything else in Slack's answer is ignored. */
const historySchema = z.object({
  messages: z
    .array(
      z.looseObject({
        ts: z.string(),
        text: z.string().optional(),
        blocks: z.array(z.unknown()).optional(),
        bot_id: z.string().optional(),
        user: z.string().optional(),
        metadata: z.looseObject({ event_type: z.string().optional(), event_payload: z.record(z.string(), z.unknown()).optional() }).optional(),
      }),
    )
    .default([]),
});

export class SlackDigestPublisher implements DigestPublisher {
  readonly platform = 'slack' as const;
  private readonly client: WebClient;
  /** null: not asked yet. */
  private selfId: string | undefined | null = null;
  private readonly logger: Logger;

  constructor(private readonly options: SlackDigestPublisherOptions) {
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.client = new WebClient(options.token, {
      slackApiUrl: options.apiUrl,
      logger: slackLogger(this.logger, 'slack web api'),
      // No automatic retries: a re-sent chat.postMessage whose first answer was lost posts the
      // digest twice. An uncertain failure is settled by reading the channel instead (findPosted).
      retryConfig: { retries: 0 },
      // A 429 means Slack did not take the post: fail at once (a definite refusal), don't wait it out here.
      rejectRateLimitedCalls: true,
      timeout: 30_000,
    });
  }

  async publish(channel: string, layout: DigestLayout, onMainPosted?: (posted: PostedDigest) => void): Promise<PostedDigest> {
    const { main, thread } = renderSlackDigest(layout);
    const posted = await this.call(channel, 'post the digest', () =>
      this.client.chat.postMessage({
        ...this.message(channel, main),
        metadata: { event_type: DIGEST_METADATA_EVENT, event_payload: { marker: layout.marker } },
      }),
    );
    const ts = posted.ts;
    if (!ts) throw new PaperbotError('platform', `Slack accepted the digest for channel ${channel} but sent back no message ts; check SLACK_API_URL points at Slack's Web API.`);
    onMainPosted?.({ messageRef: ts });
    for (const [i, reply] of thread.entries()) {
      await this.call(channel, `post the digest's thread reply ${i + 1} of ${thread.length} (the channel message ${ts} is posted)`, () =>
        this.client.chat.postMessage({ ...this.message(channel, reply), thread_ts: ts }),
      );
    }
    this.logger.info({ channel, ts, marker: layout.marker, replies: thread.length }, 'slack: digest posted');
    return { messageRef: ts };
  }

  async findPosted(channel: string, marker: string): Promise<string | null> {
    const history = await this.call(channel, 'read the channel history', () =>
      this.client.conversations.history({ channel, limit: HISTORY_LIMIT, include_all_metadata: true }),
    );
    const parsed = historySchema.safeParse(history);
    if (!parsed.success) throw new PaperbotError('platform', `Slack's answer to conversations.history for channel ${channel} was not understood; check SLACK_API_URL points at Slack's Web API.`);
    // Slack gives text back with &, <, > escaped, as it was posted.
    const escaped = escapeSlackText(marker);
    for (const message of parsed.data.messages) {
      if (message.metadata?.event_payload?.['marker'] === marker) return message.ts;
      const carries = message.text?.includes(marker) || message.text?.includes(escaped) || blockTexts(message.blocks ?? []).some((text) => text.includes(marker) || text.includes(escaped));
      if (!carries) continue;
      // Only the bot's messages count: someone quoting a marker must not make a digest look posted.
      // A message with a bot_id, or written by paperbot's user (or by no user at all), is the bot's.
      if (message.bot_id || message.user === undefined || message.user === (await this.ownUserId())) return message.ts;
    }
    return null;
  }

  /** paperbot's own Slack user id (auth.test, asked once); undefined when Slack will not say. */
  private async ownUserId(): Promise<string | undefined> {
    if (this.selfId === null) {
      try {
        const auth = await this.client.auth.test();
        this.selfId = typeof auth.user_id === 'string' ? auth.user_id : undefined;
      } catch (error) {
        this.logger.info({ err: error }, 'slack: auth.test failed; only messages with a bot_id count as digests');
        this.selfId = undefined;
      }
    }
    return this.selfId;
  }

  private message(channel: string, message: SlackMessage) {
    // Unfurls would turn every paper link into a preview card: ten cards bury the digest.
    return { channel, text: message.text, blocks: message.blocks, unfurl_links: false, unfurl_media: false };
  }

  private async call<T>(channel: string, action: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw slackDigestError(error, channel, action, this.options.apiUrl);
    }
  }
}

/** Every `text` string in a message's blocks (sections, context elements, rich text), depth first. */
function blockTexts(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(blockTexts);
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) => (key === 'text' && typeof inner === 'string' ? [inner] : blockTexts(inner)));
}

/**
 * A Slack failure as a `PaperbotError('platform')` that says what to do. @slack/web-api throws
 * errors with a `code` (`slack_webapi_platform_error` with `data.error`, request, HTTP and
 * rate-limit errors); they are recognised by that code rather than by class, in case two copies of
 * the library are loaded.
 */
export function slackDigestError(error: unknown, channel: string, action: string, apiUrl: string): PaperbotError {
  if (error instanceof PaperbotError) return error;
  const failure = error as { code?: unknown; data?: { error?: unknown; needed?: unknown }; statusCode?: unknown; retryAfter?: unknown; message?: unknown };
  const what = `paperbot could not ${action} in Slack channel ${channel}`;
  let message: string;
  // Request errors, 5xx and unknown failures leave open whether Slack kept the message.
  let code: 'platform' | 'platform_uncertain' = 'platform';
  switch (failure.code) {
    case 'slack_webapi_platform_error':
      message = platformAdvice(String(failure.data?.error ?? 'unknown_error'), failure.data?.needed, channel, what);
      break;
    case 'slack_webapi_rate_limited_error':
      message = `${what}: Slack is rate-limiting paperbot${typeof failure.retryAfter === 'number' ? ` for ${failure.retryAfter} s` : ''}; the next run will try again.`;
      break;
    case 'slack_webapi_http_error':
      message = `${what}: Slack answered HTTP ${String(failure.statusCode)}; if it persists, check SLACK_API_URL (now ${apiUrl}) and https://status.slack.com.`;
      if (typeof failure.statusCode !== 'number' || failure.statusCode >= 500) code = 'platform_uncertain';
      break;
    case 'slack_webapi_request_error':
      message = `${what}: Slack could not be reached at ${apiUrl} (${String(failure.message)}); check the network and SLACK_API_URL.`;
      code = 'platform_uncertain';
      break;
    default:
      message = `${what}: ${error instanceof Error ? error.message : String(error)}.`;
      code = 'platform_uncertain';
  }
  return new PaperbotError(code, message, { cause: error });
}

function platformAdvice(code: string, needed: unknown, channel: string, what: string): string {
  switch (code) {
    case 'not_in_channel':
      return `${what}: the bot is not a member. Invite it with \`/invite @paperbot\` in that channel.`;
    case 'channel_not_found':
      return `${what}: Slack knows no channel ${channel} that the bot can see. Check the target's channel id in paperbot.digest.yml (the id, like C0123456789, not the name); for a private channel, invite the bot first.`;
    case 'is_archived':
      return `${what}: the channel is archived. Unarchive it, or point the target at another channel in paperbot.digest.yml.`;
    case 'invalid_auth':
    case 'not_authed':
    case 'account_inactive':
    case 'token_revoked':
    case 'token_expired':
      return `${what}: Slack refused the bot token (${code}). Check SLACK_BOT_TOKEN.`;
    case 'missing_scope': {
      const scope = typeof needed === 'string' && needed ? needed : 'a scope';
      return `${what}: the Slack app lacks ${scope === 'a scope' ? scope : `the ${scope} scope`}. Add it under OAuth & Permissions (the digest needs chat:write, channels:history and groups:history), then reinstall the app to the workspace.`;
    }
    case 'msg_too_long':
    case 'msg_blocks_too_long':
    case 'invalid_blocks':
    case 'too_many_attachments':
      return `${what}: Slack rejected the message's layout (${code}). This is a paperbot bug; please report it with the log.`;
    case 'ratelimited':
      return `${what}: Slack is rate-limiting paperbot; the next run will try again.`;
    default:
      return `${what}: Slack answered ${code}.`;
  }
}
