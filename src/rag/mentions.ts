/**
 * Neutralises every way a text could ping people when the bot posts it: Discord's @everyone,
 * @here, user/role/channel mentions, and Slack's <!channel>, <!here>, <!everyone>, <!subteam^…>
 * and <@U…>. Questions, abstracts and model output all pass through here before any adapter
 * sends them. A zero-width space keeps the text readable while breaking the mention syntax.
 */
const ZWSP = '\u200b';

export function neutraliseMentions(text: string): string {
  return (
    text
      // Mass mentions typed as words: Discord's @everyone/@here, Slack's @channel/@here/@everyone.
      .replace(/@(everyone|here|channel)\b/gi, `@${ZWSP}$1`)
      // Discord user/nickname/role mentions: <@123>, <@!123>, <@&123>; Slack user mentions <@U123>.
      // Slack's labelled form <@U123|name> too.
      .replace(/<@([!&]?[\w-]*(?:\|[^>]*)?)>/g, `<@${ZWSP}$1>`)
      // Slack special mentions and user-group mentions: <!channel>, <!here|here>, <!subteam^S1>.
      .replace(/<!([^>]*)>/g, `<${ZWSP}!$1>`)
  );
}

/** True when the text still contains something a chat platform would treat as a mass or role ping. */
export function containsMention(text: string): boolean {
  return /@(everyone|here|channel)\b/i.test(text) || /<@[!&]?[\w-]*(?:\|[^>]*)?>/.test(text) || /<![^>]*>/.test(text);
}
