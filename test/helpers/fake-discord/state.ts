/**
 * The fake Discord's state: the world that REST and the gateway both read and change. Users, the one
 * guild's text channel and its threads, every message the fake knows, registered commands and
 * pending interactions, plus the builders that shape them as Discord's API does. Nothing here speaks
 * HTTP or WebSocket.
 */
import {
  APP_ID,
  BOT_PERMISSIONS,
  BOT_ROLE_ID,
  BOT_USER_ID,
  BOT_USERNAME,
  CHANNEL_ID,
  CHANNEL_NAME,
  DISCORD_EPOCH,
  EVERYONE_PERMISSIONS,
  FLAG_LOADING,
  GUILD_ID,
  HUMAN_USER_ID,
  HUMAN_USERNAME,
  JOINED_AT,
} from './constants.ts';
import type { ApiMessage, ApiThread, ApiUser, Obj, RecordedFile } from './types.ts';

/** An interaction the fake dispatched, until (and after) the bot responds to it. */
export interface InteractionState {
  id: string;
  token: string;
  channelId: string;
  kind: 'command' | 'component';
  responded: boolean;
  originalId: string | null;
  componentMessageId: string | null;
}

/** A Discord error answer (status and `{ message, code }` body), thrown by state lookups and REST routes. */
export class DiscordError {
  constructor(
    readonly status: number,
    readonly body: Obj,
  ) {}
}

let lastSnowflake = 0n;
/** A fresh, strictly increasing snowflake for the current time. */
export function snowflake(): string {
  let id = (BigInt(Date.now()) - DISCORD_EPOCH) << 22n;
  if (id <= lastSnowflake) id = lastSnowflake + 1n;
  lastSnowflake = id;
  return id.toString();
}

export function isRecord(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function now(): string {
  return new Date().toISOString();
}

export function unknownError(message: string, code: number, status = 404): DiscordError {
  return new DiscordError(status, { message, code });
}

export function formError(field: string, code: string, message: string): DiscordError {
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

export const BOT_USER = userObject(BOT_USER_ID, BOT_USERNAME, true);

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

/** The world, as REST handlers and gateway dispatches see it. */
export interface World {
  readonly users: Map<string, ApiUser>;
  /** Messages the fake knows, by id (played, sent by the bot, interaction responses). */
  readonly messages: Map<string, ApiMessage>;
  /** Threads the fake knows, by id. */
  readonly threads: Map<string, ApiThread>;
  /** Registered commands: key `global` or a guild id. */
  readonly commands: Map<string, Obj[]>;
  /** Interactions by token. */
  readonly interactions: Map<string, InteractionState>;
  /** A known user (renamed if `username` differs), or a new human. */
  user(id: string, username?: string): ApiUser;
  botMember(): Obj;
  humanMember(): Obj;
  /** The channel object for a known channel id (text channel or thread), else undefined. */
  channelObject(id: string): Obj | undefined;
  /** Same, or throws Discord's 10003 Unknown Channel. */
  requireChannel(id: string): Obj;
  /** The GUILD_CREATE payload; the active threads it lists are added to `knownThreads`. */
  guildCreate(knownThreads: Set<string>): Obj;
  /** A message object as REST returns it, remembered in `messages`. */
  makeMessage(fields: MessageFields): ApiMessage;
  /** Applies an edit body (content, embeds, components, flags, files) and clears the loading flag. */
  editMessage(message: ApiMessage, body: Obj, files: RecordedFile[]): ApiMessage;
}

export interface MessageFields {
  channelId: string;
  author: ApiUser;
  body?: Obj;
  files?: RecordedFile[];
  webhook?: InteractionState;
  id?: string;
}

export function createWorld(options: { guildName: string }): World {
  const guildName = options.guildName;
  const messages = new Map<string, ApiMessage>();
  const threads = new Map<string, ApiThread>();
  const commands = new Map<string, Obj[]>();
  const interactions = new Map<string, InteractionState>();
  const users = new Map<string, ApiUser>([
    [BOT_USER_ID, BOT_USER],
    [HUMAN_USER_ID, userObject(HUMAN_USER_ID, HUMAN_USERNAME)],
  ]);

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

  const guildCreate = (knownThreads: Set<string>): Obj => {
    const activeThreads = [...threads.values()].filter((t) => {
      const meta = t['thread_metadata'];
      return !(isRecord(meta) && meta['archived'] === true);
    });
    for (const t of activeThreads) knownThreads.add(t.id);
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
  const makeMessage = (fields: MessageFields): ApiMessage => {
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

  return {
    users,
    messages,
    threads,
    commands,
    interactions,
    user,
    botMember,
    humanMember,
    channelObject,
    requireChannel,
    guildCreate,
    makeMessage,
    editMessage,
  };
}
