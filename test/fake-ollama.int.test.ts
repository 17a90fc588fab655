// Self-test of the fake Ollama server, driven by the real `ollama` client over loopback HTTP.
import { Ollama, type ChatResponse } from 'ollama';
import { afterEach, describe, expect, it } from 'vitest';
import { hashEmbedding, startFakeOllama, type FakeOllama } from './helpers/fake-ollama.ts';

const REPLY = 'Transformers scale well [1], but data matters more [2].';

let fake: FakeOllama | undefined;

async function start(options: Parameters<typeof startFakeOllama>[0] = {}): Promise<{ fake: FakeOllama; ollama: Ollama }> {
  fake = await startFakeOllama(options);
  return { fake, ollama: new Ollama({ host: fake.url }) };
}

afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** Collects a stream's parts, and the error that ended it if any. */
async function drain(stream: AsyncIterable<ChatResponse>): Promise<{ parts: ChatResponse[]; error: unknown }> {
  const parts: ChatResponse[] = [];
  try {
    for await (const part of stream) parts.push(part);
  } catch (error) {
    return { parts, error };
  }
  return { parts, error: undefined };
}

async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected the promise to reject');
}

const cosine = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0);

describe('fake Ollama with the real ollama client', () => {
  it('serves the version and the model list', async () => {
    const { ollama } = await start({ models: ['llama3.2', 'nomic-embed-text:latest', 'qwen3:0.6b'] });
    expect(await ollama.version()).toEqual({ version: '0.12.0' });
    const list = await ollama.list();
    expect(list.models.map((m) => m.name)).toEqual(['llama3.2:latest', 'nomic-embed-text:latest', 'qwen3:0.6b']);
    expect(list.models[0]).toMatchObject({ model: 'llama3.2:latest', details: { format: 'gguf' } });
    expect(list.models[0]?.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('embeds deterministically, with the default dimension, and records the request', async () => {
    const { fake, ollama } = await start();
    const input = ['Attention is all you need', 'attention is ALL you need!', 'Protein folding with diffusion'];
    const response = await ollama.embed({ model: 'nomic-embed-text', input, truncate: true });

    expect(response.model).toBe('nomic-embed-text');
    expect(response.embeddings).toHaveLength(3);
    const [a, b, c] = response.embeddings as [number[], number[], number[]];
    for (const vector of [a, b, c]) {
      expect(vector).toHaveLength(8);
      expect(Math.hypot(...vector)).toBeCloseTo(1, 10);
    }
    expect(a).toEqual(b); // same words, different case and punctuation
    expect(a).toEqual(hashEmbedding(input[0]!, 8));
    expect(cosine(a, c)).toBeLessThan(cosine(a, b));
    expect((await ollama.embed({ model: 'nomic-embed-text', input: input[2]! })).embeddings).toEqual([c]);

    const [recorded] = fake.requestsTo('/api/embed');
    expect(recorded).toMatchObject({ method: 'POST', body: { model: 'nomic-embed-text', input, truncate: true } });
    expect(recorded?.receivedAt).toBeGreaterThan(Date.now() - 10_000);
  });

  it('uses a custom embed function or dimension', async () => {
    const { ollama } = await start({ embed: (text) => [text.length, 0, 1] });
    expect((await ollama.embed({ model: 'nomic-embed-text', input: 'abcd' })).embeddings).toEqual([[4, 0, 1]]);
    await fake?.close();

    const { ollama: other } = await start({ embedDimension: 32 });
    const [vector] = (await other.embed({ model: 'nomic-embed-text', input: 'graph neural networks' })).embeddings;
    expect(vector).toHaveLength(32);
  });

  it('streams a chat reply in several parts, then one with done: true', async () => {
    const seen: unknown[] = [];
    const { fake, ollama } = await start({
      chatReply: (request) => {
        seen.push(request.messages);
        return REPLY;
      },
    });
    const messages = [
      { role: 'system', content: 'Cite sources as [n].' },
      { role: 'user', content: 'Do transformers scale?' },
    ];
    const stream = await ollama.chat({ model: 'llama3.2', messages, stream: true, options: { temperature: 0 } });
    const { parts, error } = await drain(stream);

    expect(error).toBeUndefined();
    expect(parts.length).toBe(Math.ceil(REPLY.length / 8) + 1);
    expect(parts.slice(0, -1).every((p) => !p.done && p.message.role === 'assistant')).toBe(true);
    expect(parts.slice(0, -1).every((p) => p.message.content.length > 0)).toBe(true);
    const last = parts.at(-1);
    expect(last).toMatchObject({ done: true, done_reason: 'stop', model: 'llama3.2', message: { content: '' } });
    expect(last?.eval_count).toBeGreaterThan(0);
    expect(last?.prompt_eval_count).toBe(7);
    expect(parts.map((p) => p.message.content).join('')).toBe(REPLY);

    expect(seen).toEqual([messages]);
    expect(fake.requestsTo('/api/chat')[0]?.body).toMatchObject({ stream: true, options: { temperature: 0 }, messages });
  });

  it('answers a non-streamed chat with one object, and honours chunkSize and chunkDelayMs', async () => {
    const { fake, ollama } = await start({ chunkSize: 20, chunkDelayMs: 25 });
    const whole = await ollama.chat({ model: 'llama3.2:latest', messages: [{ role: 'user', content: 'hi' }] });
    expect(whole).toMatchObject({ done: true, message: { role: 'assistant', content: 'Answer [1].' } });
    expect(fake.requests[0]?.body).toMatchObject({ stream: false }); // the client always sends the field

    const started = Date.now();
    const { parts } = await drain(
      await ollama.chat({
        model: 'llama3.2',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      }),
    );
    expect(parts.map((p) => p.message.content)).toEqual(['Answer [1].', '']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(20); // one delay between the two lines
  });

  it('rejects unknown models with a 404 ResponseError', async () => {
    const { ollama } = await start();
    const chatError = await rejection(ollama.chat({ model: 'mistral', messages: [{ role: 'user', content: 'hi' }] }));
    expect(chatError.name).toBe('ResponseError');
    expect(chatError['status_code']).toBe(404);
    expect(chatError.message).toBe('model "mistral" not found, try pulling it first');
    expect(chatError['error']).toBe(chatError.message);

    // Streamed requests fail the same way, before any iteration.
    const streamError = await rejection(ollama.chat({ model: 'mistral', messages: [], stream: true }));
    expect(streamError['status_code']).toBe(404);

    const embedError = await rejection(ollama.embed({ model: 'llama3.2:1b', input: 'x' }));
    expect(embedError['status_code']).toBe(404);
  });

  it('errorMidStream makes the iteration throw after some parts', async () => {
    const { fake, ollama } = await start({ chatReply: () => REPLY });
    fake.faults = { errorMidStream: 2, errorMessage: 'model runner crashed' };
    const { parts, error } = await drain(await ollama.chat({ model: 'llama3.2', messages: [], stream: true }));
    expect(parts.map((p) => p.message.content)).toEqual([REPLY.slice(0, 8), REPLY.slice(8, 16)]);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('model runner crashed');
    expect((error as Error).name).toBe('Error'); // a plain Error: no status_code mid-stream
  });

  it('endWithoutDone makes the iteration throw once the content is over', async () => {
    const { fake, ollama } = await start({ chatReply: () => REPLY });
    fake.faults.endWithoutDone = true;
    const { parts, error } = await drain(await ollama.chat({ model: 'llama3.2', messages: [], stream: true }));
    expect(parts.map((p) => p.message.content).join('')).toBe(REPLY);
    expect(parts.some((p) => p.done)).toBe(false);
    expect((error as Error).message).toBe('Did not receive done or success response in stream.');
  });

  it('status500 fails every request, and reset() clears faults and requests', async () => {
    const { fake, ollama } = await start();
    fake.faults = { status500: true };
    const error = await rejection(ollama.list());
    expect(error['status_code']).toBe(500);
    expect(fake.requests).toHaveLength(1);

    fake.reset();
    expect(fake.requests).toHaveLength(0);
    expect(fake.faults).toEqual({});
    expect((await ollama.list()).models).toHaveLength(2);
  });

  it('slowMs with an aborting fetch rejects quickly, and close() does not wait for the slow response', async () => {
    const { fake } = await start();
    fake.faults = { slowMs: 10_000 };
    const ollama = new Ollama({
      host: fake.url,
      fetch: (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(100) }),
    });
    const started = Date.now();
    const error = await rejection(ollama.embed({ model: 'nomic-embed-text', input: 'slow' }));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(error.name).toBe('TimeoutError'); // a DOMException from AbortSignal.timeout, passed through
    expect(fake.requestsTo('/api/embed')).toHaveLength(1);

    // A second slow request is still pending on the server when the fake closes.
    const pending = new Ollama({ host: fake.url }).list().catch((e: unknown) => e);
    await expect.poll(() => fake.requestsTo('/api/tags')).toHaveLength(1); // it reached the fake
    const closing = Date.now();
    await fake.close();
    expect(Date.now() - closing).toBeLessThan(500);
    expect(await pending).toBeInstanceOf(Error);
  });

  it('abort() on a streamed chat stops the iteration with an AbortError', async () => {
    const { ollama } = await start({ chatReply: () => REPLY, chunkSize: 4, chunkDelayMs: 20 });
    const stream = await ollama.chat({ model: 'llama3.2', messages: [], stream: true });
    const parts: ChatResponse[] = [];
    const error = await rejection(
      (async () => {
        for await (const part of stream) {
          parts.push(part);
          if (parts.length === 2) stream.abort();
        }
      })(),
    );
    expect(error.name).toBe('AbortError');
    expect(parts).toHaveLength(2);
  });
});
