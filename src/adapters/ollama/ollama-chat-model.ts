/**
 * `ChatModel` on a local Ollama (/api/chat, streamed). Speaks Ollama and nothing else: the
 * prompt, citations and the `Answer` belong to the core's grounded answerer. A stream that
 * stops sending tokens for `timeoutMs` is aborted (a long answer is fine while tokens come);
 * `maxTokens` goes to Ollama as `num_predict`, and its `done_reason: "length"` comes back as the
 * last chunk's `truncated`. Calls go through the host's health (`callOllama`), so after one
 * timeout the next calls fail at once.
 */
import { PaperbotError } from '../../errors.ts';
import type { ChatChunk, ChatModel, ChatRequest } from '../../rag/ports.ts';
import { callOllama, createOllamaClient, idleWatchdog, type OllamaConnection } from './ollama-client.ts';

export class OllamaChatModel implements ChatModel {
  readonly mode = 'ollama';

  constructor(
    private readonly connection: OllamaConnection,
    readonly model: string,
  ) {}

  async *stream(request: ChatRequest): AsyncGenerator<ChatChunk> {
    const { connection, model } = this;
    const watchdog = idleWatchdog(connection.timeoutMs);
    const aborts = request.signal ? AbortSignal.any([request.signal, watchdog.signal]) : watchdog.signal;
    // The client's own timeout must not cut a long but live stream: the watchdog covers it.
    const client = createOllamaClient({ ...connection, timeoutMs: 24 * 60 * 60 * 1000 }, aborts);
    try {
      const parts = await callOllama(connection, model, request.signal, () => client.chat({ model, messages: [...request.messages], stream: true, options: ollamaOptions(request) }));
      const iterator = parts[Symbol.asyncIterator]();
      for (;;) {
        // A live stream is not refused mid-way because another call to the host timed out meanwhile.
        const next = await callOllama(connection, model, request.signal, () => iterator.next(), { check: false });
        if (next.done) break;
        const part = next.value;
        watchdog.touch();
        const content: unknown = part?.message?.content;
        const truncated = part?.done === true && (part as { done_reason?: unknown }).done_reason === 'length';
        if (truncated) yield { text: typeof content === 'string' ? content : '', truncated: true };
        else if (typeof content === 'string' && content) yield { text: content };
      }
    } finally {
      watchdog.stop();
    }
  }

  async complete(request: ChatRequest): Promise<string> {
    const { connection, model } = this;
    const client = createOllamaClient(connection, request.signal);
    const response = await callOllama(connection, model, request.signal, () => client.chat({ model, messages: [...request.messages], stream: false, options: ollamaOptions(request) }));
    const content: unknown = response?.message?.content;
    if (typeof content !== 'string') throw new PaperbotError('ollama_failed', `Ollama's model "${model}" returned no text.`);
    return content;
  }
}

/** Ollama's names for the request's sampling settings (`num_predict` is its max tokens). */
function ollamaOptions(request: ChatRequest): Record<string, number> {
  const options: Record<string, number> = {};
  if (request.temperature !== undefined) options['temperature'] = request.temperature;
  if (request.seed !== undefined) options['seed'] = request.seed;
  if (request.maxTokens !== undefined) options['num_predict'] = request.maxTokens;
  return options;
}
