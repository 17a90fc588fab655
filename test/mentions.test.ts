import { describe, expect, it } from 'vitest';
import { neutraliseMentions } from '../src/chat-text.ts';
import { hasLivePing } from './helpers/pings.ts';

/** What a reader sees: zero-width characters are invisible. */
const visible = (text: string) => text.replace(/\u200b|\u200c|\u200d|\u2060|\ufeff/g, '');

const PINGS = [
  '@everyone',
  '@here',
  '@EVERYONE',
  '@Here',
  '@eVeRyOnE',
  '<@123>',
  '<@!123>',
  '<@&456>',
  '<@U024BE7LH>',
  '<@U024BE7LH|alice>',
  '<!channel>',
  '<!here>',
  '<!everyone>',
  '<!here|here>',
  '<!subteam^S123>',
  '<!subteam^S123|@team>',
];

describe('what the neutraliser changes', () => {
  it('changes every kind of ping', () => {
    for (const ping of PINGS) expect(hasLivePing(`hey ${ping} look`), ping).toBe(true);
  });

  it('does not change normal text and email addresses', () => {
    expect(hasLivePing('Null-text inversion edits real images.')).toBe(false);
    expect(hasLivePing('Write to a@b.com or someone@example.org.')).toBe(false);
    expect(hasLivePing('x < y and y > z; see <https://arxiv.org/abs/2211.09794>')).toBe(false);
  });
});

describe('neutraliseMentions', () => {
  it('neutralises each kind of ping while keeping it readable', () => {
    for (const ping of PINGS) {
      const text = `Please ${ping} read this.`;
      const out = neutraliseMentions(text);
      expect(hasLivePing(out), ping).toBe(false);
      expect(out, ping).not.toBe(text);
      expect(visible(out), ping).toBe(text);
    }
  });

  it('neutralises several pings in one text, including inside words', () => {
    const text = 'foo@everyone then @here, <@1> <@!2> <@&3> <!channel> <!here> <!everyone> <!subteam^S9> and @everyone again';
    const out = neutraliseMentions(text);
    expect(hasLivePing(out)).toBe(false);
    expect(visible(out)).toBe(text);
    for (const word of ['foo', 'then', 'channel', 'subteam', 'again', 'everyone', 'here']) expect(out).toContain(word);
  });

  it('leaves normal text and email addresses exactly as they were', () => {
    for (const text of [
      'How can I edit a real photo with a text-guided diffusion model?',
      'Contact a@b.com for the dataset.',
      'Scores: 3 < 4 > 2, arrays like a[i] and maps <key, value>.',
      '',
    ]) {
      expect(neutraliseMentions(text)).toBe(text);
    }
  });

  it('is idempotent', () => {
    const once = neutraliseMentions('@everyone <@123> <!here>');
    expect(neutraliseMentions(once)).toBe(once);
  });

  it('keeps the visible words of a long answer', () => {
    const answer = 'Extractive answer:\n• "Recent text-guided diffusion models provide powerful image generation." [1]\n@here see <@!42>';
    const out = neutraliseMentions(answer);
    expect(hasLivePing(out)).toBe(false);
    expect(out).toContain('Recent text-guided diffusion models provide powerful image generation.');
    expect(out).toContain('[1]');
    expect(visible(out)).toBe(answer);
  });
});

describe("Slack's @channel typed as a word", () => {
  it('is neutralised like @everyone and @here', () => {
    const out = neutraliseMentions('heads up @channel and @Channel');
    expect(hasLivePing(out)).toBe(false);
    expect(out.replace(/\u200b/g, '')).toBe('heads up @channel and @Channel');
  });
});
