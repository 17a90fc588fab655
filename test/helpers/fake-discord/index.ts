/**
 * A fake Discord on loopback, for tests that drive the real discord.js 14 `Client` over real HTTP
 * and a real WebSocket (nothing of discord.js or of our code is mocked).
 *
 * One port serves both halves:
 *  - REST under `/api/v10` (give discord.js `rest: { api: fake.apiBase }`; it appends `/v10`).
 *    Every request is recorded in `fake.requests` (path relative to `/api/v10`, parsed JSON body or
 *    the `payload_json` part of a multipart body, uploaded files, query, Authorization header).
 *  - The gateway (a `ws` server on the HTTP upgrade): HELLO → IDENTIFY → READY (+ GUILD_CREATE),
 *    heartbeat ACKs, RESUME → RESUMED. Frames are always plain JSON text; discord.js parses text
 *    frames as JSON whether or not it asked for compression (it only asks, with `compress=zlib-stream`
 *    in the query or `compress: true` in IDENTIFY, when the optional `zlib-sync` package is installed).
 *
 * The world: one guild (GUILD_ID) with one text channel (CHANNEL_ID), the bot (BOT_USER_ID, a member
 * with a managed bot role) and a human (HUMAN_USER_ID, 'alice'). The application (APP_ID) is
 * deliberately a different id from the bot user, so code that mixes them up fails here.
 *
 * Like Discord, the fake:
 *  - withholds guild MESSAGE_CREATE/UPDATE without the GuildMessages intent, THREAD_CREATE and
 *    GUILD_CREATE without Guilds, and blanks message content without MessageContent unless the
 *    message mentions the bot (see `enforceIntents`; withheld events land in `fake.withheld`);
 *  - echoes the bot's own non-ephemeral messages back as MESSAGE_CREATE / MESSAGE_UPDATE and its own
 *    threads as THREAD_CREATE (see `echoOwnMessages`), so an adapter must ignore its own messages;
 *  - validates message bodies (content ≤ 2000, ≤ 10 embeds, embed title ≤ 256 / description ≤ 4096,
 *    no empty message, thread name 1–100) with Discord's error codes;
 *  - answers 10062 for an unknown interaction, 40060 for a second initial response, 10015 for a
 *    webhook (followup/edit) with a wrong application id or token, 10003/10008 for unknown
 *    channels/messages, 401 for a bad bot token (REST) and close code 4004 (gateway);
 *  - lists a channel's (or thread's) history at GET /channels/:id/messages, newest first, with
 *    `limit` (1–100, default 50), `before` and `after`; ephemeral messages are not in it.
 *
 * Plain REST clients (no gateway, e.g. the digest publisher) work too: POST a message, start a
 * thread from it (the thread takes the message's id), post into the thread by its id.
 *
 * `fake.refuseChannel(id, 'missing-access' | 'missing-permissions' | 'unknown-channel')` makes
 * every request under /channels/:id answer as Discord does when the bot may not see or post in a
 * channel (403, codes 50001 / 50013) or the channel does not exist (404, code 10003).
 *
 * The parts, by concern: `state.ts` (the world both halves read and change), `rest.ts` (HTTP),
 * `gateway.ts` (WebSocket), `play.ts` (what a test plays as the human side), `constants.ts` and
 * `types.ts`. This module puts them on one port and hands back the `FakeDiscord` handle.
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { TOKEN } from './constants.ts';
import { createGateway } from './gateway.ts';
import { createPlayers } from './play.ts';
import { createRest } from './rest.ts';
import { createWorld } from './state.ts';
import type { FakeDiscord, FakeDiscordOptions } from './types.ts';

export {
  APP_ID,
  BOT_ROLE_ID,
  BOT_USER_ID,
  BOT_USERNAME,
  CHANNEL_ID,
  CHANNEL_NAME,
  GUILD_ID,
  HUMAN_USER_ID,
  HUMAN_USERNAME,
  INTENTS,
  OP,
  TOKEN,
} from './constants.ts';
export { snowflake } from './state.ts';
export type {
  ApiMessage,
  ApiThread,
  ApiUser,
  ButtonPressInput,
  ChannelRefusal,
  FakeDiscord,
  FakeDiscordOptions,
  FakeResponse,
  GatewayConnectionInfo,
  GatewayFrame,
  Interceptor,
  MessageInput,
  PlayedInteraction,
  RecordedFile,
  RecordedRequest,
  SentDispatch,
  SlashCommandInput,
  ThreadMessageInput,
} from './types.ts';

function waitForItem<T>(
  emitter: EventEmitter,
  event: string,
  existing: readonly T[],
  predicate: (item: T) => boolean,
  timeoutMs: number,
  describe: () => string,
): Promise<T> {
  const found = existing.find(predicate);
  if (found !== undefined) return Promise.resolve(found);
  return new Promise<T>((resolve, reject) => {
    const onItem = (item: T): void => {
      let matches: boolean;
      try {
        matches = predicate(item);
      } catch (error) {
        cleanup();
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (matches) {
        cleanup();
        resolve(item);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`fake-discord: nothing matched within ${timeoutMs} ms; seen: ${describe()}`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      emitter.off(event, onItem);
    };
    emitter.on(event, onItem);
  });
}

export async function startFakeDiscord(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  const token = options.token ?? TOKEN;
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const sockets = new Set<Socket>();
  let closed = false;

  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const gatewayUrl = `ws://127.0.0.1:${port}`;

  const world = createWorld({ guildName: options.guildName ?? 'Paper Lab' });
  const gateway = createGateway(world, {
    token,
    heartbeatInterval: options.heartbeatIntervalMs ?? 45_000,
    sendGuildCreate: options.sendGuildCreate ?? true,
    enforceIntents: options.enforceIntents ?? true,
    echoOwnMessages: options.echoOwnMessages ?? true,
    gatewayUrl,
    events,
  });
  const rest = createRest(world, gateway, {
    token,
    validate: options.validate ?? true,
    url,
    gatewayUrl,
    events,
    isClosed: () => closed,
  });
  const players = createPlayers(world, gateway);
  const { requests } = rest;
  const { gatewayFrames } = gateway;

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('request', rest.handleRequest);
  server.on('upgrade', gateway.handleUpgrade);

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await gateway.close();
    for (const socket of sockets) socket.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    events.removeAllListeners();
  };

  return {
    url,
    apiBase: `${url}/api`,
    gatewayUrl,
    port,
    requests,
    gatewayFrames,
    dispatched: gateway.dispatched,
    withheld: gateway.withheld,
    connections: gateway.connections,
    messages: world.messages,
    threads: world.threads,
    commands: world.commands,
    get identify() {
      return gateway.identify;
    },
    get intents() {
      const intents = gateway.identify?.['intents'];
      return typeof intents === 'number' ? intents : undefined;
    },
    waitFor: (predicate, timeoutMs = 5000) =>
      waitForItem(events, 'request', requests, predicate, timeoutMs, () =>
        requests.map((r) => `${r.method} ${r.path} → ${r.status}`).join(', ') || 'no requests',
      ),
    waitForGateway: (predicate, timeoutMs = 5000) =>
      waitForItem(events, 'gateway', gatewayFrames, predicate, timeoutMs, () =>
        gatewayFrames.map((f) => `op ${f.op}`).join(', ') || 'no gateway payloads',
      ),
    requestsTo: (method, path) =>
      requests.filter((r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path))),
    refuseChannel: rest.refuseChannel,
    intercept: rest.intercept,
    dispatch: gateway.dispatch,
    ...players,
    disconnect: (code = 4000) => gateway.disconnect(code),
    close,
  };
}
