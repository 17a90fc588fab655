/**
 * The fake Discord's fixed world and protocol numbers: the ids of the one guild, channel, bot,
 * human and application; the bot token; gateway intents and opcodes; message flags and the
 * permissions the guild grants. Shared by the state, REST and gateway halves of the fake.
 */

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

export const DISCORD_EPOCH = 1_420_070_400_000n;
export const JOINED_AT = '2024-01-01T00:00:00.000000+00:00';
export const MAX_CONTENT = 2000;
export const FLAG_EPHEMERAL = 1 << 6;
export const FLAG_LOADING = 1 << 7;

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
export const EVERYONE_PERMISSIONS = (
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
export const BOT_PERMISSIONS = (BigInt(EVERYONE_PERMISSIONS) | P.ManageMessages | P.ManageThreads).toString();
