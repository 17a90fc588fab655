/**
 * What a chat user is told when their question fails, the same on every platform: their own
 * mistake in the core's words, a busy or restarting bot plainly, anything else as a short
 * apology with a request id (the log gets the details under that id).
 */
import type { Logger } from 'pino';
import { PaperbotError } from '../../errors.ts';
import { QueueClosedError, QueueFullError } from './answer-queue.ts';

export function describeChatFailure(error: unknown, requestId: string, logger: Logger, platform: string): string {
  if (error instanceof QueueClosedError) return 'paperbot is restarting and could not answer this; please ask again in a minute.';
  if (error instanceof QueueFullError) return 'Too many questions are waiting right now; please ask again in a minute.';
  if (error instanceof PaperbotError && (error.code === 'usage' || error.code === 'not_found')) return error.message;
  logger.error({ err: error, requestId }, `${platform}: answering failed`);
  return `Sorry, something went wrong while answering (request ${requestId}). Try again; if it keeps failing, tell whoever runs paperbot.`;
}
