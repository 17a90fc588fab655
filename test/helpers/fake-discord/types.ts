/**
 * The fake Discord's public types: the Discord objects it serves (users, messages, threads), what it
 * records (REST requests, gateway payloads and dispatches), its options, what a test can play
 * (slash commands, button presses, human messages), and the `FakeDiscord` handle itself.
 */

/** A JSON object, loosely typed (the fake's shorthand for Discord payloads). */
export type Obj = Record<string, unknown>;

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
