/**
 * `Embedder` on Ollama's /api/embed: one call per batch (the caller batches), `truncate: true` so a long abstract never fails a
 * batch, nomic-embed-text's `search_document: ` / `search_query: ` prefixes, responses checked.
 * Calls go through the host's health (`callOllama`): after a timeout the next calls fail at once.
 */
import { z } from 'zod';
import { PaperbotError } from '../../errors.ts';
import type { Embedder } from '../../rag/ports.ts';
import { callOllama, createOllamaClient, type OllamaConnection } from './ollama-client.ts';

const embedResponse = z.object({ embeddings: z.array(z.array(z.number())) });

/** Models trained with task prefixes; others get the text as it is. */
function prefixesFor(model: string): { document: string; query: string } {
  return /nomic-embed/i.test(model) ? { document: 'search_document: ', query: 'search_query: ' } : { document: '', query: '' };
}

export class OllamaEmbedder implements Embedder {
  readonly id: string;
  private readonly prefixes: { document: string; query: string };

  private constructor(
    private readonly connection: OllamaConnection,
    private readonly model: string,
    readonly dimension: number,
    /** Texts per /api/embed call; the vector index manager never sends more. */
    readonly maxBatch: number,
  ) {
    this.id = `ollama:${model}`;
    this.prefixes = prefixesFor(model);
  }

  /** Connects and learns the model's dimension from one probe embedding. */
  static async connect(connection: OllamaConnection, model: string, maxBatch = 32): Promise<OllamaEmbedder> {
    const probe = new OllamaEmbedder(connection, model, 0, maxBatch);
    const [vector] = await probe.embed(['dimension probe']);
    if (!vector?.length) throw new PaperbotError('ollama_failed', `Ollama's model "${model}" returned an empty embedding.`);
    return new OllamaEmbedder(connection, model, vector.length, maxBatch);
  }

  embedDocuments(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    if (texts.length > this.maxBatch) throw new PaperbotError('internal', `${texts.length} texts exceed the batch limit of ${this.id} (${this.maxBatch}).`);
    return this.embed(texts.map((text) => this.prefixes.document + text), signal);
  }

  async embedQuery(text: string, signal?: AbortSignal): Promise<Float32Array> {
    const [vector] = await this.embed([this.prefixes.query + text], signal);
    if (!vector) throw new PaperbotError('ollama_failed', 'Ollama returned no embedding for the question.');
    return vector;
  }

  private async embed(input: string[], signal?: AbortSignal): Promise<Float32Array[]> {
    const response: unknown = await callOllama(this.connection, this.model, signal, () => createOllamaClient(this.connection, signal).embed({ model: this.model, input, truncate: true }));
    const parsed = embedResponse.safeParse(response);
    if (!parsed.success || parsed.data.embeddings.length !== input.length) {
      throw new PaperbotError('ollama_failed', `Ollama's /api/embed answered with an unexpected shape for model "${this.model}".`);
    }
    return parsed.data.embeddings.map((values) => {
      if (this.dimension && values.length !== this.dimension) {
        throw new PaperbotError('ollama_failed', `Ollama's model "${this.model}" returned ${values.length} dimensions instead of ${this.dimension}.`);
      }
      return Float32Array.from(values);
    });
  }
}
