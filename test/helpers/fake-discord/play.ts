/**
 * What a test plays as the human side of the fake Discord, over the gateway: slash commands and
 * button presses (INTERACTION_CREATE with a token the REST half then accepts), and human messages in
 * the channel or in a thread (MESSAGE_CREATE, preceded by THREAD_CREATE for a thread the client has
 * not seen), gated by intents as Discord gates them.
 */
import { randomBytes } from 'node:crypto';
import { APP_ID, BOT_PERMISSIONS, BOT_USER_ID, CHANNEL_ID, EVERYONE_PERMISSIONS, GUILD_ID, HUMAN_USER_ID, INTENTS } from './constants.ts';
import type { Gateway } from './gateway.ts';
import { BOT_USER, now, snowflake, type InteractionState, type World } from './state.ts';
import type {
  ApiMessage,
  ApiThread,
  ButtonPressInput,
  MessageInput,
  Obj,
  PlayedInteraction,
  SlashCommandInput,
  ThreadMessageInput,
} from './types.ts';

function toOptions(options: SlashCommandInput['options']): Obj[] {
  if (options === undefined) return [];
  if (Array.isArray(options)) return options;
  return Object.entries(options).map(([name, value]) => ({
    name,
    type: typeof value === 'string' ? 3 : typeof value === 'boolean' ? 5 : Number.isInteger(value) ? 4 : 10,
    value,
  }));
}

export interface Players {
  slashCommand(input: SlashCommandInput): PlayedInteraction;
  buttonPress(input: ButtonPressInput): PlayedInteraction;
  message(input: MessageInput): ApiMessage;
  threadMessage(input: ThreadMessageInput): { thread: ApiThread; message: ApiMessage };
}

export function createPlayers(world: World, gateway: Gateway): Players {
  const { messages, threads, commands, interactions, user, botMember, humanMember, channelObject, makeMessage } = world;
  const { dispatch, dispatchGated } = gateway;

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
    const unseen = gateway.threadUnseen(current.id);
    if (unseen) dispatchGated('THREAD_CREATE', { ...current, newly_created: true }, INTENTS.Guilds);
    const played = humanMessage({ ...input, channelId: current.id });
    current['message_count'] = Number(current['message_count'] ?? 0) + 1;
    current['last_message_id'] = played.id;
    return { thread: current, message: played };
  };

  return { slashCommand, buttonPress, message, threadMessage };
}
