/**
 * Text analysis shared by indexing, querying and sentence picking, so that a query term and an
 * abstract term always meet in the same form: invisible characters removed and NFKC-normalised,
 * lowercased, split on anything that is not a letter or digit, stopwords dropped, Porter-stemmed
 * (as SQLite FTS5's porter tokenizer does). Only the analysis is normalised: stored and quoted
 * text stays exactly as given.
 */
import { stemmer } from 'stemmer';

/** Lucene's English stopword list (33 words), the one our retrieval study measured with. */
const LUCENE_STOPWORDS = [
  'a', 'an', 'and', 'are', 'as', 'at', 'be', 'but', 'by', 'for', 'if', 'in', 'into', 'is', 'it',
  'no', 'not', 'of', 'on', 'or', 'such', 'that', 'the', 'their', 'then', 'there', 'these',
  'they', 'this', 'to', 'was', 'will', 'with',
];

/**
 * Question words carry no topic. Dropping them from queries (never from documents) keeps a
 * natural question from matching every abstract that says "how" or "can".
 */
const QUESTION_STOPWORDS = [
  'what', 'which', 'who', 'whom', 'whose', 'when', 'where', 'why', 'how', 'does', 'do', 'did',
  'can', 'could', 'would', 'should', 'i', 'me', 'my', 'we', 'our', 'you', 'your', 'any', 'some',
  'there', 'paper', 'papers', 'about', 'is', 'has', 'have', 'was', 'were', 'been', 'from', 'than',
  'its', 'so', 'also', 'other', 'more', 'most', 'way', 'ways', 'use', 'using', 'used', 'someone',
  'anyone', 'something', 'tell', 'know', 'find', 'work', 'works', 'get', 'one', 'make',
];

const documentStopwords = new Set(LUCENE_STOPWORDS);
const queryStopwords = new Set([...LUCENE_STOPWORDS, ...QUESTION_STOPWORDS]);

const stemCache = new Map<string, string>();

/** Porter stem with a cache: corpora repeat the same few thousand words millions of times. */
export function stem(word: string): string {
  let stemmed = stemCache.get(word);
  if (stemmed === undefined) {
    stemmed = word.length <= 2 ? word : stemmer(word);
    if (stemCache.size < 500_000) stemCache.set(word, stemmed);
  }
  return stemmed;
}

const WORD = /[\p{L}\p{N}]+/gu;

/**
 * Characters that render as nothing (or only steer layout) and so can hide inside a word:
 * Unicode format characters (zero-width space and joiners, word joiner, soft hyphen, bidi
 * marks, embeddings, overrides and isolates, the BOM, tag characters), the combining grapheme
 * joiner and variation selectors.
 */
const INVISIBLE = /[\p{Cf}\u034f\ufe00-\ufe0f]/gu;
const NOT_ASCII = /[^\p{ASCII}]/u;

/**
 * The form of a text used for matching, never for storing: invisible characters removed, then
 * NFKC, so fullwidth letters, ligatures (ﬁ) and composed or decomposed accents meet their plain
 * spelling. Plain ASCII comes back unchanged (so indexes built before this rule stay valid).
 */
export function normaliseForMatching(text: string): string {
  if (!NOT_ASCII.test(text)) return text;
  return text.replace(INVISIBLE, '').normalize('NFKC');
}

/**
 * Lowercased words of a text, split on anything that is not a letter or a digit, after
 * `normaliseForMatching`. Accents are kept.
 */
export function words(text: string): string[] {
  return normaliseForMatching(text).toLowerCase().match(WORD) ?? [];
}

/** True for the stopwords dropped from documents (Lucene's English list). */
export function isStopword(word: string): boolean {
  return documentStopwords.has(word);
}

/** Index terms of a document: every word except stopwords, stemmed. Order and repeats kept. */
export function documentTerms(text: string): string[] {
  const terms: string[] = [];
  for (const word of words(text)) {
    if (!documentStopwords.has(word)) terms.push(stem(word));
  }
  return terms;
}

/** Distinct index terms of a query, in first-seen order, with question words dropped too. */
export function queryTerms(text: string): string[] {
  const seen = new Set<string>();
  for (const word of words(text)) {
    if (queryStopwords.has(word)) continue;
    seen.add(stem(word));
  }
  return [...seen];
}

/** Abbreviations that end with a period but do not end a sentence. */
const NON_TERMINAL = /\b(?:e\.g|i\.e|et al|vs|cf|fig|figs|eq|eqs|sec|approx|resp|no|ref|refs|dr|mr|prof|st)\.$/i;
/** An initial ("J. Smith") at the end of a text, case-sensitive: "of size n. We" does end a sentence. */
export const INITIAL_END = /(?<![\p{L}\p{N}])\p{Lu}\.$/u;

/**
 * Splits an abstract into sentences, keeping each sentence's text verbatim so it can be quoted.
 * A sentence ends at . ! or ? followed by space and an uppercase letter, digit or bracket,
 * unless the period belongs to a known abbreviation.
 */
export function splitSentences(text: string): string[] {
  const sentences: string[] = [];
  const boundary = /[.!?]["')\]]?\s+(?=[\p{Lu}\p{N}(["'])/gu;
  let start = 0;
  for (const match of text.matchAll(boundary)) {
    const end = match.index + match[0].trimEnd().length;
    const candidate = text.slice(start, end);
    if (NON_TERMINAL.test(candidate.trimEnd()) || INITIAL_END.test(candidate.trimEnd())) continue;
    const sentence = candidate.trim();
    if (sentence) sentences.push(sentence);
    start = match.index + match[0].length;
  }
  const rest = text.slice(start).trim();
  if (rest) sentences.push(rest);
  return sentences;
}

/** Collapses runs of whitespace (hard line breaks in abstracts, tabs) into single spaces. */
export function normaliseWhitespace(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * A key under which two spellings of one title compare equal: case, spacing, punctuation,
 * accents and invisible characters ignored. It names papers without an id (`titleHashId`), so it
 * changes only where it must: no NFKC after the NFKD here (that would recompose Hangul and
 * change the keys of stored papers).
 */
export function titleKey(title: string): string {
  return (title.replace(INVISIBLE, '').normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().match(WORD) ?? []).join(' ');
}
