/**
 * Discord markdown for text paperbot did not write (titles, dates, summaries, URLs), shared by the
 * answer and digest renderers: what could restyle a line or end a masked link early is escaped,
 * and a link's URL is percent-encoded so it cannot close the link or spell a mention.
 */
import { percentEncode, safeHttpUrl } from '../../chat-text.ts';

/** Backslash-escapes what could end a masked link early or restyle the text. */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\[\]()*_~`|]/g, '\\$&');
}

/**
 * `escapeMarkdown`, and `<`, `>` and `#` too: for text beside `[title](<url>)` links, whose
 * angle brackets it could close, and at a line start, where `#` makes a heading.
 */
export function escapeMarkup(text: string): string {
  return text.replace(/[\\[\]()*_~`|<>#]/g, '\\$&');
}

/**
 * A URL safe inside `(…)` or `(<…>)` of a masked link: http(s) only, no credentials, at most
 * `maxLength` long, and the characters that could close the link or spell a mention
 * percent-encoded. Anything else gives no link.
 */
export function linkTarget(raw: string | undefined, maxLength = Infinity): string | undefined {
  const url = safeHttpUrl(raw);
  if (url === undefined || url.length > maxLength) return undefined;
  return percentEncode(url, /[()<>@\s\\[\]]/g);
}
