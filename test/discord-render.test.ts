import { describe, expect, it } from 'vitest';
import {
  DISCORD_LIMITS,
  renderAnswer,
  renderStreamingPreview,
  type DiscordEmbed,
  type DiscordMessagePayload,
} from '../src/adapters/discord/render.ts';
import { splitMessage } from '../src/chat-text.ts';

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

/** A sentence of about 60 characters, numbered so that lost or repeated text shows. */
const sentence = (i: number) => `Sentence ${i} describes a result of the method in detail.`;
const paragraph = (from: number, count: number) => Array.from({ length: count }, (_, k) => sentence(from + k)).join(' ');

/** Each chunk is the next stretch of the text; only whitespace between chunks was dropped. */
function expectPreserved(text: string, chunks: string[]): void {
  let i = 0;
  for (const chunk of chunks) {
    while (/\s/.test(text[i] ?? '')) i++;
    expect(text.slice(i, i + chunk.length)).toBe(chunk);
    i += chunk.length;
  }
  expect(text.slice(i).trim()).toBe('');
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Every string anywhere in a payload. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

function embedChars(embed: DiscordEmbed): number {
  const fields = (embed.fields ?? []).reduce((sum, f) => sum + f.name.length + f.value.length, 0);
  return (embed.title?.length ?? 0) + (embed.description?.length ?? 0) + (embed.footer?.text.length ?? 0) + fields;
}

function expectWithinLimits(payloads: DiscordMessagePayload[]): void {
  expect(payloads.length).toBeGreaterThan(0);
  for (const p of payloads) {
    expect(p.allowedMentions).toEqual({ parse: [] });
    expect(p.content.length).toBeLessThanOrEqual(DISCORD_LIMITS.content);
    expect(p.embeds.length).toBeLessThanOrEqual(DISCORD_LIMITS.embedsPerMessage);
    let total = 0;
    for (const e of p.embeds) {
      expect(e.title?.length ?? 0).toBeLessThanOrEqual(DISCORD_LIMITS.embedTitle);
      expect(e.description?.length ?? 0).toBeLessThanOrEqual(DISCORD_LIMITS.embedDescription);
      expect(e.footer?.text.length ?? 0).toBeLessThanOrEqual(DISCORD_LIMITS.embedFooter);
      total += embedChars(e);
    }
    expect(total).toBeLessThanOrEqual(DISCORD_LIMITS.embedCharactersPerMessage);
  }
}

const description = (payloads: DiscordMessagePayload[]) => payloads.at(-1)?.embeds[0]?.description ?? '';
/** Masked links `[label](target)`, labels allowed to hold escaped characters. */
const links = (text: string) => [...text.matchAll(/\[((?:\\.|[^\]\\])*)\]\(([^)\s]*)\)/g)].map((m) => ({ label: m[1], target: m[2] }));

// --- splitMessage --------------------------------------------------------------------------

describe('splitMessage', () => {
  it('returns short text as it is and blank text as nothing', () => {
    expect(splitMessage('One short answer [1].')).toEqual(['One short answer [1].']);
    expect(splitMessage('   \n\n ')).toEqual([]);
    expect(() => splitMessage('text', 5)).toThrow(RangeError);
  });

  it('splits between paragraphs when they fit, keeping every chunk within 2000 characters', () => {
    const paragraphs = Array.from({ length: 12 }, (_, p) => paragraph(p * 10, 10)); // ~600 characters each
    const text = paragraphs.join('\n\n');
    const chunks = splitMessage(text);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(2000);
      // Whole paragraphs only: a chunk starts and ends at a paragraph boundary.
      expect(paragraphs.some((p) => chunk.startsWith(p))).toBe(true);
      expect(paragraphs.some((p) => chunk.endsWith(p))).toBe(true);
    }
    expectPreserved(text, chunks);
  });

  it('splits a paragraph longer than the limit at sentence ends', () => {
    const text = paragraph(0, 100); // ~6000 characters, no blank line
    const chunks = splitMessage(text);
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(2000);
      expect(chunk).toMatch(/^Sentence \d+ .*detail\.$/s);
    }
    expectPreserved(text, chunks);
  });

  it('falls back to whitespace, then to a hard cut, without splitting a surrogate pair', () => {
    const words = Array.from({ length: 500 }, (_, i) => `word${i}`).join(' ');
    const wordChunks = splitMessage(words, 100);
    for (const chunk of wordChunks) {
      expect(chunk.length).toBeLessThanOrEqual(100);
      expect(chunk).toMatch(/^word\d+( word\d+)*$/);
    }
    expectPreserved(words, wordChunks);

    const emoji = 'a' + '😀'.repeat(200); // odd offset: a cut at an even index would split a pair
    const emojiChunks = splitMessage(emoji, 101);
    expect(emojiChunks.length).toBeGreaterThan(1);
    for (const chunk of emojiChunks) {
      expect(chunk.length).toBeLessThanOrEqual(101);
      expect(chunk).not.toMatch(LONE_SURROGATE);
    }
    expect(emojiChunks.join('')).toBe(emoji);
  });

  it('never splits inside a citation or strands it away from its sentence, wherever the limit falls', () => {
    const citation = '[12, 13, 14]';
    for (let shift = 0; shift < citation.length - 1; shift++) {
      // One long paragraph with no sentence end near the limit, and the citation straddling it.
      const filler = 'x'.repeat(shift) + ' ' + Array.from({ length: 400 }, () => 'word').join(' ');
      const head = filler.slice(0, 1992 - shift); // puts the citation at 1999 - shift
      const text = `${head} claim ${citation} and more words follow here ${'tail '.repeat(50)}`.trim();
      expect(text.indexOf(citation)).toBeLessThan(2000);
      expect(text.indexOf(citation) + citation.length).toBeGreaterThan(2000);
      const chunks = splitMessage(text);
      for (const chunk of chunks) {
        expect(chunk.length).toBeLessThanOrEqual(2000);
        expect((chunk.match(/\[/g) ?? []).length).toBe((chunk.match(/\]/g) ?? []).length);
      }
      const holder = chunks.find((chunk) => chunk.includes(citation));
      expect(holder, `shift ${shift}`).toBeDefined();
      expect(holder).toContain(`claim ${citation}`);
      expectPreserved(text, chunks);
    }
  });

  it('never hard-cuts inside a citation in text without whitespace', () => {
    const citation = '[7,8,9]';
    for (let shift = 0; shift < citation.length - 1; shift++) {
      const text = `${'a'.repeat(95 - shift)}${citation}${'b'.repeat(150)}`; // citation spans index 100
      const chunks = splitMessage(text, 100);
      for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(100);
      expect(chunks.some((chunk) => chunk.includes(citation)), `shift ${shift}`).toBe(true);
      expect(chunks.join('')).toBe(text);
    }
  });

  it('keeps a code block that fits in one chunk whole', () => {
    const code = '```python\n' + Array.from({ length: 45 }, (_, i) => `value_${i} = compute(${i})  # step ${i}`).join('\n') + '\n```';
    expect(code.length).toBeGreaterThan(1500);
    expect(code.length).toBeLessThan(2000);
    // Short prose first: a split between code lines would fill the chunk better, and is not allowed.
    const text = `${paragraph(0, 12)}\n\n${code}\n\n${paragraph(100, 5)}`;
    expect(text.indexOf(code) + code.length).toBeGreaterThan(2000); // the block straddles the limit
    const chunks = splitMessage(text);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.filter((chunk) => chunk.includes(code))).toHaveLength(1);
    for (const chunk of chunks) expect((chunk.match(/```/g) ?? []).length % 2).toBe(0);
    expectPreserved(text, chunks);
  });

  it('closes an oversized code block at the split and reopens it with its language tag', () => {
    const lines = Array.from({ length: 150 }, (_, i) => `    const value${i} = table.get(${i}) ?? fallback;`);
    const text = `Here is the whole listing:\n\n\`\`\`ts\n${lines.join('\n')}\n\`\`\`\n\nThat is all [1].`;
    expect(text.length).toBeGreaterThan(4000);
    const chunks = splitMessage(text);
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    for (const [i, chunk] of chunks.entries()) {
      expect(chunk.length).toBeLessThanOrEqual(2000);
      expect((chunk.match(/```/g) ?? []).length % 2, `chunk ${i} balances its fences`).toBe(0);
      if (i > 0) expect(chunk.startsWith('```ts\n')).toBe(true);
      if (i < chunks.length - 1) expect(chunk.endsWith('\n```')).toBe(true);
    }
    // Lines are never cut, and indentation survives the split.
    const codeLines = chunks.flatMap((chunk) => chunk.split('\n')).filter((line) => line.includes('table.get'));
    expect(codeLines).toEqual(lines);
    // Dropping the added fences gives the text back.
    const rebuilt = chunks.map((chunk, i) => {
      let c = chunk;
      if (i > 0) c = c.slice('```ts\n'.length);
      if (i < chunks.length - 1) c = c.slice(0, -'\n```'.length);
      return c;
    });
    expect(rebuilt.join('\n')).toBe(text);
  });
});

// --- renderStreamingPreview ----------------------------------------------------------------

describe('renderStreamingPreview', () => {
  it('neutralises the partial text and marks it as unfinished', () => {
    const preview = renderStreamingPreview('So far @everyone agrees with <@&123> [1]');
    expect(preview.endsWith(' …')).toBe(true);
    expect(hasLivePing(preview)).toBe(false);
    expect(preview).toContain('[1]');
  });

  it('cuts a long partial answer to 2000 characters at a safe boundary', () => {
    const text = `${paragraph(0, 40)} final claim [3, 4] and still going`;
    const preview = renderStreamingPreview(text);
    expect(preview.length).toBeLessThanOrEqual(2000);
    expect(preview.endsWith(' …')).toBe(true);
    const head = preview.slice(0, -' …'.length);
    expect(text.startsWith(head)).toBe(true);
    expect(head).toMatch(/detail\.$/);
  });

  it('closes a code block the stream has opened but not yet closed', () => {
    const preview = renderStreamingPreview('Run this:\n```sh\nnpm test');
    expect(preview).toBe('Run this:\n```sh\nnpm test\n``` …');
  });
});

// --- renderAnswer --------------------------------------------------------------------------

describe('renderAnswer', () => {
  it('puts the text in content and the sources, linked and dated, in an embed', () => {
    const noUrl = source(2, { cited: true });
    delete noUrl.url;
    const noDate = source(3);
    delete noDate.date;
    const rendered = renderAnswer(answer({ sources: [source(1, { cited: true }), noUrl, noDate] }));
    expect(rendered).toHaveLength(1);
    const [message] = rendered;
    expect(message?.content).toBe(answer().text);
    expect(message?.embeds).toHaveLength(1);
    expect(message?.embeds[0]?.title).toBe('Sources');
    expect(description(rendered).split('\n')).toEqual([
      '[1] [Paper number 1](https://arxiv.org/abs/2301.00001) · 2023-01-15',
      '[2] Paper number 2 · 2023-01-15',
      '**Also relevant**',
      '[3] [Paper number 3](https://arxiv.org/abs/2301.00003)',
    ]);
    expectWithinLimits(rendered);
  });

  it('splits a long answer over several messages, the sources only on the last', () => {
    const text = Array.from({ length: 8 }, (_, p) => `${paragraph(p * 10, 10)} [${(p % 2) + 1}]`).join('\n\n');
    const payloads = renderAnswer(answer({ text }));
    expect(payloads.length).toBeGreaterThan(1);
    expectWithinLimits(payloads);
    for (const p of payloads.slice(0, -1)) expect(p.embeds).toEqual([]);
    expect(payloads.at(-1)?.embeds).toHaveLength(1);
    expectPreserved(text, payloads.map((p) => p.content));
  });

  it('posts a long answer as at most 3 messages: the start of the text, "… see the sources" at the end of the third, the sources embed on it', () => {
    const text = Array.from({ length: 40 }, (_, p) => `${paragraph(p * 10, 10)} [${(p % 2) + 1}]`).join('\n\n'); // ~ 24,000 chars
    const payloads = renderAnswer(answer({ text }));
    expect(payloads).toHaveLength(3);
    expectWithinLimits(payloads);
    expect(payloads[0]!.embeds).toEqual([]);
    expect(payloads[1]!.embeds).toEqual([]);
    const last = payloads[2]!;
    expect(last.content.endsWith('\n\n… see the sources')).toBe(true);
    expect(last.embeds[0]?.title).toBe('Sources');
    expect(description(payloads)).toContain('[1] [Paper number 1](https://arxiv.org/abs/2301.00001)');
    // What is shown is the text's own start, in order, cut at a safe boundary.
    const shown = [payloads[0]!.content, payloads[1]!.content, last.content.slice(0, -'\n\n… see the sources'.length)];
    expect(shown.join(' ').length).toBeGreaterThan(4000);
    expect(text.startsWith(shown[0]!)).toBe(true);
    let at = 0;
    for (const chunk of shown) {
      const found = text.indexOf(chunk, at);
      expect(found, chunk.slice(0, 40)).toBeGreaterThanOrEqual(at);
      expect(text.slice(at, found).trim()).toBe('');
      at = found + chunk.length;
    }
  });

  it('renders a 50 MB answer as 3 messages, quickly, no mention surviving the cut', () => {
    const huge = 'Result @everyone [1]. '.repeat((50 * 1024 * 1024) / 22);
    const started = performance.now();
    const payloads = renderAnswer(answer({ text: huge }));
    expect(performance.now() - started).toBeLessThan(2000);
    expect(payloads).toHaveLength(3);
    expectWithinLimits(payloads);
    expect(payloads[2]!.content.endsWith('… see the sources')).toBe(true);
    for (const p of payloads) expect(hasLivePing(p.content)).toBe(false);
  });

  it('cuts many sources with "… and N more" and stays within every embed limit', () => {
    const sources = Array.from({ length: 300 }, (_, i) => source(i + 1, { cited: i < 5 }));
    const payloads = renderAnswer(answer({ sources }));
    expectWithinLimits(payloads);
    const lines = description(payloads).split('\n');
    const shown = lines.filter((line) => /^\[\d+\] /.test(line)).length;
    expect(shown).toBeGreaterThan(10);
    expect(lines.at(-1)).toBe(`… and ${300 - shown} more`);
    expect(lines.slice(0, 5).map((line) => line.slice(0, 4))).toEqual(['[1] ', '[2] ', '[3] ', '[4] ', '[5] ']);
    expect(lines[5]).toBe('**Also relevant**');
  });

  it('keeps huge titles, many sources and long notices within 6000 characters a message', () => {
    const sources = Array.from({ length: 40 }, (_, i) => source(i + 1, { cited: i < 20, title: `Title ${i} `.repeat(2000) }));
    const notices = Array.from({ length: 60 }, (_, i) => `Notice ${i}: the model was unreachable, so this answer is extractive.`);
    const payloads = renderAnswer(answer({ sources, notices }));
    expectWithinLimits(payloads);
    const embed = payloads.at(-1)?.embeds[0];
    expect(embed?.footer?.text.length).toBe(DISCORD_LIMITS.embedFooter);
    expect(embed?.footer?.text.endsWith('…')).toBe(true);
    expect(embedChars(embed ?? {})).toBeGreaterThan(5000); // the budget is used, not wasted
    // Each shown line is still a whole, working link with its date after it.
    for (const line of description(payloads).split('\n').filter((l) => l.startsWith('['))) {
      expect(line).toMatch(/^\[\d+\] \[Title \d+ .*…\]\(https:\/\/arxiv\.org\/abs\/\S+\) · 2023-01-15$/);
    }
  });

  it('escapes link syntax in titles so a title cannot break or forge a link', () => {
    const tricky = source(1, { cited: true, title: 'Attention [is] all (you) need](https://evil.example) \\', url: 'https://en.wikipedia.org/wiki/Attention_(machine_learning)' });
    const unsafe = source(2, { cited: true, title: 'Click me', url: 'javascript:alert(1)' });
    const payloads = renderAnswer(answer({ sources: [tricky, unsafe] }));
    const found = links(description(payloads));
    expect(found).toEqual([
      {
        label: 'Attention \\[is\\] all \\(you\\) need\\]\\(https://evil.example\\) \\\\',
        target: 'https://en.wikipedia.org/wiki/Attention_%28machine_learning%29',
      },
    ]);
    expect(description(payloads)).toContain('[2] Click me · 2023-01-15');
    expect(description(payloads)).not.toContain('javascript:');
  });

  it('neutralises mentions in the text, titles, dates and notices', () => {
    const pings = '@everyone <@&123> <!here> @here <@!42>';
    const payloads = renderAnswer(
      answer({
        text: `${pings} look at this [1]. ${paragraph(0, 40)}`,
        sources: [source(1, { cited: true, title: `Pinging ${pings}`, date: '@everyone' }), source(2, { title: `<@&999> ${pings}` })],
        notices: [`Notice for ${pings}`],
      }),
    );
    expect(payloads.length).toBeGreaterThan(1);
    const all = strings(payloads);
    for (const text of all) expect(hasLivePing(text), text).toBe(false);
    // Neutralised, not deleted: the words are still there to read.
    const visible = all.join('\n').replace(/\u200b/g, '');
    expect(visible.match(/@everyone/g)?.length).toBeGreaterThanOrEqual(5);
    expect(visible).toContain('<@&999>');
    for (const p of payloads) expect(p.allowedMentions).toEqual({ parse: [] });
  });

  it('renders a refusal with its reason and the closest papers', () => {
    const reason = 'Nothing in the 120 papers here answers this question.';
    const closest = [source(1, { score: 0.1 }), source(2, { score: 0.05 })];
    const refusal = answer({
      mode: 'refusal',
      text: `${reason} The closest papers are listed below, but they are probably not what you need.`,
      citations: [],
      sources: closest,
      refusal: { reason, closest },
    });
    const payloads = renderAnswer(refusal);
    expectWithinLimits(payloads);
    expect(payloads).toHaveLength(1);
    expect(payloads[0]?.content).toContain(reason);
    expect(payloads[0]?.embeds[0]?.title).toBe('Closest papers, probably not what you need');
    expect(description(payloads)).not.toContain('Also relevant');
    expect(description(payloads).split('\n').map((line) => line.slice(0, 3))).toEqual(['[1]', '[2]']);

    // A refusal whose text does not state the reason still shows it; with no closest papers, no embed.
    const bare = renderAnswer({ ...refusal, text: '', sources: [], refusal: { reason, closest: [] } });
    expect(bare).toEqual([{ content: reason, embeds: [], allowedMentions: { parse: [] } }]);
  });

  it('puts notices in the footer even when there are no sources, and never sends an empty message', () => {
    const withNotice = renderAnswer(answer({ text: '', sources: [], notices: ['Ollama is unreachable: start it with `ollama serve`.'] }));
    expect(withNotice).toEqual([
      { content: '', embeds: [{ footer: { text: 'Ollama is unreachable: start it with `ollama serve`.' } }], allowedMentions: { parse: [] } },
    ]);
    const nothing = renderAnswer(answer({ text: ' ', sources: [] }));
    expect(nothing).toHaveLength(1);
    expect(nothing[0]?.content.trim()).not.toBe('');
    expect(nothing[0]?.embeds).toEqual([]);
  });

  it('renders a streaming answer as one preview message without sources', () => {
    const payloads = renderAnswer(answer({ text: `${paragraph(0, 50)} @everyone` }), { streaming: true });
    expect(payloads).toHaveLength(1);
    expect(payloads[0]?.embeds).toEqual([]);
    expect(payloads[0]?.allowedMentions).toEqual({ parse: [] });
    expect(payloads[0]?.content.length).toBeLessThanOrEqual(2000);
    expect(payloads[0]?.content.endsWith(' …')).toBe(true);
  });
});
