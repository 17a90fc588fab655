/**
 * Turns an `Answer` into Discord message payloads. Discord neither splits long content nor
 * trims oversized embeds: it rejects the whole message, so every limit is enforced here, before
 * anything is sent. Model output, titles and notices all pass through the core's mention
 * neutraliser, and every payload carries `allowedMentions: { parse: [] }` as a second guard.
 *
 * Pure and free of discord.js on purpose: the payloads are plain objects shaped like Discord's
 * API JSON (which discord.js accepts as they are), so these rules are tested without a client.
 * Lengths are counted in UTF-16 code units, never fewer than Discord's own count.
 */
import { ELLIPSIS, NO_ANSWER, answerBody, capMessages, neutraliseMentions, splitMessage, streamingPreview, truncate } from '../../chat-text.ts';
import type { Answer, AnswerSource } from '../../rag/types.ts';
import { escapeMarkdown, linkTarget } from './markup.ts';

/** Discord's documented message and embed limits, in characters. */
export const DISCORD_LIMITS = {
  /** Message content. */
  content: 2000,
  embedTitle: 256,
  embedDescription: 4096,
  embedFields: 25,
  embedFieldName: 256,
  embedFieldValue: 1024,
  embedFooter: 2048,
  embedsPerMessage: 10,
  /** Title, description, field names and values, and footer, summed over all embeds of one message. */
  embedCharactersPerMessage: 6000,
} as const;

/** One embed, shaped like Discord's API JSON. */
export interface DiscordEmbed {
  title?: string;
  description?: string;
  url?: string;
  fields?: { name: string; value: string; inline?: boolean }[];
  footer?: { text: string };
}

/** One message to send (or edit into place), shaped like Discord's API JSON. */
export interface DiscordMessagePayload {
  content: string;
  embeds: DiscordEmbed[];
  /** Always empty: no text the bot posts may ping anyone, whatever it contains. */
  allowedMentions: { parse: [] };
}

export interface RenderAnswerOptions {
  /**
   * The answer is still streaming: render one preview message (`renderStreamingPreview` of the
   * text so far) and no sources embed, since which sources are cited is known only at the end.
   */
  streaming?: boolean;
}

/** A source line's title is cut here, so one huge title cannot crowd the other sources out. */
const MAX_TITLE_IN_LINE = DISCORD_LIMITS.embedTitle;
const MAX_DATE_IN_LINE = 40;
const SOURCES_TITLE = 'Sources';
const REFUSAL_TITLE = 'Closest papers, probably not what you need';
const ALSO_RELEVANT = '**Also relevant**';

// ---------------------------------------------------------------------------------------------
// Streaming preview

/**
 * The partial answer shown while it streams, for one message edited in place: neutralised, cut
 * at a safe boundary (as `splitMessage` would) so it fits in one message, an unclosed code block
 * closed, and " …" appended to say more is coming. Always at most 2000 characters.
 */
export function renderStreamingPreview(text: string): string {
  const safe = neutraliseMentions(text).trimEnd();
  if (!safe.trim()) return ELLIPSIS;
  return streamingPreview(safe, DISCORD_LIMITS.content, (limit) => splitMessage(safe, limit)[0]);
}

// ---------------------------------------------------------------------------------------------
// Answers

/**
 * Renders an answer as the messages to send, in order: at most 3 (`MAX_ANSWER_MESSAGES`). The
 * text (neutralised) is split with `splitMessage`; a text that needs more messages is cut at a
 * safe boundary in the third, which ends with "… see the sources". The last message carries one embed: the cited sources as
 * `[n] [Title](url) · date`, then the other retrieved papers under "Also relevant" (for a
 * refusal, its closest papers), cut with "… and N more" to fit, and the answer's notices in the
 * footer. A refusal's content always states its reason. Every payload sets
 * `allowedMentions: { parse: [] }` and fits Discord's limits (`DISCORD_LIMITS`).
 */
export function renderAnswer(answer: Answer, options: RenderAnswerOptions = {}): DiscordMessagePayload[] {
  if (options.streaming) return [payload(renderStreamingPreview(answer.text), [])];
  // Neutralised after the cap's prefix is taken: a 50 MB text costs what a short one does.
  const chunks = capMessages(answerBody(answer), DISCORD_LIMITS.content, (text, limit) => splitMessage(neutraliseMentions(text), limit));
  const embed = sourcesEmbed(answer);
  const embeds = fitEmbeds(embed ? [embed] : []);
  if (!chunks.length) chunks.push(embeds.length ? '' : NO_ANSWER);
  return chunks.map((content, i) => payload(content, i === chunks.length - 1 ? embeds : []));
}

function payload(content: string, embeds: DiscordEmbed[]): DiscordMessagePayload {
  return { content, embeds, allowedMentions: { parse: [] } };
}

function sourcesEmbed(answer: Answer): DiscordEmbed | undefined {
  const footer = footerText(answer.notices);
  const groups: { heading?: string; sources: AnswerSource[] }[] = answer.refusal
    ? [{ sources: answer.refusal.closest }]
    : [{ sources: answer.sources.filter((s) => s.cited) }, { heading: ALSO_RELEVANT, sources: answer.sources.filter((s) => !s.cited) }];
  const embed: DiscordEmbed = {};
  if (groups.some((group) => group.sources.length)) {
    const title = answer.refusal ? REFUSAL_TITLE : SOURCES_TITLE;
    // The footer is sized first; the sources take what is left of the message's embed budget.
    const budget = Math.min(DISCORD_LIMITS.embedDescription, DISCORD_LIMITS.embedCharactersPerMessage - title.length - (footer?.length ?? 0));
    embed.title = title;
    embed.description = fitLines(groups, budget);
  }
  if (footer) embed.footer = { text: footer };
  return embed.description || embed.footer ? embed : undefined;
}

/** The source lines that fit in `budget`, in order, then "… and N more" for the rest. */
function fitLines(groups: { heading?: string; sources: AnswerSource[] }[], budget: number): string {
  const total = groups.reduce((sum, group) => sum + group.sources.length, 0);
  const more = (n: number) => `${ELLIPSIS} and ${n} more`;
  const lines: string[] = [];
  let length = -1; // no newline before the first line
  let shown = 0;
  fill: for (const group of groups) {
    for (const [i, source] of group.sources.entries()) {
      const adding = i === 0 && group.heading ? [group.heading, sourceLine(source)] : [sourceLine(source)];
      const added = adding.reduce((sum, line) => sum + line.length + 1, 0);
      const left = total - shown - 1;
      const reserve = left ? more(left).length + 1 : 0;
      if (length + added + reserve > budget) break fill;
      lines.push(...adding);
      length += added;
      shown += 1;
    }
  }
  if (shown < total) lines.push(more(total - shown));
  return lines.join('\n');
}

/** `[n] [Title](url) · date`, the title a plain (escaped) text when no usable URL is known. */
function sourceLine(source: AnswerSource): string {
  const title = escapeMarkdown(truncate(source.title.replace(/\s+/g, ' ').trim() || 'Untitled', MAX_TITLE_IN_LINE));
  const url = linkTarget(source.url);
  const date = source.date?.trim() ? ` · ${escapeMarkdown(truncate(source.date.replace(/\s+/g, ' ').trim(), MAX_DATE_IN_LINE))}` : '';
  // Neutralised after escaping: an escape could otherwise end a word and complete "@here\_".
  return neutraliseMentions(`[${source.n}] ${url ? `[${title}](${url})` : title}${date}`);
}

function footerText(notices: readonly string[]): string | undefined {
  const lines = notices.map((notice) => notice.replace(/\s+/g, ' ').trim()).filter(Boolean);
  return lines.length ? truncate(neutraliseMentions(lines.join('\n')), DISCORD_LIMITS.embedFooter) : undefined;
}

function embedLength(embed: DiscordEmbed): number {
  const fields = (embed.fields ?? []).reduce((sum, field) => sum + field.name.length + field.value.length, 0);
  return (embed.title?.length ?? 0) + (embed.description?.length ?? 0) + (embed.footer?.text.length ?? 0) + fields;
}

/**
 * The last guard before sending: caps each embed's parts, keeps at most 10 embeds, and trims
 * descriptions, then footers, then whole embeds until one message's embeds total ≤ 6000.
 */
function fitEmbeds(embeds: readonly DiscordEmbed[]): DiscordEmbed[] {
  const fitted: DiscordEmbed[] = [];
  let left = DISCORD_LIMITS.embedCharactersPerMessage;
  for (const original of embeds.slice(0, DISCORD_LIMITS.embedsPerMessage)) {
    const embed = capEmbed(original);
    let over = embedLength(embed) - left;
    if (over > 0 && embed.description) {
      const keep = embed.description.length - over;
      if (keep > ELLIPSIS.length) embed.description = truncate(embed.description, keep);
      else delete embed.description;
      over = embedLength(embed) - left;
    }
    if (over > 0 && embed.footer) {
      const keep = embed.footer.text.length - over;
      if (keep > ELLIPSIS.length) embed.footer = { text: truncate(embed.footer.text, keep) };
      else delete embed.footer;
      over = embedLength(embed) - left;
    }
    if (over > 0 || embedLength(embed) === 0) break;
    fitted.push(embed);
    left -= embedLength(embed);
  }
  return fitted;
}

function capEmbed(embed: DiscordEmbed): DiscordEmbed {
  const capped: DiscordEmbed = {};
  if (embed.title) capped.title = truncate(embed.title, DISCORD_LIMITS.embedTitle);
  if (embed.description) capped.description = truncate(embed.description, DISCORD_LIMITS.embedDescription);
  if (embed.url) capped.url = embed.url;
  if (embed.fields?.length) {
    capped.fields = embed.fields.slice(0, DISCORD_LIMITS.embedFields).map((field) => {
      const capField: { name: string; value: string; inline?: boolean } = {
        name: truncate(field.name, DISCORD_LIMITS.embedFieldName),
        value: truncate(field.value, DISCORD_LIMITS.embedFieldValue),
      };
      if (field.inline !== undefined) capField.inline = field.inline;
      return capField;
    });
  }
  if (embed.footer?.text) capped.footer = { text: truncate(embed.footer.text, DISCORD_LIMITS.embedFooter) };
  return capped;
}
