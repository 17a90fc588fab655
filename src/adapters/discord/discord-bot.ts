/**
 * The Discord adapter: turns slash commands, mentions, thread follow-ups and button presses into
 * calls on the chat session and the core, and renders what comes back. The ask flow itself (checks,
 * queue, streaming, answer log, turns) is the platform-neutral `ChatSession`; this file is only
 * transport, event wiring and rendering. Every message it sends carries
 * `allowedMentions: { parse: [] }` and text already passed through the mention neutraliser (in
 * the renderer), so nothing it posts can ping anyone.
 */
import {
  Client,
  Events,
  GatewayIntentBits,
  MessageFlags,
  type AnyThreadChannel,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Interaction,
  type Message,
} from 'discord.js';
import type { Logger } from 'pino';
import { neutraliseMentions, splitMessage } from '../../chat-text.ts';
import type { DigestPreview } from '../../digest/model.ts';
import { PaperbotError } from '../../errors.ts';
import type { PaperbotCore } from '../../rag/paperbot-core.ts';
import type { AnswerQueue } from '../chat/answer-queue.ts';
import { ChatSession, isChatCommand, type ChatAdapter } from '../chat/chat-session.ts';
import { feedbackButtons } from '../chat/ids.ts';
import type { RateLimiter } from '../chat/rate-limiter.ts';
import { REPLIES } from '../chat/replies.ts';
import { DiscordAnswer, NO_PINGS, safeText, type Outgoing, type Write } from './discord-answer.ts';
import { renderDiscordDigest, type DiscordDigestPayload } from './digest-render.ts';
import { DISCORD_LIMITS } from './render.ts';

export interface DiscordBotOptions {
  token: string;
  /** Handed to discord.js's REST client unchanged (it appends the API version). */
  apiBase: string;
  /** Read thread follow-ups without a mention (the privileged Message Content intent). */
  messageContent: boolean;
  editIntervalMs: number;
  queue: AnswerQueue;
  limiter: RateLimiter;
  logger: Logger;
  /** Lays out the next digest for `/digest`; absent when no digest is configured. */
  digestPreview?: DigestPreview;
}

const NO_DIGEST_HERE = 'No digest posts to this channel; `/digest target:<name>` shows another target\'s.';
const HELP = [
  '**paperbot** answers questions from the paper abstracts it holds, citing each paper as [n].',
  '`/ask question:<text>` asks (add `private:true` to see the answer alone).',
  'Mention me (`@paperbot how does …?`) to get the answer in a thread; follow-ups in that thread keep the context.',
  '`/search query:<words>` lists matching papers, `/paper id:<id>` shows one, `/stats` shows what I hold.',
  '`/digest` shows you the next paper digest for this channel before it is posted (`target:<name>` picks one target).',
  'Press 👍 or 👎 under an answer to tell the people who run me how it did.',
].join('\n');

export class DiscordBot implements ChatAdapter {
  readonly name = 'discord' as const;
  private readonly client: Client;
  private readonly session: ChatSession;
  /** Threads paperbot answers in (their history is in the database, so it survives restarts). */
  private readonly threads = new Set<string>();
  private closing = false;

  constructor(
    core: PaperbotCore,
    private readonly options: DiscordBotOptions,
  ) {
    this.session = new ChatSession(core, { platform: 'discord', queue: options.queue, limiter: options.limiter, logger: options.logger, editIntervalMs: options.editIntervalMs });
    // Only the intents used: guild events for slash commands and threads, guild messages for
    // mentions; message content only when asked for (privileged).
    const intents = [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages];
    if (options.messageContent) intents.push(GatewayIntentBits.MessageContent);
    this.client = new Client({ intents, rest: { api: options.apiBase }, allowedMentions: NO_PINGS });
  }

  /** Logs in; resolves with a line such as `ready as paperbot#0001`. */
  async start(): Promise<string> {
    this.client.on(Events.InteractionCreate, (interaction) => void this.safely(interaction.id, () => this.onInteraction(interaction)));
    this.client.on(Events.MessageCreate, (message) => void this.safely(message.id, () => this.onMessage(message)));
    const ready = new Promise<void>((resolve) => this.client.once(Events.ClientReady, () => resolve()));
    try {
      await this.client.login(this.options.token);
    } catch (error) {
      throw new PaperbotError(
        'config',
        `Discord refused the connection (${(error as Error).message}): check DISCORD_TOKEN${this.options.messageContent ? ', and that the Message Content intent is enabled for the bot in the Developer Portal (DISCORD_MESSAGE_CONTENT=true asks for it)' : ''}.`,
        { cause: error },
      );
    }
    await ready;
    return `ready as ${this.client.user?.tag ?? 'unknown'}`;
  }

  /** Stops taking questions, lets running answers finish (or tells their askers), disconnects. */
  async stop(graceMs = 10_000): Promise<void> {
    this.closing = true;
    await this.session.close(graceMs);
    await this.client.destroy();
  }

  private async onInteraction(interaction: Interaction): Promise<void> {
    if (interaction.isButton()) return this.onButton(interaction);
    if (!interaction.isChatInputCommand()) return;
    const name = interaction.commandName;
    if (name === 'ask') return this.onAsk(interaction);
    if (name === 'digest') return this.onDigest(interaction);
    if (name === 'help') {
      await interaction.reply({ content: HELP, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
      return;
    }
    if (!isChatCommand(name)) return;
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    try {
      const text = await this.session.runCommand(name, (argument) => interaction.options.getString(argument) ?? '');
      const [first, ...rest] = splitMessage(neutraliseMentions(text), DISCORD_LIMITS.content);
      await interaction.editReply({ content: first ?? '(nothing)', allowedMentions: NO_PINGS });
      for (const chunk of rest) await interaction.followUp({ content: chunk, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
    } catch (error) {
      await interaction.editReply({ content: this.describeFailure(error, interaction.id), allowedMentions: NO_PINGS });
    }
  }

  private async onAsk(interaction: ChatInputCommandInteraction): Promise<void> {
    const ephemeral = interaction.options.getBoolean('private') ?? false;
    // Discord allows 3 s for the first response: defer before any work.
    await interaction.deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {});
    const followUp: Write = (payload) =>
      ephemeral
        ? interaction.followUp({ ...payload, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS })
        : interaction.followUp({ ...payload, allowedMentions: NO_PINGS });
    const surface = new DiscordAnswer(interaction.id, followUp, { edit: (payload) => interaction.editReply({ ...payload, allowedMentions: NO_PINGS }) });
    await this.session.ask(surface, { question: interaction.options.getString('question') ?? '', userId: interaction.user.id });
  }

  private async onDigest(interaction: ChatInputCommandInteraction): Promise<void> {
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    try {
      const preview = this.options.digestPreview;
      if (!preview) {
        await interaction.editReply({ content: REPLIES.noDigest, allowedMentions: NO_PINGS });
        return;
      }
      const targetName = interaction.options.getString('target')?.trim();
      const result = await preview({ platform: 'discord', channel: interaction.channelId, ...(targetName ? { targetName } : {}) });
      if (!result.ok) {
        await interaction.editReply({ content: safeText(result.message), allowedMentions: NO_PINGS });
        return;
      }
      if (!result.layouts.length) {
        await interaction.editReply({ content: NO_DIGEST_HERE, allowedMentions: NO_PINGS });
        return;
      }
      const payloads: DiscordDigestPayload[] = [];
      for (const layout of result.layouts) {
        const rendered = renderDiscordDigest(layout);
        payloads.push(withPreviewLine(rendered.main, `-# Preview of target "${layout.target}": only you see this, nothing was posted.`));
        const [first, ...rest] = rendered.thread;
        if (first) payloads.push(withPreviewLine(first, `-# In the thread "${rendered.threadName}":`), ...rest);
      }
      for (const [i, payload] of payloads.entries()) {
        // The deferred reply becomes the first message; the rest follow it, each as private.
        if (i === 0) await interaction.editReply({ content: payload.content, embeds: payload.embeds, allowedMentions: NO_PINGS });
        else await interaction.followUp({ content: payload.content, embeds: payload.embeds, flags: MessageFlags.Ephemeral | (payload.flags ?? 0), allowedMentions: NO_PINGS });
      }
    } catch (error) {
      await interaction.editReply({ content: this.describeFailure(error, interaction.id), embeds: [], allowedMentions: NO_PINGS });
    }
  }

  private async onMessage(message: Message): Promise<void> {
    if (message.author.bot || this.closing || !this.client.user) return;
    const botId = this.client.user.id;
    const mentioned = message.mentions.users.has(botId);
    const question = message.content.replace(new RegExp(`<@!?${botId}>`, 'g'), '').trim();

    if (message.channel.isThread()) {
      // A thread paperbot started (or, after a restart, any thread it is mentioned in): answer
      // there. With the Message Content intent, follow-ups in its own threads need no mention.
      const thread = message.channel;
      const conversation = { platform: 'discord', threadId: thread.id } as const;
      const known = this.threads.has(thread.id) || this.session.knows(conversation);
      if (!mentioned && !(known && this.options.messageContent)) return;
      if (!question) {
        await message.reply({ content: REPLIES.mentionOnly, allowedMentions: NO_PINGS });
        return;
      }
      this.threads.add(thread.id);
      await this.answerInThread(message, thread, question);
      return;
    }
    if (!mentioned) return;
    if (!question) {
      await message.reply({ content: REPLIES.mentionOnly, allowedMentions: NO_PINGS });
      return;
    }
    let thread;
    try {
      thread = await message.startThread({ name: neutraliseMentions(question).slice(0, 90) || 'paperbot' });
    } catch (error) {
      this.options.logger.warn({ err: error, requestId: message.id }, 'discord: could not start a thread');
      await message.reply({ content: 'I could not start a thread here: give me the Create Public Threads and Send Messages in Threads permissions, or use /ask.', allowedMentions: NO_PINGS });
      return;
    }
    this.threads.add(thread.id);
    await this.answerInThread(message, thread, question);
  }

  /** The answer goes into a placeholder posted in the thread; the turn is remembered under the thread. */
  private async answerInThread(message: Message, thread: AnyThreadChannel, question: string): Promise<void> {
    const send = (payload: Outgoing) => thread.send({ ...payload, allowedMentions: NO_PINGS });
    const surface = new DiscordAnswer(message.id, send, { placeholder: () => send({ content: '…' }) });
    await this.session.ask(surface, { question, userId: message.author.id, conversation: { platform: 'discord', threadId: thread.id } });
  }

  private async onButton(interaction: ButtonInteraction): Promise<void> {
    const vote = feedbackButtons.discord.decode(interaction.customId);
    if (!vote) return;
    const reply = this.session.recordFeedback(vote, interaction.user.id, interaction.id);
    await interaction.reply({ content: safeText(reply), flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
  }

  /** One top-level handler: a failing event never stops the bot; the log gets the details. */
  private async safely(eventId: string, work: () => Promise<void>): Promise<void> {
    await work().catch((error: unknown) => this.options.logger.error({ err: error, requestId: eventId }, 'discord: handler failed'));
  }

  private describeFailure(error: unknown, requestId: string): string {
    return safeText(this.session.describeFailure(error, requestId));
  }
}

/** The payload with `line` above its content when both fit in one message (the line is a courtesy, never worth an extra message). */
function withPreviewLine(payload: DiscordDigestPayload, line: string): DiscordDigestPayload {
  const content = `${neutraliseMentions(line)}\n${payload.content}`;
  return content.length <= DISCORD_LIMITS.content ? { ...payload, content } : payload;
}
