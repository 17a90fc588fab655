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
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

// ---------------------------------------------------------------------------------------------
// Constants

export const BOT_USER_ID = '912345678901234567';
export const BOT_USERNAME = 'paperbot';
/** The application id (interaction `application_id`, webhook routes, command routes). */
export const APP_ID = '912345678901234999';
export const GUILD_ID = '812345678901234567';
export const CHANNEL_ID = '812345678901234570';
export const CHANNEL_NAME = 'general';
export const BOT_ROLE_ID = '812345678901234580';
export const HUMAN_USER_ID = '712345678901234567';
export const HUMAN_USERNAME = 'alice';
/** A token of the usual three-part shape; the first part is the base64 of the bot user id. */
export const TOKEN = `${Buffer.from(BOT_USER_ID).toString('base64')}.xxx.yyy`;

/** Gateway intent bits (discord-api-types' GatewayIntentBits), kept here so the fake does not borrow the client's constants. */
export const INTENTS = {
  Guilds: 1 << 0,
  GuildMembers: 1 << 1,
  GuildMessages: 1 << 9,
  GuildMessageReactions: 1 << 10,
  DirectMessages: 1 << 12,
  MessageContent: 1 << 15,
} as const;

/** Gateway opcodes. */
export const OP = {
  Dispatch: 0,
  Heartbeat: 1,
  Identify: 2,
  PresenceUpdate: 3,
  VoiceStateUpdate: 4,
  Resume: 6,
  Reconnect: 7,
  RequestGuildMembers: 8,
  InvalidSession: 9,
  Hello: 10,
  HeartbeatAck: 11,
} as const;

const DISCORD_EPOCH = 1_420_070_400_000n;
const JOINED_AT = '2024-01-01T00:00:00.000000+00:00';
const MAX_CONTENT = 2000;
const FLAG_EPHEMERAL = 1 << 6;
const FLAG_LOADING = 1 << 7;

const P = {
  AddReactions: 1n << 6n,
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  ManageMessages: 1n << 13n,
  EmbedLinks: 1n << 14n,
  AttachFiles: 1n << 15n,
  ReadMessageHistory: 1n << 16n,
  UseApplicationCommands: 1n << 31n,
  ManageThreads: 1n << 34n,
  CreatePublicThreads: 1n << 35n,
  SendMessagesInThreads: 1n << 38n,
};
const EVERYONE_PERMISSIONS = (
  P.AddReactions |
  P.ViewChannel |
  P.SendMessages |
  P.EmbedLinks |
  P.AttachFiles |
  P.ReadMessageHistory |
  P.UseApplicationCommands |
  P.CreatePublicThreads |
  P.SendMessagesInThreads
).toString();
const BOT_PERMISSIONS = (BigInt(EVERYONE_PERMISSIONS) | P.ManageMessages | P.ManageThreads).toString();

// ---------------------------------------------------------------------------------------------
// Types

type Obj = Record<string, unknown>;

export interface ApiUser {
  id: string;
  username: string;
  global_name: string | null;
  discriminator: string;
  avatar: string | null;
  bot?: boolean;
  [key: string]: unknown;
}

/** A Discord message object, as REST returns it (gateway events add `guild_id` and `member`). */
export interface ApiMessage {
  id: string;
  channel_id: string;
  content: string;
  author: ApiUser;
  embeds: unknown[];
  components: unknown[];
  attachments: unknown[];
  mentions: unknown[];
  flags: number;
  [key: string]: unknown;
}

/** A thread channel object (type 11 public, 12 private). */
export interface ApiThread {
  id: string;
  type: number;
  guild_id: string;
  parent_id: string;
  owner_id: string;
  name: string;
  [key: string]: unknown;
}

export interface RecordedFile {
  /** The form field, e.g. `files[0]`. */
  field: string;
  filename: string;
  contentType: string;
  data: Buffer;
}

export interface RecordedRequest {
  method: string;
  /** The path relative to `/api/v10` without the query and percent-decoded, e.g. `/channels/123/messages`; the whole path if outside `/api/v10`. */
  path: string;
  query: Record<string, string>;
  /** Parsed JSON body, or the parsed `payload_json` of a multipart body; the raw text if not JSON; undefined if empty. */
  body: unknown;
  /** Files of a multipart body. */
  files: RecordedFile[];
  /** The Authorization header (`Bot <token>`), or null (interaction callbacks and webhooks send none). */
  authorization: string | null;
  /** `Date.now()` on arrival. */
  at: number;
  /** The status the fake answered with (set before the answer is sent). */
  status: number;
  /** The body the fake answered with. */
  response: unknown;
}

/** A payload the client sent on the gateway. */
export interface GatewayFrame {
  op: number;
  d: unknown;
  /** Which gateway connection (1, 2, … in order of connection). */
  connection: number;
  at: number;
}

/** A dispatch the fake sent. */
export interface SentDispatch {
  t: string;
  s: number;
  d: unknown;
  connection: number;
}

export interface GatewayConnectionInfo {
  id: number;
  /** The query string of the upgrade request, e.g. `{ v: '10', encoding: 'json' }`. */
  query: Record<string, string>;
  at: number;
}

/** What an interceptor answers instead of the built-in route. */
export interface FakeResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Interceptor = (request: RecordedRequest) => FakeResponse | undefined;

/** How `refuseChannel` makes a channel answer. */
export type ChannelRefusal = 'missing-access' | 'missing-permissions' | 'unknown-channel';

export interface FakeDiscordOptions {
  /** The bot token the fake accepts (default TOKEN). */
  token?: string;
  /** HELLO's heartbeat_interval (default 45 000; the client's first beat comes after a random fraction of it). */
  heartbeatIntervalMs?: number;
  /** Send GUILD_CREATE after READY (default true). Without it the client waits `waitGuildTimeout` (15 s) before `clientReady`. */
  sendGuildCreate?: boolean;
  /** Withhold/blank events the identified intents do not cover, as Discord does (default true). */
  enforceIntents?: boolean;
  /** Echo the bot's own messages and threads back over the gateway, as Discord does (default true). */
  echoOwnMessages?: boolean;
  /** Reject bodies Discord would reject (default true). */
  validate?: boolean;
  guildName?: string;
}

export interface SlashCommandInput {
  name: string;
  /** `{ question: 'why?' }` (types inferred: string 3, integer 4, boolean 5, other number 10) or raw API options. */
  options?: Record<string, string | number | boolean> | Obj[];
  userId?: string;
  username?: string;
  channelId?: string;
}

export interface ButtonPressInput {
  customId: string;
  userId?: string;
  username?: string;
  /** The message carrying the button; a message the fake knows (e.g. one the bot sent), or a synthesized bot message. */
  messageId?: string;
  channelId?: string;
}

export interface MessageInput {
  content: string;
  userId?: string;
  username?: string;
  channelId?: string;
  /** Adds the bot to `mentions` and prefixes the content with `<@BOT_USER_ID> ` unless it already contains it. */
  mentionsBot?: boolean;
  /** Makes the message a reply (type 19) to this message; a reply to the bot's message also mentions the bot. */
  replyToMessageId?: string;
}

export interface ThreadMessageInput extends Omit<MessageInput, 'channelId'> {
  /** An existing thread (e.g. one the bot started); default: a new public thread. */
  threadId?: string;
  /** Parent of a new thread (default CHANNEL_ID). */
  parentChannelId?: string;
  /** Name of a new thread (default 'thread'). */
  threadName?: string;
}

export interface PlayedInteraction {
  id: string;
  token: string;
  /** The INTERACTION_CREATE `d` that was dispatched. */
  payload: Obj;
}

export interface FakeDiscord {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** `http://127.0.0.1:PORT/api`, for `new Client({ rest: { api: fake.apiBase } })`. */
  readonly apiBase: string;
  /** `ws://127.0.0.1:PORT`, what GET /gateway/bot returns. */
  readonly gatewayUrl: string;
  readonly port: number;
  /** Every REST request, in order of arrival. */
  readonly requests: RecordedRequest[];
  /** Every payload the client sent on the gateway. */
  readonly gatewayFrames: GatewayFrame[];
  /** Every dispatch the fake sent. */
  readonly dispatched: SentDispatch[];
  /** Dispatches withheld (or blanked) because of missing intents. */
  readonly withheld: { t: string; d: unknown; reason: string }[];
  /** Gateway connections, in order. */
  readonly connections: GatewayConnectionInfo[];
  /** Messages the fake knows, by id (played, sent by the bot, interaction responses). */
  readonly messages: Map<string, ApiMessage>;
  /** Threads the fake knows, by id. */
  readonly threads: Map<string, ApiThread>;
  /** Registered commands: key `global` or a guild id. */
  readonly commands: Map<string, Obj[]>;
  /** The `d` of the latest IDENTIFY, if any. */
  readonly identify: Obj | undefined;
  /** The intents of the latest IDENTIFY, if any. */
  readonly intents: number | undefined;

  /** Resolves with the first recorded request (past or future) matching; rejects after timeoutMs (default 5000). */
  waitFor(predicate: (request: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  /** Same, for payloads the client sent on the gateway. */
  waitForGateway(predicate: (frame: GatewayFrame) => boolean, timeoutMs?: number): Promise<GatewayFrame>;
  /** Requests with this method whose path matches (string: equal; RegExp: test). */
  requestsTo(method: string, path: string | RegExp): RecordedRequest[];
  /** Answer matching requests yourself (checked in order of registration, before the built-in routes). Returns a remover. */
  intercept(interceptor: Interceptor): () => void;
  /** Every request under /channels/:channelId answers with this refusal (after interceptors, before routes). Returns a remover. */
  refuseChannel(channelId: string, refusal: ChannelRefusal): () => void;

  /** Sends a dispatch (op 0) with the next sequence number to every identified connection; throws if there is none. */
  dispatch(t: string, d: unknown): void;
  slashCommand(input: SlashCommandInput): PlayedInteraction;
  buttonPress(input: ButtonPressInput): PlayedInteraction;
  /** Plays a MESSAGE_CREATE from a human in a guild text channel; returns the message (as stored, unblanked). */
  message(input: MessageInput): ApiMessage;
  /** Plays a human message in a thread, preceded by THREAD_CREATE when the client has not seen the thread. */
  threadMessage(input: ThreadMessageInput): { thread: ApiThread; message: ApiMessage };
  /** Closes the gateway connection(s) with this code (default 4000, which makes discord.js resume). */
  disconnect(code?: number): void;
  /** Closes sockets and servers; safe to call twice. */
  close(): Promise<void>;
}

interface Session {
  id: string;
  seq: number;
  intents: number;
  shard: [number, number];
  knownThreads: Set<string>;
}

interface Connection {
  id: number;
  ws: WebSocket;
  session: Session | null;
}

interface InteractionState {
  id: string;
  token: string;
  channelId: string;
  kind: 'command' | 'component';
  responded: boolean;
  originalId: string | null;
  componentMessageId: string | null;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Run after the answer is written (gateway echoes). */
  after?: () => void;
}

class DiscordError {
  constructor(
    readonly status: number,
    readonly body: Obj,
  ) {}
}

// ---------------------------------------------------------------------------------------------
// Helpers

let lastSnowflake = 0n;
/** A fresh, strictly increasing snowflake for the current time. */
export function snowflake(): string {
  let id = (BigInt(Date.now()) - DISCORD_EPOCH) << 22n;
  if (id <= lastSnowflake) id = lastSnowflake + 1n;
  lastSnowflake = id;
  return id.toString();
}

function isRecord(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function now(): string {
  return new Date().toISOString();
}

function unknownError(message: string, code: number, status = 404): DiscordError {
  return new DiscordError(status, { message, code });
}

function formError(field: string, code: string, message: string): DiscordError {
  return new DiscordError(400, {
    message: 'Invalid Form Body',
    code: 50035,
    errors: { [field]: { _errors: [{ code, message }] } },
  });
}

function userObject(id: string, username: string, bot = false): ApiUser {
  const user: ApiUser = {
    id,
    username,
    global_name: bot ? null : username.charAt(0).toUpperCase() + username.slice(1),
    discriminator: bot ? '0001' : '0',
    avatar: null,
    public_flags: 0,
    flags: 0,
    banner: null,
    accent_color: null,
    avatar_decoration_data: null,
  };
  if (bot) user.bot = true;
  return user;
}

const BOT_USER = userObject(BOT_USER_ID, BOT_USERNAME, true);

function memberFields(roles: string[]): Obj {
  return {
    roles,
    nick: null,
    avatar: null,
    banner: null,
    joined_at: JOINED_AT,
    premium_since: null,
    deaf: false,
    mute: false,
    pending: false,
    flags: 0,
    communication_disabled_until: null,
  };
}

function roleObject(id: string, name: string, position: number, permissions: string, extra: Obj = {}): Obj {
  return {
    id,
    name,
    color: 0,
    colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
    hoist: false,
    icon: null,
    unicode_emoji: null,
    position,
    permissions,
    managed: false,
    mentionable: false,
    flags: 0,
    ...extra,
  };
}

function textChannelObject(): Obj {
  return {
    id: CHANNEL_ID,
    type: 0,
    name: CHANNEL_NAME,
    position: 0,
    parent_id: null,
    topic: null,
    nsfw: false,
    last_message_id: null,
    rate_limit_per_user: 0,
    permission_overwrites: [],
    flags: 0,
  };
}

function toOptions(options: SlashCommandInput['options']): Obj[] {
  if (options === undefined) return [];
  if (Array.isArray(options)) return options;
  return Object.entries(options).map(([name, value]) => ({
    name,
    type: typeof value === 'string' ? 3 : typeof value === 'boolean' ? 5 : Number.isInteger(value) ? 4 : 10,
    value,
  }));
}

function validateMessageBody(body: Obj, opts: { create: boolean; files: number }): void {
  const content = body['content'];
  if (typeof content === 'string' && content.length > MAX_CONTENT) {
    throw formError('content', 'BASE_TYPE_MAX_LENGTH', `Must be ${MAX_CONTENT} or fewer in length.`);
  }
  const embeds = body['embeds'];
  if (Array.isArray(embeds)) {
    if (embeds.length > 10) throw formError('embeds', 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.');
    embeds.forEach((embed, i) => {
      if (!isRecord(embed)) return;
      const title = embed['title'];
      const description = embed['description'];
      if (typeof title === 'string' && title.length > 256) {
        throw formError(`embeds.${i}.title`, 'BASE_TYPE_MAX_LENGTH', 'Must be 256 or fewer in length.');
      }
      if (typeof description === 'string' && description.length > 4096) {
        throw formError(`embeds.${i}.description`, 'BASE_TYPE_MAX_LENGTH', 'Must be 4096 or fewer in length.');
      }
    });
  }
  if (opts.create) {
    const hasContent = typeof content === 'string' && content.length > 0;
    const hasEmbeds = Array.isArray(embeds) && embeds.length > 0;
    const components = body['components'];
    const hasComponents = Array.isArray(components) && components.length > 0;
    const hasPoll = isRecord(body['poll']);
    const hasSticker = Array.isArray(body['sticker_ids']) && body['sticker_ids'].length > 0;
    if (!hasContent && !hasEmbeds && !hasComponents && !hasPoll && !hasSticker && opts.files === 0) {
      throw unknownError('Cannot send an empty message', 50006, 400);
    }
  }
}

function refusalReply(refusal: ChannelRefusal): Reply {
  switch (refusal) {
    case 'missing-access':
      return { status: 403, body: { message: 'Missing Access', code: 50001 } };
    case 'missing-permissions':
      return { status: 403, body: { message: 'Missing Permissions', code: 50013 } };
    case 'unknown-channel':
      return { status: 404, body: { message: 'Unknown Channel', code: 10003 } };
  }
}

function attachmentsFor(files: RecordedFile[]): Obj[] {
  return files.map((file) => {
    const id = snowflake();
    return {
      id,
      filename: file.filename,
      size: file.data.length,
      content_type: file.contentType,
      url: `https://cdn.discordapp.com/attachments/0/${id}/${file.filename}`,
      proxy_url: `https://media.discordapp.net/attachments/0/${id}/${file.filename}`,
    };
  });
}

async function parseBody(raw: Buffer, contentType: string | undefined): Promise<{ body: unknown; files: RecordedFile[] }> {
  if (raw.length === 0) return { body: undefined, files: [] };
  if (contentType?.startsWith('multipart/form-data')) {
    const form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
    let body: unknown = undefined;
    const files: RecordedFile[] = [];
    for (const [field, value] of form.entries()) {
      if (typeof value === 'string') {
        if (field === 'payload_json') body = JSON.parse(value) as unknown;
        else if (isRecord(body)) body[field] = value;
        else body = { [field]: value };
      } else {
        files.push({
          field,
          filename: value.name,
          contentType: value.type,
          data: Buffer.from(await value.arrayBuffer()),
        });
      }
    }
    return { body, files };
  }
  const text = raw.toString('utf8');
  try {
    return { body: JSON.parse(text) as unknown, files: [] };
  } catch {
    return { body: text, files: [] };
  }
}

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

// ---------------------------------------------------------------------------------------------
// The fake

export async function startFakeDiscord(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  const token = options.token ?? TOKEN;
  const heartbeatInterval = options.heartbeatIntervalMs ?? 45_000;
  const sendGuildCreate = options.sendGuildCreate ?? true;
  const enforceIntents = options.enforceIntents ?? true;
  const echoOwnMessages = options.echoOwnMessages ?? true;
  const validate = options.validate ?? true;
  const guildName = options.guildName ?? 'Paper Lab';

  const events = new EventEmitter();
  events.setMaxListeners(0);
  const requests: RecordedRequest[] = [];
  const gatewayFrames: GatewayFrame[] = [];
  const dispatched: SentDispatch[] = [];
  const withheld: { t: string; d: unknown; reason: string }[] = [];
  const connectionsInfo: GatewayConnectionInfo[] = [];
  const messages = new Map<string, ApiMessage>();
  const threads = new Map<string, ApiThread>();
  const commands = new Map<string, Obj[]>();
  const interactions = new Map<string, InteractionState>();
  const sessions = new Map<string, Session>();
  const connections = new Set<Connection>();
  const interceptors: Interceptor[] = [];
  const refusals = new Map<string, ChannelRefusal>();
  const users = new Map<string, ApiUser>([
    [BOT_USER_ID, BOT_USER],
    [HUMAN_USER_ID, userObject(HUMAN_USER_ID, HUMAN_USERNAME)],
  ]);
  const sockets = new Set<Socket>();
  let connectionCounter = 0;
  let lastIdentify: Obj | undefined;
  let closed = false;

  const server = http.createServer();
  const wss = new WebSocketServer({ noServer: true });
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

  // -- world helpers ----------------------------------------------------------------------------

  const user = (id: string, username?: string): ApiUser => {
    const known = users.get(id);
    if (known && (username === undefined || known.username === username)) return known;
    const created = userObject(id, username ?? known?.username ?? `user${id.slice(-4)}`, false);
    users.set(id, created);
    return created;
  };

  const botMember = (): Obj => ({ ...memberFields([BOT_ROLE_ID]) });
  const humanMember = (): Obj => ({ ...memberFields([]) });

  /** The channel object for a known channel id (text channel or thread), else undefined. */
  const channelObject = (id: string): Obj | undefined => {
    if (id === CHANNEL_ID) return { ...textChannelObject(), guild_id: GUILD_ID };
    return threads.get(id);
  };

  const requireChannel = (id: string): Obj => {
    const channel = channelObject(id);
    if (!channel) throw unknownError('Unknown Channel', 10003);
    return channel;
  };

  const guildCreate = (session: Session): Obj => {
    const activeThreads = [...threads.values()].filter((t) => {
      const meta = t['thread_metadata'];
      return !(isRecord(meta) && meta['archived'] === true);
    });
    for (const t of activeThreads) session.knownThreads.add(t.id);
    return {
      id: GUILD_ID,
      name: guildName,
      icon: null,
      splash: null,
      discovery_splash: null,
      banner: null,
      description: null,
      owner_id: HUMAN_USER_ID,
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      mfa_level: 0,
      nsfw_level: 0,
      features: [],
      application_id: null,
      system_channel_id: CHANNEL_ID,
      system_channel_flags: 0,
      rules_channel_id: null,
      public_updates_channel_id: null,
      safety_alerts_channel_id: null,
      max_presences: null,
      max_members: 500_000,
      max_video_channel_users: 25,
      max_stage_video_channel_users: 50,
      vanity_url_code: null,
      premium_tier: 0,
      premium_subscription_count: 0,
      premium_progress_bar_enabled: false,
      preferred_locale: 'en-US',
      incidents_data: null,
      hub_type: null,
      lazy: true,
      large: false,
      unavailable: false,
      joined_at: JOINED_AT,
      member_count: 2,
      roles: [
        roleObject(GUILD_ID, '@everyone', 0, EVERYONE_PERMISSIONS),
        roleObject(BOT_ROLE_ID, BOT_USERNAME, 1, BOT_PERMISSIONS, { managed: true, tags: { bot_id: BOT_USER_ID } }),
      ],
      emojis: [],
      stickers: [],
      soundboard_sounds: [],
      channels: [textChannelObject()],
      threads: activeThreads.map((t) => ({ ...t })),
      members: [
        { ...botMember(), user: BOT_USER },
        { ...humanMember(), user: user(HUMAN_USER_ID) },
      ],
      presences: [],
      voice_states: [],
      stage_instances: [],
      guild_scheduled_events: [],
      embedded_activities: [],
      activity_instances: [],
    };
  };

  /** A message object as REST returns it. */
  const makeMessage = (fields: {
    channelId: string;
    author: ApiUser;
    body?: Obj;
    files?: RecordedFile[];
    webhook?: InteractionState;
    id?: string;
  }): ApiMessage => {
    const body = fields.body ?? {};
    const content = typeof body['content'] === 'string' ? body['content'] : '';
    const message: ApiMessage = {
      id: fields.id ?? snowflake(),
      type: 0,
      channel_id: fields.channelId,
      content,
      author: fields.author,
      timestamp: now(),
      edited_timestamp: null,
      tts: body['tts'] === true,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: attachmentsFor(fields.files ?? []),
      embeds: Array.isArray(body['embeds']) ? body['embeds'] : [],
      components: Array.isArray(body['components']) ? body['components'] : [],
      pinned: false,
      flags: typeof body['flags'] === 'number' ? body['flags'] : 0,
    };
    const reference = body['message_reference'];
    if (isRecord(reference) && typeof reference['message_id'] === 'string') {
      message['type'] = 19;
      message['message_reference'] = { type: 0, channel_id: fields.channelId, guild_id: GUILD_ID, ...reference };
      const referenced = messages.get(reference['message_id']);
      if (referenced) message['referenced_message'] = referenced;
    }
    if (fields.webhook) {
      message['webhook_id'] = APP_ID;
      message['application_id'] = APP_ID;
      message['interaction_metadata'] = {
        id: fields.webhook.id,
        type: fields.webhook.kind === 'command' ? 2 : 3,
        user: user(HUMAN_USER_ID),
        authorizing_integration_owners: { '0': GUILD_ID },
      };
    }
    messages.set(message.id, message);
    return message;
  };

  const editMessage = (message: ApiMessage, body: Obj, files: RecordedFile[]): ApiMessage => {
    if (typeof body['content'] === 'string' || body['content'] === null) message.content = body['content'] ?? '';
    if (Array.isArray(body['embeds'])) message.embeds = body['embeds'];
    if (Array.isArray(body['components'])) message.components = body['components'];
    if (typeof body['flags'] === 'number') message.flags = body['flags'];
    if (files.length > 0) message.attachments = [...message.attachments, ...attachmentsFor(files)];
    message.flags &= ~FLAG_LOADING;
    message['edited_timestamp'] = now();
    return message;
  };

  // -- gateway ----------------------------------------------------------------------------------

  const send = (connection: Connection, payload: Obj): void => {
    if (connection.ws.readyState === WebSocket.OPEN) connection.ws.send(JSON.stringify(payload));
  };

  const sendDispatch = (connection: Connection, t: string, d: unknown): void => {
    const session = connection.session;
    if (!session) return;
    session.seq += 1;
    dispatched.push({ t, s: session.seq, d, connection: connection.id });
    send(connection, { op: OP.Dispatch, t, s: session.seq, d });
  };

  const identified = (): Connection[] =>
    [...connections].filter((c) => c.session !== null && c.ws.readyState === WebSocket.OPEN);

  /** Remembers what the world learns from a dispatch (messages, threads). */
  const observe = (t: string, d: unknown): void => {
    if (!isRecord(d)) return;
    if ((t === 'MESSAGE_CREATE' || t === 'MESSAGE_UPDATE') && typeof d['id'] === 'string' && typeof d['channel_id'] === 'string') {
      const rest: Obj = { ...d };
      delete rest['guild_id'];
      delete rest['member'];
      const existing = messages.get(d['id']);
      if (existing) Object.assign(existing, rest);
      else messages.set(d['id'], rest as ApiMessage);
    }
    if ((t === 'THREAD_CREATE' || t === 'THREAD_UPDATE') && typeof d['id'] === 'string') {
      const rest: Obj = { ...d };
      delete rest['newly_created'];
      delete rest['member'];
      const existing = threads.get(d['id']);
      if (existing) Object.assign(existing, rest);
      else threads.set(d['id'], rest as ApiThread);
      for (const c of identified()) c.session?.knownThreads.add(d['id']);
    }
  };

  const dispatch = (t: string, d: unknown): void => {
    const targets = identified();
    if (targets.length === 0) throw new Error(`fake-discord: no identified gateway connection to dispatch ${t} to`);
    observe(t, d);
    for (const connection of targets) sendDispatch(connection, t, d);
  };

  /**
   * Dispatches with intent gating: `intent` must be granted; when `blankContent` and MessageContent is
   * missing, content-ish fields are emptied (Discord does this unless the bot is mentioned).
   */
  const dispatchGated = (t: string, d: Obj, intent: number, blankContent = false): void => {
    const targets = identified();
    if (targets.length === 0) throw new Error(`fake-discord: no identified gateway connection to dispatch ${t} to`);
    observe(t, d);
    for (const connection of targets) {
      const intents = connection.session?.intents ?? 0;
      if (enforceIntents && (intents & intent) === 0) {
        withheld.push({ t, d, reason: `missing intent ${intent}` });
        continue;
      }
      if (enforceIntents && blankContent && (intents & INTENTS.MessageContent) === 0) {
        withheld.push({ t, d, reason: 'content blanked: missing MessageContent intent' });
        sendDispatch(connection, t, { ...d, content: '', embeds: [], attachments: [], components: [] });
        continue;
      }
      sendDispatch(connection, t, d);
    }
  };

  const echoMessage = (t: 'MESSAGE_CREATE' | 'MESSAGE_UPDATE', message: ApiMessage): void => {
    if (!echoOwnMessages || (message.flags & FLAG_EPHEMERAL) !== 0 || identified().length === 0) return;
    dispatchGated(t, { ...message, guild_id: GUILD_ID, member: botMember() }, INTENTS.GuildMessages);
  };

  const echoThread = (thread: ApiThread): void => {
    if (identified().length === 0) return;
    if (!echoOwnMessages) {
      observe('THREAD_CREATE', thread);
      return;
    }
    dispatchGated(
      'THREAD_CREATE',
      { ...thread, newly_created: true, member: { id: thread.id, user_id: BOT_USER_ID, join_timestamp: now(), flags: 1 } },
      INTENTS.Guilds,
    );
  };

  const onGatewayPayload = (connection: Connection, payload: Obj): void => {
    const op = payload['op'];
    const d = payload['d'];
    if (typeof op !== 'number') {
      connection.ws.close(4002, 'Error while decoding payload.');
      return;
    }
    const frame: GatewayFrame = { op, d, connection: connection.id, at: Date.now() };
    gatewayFrames.push(frame);
    events.emit('gateway', frame);

    switch (op) {
      case OP.Heartbeat:
        send(connection, { op: OP.HeartbeatAck, d: null, s: null, t: null });
        return;
      case OP.Identify: {
        if (connection.session) {
          connection.ws.close(4005, 'Already authenticated.');
          return;
        }
        if (!isRecord(d) || d['token'] !== token) {
          connection.ws.close(4004, 'Authentication failed.');
          return;
        }
        lastIdentify = d;
        const shardField = d['shard'];
        const shard: [number, number] =
          Array.isArray(shardField) && typeof shardField[0] === 'number' && typeof shardField[1] === 'number'
            ? [shardField[0], shardField[1]]
            : [0, 1];
        const session: Session = {
          id: randomBytes(16).toString('hex'),
          seq: 0,
          intents: typeof d['intents'] === 'number' ? d['intents'] : 0,
          shard,
          knownThreads: new Set(),
        };
        sessions.set(session.id, session);
        connection.session = session;
        sendDispatch(connection, 'READY', {
          v: 10,
          user_settings: {},
          user: { ...BOT_USER, verified: true, mfa_enabled: false, email: null },
          guilds: [{ id: GUILD_ID, unavailable: true }],
          guild_join_requests: [],
          relationships: [],
          private_channels: [],
          presences: [],
          session_id: session.id,
          session_type: 'normal',
          resume_gateway_url: gatewayUrl,
          shard,
          application: { id: APP_ID, flags: 0 },
          auth: {},
          _trace: ['["fake-discord",{"micros":0}]'],
        });
        if (sendGuildCreate && (!enforceIntents || (session.intents & INTENTS.Guilds) !== 0)) {
          // A short gap, as on the real gateway, between READY and the guild streaming in.
          setTimeout(() => {
            if (connection.session === session) sendDispatch(connection, 'GUILD_CREATE', guildCreate(session));
          }, 10).unref();
        }
        return;
      }
      case OP.Resume: {
        const sessionId = isRecord(d) ? d['session_id'] : undefined;
        const session = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
        if (!isRecord(d) || d['token'] !== token || !session) {
          send(connection, { op: OP.InvalidSession, d: false, s: null, t: null });
          return;
        }
        connection.session = session;
        sendDispatch(connection, 'RESUMED', { _trace: ['["fake-discord",{"micros":0}]'] });
        return;
      }
      default:
        if (!connection.session) connection.ws.close(4003, 'Not authenticated.');
        // Presence updates, member requests, voice state: recorded only.
        return;
    }
  };

  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      const parsed = new URL(req.url ?? '/', url);
      connectionCounter += 1;
      const connection: Connection = { id: connectionCounter, ws, session: null };
      connections.add(connection);
      connectionsInfo.push({ id: connection.id, query: Object.fromEntries(parsed.searchParams), at: Date.now() });
      ws.on('message', (data, isBinary) => {
        if (isBinary) {
          ws.close(4002, 'Error while decoding payload.');
          return;
        }
        let payload: unknown;
        try {
          payload = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : String(data));
        } catch {
          ws.close(4002, 'Error while decoding payload.');
          return;
        }
        if (!isRecord(payload)) {
          ws.close(4002, 'Error while decoding payload.');
          return;
        }
        onGatewayPayload(connection, payload);
      });
      ws.on('close', () => connections.delete(connection));
      ws.on('error', () => connections.delete(connection));
      send(connection, {
        op: OP.Hello,
        d: { heartbeat_interval: heartbeatInterval, _trace: ['["fake-discord",{"micros":0}]'] },
        s: null,
        t: null,
      });
    });
  });

  // -- REST -------------------------------------------------------------------------------------

  const interactionFor = (appId: string, interactionToken: string): InteractionState => {
    const state = interactions.get(interactionToken);
    if (appId !== APP_ID || !state) throw unknownError('Unknown Webhook', 10015);
    return state;
  };

  const webhookMessage = (state: InteractionState, messageId: string, create: boolean): ApiMessage => {
    if (messageId === '@original') {
      const original = state.originalId ? messages.get(state.originalId) : undefined;
      if (original) return original;
      if (!create) throw unknownError('Unknown Message', 10008);
      const created = makeMessage({ channelId: state.channelId, author: BOT_USER, webhook: state });
      state.originalId = created.id;
      return created;
    }
    const message = messages.get(messageId);
    if (!message || message['webhook_id'] !== APP_ID) throw unknownError('Unknown Message', 10008);
    return message;
  };

  const storeCommand = (scope: string, guildId: string | null, command: Obj): Obj => {
    const list = commands.get(scope) ?? [];
    const existing = list.find((c) => c['name'] === command['name'] && (c['type'] ?? 1) === (command['type'] ?? 1));
    const stored: Obj = {
      type: 1,
      description: '',
      default_member_permissions: null,
      nsfw: false,
      integration_types: [0],
      contexts: null,
      ...command,
      id: existing?.['id'] ?? snowflake(),
      application_id: APP_ID,
      version: snowflake(),
    };
    if (guildId) stored['guild_id'] = guildId;
    commands.set(scope, [...list.filter((c) => c !== existing), stored]);
    return stored;
  };

  const commandScope = (appId: string, guildId: string | undefined): { scope: string; guildId: string | null } => {
    if (appId !== APP_ID) throw unknownError('Unknown Application', 10002);
    if (guildId === undefined) return { scope: 'global', guildId: null };
    if (guildId !== GUILD_ID) throw unknownError('Missing Access', 50001, 403);
    return { scope: guildId, guildId };
  };

  type Handler = (req: RecordedRequest, params: string[]) => Reply;
  interface Route {
    method: string;
    pattern: RegExp;
    auth: boolean;
    handle: Handler;
  }
  const routes: Route[] = [];
  const route = (method: string, path: string, handle: Handler, auth = true): void => {
    const pattern = new RegExp(`^${path.replace(/:[a-zA-Z]+/g, '([^/]+)')}$`);
    routes.push({ method, pattern, auth, handle });
  };
  const bodyOf = (req: RecordedRequest): Obj => (isRecord(req.body) ? req.body : {});
  const ok = (body: unknown, after?: () => void): Reply => (after ? { status: 200, body, after } : { status: 200, body });
  const noContent = (after?: () => void): Reply => (after ? { status: 204, after } : { status: 204 });

  route('GET', '/gateway/bot', () =>
    ok({
      url: gatewayUrl,
      shards: 1,
      session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 },
    }),
  );
  route('GET', '/gateway', () => ok({ url: gatewayUrl }), false);
  route('GET', '/users/@me', () => ok({ ...BOT_USER, verified: true, mfa_enabled: false, email: null, locale: 'en-US' }));
  route('GET', '/users/:id', (_req, [id = '']) => {
    const known = users.get(id);
    if (!known) throw unknownError('Unknown User', 10013);
    return ok(known);
  });
  route('GET', '/applications/@me', () =>
    ok({
      id: APP_ID,
      name: BOT_USERNAME,
      icon: null,
      description: '',
      bot_public: true,
      bot_require_code_grant: false,
      verify_key: '0'.repeat(64),
      flags: 0,
      team: null,
      owner: user(HUMAN_USER_ID),
      bot: BOT_USER,
      approximate_guild_count: 1,
      interactions_endpoint_url: null,
      integration_types_config: { '0': {} },
    }),
  );
  route('GET', '/guilds/:gid/members/:uid', (_req, [gid, uid = '']) => {
    if (gid !== GUILD_ID) throw unknownError('Unknown Guild', 10004);
    if (uid === BOT_USER_ID) return ok({ ...botMember(), user: BOT_USER });
    if (uid === HUMAN_USER_ID) return ok({ ...humanMember(), user: user(HUMAN_USER_ID) });
    throw unknownError('Unknown Member', 10007);
  });

  // Interactions and their webhooks (no Authorization header: the interaction token authenticates).
  route(
    'POST',
    '/interactions/:id/:token/callback',
    (req, [id, interactionToken = '']) => {
      const state = interactions.get(interactionToken);
      if (!state || state.id !== id) throw unknownError('Unknown interaction', 10062);
      if (state.responded) throw unknownError('Interaction has already been acknowledged.', 40060, 400);
      const body = bodyOf(req);
      const type = body['type'];
      const data = isRecord(body['data']) ? body['data'] : {};
      let message: ApiMessage | undefined;
      let after: (() => void) | undefined;
      switch (type) {
        case 4: {
          if (validate) validateMessageBody(data, { create: true, files: req.files.length });
          message = makeMessage({ channelId: state.channelId, author: BOT_USER, body: data, files: req.files, webhook: state });
          state.originalId = message.id;
          const created = message;
          after = () => echoMessage('MESSAGE_CREATE', created);
          break;
        }
        case 5: {
          const flags = FLAG_LOADING | ((typeof data['flags'] === 'number' ? data['flags'] : 0) & FLAG_EPHEMERAL);
          message = makeMessage({ channelId: state.channelId, author: BOT_USER, body: { flags }, webhook: state });
          state.originalId = message.id;
          const created = message;
          after = () => echoMessage('MESSAGE_CREATE', created);
          break;
        }
        case 6:
        case 7: {
          if (state.kind !== 'component') throw unknownError('Interaction has no message to update', 50035, 400);
          state.originalId = state.componentMessageId;
          message = state.componentMessageId ? messages.get(state.componentMessageId) : undefined;
          if (type === 7 && message) {
            if (validate) validateMessageBody(data, { create: false, files: req.files.length });
            const edited = editMessage(message, data, req.files);
            after = () => echoMessage('MESSAGE_UPDATE', edited);
          }
          break;
        }
        case 8:
        case 9:
          break;
        default:
          throw formError('type', 'BASE_TYPE_CHOICES', `Value must be one of (4, 5, 6, 7, 8, 9, 10, 12).`);
      }
      state.responded = true;
      if (req.query['with_response'] !== 'true') return noContent(after);
      const callback: Obj = {
        interaction: {
          id: state.id,
          type: state.kind === 'command' ? 2 : 3,
          response_message_id: message?.id,
          response_message_loading: type === 5,
          response_message_ephemeral: message ? (message.flags & FLAG_EPHEMERAL) !== 0 : false,
        },
        resource: message ? { type, message } : { type },
      };
      return ok(callback, after);
    },
    false,
  );
  route(
    'POST',
    '/webhooks/:appId/:token',
    (req, [appId = '', interactionToken = '']) => {
      const state = interactionFor(appId, interactionToken);
      const body = bodyOf(req);
      if (validate) validateMessageBody(body, { create: true, files: req.files.length });
      const message = makeMessage({ channelId: state.channelId, author: BOT_USER, body, files: req.files, webhook: state });
      const after = (): void => echoMessage('MESSAGE_CREATE', message);
      return req.query['wait'] === 'true' ? ok(message, after) : noContent(after);
    },
    false,
  );
  route(
    'GET',
    '/webhooks/:appId/:token/messages/:mid',
    (_req, [appId = '', interactionToken = '', mid = '']) => ok(webhookMessage(interactionFor(appId, interactionToken), mid, false)),
    false,
  );
  route(
    'PATCH',
    '/webhooks/:appId/:token/messages/:mid',
    (req, [appId = '', interactionToken = '', mid = '']) => {
      const state = interactionFor(appId, interactionToken);
      const body = bodyOf(req);
      if (validate) validateMessageBody(body, { create: false, files: req.files.length });
      const message = editMessage(webhookMessage(state, mid, true), body, req.files);
      return ok(message, () => echoMessage('MESSAGE_UPDATE', message));
    },
    false,
  );
  route(
    'DELETE',
    '/webhooks/:appId/:token/messages/:mid',
    (_req, [appId = '', interactionToken = '', mid = '']) => {
      const state = interactionFor(appId, interactionToken);
      const message = webhookMessage(state, mid, false);
      messages.delete(message.id);
      if (state.originalId === message.id) state.originalId = null;
      return noContent();
    },
    false,
  );

  // Channels, messages, threads.
  route('GET', '/channels/:cid', (_req, [cid = '']) => ok(requireChannel(cid)));
  route('POST', '/channels/:cid/typing', (_req, [cid = '']) => {
    requireChannel(cid);
    return noContent();
  });
  route('POST', '/channels/:cid/messages', (req, [cid = '']) => {
    requireChannel(cid);
    const body = bodyOf(req);
    if (validate) validateMessageBody(body, { create: true, files: req.files.length });
    const message = makeMessage({ channelId: cid, author: BOT_USER, body, files: req.files });
    const thread = threads.get(cid);
    if (thread) {
      thread['message_count'] = Number(thread['message_count'] ?? 0) + 1;
      thread['last_message_id'] = message.id;
    }
    return ok(message, () => echoMessage('MESSAGE_CREATE', message));
  });
  const messageIn = (cid: string, mid: string): ApiMessage => {
    requireChannel(cid);
    const message = messages.get(mid);
    if (!message || message.channel_id !== cid) throw unknownError('Unknown Message', 10008);
    return message;
  };
  route('GET', '/channels/:cid/messages/:mid', (_req, [cid = '', mid = '']) => ok(messageIn(cid, mid)));
  route('GET', '/channels/:cid/messages', (req, [cid = '']) => {
    requireChannel(cid);
    const limitText = req.query['limit'] ?? '50';
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > 100) throw formError('limit', 'NUMBER_TYPE_MAX', 'int value should be between 1 and 100.');
    const before = req.query['before'];
    const after = req.query['after'];
    for (const [field, value] of [['before', before], ['after', after]] as const) {
      if (value !== undefined && !/^\d+$/.test(value)) throw formError(field, 'NUMBER_TYPE_COERCE', `Value "${value}" is not snowflake.`);
    }
    const listed = [...messages.values()]
      .filter((m) => m.channel_id === cid && (m.flags & FLAG_EPHEMERAL) === 0)
      .filter((m) => (before === undefined || BigInt(m.id) < BigInt(before)) && (after === undefined || BigInt(m.id) > BigInt(after)))
      .sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : BigInt(b.id) < BigInt(a.id) ? -1 : 0));
    return ok(listed.slice(0, limit));
  });
  route('PATCH', '/channels/:cid/messages/:mid', (req, [cid = '', mid = '']) => {
    const message = messageIn(cid, mid);
    if (message.author.id !== BOT_USER_ID) throw unknownError('Cannot edit a message authored by another user', 50005, 403);
    const body = bodyOf(req);
    if (validate) validateMessageBody(body, { create: false, files: req.files.length });
    const edited = editMessage(message, body, req.files);
    return ok(edited, () => echoMessage('MESSAGE_UPDATE', edited));
  });
  route('DELETE', '/channels/:cid/messages/:mid', (_req, [cid = '', mid = '']) => {
    const message = messageIn(cid, mid);
    messages.delete(message.id);
    return noContent(() => {
      if (echoOwnMessages && identified().length > 0) {
        dispatchGated('MESSAGE_DELETE', { id: mid, channel_id: cid, guild_id: GUILD_ID }, INTENTS.GuildMessages);
      }
    });
  });
  route('PUT', '/channels/:cid/messages/:mid/reactions/:emoji/@me', (_req, [cid = '', mid = '']) => {
    messageIn(cid, mid);
    return noContent();
  });
  route('DELETE', '/channels/:cid/messages/:mid/reactions/:emoji/@me', (_req, [cid = '', mid = '']) => {
    messageIn(cid, mid);
    return noContent();
  });
  const createThread = (req: RecordedRequest, parentId: string, id: string, defaultType: number): Reply => {
    const parent = requireChannel(parentId);
    if (parent['type'] !== 0) throw unknownError('Cannot execute action on this channel type', 50024, 400);
    const body = bodyOf(req);
    const name = body['name'];
    if (validate && (typeof name !== 'string' || name.length < 1 || name.length > 100)) {
      throw formError('name', 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
    }
    const created = now();
    const thread: ApiThread = {
      id,
      type: typeof body['type'] === 'number' ? body['type'] : defaultType,
      guild_id: GUILD_ID,
      parent_id: parentId,
      owner_id: BOT_USER_ID,
      name: typeof name === 'string' ? name : 'thread',
      last_message_id: null,
      rate_limit_per_user: typeof body['rate_limit_per_user'] === 'number' ? body['rate_limit_per_user'] : 0,
      message_count: 0,
      member_count: 1,
      total_message_sent: 0,
      flags: 0,
      thread_metadata: {
        archived: false,
        auto_archive_duration: typeof body['auto_archive_duration'] === 'number' ? body['auto_archive_duration'] : 4320,
        archive_timestamp: created,
        locked: false,
        create_timestamp: created,
      },
    };
    threads.set(thread.id, thread);
    for (const c of identified()) c.session?.knownThreads.add(thread.id);
    return { status: 201, body: thread, after: () => echoThread(thread) };
  };
  route('POST', '/channels/:cid/messages/:mid/threads', (req, [cid = '', mid = '']) => {
    messageIn(cid, mid);
    // Like Discord: a thread started from a message takes the message's id, and only one can exist.
    if (threads.has(mid)) throw unknownError('A thread has already been created for this message', 160004, 400);
    return createThread(req, cid, mid, 11);
  });
  route('POST', '/channels/:cid/threads', (req, [cid = '']) => createThread(req, cid, snowflake(), 12));
  route('PUT', '/channels/:cid/thread-members/@me', (_req, [cid = '']) => {
    if (!threads.has(cid)) throw unknownError('Unknown Channel', 10003);
    return noContent();
  });

  // Application commands.
  const commandRoutes = (prefix: string, guildIndex: number | null): void => {
    const scopeOf = (params: string[]): { scope: string; guildId: string | null } =>
      commandScope(params[0] ?? '', guildIndex === null ? undefined : (params[guildIndex] ?? ''));
    route('GET', prefix, (_req, params) => ok(commands.get(scopeOf(params).scope) ?? []));
    route('PUT', prefix, (req, params) => {
      const { scope, guildId } = scopeOf(params);
      if (!Array.isArray(req.body)) throw formError('_root', 'LIST_TYPE_CONVERT', 'Must be an array.');
      commands.set(scope, []);
      return ok(req.body.filter(isRecord).map((command) => storeCommand(scope, guildId, command)));
    });
    route('POST', prefix, (req, params) => {
      const { scope, guildId } = scopeOf(params);
      const body = bodyOf(req);
      const existed = (commands.get(scope) ?? []).some((c) => c['name'] === body['name']);
      const stored = storeCommand(scope, guildId, body);
      return { status: existed ? 200 : 201, body: stored };
    });
    route('DELETE', `${prefix}/:cmd`, (_req, params) => {
      const { scope } = scopeOf(params);
      const id = params[params.length - 1];
      const list = commands.get(scope) ?? [];
      if (!list.some((c) => c['id'] === id)) throw unknownError('Unknown application command', 10063);
      commands.set(scope, list.filter((c) => c['id'] !== id));
      return noContent();
    });
  };
  commandRoutes('/applications/:appId/commands', null);
  commandRoutes('/applications/:appId/guilds/:gid/commands', 1);

  const respond = (req: RecordedRequest, rawPath: string): Reply => {
    for (const interceptor of interceptors) {
      const answer = interceptor(req);
      if (answer) return answer;
    }
    const refused = refusals.get(/^\/channels\/([^/]+)/.exec(req.path)?.[1] ?? '');
    // Like Discord, a bad token is refused (by the route's check) before anything about the channel.
    if (refused && req.authorization === `Bot ${token}`) return refusalReply(refused);
    for (const r of routes) {
      if (r.method !== req.method) continue;
      const match = r.pattern.exec(rawPath);
      if (!match) continue;
      if (r.auth && req.authorization !== `Bot ${token}`) {
        return { status: 401, body: { message: '401: Unauthorized', code: 0 } };
      }
      const params = match.slice(1).map((p) => safeDecode(p ?? ''));
      try {
        return r.handle(req, params);
      } catch (error) {
        if (error instanceof DiscordError) return { status: error.status, body: error.body };
        throw error;
      }
    }
    return { status: 404, body: { message: 'Unknown', code: 0 } };
  };

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  server.on('request', (req, res) => {
    const at = Date.now();
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const parsedUrl = new URL(req.url ?? '/', url);
        const prefix = '/api/v10';
        const path = parsedUrl.pathname.startsWith(`${prefix}/`) ? parsedUrl.pathname.slice(prefix.length) : parsedUrl.pathname;
        let reply: Reply;
        let parsed: { body: unknown; files: RecordedFile[] };
        try {
          parsed = await parseBody(Buffer.concat(chunks), req.headers['content-type']);
        } catch {
          parsed = { body: Buffer.concat(chunks).toString('utf8'), files: [] };
        }
        const { body, files } = parsed;
        const record: RecordedRequest = {
          method: req.method ?? 'GET',
          path: safeDecode(path),
          query: Object.fromEntries(parsedUrl.searchParams),
          body,
          files,
          authorization: req.headers.authorization ?? null,
          at,
          status: 0,
          response: undefined,
        };
        try {
          reply = respond(record, path);
        } catch (error) {
          reply = { status: 500, body: { message: `fake-discord: ${String(error)}`, code: 0 } };
        }
        record.status = reply.status;
        record.response = reply.body;
        requests.push(record);
        events.emit('request', record);
        const headers: Record<string, string> = { ...(reply.headers ?? {}) };
        if (reply.body !== undefined && reply.status !== 204) {
          headers['content-type'] ??= 'application/json';
          res.writeHead(reply.status, headers);
          res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
        } else {
          res.writeHead(reply.status, headers);
          res.end();
        }
        if (reply.after) {
          const after = reply.after;
          // After the answer is on the wire, as Discord's gateway echo follows its REST answer.
          setImmediate(() => {
            if (!closed) after();
          });
        }
      })();
    });
  });

  // -- builders ---------------------------------------------------------------------------------

  const interactionBase = (kind: 'command' | 'component', channelId: string, userId: string, username?: string): {
    state: InteractionState;
    payload: Obj;
  } => {
    const id = snowflake();
    // Shaped like Discord's: base64 of `interaction:<id>:<random>` (URL-safe alphabet, so it needs no escaping in paths).
    const interactionToken = Buffer.from(`interaction:${id}:${randomBytes(48).toString('base64url')}`).toString('base64url');
    const state: InteractionState = {
      id,
      token: interactionToken,
      channelId,
      kind,
      responded: false,
      originalId: null,
      componentMessageId: null,
    };
    interactions.set(interactionToken, state);
    const channel = channelObject(channelId) ?? { id: channelId, type: 0, guild_id: GUILD_ID, name: 'unknown' };
    const payload: Obj = {
      id,
      application_id: APP_ID,
      type: kind === 'command' ? 2 : 3,
      token: interactionToken,
      version: 1,
      guild_id: GUILD_ID,
      guild: { id: GUILD_ID, locale: 'en-US', features: [] },
      channel_id: channelId,
      channel: { ...channel, permissions: BOT_PERMISSIONS },
      member: { ...humanMember(), permissions: EVERYONE_PERMISSIONS, user: user(userId, username) },
      app_permissions: BOT_PERMISSIONS,
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': GUILD_ID },
      context: 0,
      attachment_size_limit: 10_485_760,
    };
    return { state, payload };
  };

  const slashCommand = (input: SlashCommandInput): PlayedInteraction => {
    const channelId = input.channelId ?? CHANNEL_ID;
    const { state, payload } = interactionBase('command', channelId, input.userId ?? HUMAN_USER_ID, input.username);
    const registered = [...(commands.get(GUILD_ID) ?? []), ...(commands.get('global') ?? [])].find(
      (c) => c['name'] === input.name && (c['type'] ?? 1) === 1,
    );
    const data: Obj = {
      id: typeof registered?.['id'] === 'string' ? registered['id'] : snowflake(),
      name: input.name,
      type: 1,
    };
    const options = toOptions(input.options);
    if (options.length > 0) data['options'] = options;
    if (typeof registered?.['guild_id'] === 'string') data['guild_id'] = registered['guild_id'];
    payload['data'] = data;
    dispatch('INTERACTION_CREATE', payload);
    return { id: state.id, token: state.token, payload };
  };

  const buttonPress = (input: ButtonPressInput): PlayedInteraction => {
    const known = input.messageId ? messages.get(input.messageId) : undefined;
    const channelId = input.channelId ?? known?.channel_id ?? CHANNEL_ID;
    const message =
      known ??
      makeMessage({
        id: input.messageId ?? snowflake(),
        channelId,
        author: BOT_USER,
        body: {
          content: 'Was this answer helpful?',
          components: [{ type: 1, components: [{ type: 2, style: 1, custom_id: input.customId, label: input.customId }] }],
        },
      });
    const { state, payload } = interactionBase('component', channelId, input.userId ?? HUMAN_USER_ID, input.username);
    state.componentMessageId = message.id;
    payload['message'] = message;
    payload['data'] = { custom_id: input.customId, component_type: 2 };
    dispatch('INTERACTION_CREATE', payload);
    return { id: state.id, token: state.token, payload };
  };

  const humanMessage = (input: MessageInput & { channelId: string }): ApiMessage => {
    const author = user(input.userId ?? HUMAN_USER_ID, input.username);
    const mention = `<@${BOT_USER_ID}>`;
    const mentionsBot = input.mentionsBot === true;
    const content = mentionsBot && !input.content.includes(mention) ? `${mention} ${input.content}` : input.content;
    const body: Obj = { content };
    const replied = input.replyToMessageId ? messages.get(input.replyToMessageId) : undefined;
    if (input.replyToMessageId) body['message_reference'] = { message_id: input.replyToMessageId, channel_id: input.channelId, guild_id: GUILD_ID };
    const message = makeMessage({ channelId: input.channelId, author, body });
    const mentioned: Obj[] = [];
    if (mentionsBot || replied?.author.id === BOT_USER_ID) mentioned.push({ ...BOT_USER, member: botMember() });
    message.mentions = mentioned;
    const addressed = mentioned.length > 0;
    dispatchGated('MESSAGE_CREATE', { ...message, guild_id: GUILD_ID, member: humanMember() }, INTENTS.GuildMessages, !addressed);
    return message;
  };

  const message = (input: MessageInput): ApiMessage => humanMessage({ ...input, channelId: input.channelId ?? CHANNEL_ID });

  const threadMessage = (input: ThreadMessageInput): { thread: ApiThread; message: ApiMessage } => {
    let thread = input.threadId ? threads.get(input.threadId) : undefined;
    if (!thread) {
      const created = now();
      thread = {
        id: input.threadId ?? snowflake(),
        type: 11,
        guild_id: GUILD_ID,
        parent_id: input.parentChannelId ?? CHANNEL_ID,
        owner_id: input.userId ?? HUMAN_USER_ID,
        name: input.threadName ?? 'thread',
        last_message_id: null,
        rate_limit_per_user: 0,
        message_count: 0,
        member_count: 1,
        total_message_sent: 0,
        flags: 0,
        thread_metadata: {
          archived: false,
          auto_archive_duration: 4320,
          archive_timestamp: created,
          locked: false,
          create_timestamp: created,
        },
      };
      threads.set(thread.id, thread);
    }
    const current = thread;
    const unseen = identified().some((c) => !c.session?.knownThreads.has(current.id));
    if (unseen) dispatchGated('THREAD_CREATE', { ...current, newly_created: true }, INTENTS.Guilds);
    const played = humanMessage({ ...input, channelId: current.id });
    current['message_count'] = Number(current['message_count'] ?? 0) + 1;
    current['last_message_id'] = played.id;
    return { thread: current, message: played };
  };

  // -- the handle -------------------------------------------------------------------------------

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const connection of connections) connection.ws.terminate();
    connections.clear();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
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
    dispatched,
    withheld,
    connections: connectionsInfo,
    messages,
    threads,
    commands,
    get identify() {
      return lastIdentify;
    },
    get intents() {
      const intents = lastIdentify?.['intents'];
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
    refuseChannel: (channelId, refusal) => {
      refusals.set(channelId, refusal);
      return () => {
        if (refusals.get(channelId) === refusal) refusals.delete(channelId);
      };
    },
    intercept: (interceptor) => {
      interceptors.push(interceptor);
      return () => {
        const index = interceptors.indexOf(interceptor);
        if (index >= 0) interceptors.splice(index, 1);
      };
    },
    dispatch,
    slashCommand,
    buttonPress,
    message,
    threadMessage,
    disconnect: (code = 4000) => {
      for (const connection of connections) connection.ws.close(code, 'fake-discord disconnect');
    },
    close,
  };
}
