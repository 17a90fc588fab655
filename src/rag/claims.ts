/**
 * Checks each sentence of an answer that cites `[n]` against the abstracts it cites, so a user
 * can see which claims the sources do not back: `quoted` (verbatim in one cited abstract),
 * `supported` (its content words, numbers and names are in the cited abstracts) or `weak`. A weak
 * sentence gets a visible marker (` ⚠ not found in [2]`). Pure: the abstracts come through a
 * lookup, and the streaming `ClaimMarker` is the same segmentation as the whole-text functions, so
 * a streamed answer is marked exactly as the finished one would be.
 */
import { documentTerms, INITIAL_END, isStopword, normaliseForMatching, stem, words } from './text.ts';
import type { Claim } from './types.ts';

/** The abstract of source `n` (1-based, as the answer cites it), or undefined when there is none. */
export type AbstractLookup = (n: number) => string | undefined;

/** A sentence at least this long (in words) that is verbatim in an abstract is a quote; a shorter match is a phrase anyone could write. */
const MIN_QUOTE_WORDS = 5;
/** The share of a sentence's content terms a cited abstract must contain, in tenths (7 = 70%), kept integral so 7 of 10 is not lost to rounding. */
const MIN_COVERAGE_TENTHS = 7;
/**
 * A sentence longer than this many characters without ending is checked in parts (cut at its
 * last space outside a citation), so a model that never writes a period is still checked.
 */
const MAX_UNIT_CHARS = 600;

/** One citation list, as `CitationFilter` accepts them: `[1]`, `[1, 2]`, `[1-3]`, `[1–3; 5]`. */
const CITATION_SOURCE = String.raw`\[\s*\d+(?:\s*[-–]\s*\d+)?(?:\s*[,;]\s*\d+(?:\s*[-–]\s*\d+)?)*\s*\]`;
const CITATIONS = new RegExp(CITATION_SOURCE, 'g');
const CITATION_AT = new RegExp(`^${CITATION_SOURCE}`);
/** A prefix that may still become a citation once more text arrives. */
const MAYBE_CITATION = /^\[[\d\s,;\-–]*$/;
/** A range is expanded only this far, as `CitationFilter` does: "[1-9999]" is not 9999 citations. */
const MAX_RANGE = 50;

/**
 * Words that carry no claim of their own in an answer: the generic vocabulary of describing a
 * paper ("the authors propose a method …") and the function words Lucene's 33 stopwords miss.
 * Compared by stem, so every inflection of one is dropped too.
 */
const FILLER_STEMS = new Set(
  [
    'paper', 'study', 'propose', 'method', 'approach', 'show', 'result', 'author', 'abstract', 'work',
    'use', 'also', 'its', 'has', 'have', 'had', 'been', 'were', 'which', 'who', 'can', 'could', 'may',
    'might', 'would', 'should', 'we', 'our', 'they', 'them', 'both', 'each', 'all', 'than', 'from',
    'see', 'refer', 'detail', 'further', 'more', 'however', 'thus', 'while', 'whereas', 'here', 'new',
    'novel', 'present', 'introduce', 'describe', 'report', 'find', 'demonstrate', 'achieve',
    'according', 'source', 'et', 'al', 'additionally', 'moreover', 'specifically', 'example',
    'instance', 'like', 'other', 'so',
  ].map(stem),
);

/**
 * Abbreviations whose period does not end a sentence (text.ts keeps its own list for abstracts,
 * unexported; "etc." and "no." are left out here because in an answer they often do end one, and
 * mid-sentence they are followed by a lowercase word, which already keeps the sentence whole).
 */
const ABBREVIATION_END = /\b(?:e\.g|i\.e|et al|cf|vs|fig|figs|eq|eqs|approx|resp|ref|refs|dr|mr|prof)\.$/i;
/** "1." opening a numbered list item is not a sentence. */
const LIST_NUMBER = /^\d+\.$/;
/** Closing quotes, brackets and markdown emphasis that belong to the sentence after its final punctuation. */
const CLOSERS = new Set(['"', "'", '”', '’', ')', '*', '_']);

const NUMBER = /(?<![\p{L}\p{N}.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:\s?(%|percent\b|×|x(?![\p{L}\p{N}])))?/giu;
const ORDINAL = /^\d+(?:st|nd|rd|th)$/i;
/** A number glued to a lowercase unit ("10ms", "100k"): its number is checked as a number, not as a name. */
const NUMBER_WITH_UNIT = /^\d+(?:[.,]\d+)*[a-zµ]{1,3}$/u;
const QUOTES = /^["'“”‘’«»]+|["'“”‘’«»]+$/g;

/** A number as a sentence or abstract writes it: the value without thousands separators or trailing zeros, and its `%` or `x` if any. */
interface NumberToken {
  value: string;
  suffix: '' | '%' | 'x';
}

/**
 * Checks one sentence against the abstracts it cites (see the module header for the three
 * outcomes). `text` is the sentence as written, trimmed, citations kept.
 *
 * Supported is judged against the union of the cited abstracts: a sentence citing `[1][2]`
 * usually joins a fact from each, and checking it against either one alone would call every
 * such sentence weak. The cost is that a number taken from [2] into a claim about [1] passes;
 * at sentence granularity the two cannot be told apart. A quote must be in one abstract.
 *
 * A sentence with no content terms ("See [1].") claims nothing beyond its numbers and names,
 * so it is supported when those (if any) are found. Citing only sources without an abstract is weak.
 */
export function checkClaim(sentence: string, cites: readonly number[], abstractOf: AbstractLookup): Claim {
  const text = sentence.trim();
  const claim = (support: Claim['support']): Claim => ({ text, cites: [...cites], support });
  const abstracts = [...new Set(cites)].map(abstractOf).filter((a): a is string => a !== undefined && a.trim() !== '');
  if (!abstracts.length) return claim('weak');
  const plain = withoutMarkup(text);
  if (words(plain).length >= MIN_QUOTE_WORDS) {
    const quote = quoteForm(plain);
    if (quote && abstracts.some((a) => containsAtWordBoundaries(quoteForm(a), quote))) return claim('quoted');
  }
  return claim(isSupported(plain, abstracts) ? 'supported' : 'weak');
}

/** Every sentence of `text` that cites a source, checked, in order (the units `ClaimMarker` sees). */
export function extractClaims(text: string, abstractOf: AbstractLookup): Claim[] {
  const marker = new ClaimMarker(abstractOf);
  marker.push(text);
  marker.flush();
  return marker.claims;
}

/** `text` with `weakMarker` after each weak sentence: what a stream through `ClaimMarker` shows in the end. */
export function markClaims(text: string, abstractOf: AbstractLookup): string {
  const marker = new ClaimMarker(abstractOf);
  return marker.push(text) + marker.flush();
}

/** The marker shown after a weak sentence (` ⚠ not found in [1, 2]`), or '' for a quoted or supported one. */
export function weakMarker(claim: Claim): string {
  if (claim.support !== 'weak') return '';
  return ` ⚠ not found in [${claim.cites.join(', ')}]`;
}

/**
 * Marks weak sentences of a streamed answer. `push` passes text on as it comes, holding back only
 * what could still be where the current sentence ends (trailing whitespace, and a citation still
 * being written), so the marker of a weak sentence lands right after it. A sentence is complete at
 * a newline, or when its final `.`, `!` or `?` is followed by a space and then by something that
 * is neither a citation (which belongs to the sentence: "… mice. [1]") nor a lowercase word
 * ("e.g. the"). However the answer is cut into deltas, the outputs joined are `markClaims(answer)`
 * and `claims` is `extractClaims(answer)` (except after a sentence over `MAX_UNIT_CHARS`, cut for
 * checking where text already shown lies past the cut: its marker follows what was shown).
 */
export class ClaimMarker {
  /** Every sentence that cited a source, checked, in order. */
  readonly claims: Claim[] = [];
  private pending = '';
  /** How much of `pending` has been passed on already. */
  private shown = 0;

  constructor(private readonly abstractOf: AbstractLookup) {}

  /** Feeds a delta of the answer; returns the text that is safe to show now. */
  push(delta: string): string {
    this.pending += delta;
    let out = '';
    for (;;) {
      out += this.take(leadingWhitespace(this.pending), '');
      const end = firstUnitEnd(this.pending);
      if (end === undefined) break;
      out += this.take(end, this.marker(this.pending.slice(0, end)));
    }
    const safe = safeEnd(this.pending);
    if (safe > this.shown) {
      out += this.pending.slice(this.shown, safe);
      this.shown = safe;
    }
    return out;
  }

  /** Ends the answer: checks what is held and returns the rest, marked if weak. */
  flush(): string {
    const end = contentEnd(this.pending, this.pending.length);
    const out = this.take(end, this.marker(this.pending.slice(0, end))) + this.take(this.pending.length, '');
    this.pending = '';
    this.shown = 0;
    return out;
  }

  /** Consumes the first `length` characters of `pending` with `marker` after them; returns what was not shown yet. */
  private take(length: number, marker: string): string {
    const unseen = this.shown < length ? this.pending.slice(this.shown, length) : '';
    this.shown = Math.max(0, this.shown - length);
    this.pending = this.pending.slice(length);
    return unseen + marker;
  }

  /** The marker after `unit` (checked and recorded when it cites), or ''. */
  private marker(unit: string): string {
    const cites = citedNumbers(unit);
    if (!cites.length) return '';
    const claim = checkClaim(unit, cites, this.abstractOf);
    this.claims.push(claim);
    return weakMarker(claim);
  }
}

/**
 * How much of an unfinished sentence can be shown: all but its trailing whitespace and a
 * citation still being written ("[1, 2"), where its end (and a weak sentence's marker) may fall.
 */
function safeEnd(text: string): number {
  let end = text.length;
  const open = text.lastIndexOf('[');
  if (open >= 0 && open > text.lastIndexOf(']') && MAYBE_CITATION.test(text.slice(open))) end = open;
  return contentEnd(text, end);
}

/** The distinct numbers a text cites, in order of first appearance, ranges expanded. */
function citedNumbers(text: string): number[] {
  const cited: number[] = [];
  for (const match of text.matchAll(CITATIONS)) {
    for (const part of match[0].slice(1, -1).split(/[,;]/)) {
      const range = /^\s*(\d+)\s*[-–]\s*(\d+)\s*$/.exec(part);
      const numbers: number[] = [];
      if (range) {
        const from = Number(range[1]);
        const to = Number(range[2]);
        if (from > to) numbers.push(from, to);
        else for (let n = from; n <= to && n - from < MAX_RANGE; n++) numbers.push(n);
      } else {
        numbers.push(Number(part.trim()));
      }
      for (const n of numbers) if (!cited.includes(n)) cited.push(n);
    }
  }
  return cited;
}

// --- Segmentation -------------------------------------------------------------------------------
//
// `firstUnitEnd` decides where the first sentence of a buffer (starting at a non-space) ends, or
// answers undefined when more text is needed. It only ever looks at a bounded prefix and answers
// the same for every longer buffer once it answers at all: that is what makes any chunking of a
// stream give the same sentences as the whole text.

function firstUnitEnd(text: string): number | undefined {
  if (!text) return undefined;
  const truncated = text.length > MAX_UNIT_CHARS;
  const window = truncated ? text.slice(0, MAX_UNIT_CHARS) : text;
  for (let i = 0; i < window.length; i++) {
    const char = window[i];
    if (char === '\n') return contentEnd(window, i);
    if (char !== '.' && char !== '!' && char !== '?') continue;
    const end = sentenceEndAfter(window, i);
    if (end === 'none') continue;
    // Past the window the lookahead is cut short: the sentence ends at its punctuation.
    if (end === 'more') return truncated ? afterClosers(window, i) : undefined;
    return end;
  }
  return truncated ? forcedCut(window) : undefined;
}

/** Where the sentence ends if the punctuation at `i` ends it, 'none' if it does not, 'more' if the text so far cannot tell. */
function sentenceEndAfter(text: string, i: number): number | 'none' | 'more' {
  const sentence = text.slice(0, i + 1);
  if (ABBREVIATION_END.test(sentence) || INITIAL_END.test(sentence) || LIST_NUMBER.test(sentence.trim())) return 'none';
  const afterPunctuation = afterClosers(text, i);
  if (afterPunctuation === text.length) return 'more';
  if (!/\s/.test(text[afterPunctuation]!)) return 'none'; // 34.9, e.g., U.S.
  let k = afterPunctuation;
  let end = afterPunctuation;
  for (;;) {
    while (text[k] === ' ' || text[k] === '\t') k++;
    if (k === text.length) return 'more';
    if (text[k] !== '[') break;
    const citation = CITATION_AT.exec(text.slice(k));
    if (!citation) {
      if (MAYBE_CITATION.test(text.slice(k))) return 'more';
      break;
    }
    k += citation[0].length;
    end = k;
  }
  if (end > afterPunctuation) {
    // "… mice. [1]." : a stray period after the trailing citation is the sentence's too.
    return text[end] === '.' || text[end] === '!' || text[end] === '?' ? end + 1 : end;
  }
  return /\p{Ll}/u.test(text[k]!) ? 'none' : afterPunctuation;
}

function afterClosers(text: string, i: number): number {
  let j = i + 1;
  while (j < text.length && CLOSERS.has(text[j]!)) j++;
  return j;
}

/** A sentence too long to hold: cut at its last space outside a citation, so the marker never lands inside "[1, 2]". */
function forcedCut(window: string): number {
  let cut = -1;
  let inBracket = false;
  for (let i = 0; i < window.length; i++) {
    const char = window[i]!;
    if (char === '[') inBracket = true;
    else if (char === ']') inBracket = false;
    else if (!inBracket && /\s/.test(char)) cut = i;
  }
  const end = cut > 0 ? contentEnd(window, cut) : window.length;
  return end > 0 ? end : window.length;
}

/** The end of the text before `i` with trailing whitespace left off. */
function contentEnd(text: string, i: number): number {
  let end = i;
  while (end > 0 && /\s/.test(text[end - 1]!)) end--;
  return end;
}

function leadingWhitespace(text: string): number {
  return /^\s*/.exec(text)![0].length;
}

// --- Comparison ---------------------------------------------------------------------------------

/** The sentence without its citations, list bullet and markdown emphasis, which no abstract contains. */
function withoutMarkup(sentence: string): string {
  return sentence
    .replace(CITATIONS, ' ')
    .replace(/^\s*(?:[-*•+]|\d+[.)])\s+/, '')
    .replace(/\*+|__|`/g, '');
}

/** The form two texts are compared in for a quote: case, spacing, quote and dash styles ignored, and the surrounding quotes and final punctuation. */
function quoteForm(text: string): string {
  return normaliseForMatching(text)
    .toLowerCase()
    .replace(/[‘’]/g, "'")
    .replace(/[“”]/g, '"')
    .replace(/[–—]/g, '-')
    .replace(/\s+/g, ' ')
    .replace(/ ([.,;:!?])/g, '$1')
    .trim()
    .replace(/[\s.,;:!?]+$/, '')
    .replace(QUOTES, '')
    .replace(/[\s.,;:!?]+$/, '')
    .trim();
}

/** True when `part` occurs in `whole` starting and ending at word boundaries ("ent method" is no quote of "a different method"). */
function containsAtWordBoundaries(whole: string, part: string): boolean {
  const wordChar = /[\p{L}\p{N}]/u;
  for (let at = whole.indexOf(part); at >= 0; at = whole.indexOf(part, at + 1)) {
    const before = whole[at - 1];
    const after = whole[at + part.length];
    if ((before === undefined || !wordChar.test(before)) && (after === undefined || !wordChar.test(after))) return true;
  }
  return false;
}

function isSupported(plain: string, abstracts: readonly string[]): boolean {
  const terms = contentTerms(plain);
  if (terms.size) {
    const abstractTerms = new Set(abstracts.flatMap(documentTerms));
    let covered = 0;
    for (const term of terms) if (abstractTerms.has(term)) covered += 1;
    if (covered * 10 < terms.size * MIN_COVERAGE_TENTHS) return false;
  }
  const abstractNumbers = abstracts.flatMap(numberTokens);
  const numbersFound = numberTokens(plain).every((n) =>
    abstractNumbers.some((a) => a.value === n.value && (a.suffix === n.suffix || !a.suffix || !n.suffix)),
  );
  if (!numbersFound) return false;
  const abstractNames = new Set(abstracts.flatMap(nameForms));
  return nameTokens(plain).every((name) => {
    const compact = compactForm(name);
    return abstractNames.has(compact) || (compact.endsWith('s') && abstractNames.has(compact.slice(0, -1)));
  });
}

/** Distinct stemmed words that make the claim: stopwords, filler, bare digits and single letters ("'s") left out. */
function contentTerms(text: string): Set<string> {
  const terms = new Set<string>();
  for (const word of words(text)) {
    if (word.length < 2 || /^\d+$/.test(word) || isStopword(word)) continue;
    const stemmed = stem(word);
    if (!FILLER_STEMS.has(stemmed)) terms.add(stemmed);
  }
  return terms;
}

/** Numbers not part of a name ("ResNet50", "v2" are names): "1,000" → 1000, "34.90 %" → 34.9%, "2×" → 2x. */
function numberTokens(text: string): NumberToken[] {
  const tokens: NumberToken[] = [];
  for (const match of normaliseForMatching(text).matchAll(NUMBER)) {
    const integer = match[1]!.replace(/,/g, '');
    const fraction = (match[2] ?? '').replace(/0+$/, '').replace(/^\.$/, '');
    const unit = match[3]?.toLowerCase();
    const suffix = unit === undefined ? '' : unit === '%' || unit === 'percent' ? '%' : 'x';
    tokens.push({ value: integer + fraction, suffix });
  }
  return tokens;
}

/** The whitespace- or slash-separated tokens of a text, outer punctuation and a possessive "'s" removed. */
function tokens(text: string): string[] {
  return normaliseForMatching(text)
    .split(/[\s/]+/)
    .map((token) => token.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '').replace(/['’]s$/u, ''))
    .filter(Boolean);
}

/**
 * Dataset and method names: internal capitals (ImageNet), letters mixed with digits (GPT-4,
 * ResNet50) or all capitals (COCO, LLMs). The first word may be capitalised for the sentence's
 * sake, so it counts only by the first two signs.
 */
function nameTokens(text: string): string[] {
  return tokens(text).filter((token, index) => {
    if (/\p{Ll}\p{Lu}/u.test(token)) return true;
    if (/\p{L}/u.test(token) && /\p{N}/u.test(token)) return !ORDINAL.test(token) && !NUMBER_WITH_UNIT.test(token);
    return index > 0 && /^\p{Lu}{2,}s?$/u.test(token.replace(/[^\p{L}]/gu, ''));
  });
}

/** Every form under which an abstract names something: each token compacted, each of its words, each without a plural "s". */
function nameForms(abstract: string): string[] {
  const forms: string[] = [];
  for (const token of tokens(abstract)) forms.push(compactForm(token), ...words(token));
  for (const form of [...forms]) if (form.length > 2 && form.endsWith('s')) forms.push(form.slice(0, -1));
  return forms;
}

/** "ResNet-50" and "ResNet50" are one name. */
function compactForm(token: string): string {
  return normaliseForMatching(token).toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');
}
