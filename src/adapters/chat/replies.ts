/**
 * What paperbot says in chat on every platform, written once. Plain text: each platform's
 * renderer makes it safe for its markup (Discord: mentions neutralised; Slack: escaped).
 */
import type { Rating } from '../../rag/types.ts';
import { describeRetry } from './rate-limiter.ts';

export const REPLIES = {
  /** A mention with no question after it. */
  mentionOnly: 'Ask me something after the mention, e.g. `@paperbot how can I edit a real photo with a diffusion model?`',
  /** The asker's per-minute allowance is used up. */
  rateLimited: (retryAfterMs: number) => `You have asked a lot in the last minute; try again ${describeRetry(retryAfterMs)}.`,
  /** A question waits for the model (shown where the platform can edit its answer in place). */
  waiting: (position: number) => `Waiting for the model: you are number ${position} in line.`,
  /** The model starts on a question. */
  starting: 'Reading the abstracts…',
  /** A 👍 or 👎 was stored. */
  feedbackThanks: {
    up: 'Thanks, noted 👍',
    down: 'Thanks, noted 👎: this helps whoever runs paperbot improve it.',
  } as const satisfies Record<Rating, string>,
  /** A feedback button that carries no answer paperbot logged. */
  unknownFeedback: 'That button does not belong to an answer paperbot knows; ask again to rate a new answer.',
  /** `/digest` (Discord) or `/paperbot digest` (Slack) with no digest file. */
  noDigest: 'No digest is configured: whoever runs paperbot can set one up in paperbot.digest.yml (see the README).',
  /** A command's input failed its schema. */
  invalidInput: (issue: string | undefined) => `That does not look right: ${issue ?? 'invalid input'}.`,
} as const;
