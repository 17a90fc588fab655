// Self-test of the fake Discord: the real discord.js Client, over loopback HTTP and WebSocket.
import {
  ButtonStyle,
  Client,
  ComponentType,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  type Interaction,
  type Message,
} from 'discord.js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  APP_ID,
  BOT_USER_ID,
  CHANNEL_ID,
  GUILD_ID,
  HUMAN_USER_ID,
  INTENTS,
  TOKEN,
  startFakeDiscord,
  type FakeDiscord,
  type FakeDiscordOptions,
} from './helpers/fake-discord.ts';

const ALL_INTENTS = [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent];

let fake: FakeDiscord | undefined;
let client: Client | undefined;

afterEach(async () => {
  await client?.destroy();
  client = undefined;
  await fake?.close();
  fake = undefined;
});

/** Starts the fake and a real Client logged in to it; resolves once the client emitted clientReady. */
async function connect(
  options: FakeDiscordOptions = {},
  intents: GatewayIntentBits[] = ALL_INTENTS,
): Promise<{ fake: FakeDiscord; client: Client }> {
  const f = await startFakeDiscord(options);
  fake = f;
  const c = new Client({ intents, rest: { api: f.apiBase } });
  client = c;
  const ready = new Promise<void>((resolve) => c.once(Events.ClientReady, () => resolve()));
  await c.login(TOKEN);
  await withTimeout(ready, 5000, 'clientReady');
  return { fake: f, client: c };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** The next emission of `event` whose first argument passes `filter`. */
function next<T>(c: Client, event: string, filter: (value: T) => boolean = () => true): Promise<T> {
  return withTimeout(
    new Promise<T>((resolve) => {
      const listener = (value: T): void => {
        if (!filter(value)) return;
        c.off(event, listener);
        resolve(value);
      };
      c.on(event, listener);
    }),
    5000,
    event,
  );
}

describe('fake Discord with the real discord.js client', () => {
  it('logs in and becomes ready: gateway/bot over REST, IDENTIFY with the intents, READY and GUILD_CREATE', async () => {
    const started = Date.now();
    const { fake, client } = await connect();
    expect(Date.now() - started).toBeLessThan(5000);

    expect(client.isReady()).toBe(true);
    expect(client.user?.id).toBe(BOT_USER_ID);
    expect(client.application?.id).toBe(APP_ID);
    const guild = client.guilds.cache.get(GUILD_ID);
    expect(guild?.available).toBe(true);
    expect(guild?.channels.cache.get(CHANNEL_ID)?.isTextBased()).toBe(true);
    expect(guild?.members.me?.id).toBe(BOT_USER_ID);

    const gatewayRequest = fake.requestsTo('GET', '/gateway/bot')[0];
    expect(gatewayRequest?.authorization).toBe(`Bot ${TOKEN}`);
    const identify = await fake.waitForGateway((f) => f.op === 2);
    expect(identify.d).toMatchObject({ token: TOKEN, intents: INTENTS.Guilds | INTENTS.GuildMessages | INTENTS.MessageContent });
    expect(fake.intents).toBe(INTENTS.Guilds | INTENTS.GuildMessages | INTENTS.MessageContent);
    expect(fake.connections[0]?.query).toEqual({ v: '10', encoding: 'json' });
    expect(fake.dispatched.map((d) => d.t)).toEqual(['READY', 'GUILD_CREATE']);
  });

  it('delivers a slash command; deferReply and editReply reach the callback and @original endpoints', async () => {
    const { fake, client } = await connect();
    const received = next<Interaction>(client, Events.InteractionCreate);
    const played = fake.slashCommand({ name: 'ask', options: { question: 'What is attention?' } });
    const interaction = await received;
    if (!interaction.isChatInputCommand()) throw new Error('expected a chat input command');
    expect(interaction.commandName).toBe('ask');
    expect(interaction.options.getString('question')).toBe('What is attention?');
    expect(interaction.user.id).toBe(HUMAN_USER_ID);
    expect(interaction.channelId).toBe(CHANNEL_ID);
    expect(interaction.guildId).toBe(GUILD_ID);

    await interaction.deferReply();
    const callback = await fake.waitFor((r) => r.path === `/interactions/${played.id}/${played.token}/callback`);
    expect(callback.method).toBe('POST');
    expect(callback.body).toMatchObject({ type: 5 });
    expect(callback.authorization).toBeNull();

    const edited = await interaction.editReply('x');
    const patch = await fake.waitFor((r) => r.method === 'PATCH' && r.path === `/webhooks/${APP_ID}/${played.token}/messages/@original`);
    expect(patch.body).toMatchObject({ content: 'x' });
    expect(edited.content).toBe('x');
    expect(edited.author.id).toBe(BOT_USER_ID);

    const followUp = await interaction.followUp('more');
    expect(fake.requestsTo('POST', `/webhooks/${APP_ID}/${played.token}`)[0]?.body).toMatchObject({ content: 'more' });
    expect(followUp.content).toBe('more');

    // A second initial response is refused, as by Discord.
    await expect(
      client.rest.post(`/interactions/${played.id}/${played.token}/callback`, { body: { type: 4, data: { content: 'again' } }, auth: false }),
    ).rejects.toMatchObject({ code: 40060 });
  });

  it('delivers a mention; startThread and thread.send hit the thread endpoints', async () => {
    const { fake, client } = await connect();
    const received = next<Message>(client, Events.MessageCreate, (m) => !m.author.bot);
    const played = fake.message({ content: 'what about transformers?', mentionsBot: true });
    const message = await received;
    expect(message.id).toBe(played.id);
    expect(message.mentions.users.has(BOT_USER_ID)).toBe(true);
    expect(message.content).toBe(`<@${BOT_USER_ID}> what about transformers?`);
    expect(message.author.id).toBe(HUMAN_USER_ID);
    expect(message.guildId).toBe(GUILD_ID);

    const thread = await message.startThread({ name: 'transformers' });
    const threadRequest = await fake.waitFor((r) => r.method === 'POST' && r.path === `/channels/${CHANNEL_ID}/messages/${message.id}/threads`);
    expect(threadRequest.body).toMatchObject({ name: 'transformers' });
    expect(thread.id).toBe(message.id);
    expect(thread.isThread()).toBe(true);
    expect(thread.parentId).toBe(CHANNEL_ID);

    const ownEcho = next<Message>(client, Events.MessageCreate, (m) => m.author.id === BOT_USER_ID);
    const sent = await thread.send('y');
    const post = await fake.waitFor((r) => r.method === 'POST' && r.path === `/channels/${thread.id}/messages`);
    expect(post.body).toMatchObject({ content: 'y' });
    expect(sent.channelId).toBe(thread.id);
    // Discord echoes the bot's own messages over the gateway; adapters must ignore them.
    expect((await ownEcho).id).toBe(sent.id);

    // A human answering in that thread arrives as a thread message.
    const inThread = next<Message>(client, Events.MessageCreate, (m) => !m.author.bot);
    fake.threadMessage({ threadId: thread.id, content: 'and RNNs?' });
    const reply = await inThread;
    expect(reply.channelId).toBe(thread.id);
    expect(reply.channel.isThread()).toBe(true);
  });

  it('announces an unseen thread with THREAD_CREATE before its message', async () => {
    const { fake, client } = await connect();
    const received = next<Message>(client, Events.MessageCreate);
    const { thread } = fake.threadMessage({ content: 'hello?', mentionsBot: true, threadName: 'side chat' });
    const message = await received;
    expect(message.channelId).toBe(thread.id);
    expect(message.channel.isThread() && message.channel.name).toBe('side chat');
    expect(fake.dispatched.slice(-2).map((d) => d.t)).toEqual(['THREAD_CREATE', 'MESSAGE_CREATE']);
  });

  it('delivers a button press on a message the bot sent', async () => {
    const { fake, client } = await connect();
    const channel = client.channels.cache.get(CHANNEL_ID);
    if (!channel?.isSendable()) throw new Error('channel not sendable');
    const sent = await channel.send({
      content: 'Answer [1].',
      components: [
        {
          type: ComponentType.ActionRow,
          components: [{ type: ComponentType.Button, style: ButtonStyle.Secondary, customId: 'feedback:up', label: '👍' }],
        },
      ],
    });
    const received = next<Interaction>(client, Events.InteractionCreate);
    fake.buttonPress({ customId: 'feedback:up', messageId: sent.id });
    const interaction = await received;
    expect(interaction.isButton()).toBe(true);
    if (!interaction.isButton()) return;
    expect(interaction.customId).toBe('feedback:up');
    expect(interaction.message.id).toBe(sent.id);
    expect(interaction.user.id).toBe(HUMAN_USER_ID);

    await interaction.update({ components: [] });
    const callback = await fake.waitFor((r) => r.path.startsWith(`/interactions/${interaction.id}/`));
    expect(callback.body).toMatchObject({ type: 7, data: { components: [] } });
  });

  it('answers like Discord for unknown routes, bad input and missing intents', async () => {
    const { fake, client } = await connect({}, [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages]);

    const notFound = await client.rest.get('/guilds/1/emojis').catch((error: unknown) => error);
    expect(notFound).toBeInstanceOf(DiscordAPIError);
    expect(notFound).toMatchObject({ status: 404, code: 0 });
    expect(fake.requestsTo('GET', '/guilds/1/emojis')).toHaveLength(1);

    const channel = client.channels.cache.get(CHANNEL_ID);
    if (!channel?.isSendable()) throw new Error('channel not sendable');
    await expect(channel.send('z'.repeat(2001))).rejects.toMatchObject({ status: 400, code: 50035 });

    // Without MessageContent, a message that does not mention the bot arrives blank; a mention keeps it.
    const blank = next<Message>(client, Events.MessageCreate, (m) => !m.author.bot);
    fake.message({ content: 'secret' });
    expect((await blank).content).toBe('');
    const addressed = next<Message>(client, Events.MessageCreate, (m) => !m.author.bot);
    fake.message({ content: 'hi', mentionsBot: true });
    expect((await addressed).content).toBe(`<@${BOT_USER_ID}> hi`);
  });

  it('registers commands and rejects a bad token', async () => {
    const { fake, client } = await connect({ heartbeatIntervalMs: 50 });
    const set = await client.application?.commands.set([{ name: 'ask', description: 'Ask a question' }], GUILD_ID);
    expect(set?.first()?.name).toBe('ask');
    expect(fake.requestsTo('PUT', `/applications/${APP_ID}/guilds/${GUILD_ID}/commands`)).toHaveLength(1);
    expect(fake.commands.get(GUILD_ID)?.[0]).toMatchObject({ name: 'ask', application_id: APP_ID });

    // Heartbeats are answered, so the client measures a ping.
    await fake.waitForGateway((f) => f.op === 1);
    await withTimeout(
      (async () => {
        while (client.ws.ping < 0) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      2000,
      'heartbeat ack',
    );

    const other = new Client({ intents: ALL_INTENTS, rest: { api: fake.apiBase } });
    try {
      await expect(other.login('bad.token.here')).rejects.toMatchObject({ code: 'TokenInvalid' });
    } finally {
      await other.destroy();
    }
  });
});
