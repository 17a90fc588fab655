import { describe, expect, it } from 'vitest';
import { ClaimMarker, checkClaim, extractClaims, markClaims, weakMarker } from '../src/rag/claims.ts';
import type { Claim } from '../src/rag/types.ts';

const DISTILLATION =
  'Text-to-image diffusion models produce high-quality images but need dozens of denoising steps, which makes inference slow on consumer hardware. ' +
  'We present StepDistill, a progressive distillation method that trains a student network to match two teacher steps with one. ' +
  'Combined with a lightweight attention cache, StepDistill reduces the inference time of Stable Diffusion by 34.9% on the COCO benchmark while keeping FID within 0.3 of the teacher. ' +
  'Training the student takes 1,000 GPU hours on 8 A100 GPUs, and it runs 2x faster than prior distillation baselines.';

const RETRIEVAL =
  'We study dense passage retrieval for open-domain question answering with large language models (LLMs). ' +
  'Our retriever, trained with hard negatives mined from BM25, improves top-20 accuracy by 9.4 points over DPR on Natural Questions. ' +
  'A ResNet-50 image encoder extends it to visual questions.';

const abstracts: Record<number, string> = { 1: DISTILLATION, 2: RETRIEVAL };
const abstractOf = (n: number): string | undefined => abstracts[n];
const support = (sentence: string, cites: number[] = [1]) => checkClaim(sentence, cites, abstractOf).support;

describe('checkClaim', () => {
  it('calls a claim none of whose words are in the cited abstract weak', () => {
    expect(checkClaim('The method also cures cancer in mice [1].', [1], abstractOf)).toEqual({
      text: 'The method also cures cancer in mice [1].',
      cites: [1],
      support: 'weak',
    });
  });

  it('calls a paraphrase whose words, number and dataset are in the abstract supported', () => {
    expect(support("It cuts Stable Diffusion's inference time by 34.9% on COCO [1].")).toBe('supported');
  });

  it('calls the same paraphrase weak when its number is not in the abstract', () => {
    expect(support("It cuts Stable Diffusion's inference time by 43.9% on COCO [1].")).toBe('weak');
  });

  it('calls the same paraphrase weak when its dataset is not in the abstract, though its other words are', () => {
    expect(support("It cuts Stable Diffusion's inference time by 34.9% on ImageNet [1].")).toBe('weak');
    expect(support("It cuts Stable Diffusion's inference time by 34.9% on the GPT-4 benchmark [1].")).toBe('weak');
  });

  it('calls a sentence of the abstract quoted, however it is quoted and cited', () => {
    const sentence = 'StepDistill reduces the inference time of Stable Diffusion by 34.9% on the COCO benchmark while keeping FID within 0.3 of the teacher';
    expect(support(`${sentence} [1].`)).toBe('quoted');
    expect(support(`${sentence}. [1]`)).toBe('quoted');
    expect(support(`“${sentence.toUpperCase()}.” [1]`)).toBe('quoted');
    expect(support(`- **${sentence}** [1]`)).toBe('quoted');
    expect(support(`${sentence}   [1]`, [2, 1])).toBe('quoted');
  });

  it('does not call a verbatim fragment of a few words a quote', () => {
    expect(support('Stable Diffusion [1].')).toBe('supported');
    expect(support('The teacher network matches two steps with one [1].')).not.toBe('quoted');
  });

  it('does not call a sentence quoted from an abstract it does not cite quoted', () => {
    expect(support('Our retriever, trained with hard negatives mined from BM25 [1].')).toBe('weak');
  });

  it('accepts a number however it is written: thousands separators, spaces, "percent", ×, trailing zeros, without its %', () => {
    expect(support('Training takes 1000 GPU hours [1].')).toBe('supported');
    expect(support('StepDistill reduces inference time by 34.9 % [1].')).toBe('supported');
    expect(support('StepDistill reduces inference time by 34.90 percent [1].')).toBe('supported');
    expect(support('StepDistill reduces inference time by 34.9 [1].')).toBe('supported');
    expect(support('It runs 2× faster than distillation baselines [1].')).toBe('supported');
  });

  it('rejects a number given another unit or rounded', () => {
    expect(support('It runs 2% faster than distillation baselines [1].')).toBe('weak');
    expect(support('StepDistill reduces inference time by 35% [1].')).toBe('weak');
    expect(support('Training takes 10,000 GPU hours [1].')).toBe('weak');
  });

  it('finds names however the abstract spells them: case, hyphens, plurals', () => {
    expect(support('Dense retrieval serves LLMs answering open-domain questions [2].', [2])).toBe('supported');
    expect(support('Dense retrieval serves an LLM answering open-domain questions [2].', [2])).toBe('supported');
    expect(support('A ResNet50 image encoder extends it to visual questions [2].', [2])).toBe('supported');
    expect(support('It trains the student on 8 a100 GPUs [1].')).toBe('supported');
  });

  it('ignores an all-capitals first word, but not an all-capitals name later', () => {
    // Both have 4 of 5 content terms in the abstract; only the name decides.
    expect(support('NOTE: StepDistill trains a student network [1].')).toBe('supported');
    expect(support('StepDistill trains a student network for SDXL [1].')).toBe('weak');
  });

  it('needs most of the content words, not all, and ignores generic answer words', () => {
    // "cuts" is not in the abstract; 5 of its 6 content terms are.
    expect(support('The authors propose a study showing StepDistill cuts the inference time of Stable Diffusion [1].')).toBe('supported');
    // Only "inference" and "time" of six.
    expect(support('Inference time matters for robots, drones and phones [1].')).toBe('weak');
  });

  it('checks a sentence citing two sources against both: each fact from one of them', () => {
    const sentence = 'StepDistill cuts inference time by 34.9%, and a retriever trained with BM25 negatives beats DPR by 9.4 points';
    expect(support(`${sentence} [1][2].`, [1, 2])).toBe('supported');
    expect(support(`${sentence} [1].`, [1])).toBe('weak');
  });

  it('calls a sentence that claims nothing supported, unless no cited source exists', () => {
    expect(support('See [1].')).toBe('supported');
    expect(support('For more details, see [1].')).toBe('supported');
    expect(support('See [3].', [3])).toBe('weak');
    expect(support("It cuts Stable Diffusion's inference time by 34.9% on COCO [3].", [3])).toBe('weak');
  });

  it('trims the text and keeps its citations', () => {
    expect(checkClaim('  See [1, 2].\n', [1, 2], abstractOf)).toEqual({ text: 'See [1, 2].', cites: [1, 2], support: 'supported' });
  });
});

describe('extractClaims', () => {
  it('returns a claim for each sentence that cites, in order, and none for the others', () => {
    const text = 'Diffusion models are slow. StepDistill distils them [1]. Nobody knows why. It also cures cancer [1]!';
    expect(extractClaims(text, abstractOf)).toEqual([
      { text: 'StepDistill distils them [1].', cites: [1], support: 'supported' },
      { text: 'It also cures cancer [1]!', cites: [1], support: 'weak' },
    ]);
  });

  it('reads cite lists: adjacent, comma-separated, ranges, repeats once', () => {
    const cites = (text: string) => extractClaims(text, abstractOf).map((c) => c.cites);
    expect(cites('See [1][2].')).toEqual([[1, 2]]);
    expect(cites('See [1, 2].')).toEqual([[1, 2]]);
    expect(cites('See [1-2].')).toEqual([[1, 2]]);
    expect(cites('See [1–3; 5].')).toEqual([[1, 2, 3, 5]]);
    expect(cites('See [2][1] and again [2].')).toEqual([[2, 1]]);
  });

  it('keeps a citation written after the period with its sentence', () => {
    expect(extractClaims('It cures cancer in mice. [1] Diffusion models are slow. [2][1] Done.', abstractOf).map((c) => c.text)).toEqual([
      'It cures cancer in mice. [1]',
      'Diffusion models are slow. [2][1]',
    ]);
  });

  it('takes each line and each bullet as a sentence of its own', () => {
    const text = 'Two findings:\n- StepDistill cuts inference time by 34.9% [1]\n• It cures cancer [1]\n\n1. The retriever beats DPR by 9.4 points [2]\r\nEnd.';
    expect(extractClaims(text, abstractOf)).toEqual([
      { text: '- StepDistill cuts inference time by 34.9% [1]', cites: [1], support: 'supported' },
      { text: '• It cures cancer [1]', cites: [1], support: 'weak' },
      { text: '1. The retriever beats DPR by 9.4 points [2]', cites: [2], support: 'supported' },
    ]);
  });

  it('does not end a sentence at a decimal point, an abbreviation, an initial or before a lowercase word', () => {
    const text = 'It is 34.9% faster (e.g. on COCO) than the baselines of J. Smith, cf. Fig. 2, i.e. the teacher. vs. nothing [1]. Next.';
    expect(extractClaims(text, abstractOf).map((c) => c.text)).toEqual([
      'It is 34.9% faster (e.g. on COCO) than the baselines of J. Smith, cf. Fig. 2, i.e. the teacher. vs. nothing [1].',
    ]);
  });

  it('ends a sentence at closing quotes and emphasis, and ignores brackets that are not citations', () => {
    const claims = extractClaims('**StepDistill is fast [1].** The [CLS] token is fast. "It cures cancer [1]." Done.', abstractOf);
    expect(claims.map((c) => c.text)).toEqual(['**StepDistill is fast [1].**', '"It cures cancer [1]."']);
  });
});

describe('weakMarker and markClaims', () => {
  it('lists the cited numbers of a weak claim and nothing for the others', () => {
    const claim = (support: Claim['support'], cites: number[]): Claim => ({ text: 'x', cites, support });
    expect(weakMarker(claim('weak', [2]))).toBe(' ⚠ not found in [2]');
    expect(weakMarker(claim('weak', [1, 2]))).toBe(' ⚠ not found in [1, 2]');
    expect(weakMarker(claim('supported', [1]))).toBe('');
    expect(weakMarker(claim('quoted', [1]))).toBe('');
  });

  it('puts the marker after the final punctuation and its trailing citations, keeping the whitespace that follows', () => {
    expect(markClaims('The method also cures cancer in mice [1]. StepDistill runs faster [1].', abstractOf)).toBe(
      'The method also cures cancer in mice [1]. ⚠ not found in [1] StepDistill runs faster [1].',
    );
    expect(markClaims('It cures cancer in mice. [1] StepDistill runs faster. [1]\n', abstractOf)).toBe(
      'It cures cancer in mice. [1] ⚠ not found in [1] StepDistill runs faster. [1]\n',
    );
    expect(markClaims('Findings:\n- It cures cancer [1][2]\n- StepDistill runs faster [1]\n', abstractOf)).toBe(
      'Findings:\n- It cures cancer [1][2] ⚠ not found in [1, 2]\n- StepDistill runs faster [1]\n',
    );
    expect(markClaims('It cures cancer [1]  ', abstractOf)).toBe('It cures cancer [1] ⚠ not found in [1]  ');
  });
});

const ANSWER =
  'Distillation makes diffusion models fast. StepDistill cuts the inference time of Stable Diffusion by 34.9% on COCO [1]. ' +
  'It also cures cancer in mice. [1] ' +
  'StepDistill reduces the inference time of Stable Diffusion by 34.9% on the COCO benchmark while keeping FID within 0.3 of the teacher [1].\n\n' +
  'Other findings:\n' +
  '- A retriever trained with BM25 negatives beats DPR by 9.4 points [2]\n' +
  '- It beats DPR by 12.5 points on ImageNet (e.g. Fig. 3) [2][1]\n' +
  '* Training takes 1,000 GPU hours on 8 A100 GPUs [1-2]!\n' +
  'See [1, 2]. Diffusion is slow [3]';

/** Streams `text` through a ClaimMarker cut at `cuts` (sorted positions) and returns what it showed. */
function stream(text: string, cuts: readonly number[]): { shown: string; claims: Claim[]; outputs: string[] } {
  const marker = new ClaimMarker(abstractOf);
  const outputs: string[] = [];
  let from = 0;
  for (const cut of [...cuts, text.length]) {
    outputs.push(marker.push(text.slice(from, cut)));
    from = cut;
  }
  outputs.push(marker.flush());
  return { shown: outputs.join(''), claims: marker.claims, outputs };
}

/** mulberry32: a small seeded generator, so a failing chunking can be reproduced. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('ClaimMarker', () => {
  const expected = markClaims(ANSWER, abstractOf);
  const expectedClaims = extractClaims(ANSWER, abstractOf);

  it('marks the answer as expected (the reference the chunkings are compared with)', () => {
    expect(expectedClaims.map((c) => c.support)).toEqual(['supported', 'weak', 'quoted', 'supported', 'weak', 'supported', 'supported', 'weak']);
    expect(expectedClaims.map((c) => c.cites)).toEqual([[1], [1], [1], [2], [2, 1], [1, 2], [1, 2], [3]]);
    expect(expected).toContain('mice. [1] ⚠ not found in [1] StepDistill reduces');
    expect(expected).toContain('(e.g. Fig. 3) [2][1] ⚠ not found in [2, 1]\n* Training');
    expect(expected.endsWith('Diffusion is slow [3] ⚠ not found in [3]')).toBe(true);
    expect(expected.replaceAll(/ ⚠ not found in \[[\d, ]+\]/g, '')).toBe(ANSWER);
  });

  it('shows the same text and finds the same claims for every single cut of the answer', () => {
    for (let cut = 0; cut <= ANSWER.length; cut++) {
      const { shown, claims } = stream(ANSWER, [cut]);
      expect(shown, `cut at ${cut}`).toBe(expected);
      expect(claims, `cut at ${cut}`).toEqual(expectedClaims);
    }
  });

  it('shows the same text fed one character at a time, and random chunkings', () => {
    const everyCharacter = Array.from({ length: ANSWER.length }, (_, i) => i);
    expect(stream(ANSWER, everyCharacter).shown).toBe(expected);
    const random = seeded(11);
    for (let run = 0; run < 300; run++) {
      const cuts = everyCharacter.filter(() => random() < 0.15);
      const { shown, claims } = stream(ANSWER, cuts);
      expect(shown, `cuts ${cuts.join(',')}`).toBe(expected);
      expect(claims).toEqual(expectedClaims);
    }
  });

  it('passes text on at once, holding only trailing whitespace and a citation being written, so a marker lands right after its sentence', () => {
    const marker = new ClaimMarker(abstractOf);
    expect(marker.push('It cures cancer [1]. St')).toBe('It cures cancer [1]. ⚠ not found in [1] St');
    expect(marker.push('epDistill runs faster [1].')).toBe('epDistill runs faster [1].');
    // A period and a space are not enough: a citation may still follow ("… fast. [1]").
    expect(marker.push(' ')).toBe('');
    expect(marker.push('[')).toBe('');
    expect(marker.push('2')).toBe('');
    expect(marker.push('] And')).toBe(' [2] And');
    expect(marker.push(' more\n')).toBe(' more\n');
    expect(marker.flush()).toBe('');
    expect(marker.claims.map((c) => c.support)).toEqual(['weak', 'supported']);
  });

  it('checks a sentence that never ends in parts once it passes 600 characters, cut at a space outside a citation', () => {
    const filler = 'diffusion models distil teacher steps into student steps ';
    const long = `${filler.repeat(10)}with a lighter attention [1, 2] ${filler.repeat(9)}and no period at all [1]`;
    // Place the citation across the 600th character, its inner space before it, so a cut at the last space would split it.
    const at = long.indexOf('[1, 2]');
    expect(at + '[1,'.length).toBeLessThan(600);
    expect(at + '[1, 2]'.length).toBeGreaterThan(600);

    const marker = new ClaimMarker(abstractOf);
    let shownBeforeEnd = '';
    for (const char of long) shownBeforeEnd += marker.push(char);
    // Nothing is held but what could be the end: the whole text has been shown before the end.
    expect(shownBeforeEnd).toBe(long);
    const rest = marker.flush();
    expect(shownBeforeEnd + rest).toBe(markClaims(long, abstractOf));
    expect(marker.claims).toEqual([{ text: long.slice(at).trim(), cites: [1, 2], support: 'supported' }]);
    expect(extractClaims(long, abstractOf)).toEqual(marker.claims);
  });

  it('checks a part cut from a long sentence as a claim when it cites, and marks it when weak', () => {
    const long = `${'cancer cures mice '.repeat(30)}[1] ${'cancer cures mice '.repeat(30)}`;
    const atOnce = new ClaimMarker(abstractOf);
    expect(atOnce.push(long) + atOnce.flush()).toBe(markClaims(long, abstractOf));
    expect(atOnce.claims).toEqual([expect.objectContaining({ cites: [1], support: 'weak' })]);
    // Streamed a character at a time the text is shown as it comes; the marker follows what was shown when the part was cut.
    const streamed = new ClaimMarker(abstractOf);
    let out = '';
    for (const char of long) out += streamed.push(char);
    out += streamed.flush();
    expect(out.split(' ⚠ not found in [1]')).toHaveLength(2);
    expect(out.replace(' ⚠ not found in [1]', '')).toBe(long);
    expect(streamed.claims).toEqual(atOnce.claims);
  });
});

describe('a quote starts and ends at word boundaries', () => {
  it('a verbatim run that starts or ends inside a word is not a quote', () => {
    const abstract = 'We propose a different method that distils teacher steps into student steps.';
    const lookup = (n: number) => (n === 1 ? abstract : undefined);
    expect(checkClaim('We propose a different method that distils teacher steps [1].', [1], lookup).support).toBe('quoted');
    expect(checkClaim('ferent method that distils teacher steps [1].', [1], lookup).support).not.toBe('quoted');
  });
});
