/**
 * One error type for everything paperbot reports to a user. The `code` is stable (scripts and
 * adapters switch on it); the message says what happened and what to do about it.
 * Expected outcomes (nothing relevant found, a rejected corpus line) are values, not errors.
 */
export type ErrorCode =
  | 'usage' // the user asked for something malformed: empty question, unknown flag
  | 'config' // the environment or a config file is invalid
  | 'not_found' // a paper, file or directory the user named does not exist
  | 'data_dir' // the data directory cannot be created or used
  | 'io' // a file could not be read or written
  | 'index' // an index file is missing, corrupt or stale beyond automatic repair
  | 'embedder_mismatch' // the vector index was built by another embedder than the one asked for
  | 'ollama_unreachable' // nothing answers at OLLAMA_HOST
  | 'ollama_timeout' // Ollama answered slower than OLLAMA_TIMEOUT_MS
  | 'ollama_model_missing' // the model is not pulled
  | 'ollama_failed' // Ollama answered with an error or broke off a stream
  | 'source_failed' // a live paper source (Hugging Face, arXiv) timed out, refused or answered garbage
  | 'platform' // a chat platform refused a post (missing scope, unknown channel, bad token)
  | 'platform_uncertain' // a post failed in a way that leaves open whether it reached the channel (timeout, 5xx, lost connection)
  | 'internal';

export class PaperbotError extends Error {
  override readonly name: string = 'PaperbotError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Usage and configuration errors exit 2 (the caller must change what they typed); the rest exit 1. */
export function exitCodeFor(error: unknown): 1 | 2 {
  return error instanceof PaperbotError && (error.code === 'usage' || error.code === 'config' || error.code === 'embedder_mismatch') ? 2 : 1;
}

export function describeError(error: unknown): string {
  if (error instanceof PaperbotError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
