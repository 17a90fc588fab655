/**
 * The Discord adapter: turns slash commands, mentions, thread follow-ups and button presses into
 * calls on the core, and renders what comes back. No RAG logic lives here. Every message it sends
 * carries `allowedMentions: { parse: [] }` and text already passed through the mention neutraliser
 * (in the renderer), so nothing it posts can ping anyone.
 */
import {
  ActionRowBuilder,
  ButtonBuilder,
  ButtonStyle,
  Client,
  Events,
  GatewayIntentBits,
  MessageFlags,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Interaction,
  type APIEmbed,
  type Message,
} from 'discord.js';
import type { Logger } from 'pino';
import { commands } from '../../commands/index.ts';
import type { DigestPreview } from '../../digest/model.ts';
import { PaperbotError } from '../../errors.ts';
import type { Answer } from '../../rag/answer.ts';
import { neutraliseMentions } from '../../rag/mentions.ts';
import type { PastTurn, PaperbotCore } from '../../rag/paperbot-core.ts';
import { AnswerQueue } from '../shared/answer-queue.ts';
import { describeChatFailure } from '../shared/failure.ts';
import { RateLimiter, describeRetry } from '../shared/rate-limiter.ts';
import { renderDiscordDigest, type DiscordDigestPayload } from './digest-render.ts';
import { DISCORD_LIMITS, renderAnswer, renderStreamingPreview, splitMessage } from './render.ts';

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

const NO_PINGS = { parse: [] as [] };
const MENTION_ONLY = 'Ask me something after the mention, e.g. `@paperbot how can I edit a real photo with a diffusion model?`';
/** Earlier turns given to a follow-up: enough for context, bounded for the prompt. */
const HISTORY_TURNS = 5;
const NO_DIGEST = 'No digest is configured: whoever runs paperbot can set one up in paperbot.digest.yml (see the README).';
const NO_DIGEST_HERE = 'No digest posts to this channel; `/digest target:<name>` shows another target\'s.';
const HELP = [
  '**paperbot** answers questions from the paper abstracts it holds, citing each paper as [n].',
  '`/ask question:<text>` asks (add `private:true` to see the answer alone).',
  'Mention me (`@paperbot how does …?`) to get the answer in a thread; follow-ups in that thread keep the context.',
  '`/search query:<words>` lists matching papers, `/paper id:<id>` shows one, `/stats` shows what I hold.',
  '`/digest` shows you the next paper digest for this channel before it is posted (`target:<name>` picks one target).',
  'Press 👍 or 👎 under an answer to tell the people who run me how it did.',
].join('\n');

/** What the adapter writes; each target adds `allowedMentions` and its own flags. */
interface Outgoing {
  content: string;
  embeds?: APIEmbed[];
  components?: ActionRowBuilder<ButtonBuilder>[];
}

/** Where an answer is written: a deferred interaction reply, or a message in a thread. */
interface AnswerTarget {
  edit(payload: Outgoing): Promise<unknown>;
  send(payload: Outgoing): Promise<unknown>;
}

export class DiscordBot {
  private readonly client: Client;
  /** Threads paperbot answers in (their history is in the database, so it survives restarts). */
  private readonly threads = new Set<string>();
  private closing = false;
  /** Handlers still running, so a shutdown lets them tell their askers before disconnecting. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly core: PaperbotCore,
    private readonly options: DiscordBotOptions,
  ) {
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
    await this.options.queue.close({ cancelWaiting: true, graceMs });
    // The cancelled askers' handlers now edit their messages ("restarting…"): let them finish.
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
    await this.client.destroy();
  }

  private async onInteraction(interaction: Interaction): Promise<void> {
    if (interaction.isButton()) return this.onButton(interaction);
    if (!interaction.isChatInputCommand()) return;
    if (interaction.commandName === 'ask') return this.onAsk(interaction);
    if (interaction.commandName === 'digest') return this.onDigest(interaction);
    if (interaction.commandName === 'help') {
      await interaction.reply({ content: HELP, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
      return;
    }
    const definition = commands.find((command) => command.name === interaction.commandName);
    if (!definition) return;
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    try {
      const input: Record<string, unknown> = {};
      for (const argument of definition.arguments) input[argument.name] = interaction.options.getString(argument.name) ?? '';
      const parsed = definition.input.safeParse(input);
      if (!parsed.success) throw new PaperbotError('usage', `That does not look right: ${parsed.error.issues[0]?.message ?? 'invalid input'}.`);
      const text = definition.toText(await definition.run(this.core, parsed.data));
      const [first, ...rest] = splitMessage(neutraliseMentions(text));
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
    const question = interaction.options.getString('question') ?? '';
    const target: AnswerTarget = {
      edit: (payload) => interaction.editReply({ ...payload, allowedMentions: NO_PINGS }),
      send: (payload) =>
        ephemeral
          ? interaction.followUp({ ...payload, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS })
          : interaction.followUp({ ...payload, allowedMentions: NO_PINGS }),
    };
    try {
      await this.answer(target, question, interaction.user.id, []);
    } catch (error) {
      await target.edit({ content: this.describeFailure(error, interaction.id), embeds: [], components: [] });
    }
  }

  /**
   * `/digest [target]`: the next digest of this channel's targets (or the named one), rendered
   * exactly as it would be posted, shown only to the asker. Nothing is posted or recorded.
   */
  private async onDigest(interaction: ChatInputCommandInteraction): Promise<void> {
    await interaction.deferReply({ flags: MessageFlags.Ephemeral });
    try {
      const preview = this.options.digestPreview;
      if (!preview) {
        await interaction.editReply({ content: NO_DIGEST, allowedMentions: NO_PINGS });
        return;
      }
      const targetName = interaction.options.getString('target')?.trim();
      const result = await preview({ platform: 'discord', channel: interaction.channelId, ...(targetName ? { targetName } : {}) });
      if (!result.ok) {
        await interaction.editReply({ content: neutraliseMentions(result.message).slice(0, 1900), allowedMentions: NO_PINGS });
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
      const history = this.core.conversation(`discord:${thread.id}`, HISTORY_TURNS);
      const known = this.threads.has(thread.id) || history.length > 0;
      if (!mentioned && !(known && this.options.messageContent)) return;
      if (!question) {
        await message.reply({ content: MENTION_ONLY, allowedMentions: NO_PINGS });
        return;
      }
      this.threads.add(thread.id);
      await this.answerInThread(thread.id, question, message.author.id, history, () => thread.send({ content: '…', allowedMentions: NO_PINGS }), (payload) => thread.send(payload));
      return;
    }
    if (!mentioned) return;
    if (!question) {
      await message.reply({ content: MENTION_ONLY, allowedMentions: NO_PINGS });
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
    await this.answerInThread(thread.id, question, message.author.id, [], () => thread.send({ content: '…', allowedMentions: NO_PINGS }), (payload) => thread.send(payload));
  }

  private async answerInThread(
    threadId: string,
    question: string,
    userId: string,
    history: readonly PastTurn[],
    placeholder: () => Promise<Message>,
    send: (payload: Outgoing & { allowedMentions: typeof NO_PINGS }) => Promise<unknown>,
  ): Promise<void> {
    const first = await placeholder();
    const target: AnswerTarget = { edit: (payload) => first.edit({ ...payload, allowedMentions: NO_PINGS }), send: (payload) => send({ ...payload, allowedMentions: NO_PINGS }) };
    try {
      const answer = await this.answer(target, question, userId, history);
      if (answer) this.core.rememberTurn(`discord:${threadId}`, { question, answer });
    } catch (error) {
      await target.edit({ content: this.describeFailure(error, first.id), embeds: [], components: [] });
    }
  }

  /** Rate limit, queue, stream with throttled edits, then the final rendering with its buttons. */
  private async answer(target: AnswerTarget, question: string, userId: string, history: readonly PastTurn[]): Promise<Answer | undefined> {
    this.core.validateQuestion(question); // empty or over the limit: a usage error, before taking a slot
    const decision = this.options.limiter.take(userId);
    if (!decision.allowed) {
      await target.edit({ content: `You have asked a lot in the last minute; try again ${describeRetry(decision.retryAfterMs)}.` });
      return undefined;
    }
    return this.options.queue.enqueue(
      async (signal) => {
        let text = '';
        let lastEdit = 0;
        let pending: Promise<unknown> = Promise.resolve();
        let final: Answer | undefined;
        for await (const event of this.core.askStream(question, { signal, history })) {
          if (event.type === 'delta') {
            text += event.text;
            const now = Date.now();
            if (now - lastEdit >= this.options.editIntervalMs) {
              lastEdit = now;
              // Edits go out one at a time, in order; the interval keeps them under Discord's rate limit.
              await pending;
              pending = target.edit({ content: renderStreamingPreview(text) }).catch((error: unknown) => this.options.logger.warn({ err: error }, 'discord: streaming edit failed'));
            }
          } else if (event.type === 'answer') {
            final = event.answer;
          }
        }
        await pending;
        if (!final) throw new PaperbotError('internal', 'The answer stream ended without an answer.');
        await this.deliver(target, final);
        return final;
      },
      {
        onPosition: (position) => void target.edit({ content: `Waiting for the model: you are number ${position} in line.` }).catch(() => undefined),
        onStart: () => void target.edit({ content: 'Reading the abstracts…' }).catch(() => undefined),
      },
    );
  }

  private async deliver(target: AnswerTarget, answer: Answer): Promise<void> {
    const payloads = renderAnswer(answer);
    // Refusals too: a wrong "nothing relevant" is the answer feedback matters most for.
    const answerId = this.core.logAnswer(answer, 'discord');
    const buttons = [
      new ActionRowBuilder<ButtonBuilder>().addComponents(
        new ButtonBuilder().setCustomId(`fb:up:${answerId}`).setEmoji('👍').setStyle(ButtonStyle.Secondary),
        new ButtonBuilder().setCustomId(`fb:down:${answerId}`).setEmoji('👎').setStyle(ButtonStyle.Secondary),
      ),
    ];
    for (const [i, payload] of payloads.entries()) {
      const last = i === payloads.length - 1;
      const message = { content: payload.content, embeds: payload.embeds, components: last ? buttons : [] };
      if (i === 0) await target.edit(message);
      else await target.send(message);
    }
  }

  private async onButton(interaction: ButtonInteraction): Promise<void> {
    const match = /^fb:(up|down):(\d+)$/.exec(interaction.customId);
    if (!match) return;
    const rating = match[1] as 'up' | 'down';
    try {
      this.core.recordFeedback(Number(match[2]), interaction.user.id, rating);
    } catch (error) {
      await interaction.reply({ content: this.describeFailure(error, interaction.id), flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
      return;
    }
    await interaction.reply({ content: rating === 'up' ? 'Thanks, noted 👍' : 'Thanks, noted 👎: this helps whoever runs paperbot improve it.', flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS });
  }

  /** One top-level handler: a failing question never stops the bot; the log gets the details. */
  private async safely(eventId: string, work: () => Promise<void>): Promise<void> {
    const running = work().catch((error: unknown) => this.options.logger.error({ err: error, requestId: eventId }, 'discord: handler failed'));
    this.inFlight.add(running);
    await running;
    this.inFlight.delete(running);
  }

  private describeFailure(error: unknown, requestId: string): string {
    return neutraliseMentions(describeChatFailure(error, requestId, this.options.logger, 'discord')).slice(0, 1900);
  }

}

/** The payload with `line` above its content when both fit in one message (the line is a courtesy, never worth an extra message). */
function withPreviewLine(payload: DiscordDigestPayload, line: string): DiscordDigestPayload {
  const content = `${neutraliseMentions(line)}\n${payload.content}`;
  return content.length <= DISCORD_LIMITS.content ? { ...payload, content } : payload;
}
