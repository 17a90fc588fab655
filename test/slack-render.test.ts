import { describe, expect, it } from 'vitest';
import {
  escapeSlackText,
  packBlocks,
  renderAnswerBlocks,
  renderStreamingBlocks,
  slackLink,
  type SlackBlock,
  type SlackMessage,
} from '../src/adapters/slack/render.ts';

import { hasLivePing } from './helpers/pings.ts';

import type { Answer, AnswerSource } from '../src/rag/types.ts';
// --- helpers -------------------------------------------------------------------------------

function source(n: number, overrides: Partial<AnswerSource> = {}): AnswerSource {
  return {
    n,
    paperId: `2301.0000${n}`,
    title: `Paper number ${n}`,
    url: `https://arxiv.org/abs/2301.0000${n}`,
    date: '2023-01-15',
    score: 0.5,
    cited: false,
    ...overrides,
  };
}

function answer(overrides: Partial<Answer> = {}): Answer {
  return {
    question: 'How does null-text inversion work?',
    text: 'It optimises the null-text embedding per step [1]. Prompt-to-prompt edits then apply [2].',
    mode: 'ollama',
    citations: [
      { n: 1, paperId: '2301.00001', title: 'Paper number 1' },
      { n: 2, paperId: '2301.00002', title: 'Paper number 2' },
    ],
    sources: [source(1, { cited: true }), source(2, { cited: true }), source(3)],
    refusal: null,
    citationsRemoved: 0,
    relevance: { ratio: 0.8, threshold: 0.3, band: 'confident' },
    claims: [],
    weakClaims: 0,
    notices: [],
    timings: { retrievalMs: 12, answerMs: 340, totalMs: 352 },
    ...overrides,
  };
}

const sentence = (i: number) => `Sentence ${i} describes a result of the method in detail [${(i % 3) + 1}].`;
const paragraph = (from: number, count: number) => Array.from({ length: count }, (_, k) => sentence(from + k)).join(' ');

/** Every text a block carries, independent of the renderer's own counting. */
function blockTexts(block: SlackBlock): string[] {
  if (block.type === 'section') return [block.text.text];
  if (block.type === 'context') return block.elements.map((e) => e.text);
  return block.elements.map((e) => e.text.text);
}

function allTexts(messages: SlackMessage[]): string[] {
  return messages.flatMap((m) => [m.text, ...m.blocks.flatMap(blockTexts)]);
}

function sections(messages: SlackMessage[]): string[] {
  return messages.flatMap((m) => m.blocks.flatMap((b) => (b.type === 'section' ? [b.text.text] : [])));
}

function expectWithinLimits(messages: SlackMessage[]): void {
  for (const message of messages) {
    expect(message.blocks.length).toBeGreaterThan(0);
    expect(message.blocks.length).toBeLessThanOrEqual(50);
    expect(message.blocks.flatMap(blockTexts).join('').length).toBeLessThan(11_000);
    for (const block of message.blocks) {
      if (block.type === 'section') expect(block.text.text.length).toBeLessThanOrEqual(3000);
      if (block.type === 'context') {
        expect(block.elements.length).toBeLessThanOrEqual(10);
        for (const element of block.elements) expect(element.text.length).toBeLessThanOrEqual(3000);
      }
    }
  }
}

/** Mention forms Slack (and Discord) would turn into pings. */
const PINGS = ['<!channel>', '<!here|here>', '<@U123>', '<!subteam^S1>', '<!everyone>', '@everyone', '@here', '@channel'];
const HOSTILE = `Hey ${PINGS.join(' and ')} look [1].`;

function expectNoPing(text: string): void {
  expect(hasLivePing(text)).toBe(false);
  expect(text).not.toMatch(/<[!@#]/);
  expect(text).not.toMatch(/@(channel|here|everyone)\b/i);
}

// --- escaping --------------------------------------------------------------------------------

describe('escapeSlackText', () => {
  it('escapes &, < and > once', () => {
    expect(escapeSlackText('R&D: a < b > c')).toBe('R&amp;D: a &lt; b &gt; c');
    // Already escaped-looking input is shown as typed, so it is escaped again exactly once.
    expect(escapeSlackText('&amp;')).toBe('&amp;amp;');
  });

  it.each(PINGS)('neutralises %s and keeps it readable', (ping) => {
    const escaped = escapeSlackText(`before ${ping} after`);
    expectNoPing(escaped);
    // Readable: removing the zero-width spaces and decoding the entities gives the original.
    const shown = escaped.replace(/\u200b/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    expect(shown).toBe(`before ${ping} after`);
  });

  it('neutralises before escaping, so even unescaped the mention stays broken', () => {
    const escaped = escapeSlackText('<!channel> <@U123>');
    expect(escaped).toBe('&lt;\u200b!channel&gt; &lt;@\u200bU123&gt;');
    expect(hasLivePing(escaped.replace(/&lt;/g, '<').replace(/&gt;/g, '>'))).toBe(false);
  });

  it('leaves ordinary text alone', () => {
    expect(escapeSlackText('Diffusion models [1], e.g. DDPM (2020).')).toBe('Diffusion models [1], e.g. DDPM (2020).');
  });
});

describe('slackLink', () => {
  it('links http(s) URLs as <url|title>', () => {
    expect(slackLink('https://arxiv.org/abs/2301.00001', 'A paper')).toBe('<https://arxiv.org/abs/2301.00001|A paper>');
    expect(slackLink('http://example.org/x', 'X')).toBe('<http://example.org/x|X>');
  });

  it('makes |, < and > in the title harmless', () => {
    const link = slackLink('https://example.org/p', 'A | B <!channel> > C');
    expect(link.startsWith('<https://example.org/p|')).toBe(true);
    expect(link.endsWith('>')).toBe(true);
    const label = link.slice('<https://example.org/p|'.length, -1);
    expect(label).not.toMatch(/[|<>]/);
    expectNoPing(label);
    expect(label).toContain('A ¦ B');
  });

  it('keeps the URL from closing the link early', () => {
    const link = slackLink('https://example.org/a|b?q=1&r=<2>', 'T');
    expect(link).toBe('<https://example.org/a%7Cb?q=1&amp;r=%3C2%3E|T>');
    expect(link.match(/[<>]/g)).toEqual(['<', '>']);
  });

  it('gives the escaped title alone for other schemes, bad URLs and credentials', () => {
    for (const url of ['javascript:alert(1)', 'ftp://example.org/x', 'not a url', 'https://user:pw@example.org/', undefined, '']) {
      expect(slackLink(url, 'R&D <b>')).toBe('R&amp;D &lt;b&gt;');
    }
  });
});

// --- answers -----------------------------------------------------------------------------------

describe('renderAnswerBlocks', () => {
  it('renders a short answer as one message: text, then sources, cited first', () => {
    const { messages } = renderAnswerBlocks(answer());
    expect(messages).toHaveLength(1);
    const [message] = messages;
    expect(message?.blocks.map((b) => b.type)).toEqual(['section', 'context']);
    expect(message?.text).toBe(answer().text);
    const context = message?.blocks[1];
    const lines = context?.type === 'context' ? (context.elements[0]?.text.split('\n') ?? []) : [];
    expect(lines).toEqual([
      '*Sources*',
      '[1] <https://arxiv.org/abs/2301.00001|Paper number 1> · 2023-01-15',
      '[2] <https://arxiv.org/abs/2301.00002|Paper number 2> · 2023-01-15',
      '*Also relevant*',
      '[3] <https://arxiv.org/abs/2301.00003|Paper number 3> · 2023-01-15',
    ]);
  });

  it('shows a source without a usable URL as its escaped title, and no date when none', () => {
    const { messages } = renderAnswerBlocks(answer({ sources: [source(1, { cited: true, url: 'javascript:x', title: 'Q&A' }), source(2, { date: ' ' })] }));
    const texts = messages[0]?.blocks.flatMap(blockTexts).join('\n') ?? '';
    expect(texts).toContain('[1] Q&amp;A · 2023-01-15');
    expect(texts).toMatch(/^\[2\] <https:\/\/arxiv\.org\/abs\/2301\.00002\|Paper number 2>$/m);
    expect(texts).not.toContain('javascript');
  });

  it('adds 👍/👎 buttons carrying the answer id only when an answerId is given', () => {
    const without = renderAnswerBlocks(answer());
    expect(without.messages.flatMap((m) => m.blocks).some((b) => b.type === 'actions')).toBe(false);
    const withId = renderAnswerBlocks(answer(), { answerId: 42 });
    const blocks = withId.messages.flatMap((m) => m.blocks);
    const actions = blocks.at(-1);
    expect(actions?.type).toBe('actions');
    if (actions?.type !== 'actions') return;
    expect(actions.elements.map((e) => [e.action_id, e.text.text, e.value])).toEqual([
      ['feedback_up', '👍', '42'],
      ['feedback_down', '👎', '42'],
    ]);
    expect(blocks.filter((b) => b.type === 'actions')).toHaveLength(1);
    // answerId 0 is an id too.
    expect(renderAnswerBlocks(answer(), { answerId: 0 }).messages.flatMap((m) => m.blocks).some((b) => b.type === 'actions')).toBe(true);
  });

  it('renders notices as a context block', () => {
    const { messages } = renderAnswerBlocks(answer({ notices: ['Extractive answer: the model was unavailable.', '  ', 'Second <notice> & more'] }));
    const last = messages[0]?.blocks.at(-1);
    expect(last?.type).toBe('context');
    expect(last && blockTexts(last)).toEqual(['Extractive answer: the model was unavailable.\nSecond &lt;notice&gt; &amp; more']);
  });

  it('shows a refusal with its reason and the closest papers', () => {
    const closest = [source(1), source(2)];
    const refusal = answer({
      mode: 'refusal',
      text: 'The closest papers are listed below, but they are probably not what you need.',
      citations: [],
      sources: closest,
      refusal: { reason: 'Nothing in the 120 papers here answers this question.', closest },
    });
    const { messages } = renderAnswerBlocks(refusal, { answerId: 7 });
    expect(messages).toHaveLength(1);
    const texts = messages[0]?.blocks.flatMap(blockTexts) ?? [];
    expect(texts[0]).toBe('Nothing in the 120 papers here answers this question.\n\nThe closest papers are listed below, but they are probably not what you need.');
    expect(texts[1]).toBe(
      '*Closest papers, probably not what you need*\n' +
        '[1] <https://arxiv.org/abs/2301.00001|Paper number 1> · 2023-01-15\n' +
        '[2] <https://arxiv.org/abs/2301.00002|Paper number 2> · 2023-01-15',
    );
    expect(texts.join('\n')).not.toContain('Also relevant');
  });

  it('does not repeat a refusal reason the text already states, and renders one with no closest papers', () => {
    const reason = 'Nothing in the 0 papers here answers this question.';
    const { messages } = renderAnswerBlocks(
      answer({ mode: 'refusal', text: `${reason} No paper shares any of its terms.`, citations: [], sources: [], refusal: { reason, closest: [] } }),
    );
    expect(messages[0]?.blocks.map((b) => b.type)).toEqual(['section']);
    expect(sections(messages)).toEqual([`${reason} No paper shares any of its terms.`]);
  });

  it('says so when there is nothing at all to show', () => {
    const { messages } = renderAnswerBlocks(answer({ text: '  ', sources: [] }));
    expect(sections(messages)).toEqual(['No answer was produced.']);
  });

  it('never lets a mention survive in the text, titles, dates or notices', () => {
    const hostile = answer({
      text: HOSTILE,
      sources: [source(1, { cited: true, title: HOSTILE, date: '<!here>' }), source(2, { title: '<@U123|bob> @everyone', url: 'https://example.org/<!channel>' })],
      notices: [HOSTILE],
    });
    const { messages } = renderAnswerBlocks(hostile, { answerId: 1 });
    const texts = allTexts(messages);
    expect(texts.length).toBeGreaterThan(4);
    for (const text of texts) {
      // Links are the only `<…>` allowed, and only as `<http…|…>`.
      const withoutLinks = text.replace(/<https?:\/\/[^|<>\s]+\|[^|<>]*>/g, '');
      expectNoPing(withoutLinks);
      expect(withoutLinks).not.toMatch(/[<>]/);
    }
    // Still readable: the words are there.
    expect(texts.join(' ')).toContain('look [1].');
  });

  it('escapes & in the answer exactly once', () => {
    const { messages } = renderAnswerBlocks(answer({ text: 'R&D on A<B [1].', sources: [source(1, { cited: true, title: 'Q&A' })], notices: ['Tom & Jerry'] }));
    const all = allTexts(messages).join('\n');
    expect(all).toContain('R&amp;D on A&lt;B [1].');
    expect(all).toContain('|Q&amp;A>');
    expect(all).toContain('Tom &amp; Jerry');
    expect(all).not.toContain('&amp;amp;');
    expect(all).not.toContain('&amp;lt;');
  });

  it('posts a huge answer as at most 3 messages within every limit: a prefix of the text, "… see the sources", every source, the buttons', () => {
    const text = Array.from({ length: 40 }, (_, p) => paragraph(p * 100, 30)).join('\n\n'); // ~ 80,000 chars
    const many = Array.from({ length: 30 }, (_, i) => source(i + 1, { cited: i < 10, title: `Title ${i + 1} `.repeat(40) }));
    const { messages } = renderAnswerBlocks(answer({ text, sources: many, notices: ['A notice.'] }), { answerId: 9 });
    expect(messages).toHaveLength(3);
    expectWithinLimits(messages);
    // The text shown is the start of the answer, in order, and says where the rest is.
    const shown = sections(messages);
    expect(shown.at(-1)).toBe('… see the sources');
    const body = shown.slice(0, -1).join(' ').replace(/\s+/g, ' ');
    expect(body.length).toBeGreaterThan(15_000);
    expect(text.replace(/\s+/g, ' ').startsWith(body)).toBe(true);
    // Each section ends at a sentence (with its citation), never inside a [n].
    for (const s of shown.slice(0, -1)) expect(s).toMatch(/\[\d\]\.$/);
    // The first (channel) message points to the thread; the buttons end the last one.
    expect(messages[0]?.blocks.at(-1)).toEqual({ type: 'context', elements: [{ type: 'mrkdwn', text: '_Continued in the thread._', verbatim: true }] });
    expect(messages.at(-1)?.blocks.at(-1)?.type).toBe('actions');
    // Every source is listed exactly once, and the notice is there.
    const all = messages.flatMap((m) => m.blocks.flatMap(blockTexts)).join('\n');
    expect(all.match(/^\[\d+\] /gm) ?? []).toHaveLength(30);
    expect(all).toContain('A notice.');
    for (const m of messages) expect(m.text.length).toBeGreaterThan(0);
  });

  it('renders a 50 MB answer as 3 messages, quickly', () => {
    const huge = 'word [1] '.repeat(50 * 1024 * 1024 / 9);
    const started = performance.now();
    const { messages } = renderAnswerBlocks(answer({ text: huge }), { answerId: 1 });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(messages).toHaveLength(3);
    expectWithinLimits(messages);
    expect(sections(messages).at(-1)).toBe('… see the sources');
    expect(allTexts(messages).join('\n')).toContain('Paper number 1');
  });

  it('keeps messages within limits when escaping grows the text five-fold, never cutting an entity', () => {
    const text = '&'.repeat(7000) + ' ' + '<'.repeat(5000);
    const { messages } = renderAnswerBlocks(answer({ text }));
    expect(messages.length).toBeLessThanOrEqual(3);
    expectWithinLimits(messages);
    const shown = sections(messages);
    expect(shown.at(-1)).toBe('… see the sources');
    const body = shown.slice(0, -1).join('');
    expect(('&amp;'.repeat(7000) + '&lt;'.repeat(5000)).startsWith(body.replace(/ /g, ''))).toBe(true);
    expect(body.length).toBeGreaterThan(20_000);
    // No entity is ever cut between two sections.
    for (const s of shown.slice(0, -1)) expect(s).toMatch(/^(&amp;|&lt;| )+$/);
  });

  it('keeps within 3 messages even with pathological notices: past 3000 characters they give way to "… and N more notices"', () => {
    const many = Array.from({ length: 20 }, (_, i) => `Notice ${i}: ${'x'.repeat(2990)}`);
    const { messages } = renderAnswerBlocks(answer({ notices: many }), { answerId: 3 });
    expect(messages.length).toBeLessThanOrEqual(3);
    expectWithinLimits(messages);
    const texts = messages.flatMap((m) => m.blocks.flatMap(blockTexts));
    const shownNotices = texts.filter((t) => t.startsWith('Notice ')).length;
    expect(shownNotices).toBe(1);
    expect(texts.join('\n')).toContain(`… and ${20 - shownNotices} more notices`);
    // The answer's text and sources are all still there.
    expect(texts.join('\n')).toContain('It optimises the null-text embedding per step [1].');
    expect(texts.join('\n')).toContain('Paper number 3');
    expect(messages.at(-1)?.blocks.at(-1)?.type).toBe('actions');
  });

  it('packBlocks caps a message at 50 blocks, keeping order', () => {
    const tiny: SlackBlock[] = Array.from({ length: 120 }, (_, i) => ({ type: 'section', text: { type: 'mrkdwn', text: `b${i}`, verbatim: true } }));
    const messages = packBlocks(tiny);
    expect(messages).toHaveLength(3);
    expectWithinLimits(messages);
    expect(messages[0]?.blocks).toHaveLength(50); // 49 blocks and the "continued" note
    expect(messages.flatMap((m) => m.blocks.flatMap(blockTexts)).filter((t) => t.startsWith('b'))).toEqual(tiny.map((_, i) => `b${i}`));
    expect(messages[1]?.text).toBe('b49');
  });

  it('never cuts a code block: an oversized one is closed and reopened', () => {
    const code = '```python\n' + Array.from({ length: 300 }, (_, i) => `x_${i} = compute(${i})  # step`).join('\n') + '\n```';
    const { messages } = renderAnswerBlocks(answer({ text: `Intro [1].\n\n${code}\n\nOutro [2].` }));
    expectWithinLimits(messages);
    for (const s of sections(messages)) expect((s.match(/```/g) ?? []).length % 2).toBe(0);
  });
});

// --- streaming ---------------------------------------------------------------------------------

describe('renderStreamingBlocks', () => {
  it('renders the partial text as one escaped section ending in " …"', () => {
    const blocks = renderStreamingBlocks('So far: R&D <!channel> [1]');
    expect(blocks).toHaveLength(1);
    const [block] = blocks;
    expect(block?.type).toBe('section');
    const text = block?.type === 'section' ? block.text.text : '';
    expect(text.endsWith(' …')).toBe(true);
    expect(text).toContain('R&amp;D');
    expectNoPing(text);
  });

  it('cuts a long partial answer to 3000 characters, closing an open code block', () => {
    const long = renderStreamingBlocks(paragraph(0, 200));
    const text = long[0]?.type === 'section' ? long[0].text.text : '';
    expect(text.length).toBeLessThanOrEqual(3000);
    expect(text.length).toBeGreaterThan(1500);
    expect(text).toMatch(/\[\d\]\. …$/);

    const open = renderStreamingBlocks('Code:\n```\n' + 'a < b;\n'.repeat(1000));
    const code = open[0]?.type === 'section' ? open[0].text.text : '';
    expect(code.length).toBeLessThanOrEqual(3000);
    expect((code.match(/```/g) ?? []).length % 2).toBe(0);
    expect(code.endsWith('\n``` …')).toBe(true);
    expect(code).not.toContain('<');
  });

  it('shows an ellipsis for blank text', () => {
    expect(renderStreamingBlocks('  ')).toEqual([{ type: 'section', text: { type: 'mrkdwn', text: '…', verbatim: true } }]);
  });
});
