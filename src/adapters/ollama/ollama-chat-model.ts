/**
 * `ChatModel` on a local Ollama (/api/chat, streamed). Speaks Ollama and nothing else: the
 * prompt, citations and the `Answer` belong to the core's grounded answerer. A stream that
 * stops sending tokens for `timeoutMs` is aborted (a long answer is fine while tokens come).
 */
import { PaperbotError } from '../../errors.ts';
import type { ChatModel, ChatRequest } from '../../rag/ports.ts';
import { createOllamaClient, describeOllamaError, idleWatchdog, type OllamaConnection } from './ollama-client.ts';

export class OllamaChatModel implements ChatModel {
  readonly mode = 'ollama';

  constructor(
    private readonly connection: OllamaConnection,
    readonly model: string,
  ) {}

  async *stream(request: ChatRequest): AsyncGenerator<string> {
    const { connection, model } = this;
    const watchdog = idleWatchdog(connection.timeoutMs);
    const aborts = request.signal ? AbortSignal.any([request.signal, watchdog.signal]) : watchdog.signal;
    // The client's own timeout must not cut a long but live stream: the watchdog covers it.
    const client = createOllamaClient({ ...connection, timeoutMs: 24 * 60 * 60 * 1000 }, aborts);
    try {
      const parts = await client.chat({ model, messages: [...request.messages], stream: true, options: ollamaOptions(request) });
      for await (const part of parts) {
        watchdog.touch();
        const content: unknown = part?.message?.content;
        if (typeof content === 'string' && content) yield content;
      }
    } catch (error) {
      throw describeOllamaError(error, connection.host, model, connection.timeoutMs);
    } finally {
      watchdog.stop();
    }
  }

  async complete(request: ChatRequest): Promise<string> {
    const { connection, model } = this;
    const client = createOllamaClient(connection, request.signal);
    let content: unknown;
    try {
      const response = await client.chat({ model, messages: [...request.messages], stream: false, options: ollamaOptions(request) });
      content = response?.message?.content;
    } catch (error) {
      throw describeOllamaError(error, connection.host, model, connection.timeoutMs);
    }
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
