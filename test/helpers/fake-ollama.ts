/**
 * A fake Ollama server on loopback, for tests that drive the real `ollama` npm client over real HTTP.
 *
 * It speaks the subset of Ollama's REST API that paperbot uses, with the shapes the ollama-js 0.6
 * client expects: GET /api/version, GET /api/tags, POST /api/embed and POST /api/chat (streamed as
 * NDJSON or as one JSON object). Errors are JSON `{"error": "..."}` bodies with the status Ollama
 * uses, so the client turns them into its `ResponseError` (`.error`, `.status_code`).
 *
 * Fault switches (`fake.faults`) can be changed at any time and are read on every request.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const FAKE_OLLAMA_VERSION = '0.12.0';
export const DEFAULT_MODELS: readonly string[] = ['llama3.2:latest', 'nomic-embed-text:latest'];
export const DEFAULT_CHAT_REPLY = 'Answer [1].';

export interface ChatMessageBody {
  role: string;
  content: string;
  [key: string]: unknown;
}

/** The parsed body of a POST /api/chat, as the client sent it. */
export interface ChatRequestBody {
  model: string;
  messages: ChatMessageBody[];
  stream?: boolean;
  options?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface FakeOllamaFaults {
  /** Wait this long before answering any request (the request is recorded at once). */
  slowMs?: number;
  /** In a streamed chat, write `{"error": ...}` after this many content chunks and end the 200 response. */
  errorMidStream?: number;
  /** In a streamed chat, end the response after the content chunks without the `done: true` line. */
  endWithoutDone?: boolean;
  /** Answer every request with 500 `{"error": ...}`. */
  status500?: boolean;
  /** The message used by `errorMidStream` and `status500`. */
  errorMessage?: string;
  /** Accept every request and never answer it (until the client goes away or the fake closes). */
  neverAnswer?: boolean;
  /**
   * In a streamed chat, after the reply's chunks keep streaming this text, one chunk at a time
   * (every `chunkDelayMs`, or as fast as the event loop turns), never `done`, until the client
   * goes away or `num_predict` is reached (then `done_reason: "length"`): a model that never stops.
   */
  endless?: string;
}

export interface FakeOllamaOptions {
  /** Model names served by /api/tags and accepted by /api/embed and /api/chat; a name without a tag means `:latest`. */
  models?: readonly string[];
  /** Embeds one input text; default: `hashEmbedding(text, embedDimension)`. */
  embed?: (text: string) => number[];
  /** Dimension of the built-in embedding (default 8). */
  embedDimension?: number;
  /** The assistant reply for a chat request (default "Answer [1]."). */
  chatReply?: (request: ChatRequestBody) => string | Promise<string>;
  /** Characters per streamed chunk (default 8). */
  chunkSize?: number;
  /**
   * The streamed chunks of a chat reply, exactly (overrides `chatReply` and `chunkSize` for
   * streamed chats), to put chunk boundaries where a test wants them.
   */
  chatChunks?: (request: ChatRequestBody) => string[];
  /** Delay between streamed NDJSON lines (default 0). */
  chunkDelayMs?: number;
  /** Initial fault switches. */
  faults?: FakeOllamaFaults;
}

export interface RecordedRequest {
  method: string;
  /** The path without the query string, e.g. `/api/chat`. */
  path: string;
  /** Parsed JSON body; the raw text if it was not JSON; undefined if empty. */
  body: unknown;
  /** `Date.now()` when the request arrived. */
  receivedAt: number;
}

export interface FakeOllama {
  /** `http://127.0.0.1:PORT`, for `new Ollama({ host: fake.url })`. */
  readonly url: string;
  readonly port: number;
  /** Every request received, in order of arrival. */
  readonly requests: RecordedRequest[];
  /** Fault switches, read on every request; assign a new object or mutate this one. */
  faults: FakeOllamaFaults;
  /** The recorded requests to one path, e.g. `fake.requestsTo('/api/chat')`. */
  requestsTo(path: string): RecordedRequest[];
  /** Clears the recorded requests and the faults. */
  reset(): void;
  /** Stops the server, destroying open sockets and cancelling pending delays; safe to call twice. */
  close(): Promise<void>;
}

/** A model name as Ollama resolves it: `name` → `name:latest`. */
export function normalizeModelName(name: string): string {
  const lastSegment = name.slice(name.lastIndexOf('/') + 1);
  return lastSegment.includes(':') ? name : `${name}:latest`;
}

/**
 * The built-in deterministic embedding: a hashed bag of lowercase words (FNV-1a into `dimension`
 * buckets), L2-normalised, so texts sharing words get similar vectors. Text without words embeds
 * to the zero vector.
 */
export function hashEmbedding(text: string, dimension = 8): number[] {
  const vector: number[] = new Array<number>(dimension).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    let hash = 0x811c9dc5;
    for (let i = 0; i < word.length; i++) {
      hash ^= word.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    const bucket = hash % dimension;
    vector[bucket] = (vector[bucket] ?? 0) + 1;
  }
  return l2Normalize(vector);
}

function l2Normalize(vector: number[]): number[] {
  const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
  return norm === 0 ? vector : vector.map((x) => x / norm);
}

function fakeDigest(name: string): string {
  let out = '';
  let hash = 0x811c9dc5;
  for (let round = 0; out.length < 64; round++) {
    for (const ch of `${round}:${name}`) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193) >>> 0;
    out += hash.toString(16).padStart(8, '0');
  }
  return out.slice(0, 64);
}

function modelEntry(name: string): Record<string, unknown> {
  const family = name.split(/[:/]/)[0]?.replace(/[\d.]+$/, '') || 'llama';
  return {
    name,
    model: name,
    modified_at: '2025-01-01T00:00:00.000Z',
    size: 1_000_000 + (Number.parseInt(fakeDigest(name).slice(0, 6), 16) % 1_000_000),
    digest: fakeDigest(name),
    details: {
      parent_model: '',
      format: 'gguf',
      family,
      families: [family],
      parameter_size: '1B',
      quantization_level: 'Q4_K_M',
    },
  };
}

function wordCount(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startFakeOllama(options: FakeOllamaOptions = {}): Promise<FakeOllama> {
  const models = (options.models ?? DEFAULT_MODELS).map(normalizeModelName);
  const embedDimension = options.embedDimension ?? 8;
  const embed = options.embed ?? ((text: string) => hashEmbedding(text, embedDimension));
  const chatReply = options.chatReply ?? (() => DEFAULT_CHAT_REPLY);
  const chunkSize = Math.max(1, options.chunkSize ?? 8);
  const chunkDelayMs = options.chunkDelayMs ?? 0;

  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const closing = new AbortController();

  const requireModel = (body: Record<string, unknown>): string => {
    const model = body['model'];
    if (typeof model !== 'string' || model === '') throw new HttpFailure(400, 'model is required');
    if (!models.includes(normalizeModelName(model))) {
      throw new HttpFailure(404, `model "${model}" not found, try pulling it first`);
    }
    return model;
  };

  const server = http.createServer((req, res) => {
    const receivedAt = Date.now();
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = undefined;
      if (text !== '') {
        try {
          body = JSON.parse(text) as unknown;
        } catch {
          body = text;
        }
      }
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      const method = req.method ?? 'GET';
      requests.push({ method, path, body, receivedAt });

      // Cancels delays when the client goes away or the fake closes.
      const gone = new AbortController();
      res.on('close', () => gone.abort());
      const signal = AbortSignal.any([gone.signal, closing.signal]);

      handle(method, path, body, text, res, signal).catch((error: unknown) => {
        if (signal.aborted || res.destroyed) return;
        const status = error instanceof HttpFailure ? error.status : 500;
        const message = error instanceof Error ? error.message : String(error);
        if (res.headersSent) res.end();
        else sendJson(res, status, { error: message });
      });
    });
  });

  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  const fake: FakeOllama = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    faults: { ...options.faults },
    requestsTo: (path) => requests.filter((r) => r.path === path),
    reset() {
      requests.length = 0;
      fake.faults = {};
    },
    async close() {
      closing.abort();
      for (const socket of sockets) socket.destroy();
      if (!server.listening) return;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  async function handle(
    method: string,
    path: string,
    body: unknown,
    rawBody: string,
    res: http.ServerResponse,
    signal: AbortSignal,
  ): Promise<void> {
    const faults = fake.faults;
    if (faults.slowMs) await sleep(faults.slowMs, undefined, { signal });
    if (faults.neverAnswer) await new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error('client went away')), { once: true }));
    if (faults.status500) throw new HttpFailure(500, faults.errorMessage ?? 'fake-ollama: simulated server error');

    const route = `${method} ${path}`;
    switch (route) {
      case 'GET /':
      case 'HEAD /':
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(method === 'HEAD' ? undefined : 'Ollama is running');
        return;
      case 'GET /api/version':
        sendJson(res, 200, { version: FAKE_OLLAMA_VERSION });
        return;
      case 'GET /api/tags':
        sendJson(res, 200, { models: models.map(modelEntry) });
        return;
      case 'POST /api/embed':
        return handleEmbed(requireBody(body, rawBody), res);
      case 'POST /api/chat':
        return handleChat(requireBody(body, rawBody), res, signal);
      default:
        // What Ollama's router answers for an unknown route.
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('404 page not found');
    }
  }

  function requireBody(body: unknown, rawBody: string): Record<string, unknown> {
    if (rawBody === '') throw new HttpFailure(400, 'missing request body');
    if (!isRecord(body)) throw new HttpFailure(400, 'invalid request body: expected a JSON object');
    return body;
  }

  function handleEmbed(body: Record<string, unknown>, res: http.ServerResponse): void {
    const model = requireModel(body);
    const input = body['input'];
    let texts: string[];
    if (typeof input === 'string') texts = input === '' ? [] : [input];
    else if (Array.isArray(input) && input.every((x): x is string => typeof x === 'string')) texts = input;
    else if (input === undefined) texts = [];
    else throw new HttpFailure(400, 'invalid input type');

    const dimensions = body['dimensions'];
    const embeddings = texts.map((text) => {
      const vector = embed(text);
      return typeof dimensions === 'number' && dimensions > 0 && dimensions < vector.length
        ? l2Normalize(vector.slice(0, dimensions))
        : vector;
    });
    sendJson(res, 200, {
      model,
      embeddings,
      total_duration: 1_000_000 * (texts.length + 1),
      load_duration: 100_000,
      prompt_eval_count: texts.reduce((sum, text) => sum + wordCount(text), 0),
    });
  }

  async function handleChat(
    body: Record<string, unknown>,
    res: http.ServerResponse,
    signal: AbortSignal,
  ): Promise<void> {
    const model = requireModel(body);
    const rawMessages = body['messages'] ?? [];
    if (!Array.isArray(rawMessages)) throw new HttpFailure(400, 'messages must be an array');
    const messages = rawMessages.filter(isRecord).map((m) => ({
      ...m,
      role: String(m['role'] ?? ''),
      content: String(m['content'] ?? ''),
    }));
    const request = { ...body, model, messages } as ChatRequestBody;
    const reply = await chatReply(request);
    const promptEvalCount = messages.reduce((sum, m) => sum + wordCount(m.content), 0);
    const stats = (evalCount: number, doneReason = 'stop') => ({
      done_reason: doneReason,
      total_duration: 5_000_000 + evalCount * 1_000_000,
      load_duration: 1_000_000,
      prompt_eval_count: promptEvalCount,
      prompt_eval_duration: 2_000_000,
      eval_count: evalCount,
      eval_duration: evalCount * 1_000_000,
    });
    const line = (content: string, done: boolean) => ({
      model,
      created_at: new Date().toISOString(),
      message: { role: 'assistant', content },
      done,
    });

    // Like Ollama itself, stream unless told `stream: false` (ollama-js always sends the field).
    if (body['stream'] === false) {
      sendJson(res, 200, { ...line(reply, true), ...stats(wordCount(reply)) });
      return;
    }

    const characters = Array.from(reply);
    let pieces: string[] = [];
    if (options.chatChunks) pieces = options.chatChunks(request);
    else for (let i = 0; i < characters.length; i += chunkSize) pieces.push(characters.slice(i, i + chunkSize).join(''));
    // Like Ollama, stop at `num_predict` tokens (here: one chunk is one token) and say "length".
    const requestOptions = body['options'];
    const numPredict = isRecord(requestOptions) && typeof requestOptions['num_predict'] === 'number' && requestOptions['num_predict'] > 0 ? requestOptions['num_predict'] : Infinity;
    const cut = pieces.length > numPredict;
    if (cut) pieces = pieces.slice(0, numPredict);

    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
    res.flushHeaders();
    const faults = fake.faults;
    let first = true;
    const writeLine = async (value: unknown): Promise<void> => {
      if (!first && chunkDelayMs > 0) await sleep(chunkDelayMs, undefined, { signal });
      first = false;
      if (res.destroyed) throw new Error('client went away');
      res.write(`${JSON.stringify(value)}\n`);
    };

    for (const [index, piece] of pieces.entries()) {
      if (faults.errorMidStream !== undefined && index >= faults.errorMidStream) break;
      await writeLine(line(piece, false));
    }
    if (faults.errorMidStream !== undefined) {
      await writeLine({ error: faults.errorMessage ?? 'fake-ollama: simulated error mid-stream' });
    } else if (faults.endless !== undefined && !cut) {
      let sent = pieces.length;
      for (; sent < numPredict; sent++) {
        if (chunkDelayMs > 0) await sleep(chunkDelayMs, undefined, { signal });
        else await new Promise((resolve) => setImmediate(resolve));
        if (res.destroyed) throw new Error('client went away');
        res.write(`${JSON.stringify(line(faults.endless, false))}\n`);
      }
      await writeLine({ ...line('', true), ...stats(sent, 'length') });
    } else if (!faults.endWithoutDone) {
      await writeLine({ ...line('', true), ...stats(pieces.length, cut ? 'length' : 'stop') });
    }
    res.end();
  }

  return fake;
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}
