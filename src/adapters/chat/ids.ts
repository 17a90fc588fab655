/**
 * The ids the chat adapters write and later read back, each with one encoder and one checked
 * decoder, so no id is built in one place and parsed by a regex in another:
 *
 * - conversation ids, under which a thread's turns are stored: `discord:<thread id>` and
 *   `slack:<channel>:<thread ts>`. These strings are in existing databases: never change them.
 * - feedback buttons: Discord's custom id `fb:up:<answer id>` / `fb:down:<answer id>`; Slack's
 *   action id `feedback_up` / `feedback_down` with the answer id as the button's value.
 *
 * A decoder returns undefined for anything it did not encode (a payload is untrusted input).
 * Conversation ids are only ever written (the store looks them up as they are), so they have an
 * encoder that refuses parts which would make two conversations share an id, and no decoder.
 */
import type { Platform } from '../../platforms.ts';
import type { Rating } from '../../rag/types.ts';

/** One chat conversation (a thread) on its platform. */
export type ConversationRef = { platform: 'discord'; threadId: string } | { platform: 'slack'; channel: string; threadTs: string };

/** A conversation id as stored: only `encodeConversation` makes one. */
export type ConversationId = string & { readonly __conversationId: unique symbol };

/** A platform id part: non-empty, and free of the separator and of whitespace. */
const PART = /^[^\s:]+$/;

/** @throws TypeError when a part is empty or holds `:` or whitespace (it could not be decoded back). */
export function encodeConversation(ref: ConversationRef): ConversationId {
  const parts = ref.platform === 'discord' ? [ref.threadId] : [ref.channel, ref.threadTs];
  for (const part of parts) if (!PART.test(part)) throw new TypeError(`Not a usable ${ref.platform} id part: ${JSON.stringify(part)}`);
  return [ref.platform, ...parts].join(':') as ConversationId;
}

/** A 👍 or 👎 on a logged answer (the id `PaperbotCore.logAnswer` gave). */
export interface FeedbackVote {
  rating: Rating;
  answerId: number;
}

const RATINGS: readonly Rating[] = ['up', 'down'];
/** A positive row id, written as `String(id)` writes it. */
const ANSWER_ID = /^[1-9]\d{0,15}$/;

function answerIdOf(text: string): number | undefined {
  const id = ANSWER_ID.test(text) ? Number(text) : NaN;
  return Number.isSafeInteger(id) ? id : undefined;
}

function voteOf(rating: Rating | undefined, answerId: number | undefined): FeedbackVote | undefined {
  return rating && answerId ? { rating, answerId } : undefined;
}

/** Slack's action id for each rating; the button's value is the answer id. */
export const SLACK_FEEDBACK_ACTIONS = { up: 'feedback_up', down: 'feedback_down' } as const satisfies Record<Rating, string>;

/** A Slack button as Block Kit carries a vote. */
export interface SlackFeedbackButton {
  action_id: string;
  value: string;
}

/** How each platform carries a vote on its buttons. */
export const feedbackButtons = {
  discord: {
    encode: (vote: FeedbackVote): string => `fb:${vote.rating}:${vote.answerId}`,
    decode(customId: string): FeedbackVote | undefined {
      const [prefix, rating, id = '', ...rest] = customId.split(':');
      return prefix === 'fb' && !rest.length ? voteOf(RATINGS.find((r) => r === rating), answerIdOf(id)) : undefined;
    },
  },
  slack: {
    encode: (vote: FeedbackVote): SlackFeedbackButton => ({ action_id: SLACK_FEEDBACK_ACTIONS[vote.rating], value: String(vote.answerId) }),
    decode(button: SlackFeedbackButton): FeedbackVote | undefined {
      return voteOf(
        RATINGS.find((r) => SLACK_FEEDBACK_ACTIONS[r] === button.action_id),
        answerIdOf(button.value),
      );
    },
  },
} as const satisfies Record<Platform, { encode(vote: FeedbackVote): unknown; decode(encoded: never): FeedbackVote | undefined }>;
