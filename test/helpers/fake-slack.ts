/**
 * A fake Slack on loopback, for tests that drive a real @slack/bolt 5 `App` over real HTTP and a
 * real WebSocket (nothing of Bolt or of our code is mocked).
 *
 * One port serves:
 *  - the Web API under `/api/` (give Bolt `clientOptions: { slackApiUrl: fake.apiUrl }`, trailing
 *    slash included). Methods arrive as `POST /api/<method>`, form-encoded (what @slack/web-api
 *    sends, with nested fields such as `blocks` JSON-stringified — parsed back here) or JSON.
 *    Answers: `auth.test`, `chat.postMessage` (a fresh `ts` each time), `chat.update`,
 *    `apps.connections.open` (the Socket Mode URL below), `conversations.history` and
 *    `conversations.replies` (below); anything else `{ ok: true }`.
 *    `fake.failNext(method, error, extra?)` makes the next call of that method answer
 *    `{ ok: false, error, ...extra }` (HTTP 200, as Slack does; e.g. `extra: { needed: 'chat:write' }`
 *    for `missing_scope`), so the client throws a `WebAPIPlatformError` (code
 *    `slack_webapi_platform_error`, `data.error`). `fake.failChannel(channel, error)` makes every
 *    call naming that channel answer `{ ok: false, error }` until `fake.failChannel(channel, null)`.
 *  - Channel history: every `chat.postMessage` (thread replies too, with `metadata`) is kept per
 *    channel (`fake.channelMessages(channel)`, in posting order); `chat.update` edits the kept
 *    message. `conversations.history` answers a channel's top-level messages newest first, at most
 *    `limit` (default 100, as Slack), with `metadata` only when `include_all_metadata` is true;
 *    `conversations.replies` (`ts`, or `thread_ts`) answers the parent then its replies, oldest
 *    first. `fake.seedHistory(channel, messages)` adds messages as if posted earlier (a fresh `ts`
 *    unless given). A channel never posted to or seeded has an empty history.
 *  - Holding a response (a process killed mid-request): `fake.holdNext(method, { store })` makes
 *    the next call of `method` get no HTTP response; it resolves with a `HeldCall` as that call
 *    arrives. `store: true` (default): the call is handled at once — for `chat.postMessage` the
 *    message is kept in the channel history, as if Slack posted it — but its answer is withheld.
 *    `store: false`: the call is not handled at all (nothing kept: the post never reached Slack).
 *    `held.release()` sends the answer (a `store: false` call is handled only then); `held.drop()`
 *    destroys the connection with no answer at all (a reset, as the client sees it); `close()`
 *    drops held responses with their connections. The call is in `fake.calls` from its arrival
 *    (with `held: true`); a `store: false` call's `response` is `{}` until it is released.
 *  - `POST /response/<id>`: a stand-in for a `response_url` (`fake.responseUrl(id)`), recorded in
 *    `fake.responses`.
 *  - Socket Mode: a `ws` server at `/socket`. On connect it sends `hello`; `fake.sendEnvelope()`
 *    sends an envelope and resolves with the client's acknowledgement (`{ envelope_id, payload }`).
 *
 * What Bolt needs (checked against @slack/bolt 5.1 / @slack/socket-mode 3.1):
 *  - `new App({ token })` calls `auth.test` at once, from the constructor (tokenVerificationEnabled
 *    defaults to true), so start the fake before constructing the App.
 *  - Socket Mode: App copies `clientOptions` into `installerOptions.clientOptions`, and the
 *    SocketModeReceiver hands those to its SocketModeClient's own WebClient, so the one
 *    `clientOptions: { slackApiUrl }` also sends `apps.connections.open` (authorized with
 *    `Bearer <appToken>`) to the fake. No `installerOptions` needed. The WebSocket is undici's.
 *  - HTTP mode: `await app.start(0)` (or `app.start({ port: 0, host: '127.0.0.1' })`) resolves with
 *    the `http.Server`; read the port from `server.address()`.
 *
 * Also exported: `signSlackRequest` (HTTP-mode request signing) and payload builders for slash
 * commands, `app_mention` events and `block_actions`.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

// ---------------------------------------------------------------------------------------------
// Constants

export const TEAM_ID = 'T1';
export const TEAM_NAME = 'T';
export const BOT_USER_ID = 'UBOT';
export const BOT_USER_NAME = 'paperbot';
export const BOT_ID = 'B1';
export const APP_ID = 'A1';
export const HUMAN_USER_ID = 'U123';
export const CHANNEL_ID = 'C123';

// ---------------------------------------------------------------------------------------------
// Types

type Obj = Record<string, unknown>;

export interface RecordedCall {
  /** The Web API method, e.g. `chat.postMessage`. */
  method: string;
  /** The parsed body (form fields, JSON-looking values parsed; or the JSON body). */
  body: Obj;
  /** The Authorization header, or null (@slack/web-api also sends the token in the body for some calls). */
  authorization: string | null;
  /** `Date.now()` on arrival. */
  at: number;
  /** What the fake answered (`{}` while a `holdNext({ store: false })` call is held). */
  response: Obj;
  /** Set when the call's response was held by `holdNext`. */
  held?: boolean;
}

/** A call whose HTTP response `holdNext` withholds. */
export interface HeldCall {
  call: RecordedCall;
  /** Whether the call was handled on arrival (`store: true`: e.g. the message is in the history). */
  stored: boolean;
  /** Sends the response now (handling a `store: false` call first); a no-op once sent or after the client went away. */
  release(): void;
  /** Destroys the connection without any response (a reset or timeout as the client sees it); nothing more is handled. */
  drop(): void;
}

export interface HoldOptions {
  /** Handle the call on arrival, withholding only the answer (default true). */
  store?: boolean;
  /** The returned promise rejects when no such call arrives within this (default 10000 ms). */
  timeoutMs?: number;
}

export interface RecordedResponse {
  /** The `<id>` of `POST /response/<id>`. */
  id: string;
  /** The parsed JSON body (or form/raw text as `{ raw }`). */
  body: Obj;
  at: number;
}

export type EnvelopeType = 'slash_commands' | 'events_api' | 'interactive';

export interface Envelope {
  envelope_id: string;
  type: EnvelopeType;
  payload: unknown;
  accepts_response_payload: boolean;
}

/** A message kept in a channel's history, shaped like Slack's `conversations.history` items. */
export interface StoredMessage {
  type: 'message';
  ts: string;
  text?: string;
  blocks?: unknown;
  thread_ts?: string;
  metadata?: unknown;
  user?: string;
  bot_id?: string;
  /** Anything else a seeded message carries (`subtype`, `attachments`, …), answered as given. */
  [key: string]: unknown;
}

/** What `seedHistory` takes: a message posted earlier (by anyone); `ts` is fresh when not given. */
export type SeedMessage = Partial<StoredMessage> & { text?: string };

/** What the client sent back for an envelope. */
export interface EnvelopeAck {
  envelope_id: string;
  payload?: unknown;
  at: number;
}

export interface FakeSlack {
  /** `http://127.0.0.1:PORT/api/` — give Bolt `clientOptions: { slackApiUrl: fake.apiUrl }`. */
  readonly apiUrl: string;
  /** `ws://127.0.0.1:PORT/socket` — what `apps.connections.open` answers. */
  readonly socketUrl: string;
  readonly port: number;
  /** Every Web API call, in order of arrival. */
  readonly calls: RecordedCall[];
  /** Every response_url post. */
  readonly responses: RecordedResponse[];
  /** Every envelope acknowledgement received over Socket Mode. */
  readonly acks: EnvelopeAck[];
  /** Every envelope sent. */
  readonly envelopes: Envelope[];
  /** `http://127.0.0.1:PORT/response/<id>`. */
  responseUrl(id: string): string;
  /** The next call of `method` answers `{ ok: false, error, ...extra }` (queued: call twice to fail twice). */
  failNext(method: string, error: string, extra?: Obj): void;
  /** Every call naming `channel` answers `{ ok: false, error }` (after `failNext`); `null` lifts it. */
  failChannel(channel: string, error: string | null): void;
  /** The messages kept for `channel` (posted and seeded, thread replies included), oldest first. */
  channelMessages(channel: string): StoredMessage[];
  /** Adds messages to `channel`'s history, in the order given (each newer than the last), as if posted earlier. */
  seedHistory(channel: string, messages: readonly SeedMessage[]): StoredMessage[];
  /**
   * The next call of `method` (not one already recorded) gets no HTTP response until
   * `release()`; resolves as it arrives. See the header comment for `store`.
   */
  holdNext(method: string, options?: HoldOptions): Promise<HeldCall>;
  /** Resolves with the first call (already recorded or future) matching `predicate`; rejects after `timeoutMs`. */
  waitFor(predicate: (call: RecordedCall) => boolean, timeoutMs?: number): Promise<RecordedCall>;
  /** Like `waitFor`, for response_url posts. */
  waitForResponse(predicate: (response: RecordedResponse) => boolean, timeoutMs?: number): Promise<RecordedResponse>;
  /** Resolves once a Socket Mode client is connected (and was sent `hello`). */
  waitForSocket(timeoutMs?: number): Promise<void>;
  /** Number of open Socket Mode connections. */
  readonly socketCount: number;
  /**
   * Sends an envelope to every connected Socket Mode client and resolves with the acknowledgement
   * (rejects if nobody is connected or no ack arrives within `timeoutMs`, default 5000).
   */
  sendEnvelope(type: EnvelopeType, payload: unknown, timeoutMs?: number): Promise<EnvelopeAck>;
  /** Closes the sockets and the server. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Body parsing

function maybeJson(value: string): unknown {
  const t = value.trimStart();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  }
  return value;
}

/** Parses a form-encoded or JSON body; form values that look like JSON objects/arrays are parsed. */
export function parseBody(raw: string, contentType: string | undefined): Obj {
  if (raw.length === 0) return {};
  if ((contentType ?? '').includes('application/json')) {
    try {
      const parsed = JSON.parse(raw) as unknown;
      return typeof parsed === 'object' && parsed !== null ? (parsed as Obj) : { value: parsed };
    } catch {
      return { raw };
    }
  }
  const out: Obj = {};
  for (const [key, value] of new URLSearchParams(raw)) out[key] = maybeJson(value);
  return out;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

// ---------------------------------------------------------------------------------------------
// The fake

export async function startFakeSlack(): Promise<FakeSlack> {
  const calls: RecordedCall[] = [];
  const responses: RecordedResponse[] = [];
  const acks: EnvelopeAck[] = [];
  const envelopes: Envelope[] = [];
  const failures = new Map<string, Obj[]>();
  const channelFailures = new Map<string, string>();
  const history = new Map<string, StoredMessage[]>();
  const holds: Array<{ method: string; store: boolean; arrived: (held: HeldCall) => void; timer?: NodeJS.Timeout }> = [];
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const pendingAcks = new Map<string, (ack: EnvelopeAck) => void>();
  const sockets = new Set<Socket>();
  const clients = new Set<WebSocket>();
  let tsCounter = 100;
  let port = 0;

  const freshTs = (): string => `1700000000.${String(tsCounter++).padStart(6, '0')}`;

  const kept = (channel: string): StoredMessage[] => {
    let messages = history.get(channel);
    if (!messages) history.set(channel, (messages = []));
    return messages;
  };
  /** A form-encoded boolean arrives as the string `"true"`. */
  const truthy = (value: unknown): boolean => value === true || value === 'true' || value === '1' || value === 1;
  const withoutMetadata = (message: StoredMessage, includeMetadata: boolean): StoredMessage => {
    const copy = { ...message };
    if (!includeMetadata) delete copy.metadata;
    return copy;
  };
  const byTs = (a: StoredMessage, b: StoredMessage): number => Number(a.ts) - Number(b.ts);

  function answer(method: string, body: Obj): Obj {
    const queued = failures.get(method);
    const failure = queued?.shift();
    if (failure !== undefined) return { ...failure, ok: false };
    const channelError = typeof body['channel'] === 'string' ? channelFailures.get(body['channel']) : undefined;
    if (channelError !== undefined) return { ok: false, error: channelError };
    switch (method) {
      case 'auth.test':
        return {
          ok: true,
          url: 'https://fake.slack.com/',
          team: TEAM_NAME,
          user: BOT_USER_NAME,
          team_id: TEAM_ID,
          user_id: BOT_USER_ID,
          bot_id: BOT_ID,
        };
      case 'chat.postMessage': {
        const ts = freshTs();
        const message: Obj = { type: 'message', user: BOT_USER_ID, bot_id: BOT_ID, ts };
        for (const key of ['text', 'blocks', 'thread_ts', 'attachments', 'metadata'] as const) {
          if (body[key] !== undefined) message[key] = body[key];
        }
        if (typeof body['channel'] === 'string') kept(body['channel']).push({ ...(message as StoredMessage) });
        return { ok: true, channel: body['channel'], ts, message };
      }
      case 'chat.update': {
        const stored = typeof body['channel'] === 'string' ? history.get(body['channel'])?.find((m) => m.ts === body['ts']) : undefined;
        if (stored) {
          for (const key of ['text', 'blocks', 'metadata'] as const) if (body[key] !== undefined) (stored as Obj)[key] = body[key];
        }
        return { ok: true, channel: body['channel'], ts: body['ts'], text: body['text'] };
      }
      case 'conversations.history': {
        const limit = Number(body['limit'] ?? 100);
        const includeMetadata = truthy(body['include_all_metadata']);
        const top = (history.get(String(body['channel'])) ?? []).filter((m) => m.thread_ts === undefined || m.thread_ts === m.ts);
        const newestFirst = [...top].sort(byTs).reverse();
        const page = newestFirst.slice(0, Number.isFinite(limit) && limit > 0 ? limit : 100);
        return { ok: true, messages: page.map((m) => withoutMetadata(m, includeMetadata)), has_more: newestFirst.length > page.length, pin_count: 0 };
      }
      case 'conversations.replies': {
        const parentTs = String(body['ts'] ?? body['thread_ts'] ?? '');
        const messages = history.get(String(body['channel'])) ?? [];
        const parent = messages.find((m) => m.ts === parentTs);
        if (!parent) return { ok: false, error: 'thread_not_found' };
        const replies = messages.filter((m) => m.thread_ts === parentTs && m.ts !== parentTs).sort(byTs);
        const includeMetadata = truthy(body['include_all_metadata']);
        return { ok: true, messages: [parent, ...replies].map((m) => withoutMetadata(m, includeMetadata)), has_more: false };
      }
      case 'apps.connections.open':
        return { ok: true, url: `ws://127.0.0.1:${port}/socket` };
      default:
        return { ok: true };
    }
  }

  const server = http.createServer((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const path = url.pathname;
      if (req.method === 'POST' && path.startsWith('/api/')) {
        const method = decodeURIComponent(path.slice('/api/'.length));
        const body = parseBody(raw, req.headers['content-type']);
        const holdIndex = holds.findIndex((h) => h.method === method);
        if (holdIndex >= 0) {
          const [hold] = holds.splice(holdIndex, 1);
          const call: RecordedCall = { method, body, authorization: req.headers.authorization ?? null, at: Date.now(), response: hold!.store ? answer(method, body) : {}, held: true };
          calls.push(call);
          emitter.emit('call', call);
          let sent = false;
          hold!.arrived({
            call,
            stored: hold!.store,
            release() {
              if (sent) return;
              sent = true;
              if (!hold!.store) call.response = answer(method, body);
              if (!res.destroyed && !res.writableEnded) sendJson(res, 200, call.response);
            },
            drop() {
              if (sent) return;
              sent = true;
              req.socket.destroy();
            },
          });
          return;
        }
        const response = answer(method, body);
        const call: RecordedCall = { method, body, authorization: req.headers.authorization ?? null, at: Date.now(), response };
        calls.push(call);
        emitter.emit('call', call);
        sendJson(res, 200, response);
        return;
      }
      if (req.method === 'POST' && path.startsWith('/response/')) {
        const id = decodeURIComponent(path.slice('/response/'.length));
        const record: RecordedResponse = { id, body: parseBody(raw, req.headers['content-type'] ?? 'application/json'), at: Date.now() };
        responses.push(record);
        emitter.emit('response', record);
        sendJson(res, 200, { ok: true });
        return;
      }
      sendJson(res, 404, { ok: false, error: 'unknown_method' });
    })().catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { ok: false, error: String(err) });
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path !== '/socket') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      ws.on('message', (data) => {
        let msg: unknown;
        try {
          msg = JSON.parse(String(data)) as unknown;
        } catch {
          return;
        }
        if (typeof msg !== 'object' || msg === null) return;
        const m = msg as Obj;
        if (typeof m['envelope_id'] !== 'string') return;
        const ack: EnvelopeAck = { envelope_id: m['envelope_id'], at: Date.now() };
        if (m['payload'] !== undefined) ack.payload = m['payload'];
        acks.push(ack);
        pendingAcks.get(ack.envelope_id)?.(ack);
        pendingAcks.delete(ack.envelope_id);
      });
      ws.send(
        JSON.stringify({ type: 'hello', num_connections: 1, debug_info: { host: 'fake' }, connection_info: { app_id: APP_ID } }),
      );
      emitter.emit('socket');
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;

  function waitOn<T>(event: string, existing: readonly T[], predicate: (item: T) => boolean, timeoutMs: number, what: string): Promise<T> {
    const found = existing.find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const onItem = (item: T): void => {
        if (!predicate(item)) return;
        clearTimeout(timer);
        emitter.off(event, onItem);
        resolve(item);
      };
      const timer = setTimeout(() => {
        emitter.off(event, onItem);
        reject(new Error(`fake-slack: no matching ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      emitter.on(event, onItem);
    });
  }

  const fake: FakeSlack = {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    socketUrl: `ws://127.0.0.1:${port}/socket`,
    port,
    calls,
    responses,
    acks,
    envelopes,
    responseUrl: (id) => `http://127.0.0.1:${port}/response/${encodeURIComponent(id)}`,
    failNext(method, error, extra = {}) {
      const queued = failures.get(method) ?? [];
      queued.push({ ...extra, error });
      failures.set(method, queued);
    },
    failChannel(channel, error) {
      if (error === null) channelFailures.delete(channel);
      else channelFailures.set(channel, error);
    },
    channelMessages: (channel) => [...(history.get(channel) ?? [])],
    seedHistory(channel, messages) {
      const seeded = messages.map((m): StoredMessage => ({ ...m, type: 'message', ts: m.ts ?? freshTs() }));
      kept(channel).push(...seeded);
      return seeded;
    },
    holdNext(method, options = {}) {
      const { store = true, timeoutMs = 10_000 } = options;
      return new Promise<HeldCall>((resolve, reject) => {
        const hold: (typeof holds)[number] = {
          method,
          store,
          arrived: (held: HeldCall) => {
            clearTimeout(hold.timer);
            resolve(held);
          },
        };
        hold.timer = setTimeout(() => {
          const i = holds.indexOf(hold);
          if (i >= 0) holds.splice(i, 1);
          reject(new Error(`fake-slack: no ${method} call to hold within ${timeoutMs} ms`));
        }, timeoutMs);
        holds.push(hold);
      });
    },
    waitFor: (predicate, timeoutMs = 5000) => waitOn('call', calls, predicate, timeoutMs, 'Web API call'),
    waitForResponse: (predicate, timeoutMs = 5000) => waitOn('response', responses, predicate, timeoutMs, 'response_url post'),
    async waitForSocket(timeoutMs = 5000) {
      if (clients.size > 0) return;
      await waitOn<true>('socket', [], () => true, timeoutMs, 'Socket Mode connection').then(
        () => undefined,
        (err: unknown) => {
          if (clients.size === 0) throw err;
        },
      );
    },
    get socketCount() {
      return clients.size;
    },
    sendEnvelope(type, payload, timeoutMs = 5000) {
      const open = [...clients].filter((c) => c.readyState === WebSocket.OPEN);
      if (open.length === 0) return Promise.reject(new Error('fake-slack: no Socket Mode client connected'));
      const envelope: Envelope = {
        envelope_id: randomBytes(8).toString('hex'),
        type,
        payload,
        accepts_response_payload: true,
      };
      envelopes.push(envelope);
      return new Promise<EnvelopeAck>((resolve, reject) => {
        const timer = setTimeout(() => {
          pendingAcks.delete(envelope.envelope_id);
          reject(new Error(`fake-slack: envelope ${envelope.envelope_id} (${type}) not acknowledged within ${timeoutMs} ms`));
        }, timeoutMs);
        pendingAcks.set(envelope.envelope_id, (ack) => {
          clearTimeout(timer);
          resolve(ack);
        });
        const text = JSON.stringify(envelope);
        for (const c of open) c.send(text);
      });
    },
    async close() {
      // Holds still waiting for their call are forgotten (their promises stay pending).
      for (const hold of holds.splice(0)) clearTimeout(hold.timer);
      // A clean close handshake first (terminating makes undici's client log an SMWebsocketError), then force.
      await Promise.all(
        [...clients].map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.readyState === WebSocket.CLOSED) return resolve();
              const timer = setTimeout(() => {
                c.terminate();
                resolve();
              }, 500);
              c.once('close', () => {
                clearTimeout(timer);
                resolve();
              });
              if (c.readyState === WebSocket.OPEN) c.close(1000, 'fake closing');
            }),
        ),
      );
      wss.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}

// ---------------------------------------------------------------------------------------------
// HTTP-mode signing and payload builders

export interface SignedHeaders {
  'x-slack-signature': string;
  'x-slack-request-timestamp': string;
  'content-type': string;
}

/**
 * Headers for an HTTP-mode request: `v0=` + hex HMAC-SHA256(secret, `v0:{ts}:{body}`).
 * The content type is JSON when the body starts with `{`, form-encoded otherwise.
 */
export function signSlackRequest(
  signingSecret: string,
  body: string,
  timestamp: number = Math.floor(Date.now() / 1000),
): SignedHeaders {
  const sig = createHmac('sha256', signingSecret).update(`v0:${timestamp}:${body}`).digest('hex');
  return {
    'x-slack-signature': `v0=${sig}`,
    'x-slack-request-timestamp': String(timestamp),
    'content-type': body.trimStart().startsWith('{') ? 'application/json' : 'application/x-www-form-urlencoded',
  };
}

export interface SlashCommandInput {
  command: string;
  text: string;
  user_id?: string;
  channel_id?: string;
  response_url?: string;
  trigger_id?: string;
}

/** The fields of a slash command as an object (the Socket Mode `slash_commands` payload). */
export function slashCommandPayload(input: SlashCommandInput): Record<string, string> {
  return {
    token: 'verification-token',
    team_id: TEAM_ID,
    team_domain: 'fake',
    channel_id: input.channel_id ?? CHANNEL_ID,
    channel_name: 'general',
    user_id: input.user_id ?? HUMAN_USER_ID,
    user_name: 'alice',
    command: input.command,
    text: input.text,
    api_app_id: APP_ID,
    is_enterprise_install: 'false',
    response_url: input.response_url ?? 'http://127.0.0.1:9/response/none',
    trigger_id: input.trigger_id ?? '1.2.3',
  };
}

/** A slash command as Slack POSTs it in HTTP mode (form-encoded). */
export function slashCommandBody(input: SlashCommandInput): string {
  return new URLSearchParams(slashCommandPayload(input)).toString();
}

export interface AppMentionInput {
  text: string;
  user?: string;
  channel?: string;
  ts?: string;
  thread_ts?: string;
  event_id?: string;
}

/** An events_api `event_callback` body carrying an `app_mention` (JSON object; `JSON.stringify` it for HTTP mode). */
export function appMentionEvent(input: AppMentionInput): Obj {
  const ts = input.ts ?? '1700000001.000100';
  const event: Obj = {
    type: 'app_mention',
    user: input.user ?? HUMAN_USER_ID,
    text: input.text,
    ts,
    channel: input.channel ?? CHANNEL_ID,
    event_ts: ts,
  };
  if (input.thread_ts !== undefined) event['thread_ts'] = input.thread_ts;
  return {
    token: 'verification-token',
    team_id: TEAM_ID,
    api_app_id: APP_ID,
    event,
    type: 'event_callback',
    event_id: input.event_id ?? `Ev${randomBytes(5).toString('hex').toUpperCase()}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ team_id: TEAM_ID, user_id: BOT_USER_ID, is_bot: true, is_enterprise_install: false }],
  };
}

export interface BlockActionInput {
  action_id: string;
  value: string;
  user?: string;
  channel?: string;
  message_ts?: string;
  response_url?: string;
  block_id?: string;
}

/** A `block_actions` payload object (the Socket Mode `interactive` payload). */
export function blockActionsPayload(input: BlockActionInput): Obj {
  const user = input.user ?? HUMAN_USER_ID;
  const channel = input.channel ?? CHANNEL_ID;
  const messageTs = input.message_ts ?? '1700000000.000100';
  return {
    type: 'block_actions',
    team: { id: TEAM_ID, domain: 'fake' },
    user: { id: user, username: 'alice', name: 'alice', team_id: TEAM_ID },
    api_app_id: APP_ID,
    token: 'verification-token',
    container: { type: 'message', message_ts: messageTs, channel_id: channel, is_ephemeral: false },
    trigger_id: '1.2.3',
    channel: { id: channel, name: 'general' },
    message: { type: 'message', user: BOT_USER_ID, bot_id: BOT_ID, ts: messageTs, text: '' },
    response_url: input.response_url ?? 'http://127.0.0.1:9/response/none',
    actions: [
      {
        type: 'button',
        action_id: input.action_id,
        block_id: input.block_id ?? 'actions',
        value: input.value,
        text: { type: 'plain_text', text: input.value, emoji: true },
        action_ts: String(Date.now() / 1000),
      },
    ],
  };
}

/** A `block_actions` interaction as Slack POSTs it in HTTP mode: form body `payload=<json>`. */
export function blockActionsBody(input: BlockActionInput): string {
  return new URLSearchParams({ payload: JSON.stringify(blockActionsPayload(input)) }).toString();
}
