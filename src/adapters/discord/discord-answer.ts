/**
 * The Discord side of one question (`AnswerSurface`): where its answer is written and how. Every
 * message carries `allowedMentions: { parse: [] }`; all text is neutralised in the renderer.
 */
import { ActionRowBuilder, ButtonBuilder, ButtonStyle, type APIEmbed, type Message } from 'discord.js';
import { neutraliseMentions, truncate } from '../../chat-text.ts';
import type { Answer } from '../../rag/types.ts';
import type { AnswerSurface } from '../chat/chat-session.ts';
import { feedbackButtons } from '../chat/ids.ts';
import { REPLIES } from '../chat/replies.ts';
import { renderAnswer, renderStreamingPreview } from './render.ts';

/** No text the bot posts may ping anyone, whatever it contains. */
export const NO_PINGS = { parse: [] as [] };
/** Short replies (failures, notices) stay well inside one message. */
const SHORT_REPLY = 1900;

/** Plain text (a failure, a notice) as one safe message. */
export function safeText(text: string): string {
  return truncate(neutraliseMentions(text), SHORT_REPLY);
}

/** What the adapter writes; each target adds `allowedMentions` and its own flags. */
export interface Outgoing {
  content: string;
  embeds?: APIEmbed[];
  components?: ActionRowBuilder<ButtonBuilder>[];
}

export type Write = (payload: Outgoing) => Promise<unknown>;

/**
 * One answer on Discord: a message edited in place (the deferred reply of `/ask`, or a placeholder
 * posted in a thread once the question is taken), overflow sent after it, and 👍/👎 buttons on the last.
 */
export class DiscordAnswer implements AnswerSurface {
  /** Writes over the answer's message; unset until the placeholder is posted. */
  private edit: Write | undefined;

  constructor(
    public requestId: string,
    /** Sends a further message after the answer's. */
    private readonly send: Write,
    /** The answer's message: one to edit already (a deferred reply), or a placeholder to post on `begin`. */
    private readonly message: { edit: Write } | { placeholder: () => Promise<Message> },
  ) {
    if ('edit' in message) this.edit = message.edit;
  }

  async begin(): Promise<void> {
    if (!('placeholder' in this.message)) return;
    const first = await this.message.placeholder();
    this.requestId = first.id;
    this.edit = (payload) => first.edit({ ...payload, allowedMentions: NO_PINGS });
  }

  async waiting(position: number): Promise<void> {
    await this.edit?.({ content: REPLIES.waiting(position) });
  }

  async starting(): Promise<void> {
    await this.edit?.({ content: REPLIES.starting });
  }

  async progress(text: string): Promise<void> {
    await this.edit?.({ content: renderStreamingPreview(text) });
  }

  async finish(answer: Answer, answerId: number): Promise<void> {
    const payloads = renderAnswer(answer);
    const buttons = [
      new ActionRowBuilder<ButtonBuilder>().addComponents(
        new ButtonBuilder().setCustomId(feedbackButtons.discord.encode({ rating: 'up', answerId })).setEmoji('👍').setStyle(ButtonStyle.Secondary),
        new ButtonBuilder().setCustomId(feedbackButtons.discord.encode({ rating: 'down', answerId })).setEmoji('👎').setStyle(ButtonStyle.Secondary),
      ),
    ];
    for (const [i, payload] of payloads.entries()) {
      const message = { content: payload.content, embeds: payload.embeds, components: i === payloads.length - 1 ? buttons : [] };
      if (i === 0 && this.edit) await this.edit(message);
      else await this.send(message);
    }
  }

  async fail(text: string): Promise<void> {
    const content = safeText(text);
    if (this.edit) await this.edit({ content, embeds: [], components: [] });
    else await this.send({ content });
  }
}
