/**
 * Turns one corpus file into parsed papers and per-line rejections, detecting its format from the
 * content unless one is forced. A binary file, or one that is no paper corpus at all (a README, a
 * CSV, source code, a log), is one rejection, not dozens of junk papers; a bad or over-long line
 * never stops the lines after it; a damaged gzip stream keeps the lines before the damage.
 */
import { readCorpusLines } from './line-reader.ts';
import { checkRecord, CorpusCheck, DEFAULT_CORPUS_LIMITS, detectFormat, parseJsonLine, PapersPageParser, type CorpusFormat, type CorpusLimits, type ParsedLine } from './formats.ts';

export interface ReadCorpusOptions {
  /** Forces the format: no detection and no whole-file check (records are still checked one by one). */
  format?: CorpusFormat;
  /** Called once the format is known and the file passed the whole-file check. */
  onFormat?: (format: CorpusFormat) => void;
  onBytes?: (bytesRead: number) => void;
  limits?: Partial<CorpusLimits>;
}

/** The reason that rejects a whole file whose detected format does not fit it (worded as issue 11 asks). */
export function notACorpus(why: string): string {
  return `not a paper corpus: ${why}; force a format with --format`;
}

const BINARY = 'binary data (NUL bytes): not a text corpus; expected a papers-page dump, JSON Lines or a BEIR corpus';

export async function* readCorpusFile(filePath: string, options: ReadCorpusOptions = {}): AsyncGenerator<ParsedLine> {
  const limits: CorpusLimits = { ...DEFAULT_CORPUS_LIMITS, ...options.limits };
  let format: CorpusFormat | undefined = options.format;
  let pageParser: PapersPageParser | undefined;
  if (format !== undefined) options.onFormat?.(format);

  // Until the whole-file check of a detected format decides, outcomes wait here: nothing of a
  // file that turns out not to be a corpus is ever yielded (so nothing of it is stored).
  let check: CorpusCheck | null = null;
  let held: ParsedLine[] = [];
  let firstLine = 0;
  let papersSeen = 0;

  const emit = function* (items: readonly ParsedLine[]): Generator<ParsedLine> {
    for (const item of items) {
      const checked = checkRecord(item, limits);
      if (checked.kind === 'paper') papersSeen += 1;
      yield checked;
    }
  };
  /** Ends the check: the held outcomes go out, or the verdict that rejects the file. */
  const decide = function* (): Generator<ParsedLine, boolean> {
    if (!check) return true;
    const verdict = check.verdict();
    check = null;
    if (verdict !== null) {
      held = [];
      yield { kind: 'rejected', line: firstLine, reason: notACorpus(verdict) };
      return false;
    }
    options.onFormat?.(format!);
    const items = held;
    held = [];
    yield* emit(items);
    return true;
  };
  const out = function* (items: readonly ParsedLine[], counted: boolean): Generator<ParsedLine> {
    if (!check) {
      yield* emit(items);
      return;
    }
    if (counted) for (const item of items) check.noteOutcome(item);
    held.push(...items);
  };

  for await (const line of readCorpusLines(filePath, { maxLineBytes: limits.maxRecordBytes, ...(options.onBytes ? { onBytes: options.onBytes } : {}) })) {
    if ('damage' in line) {
      // Nothing readable at all: the file cannot be read, an error like a missing permission.
      if (line.lineNumber === 1) throw new Error(`the compressed data is damaged from the start (${line.damage}): the file is corrupt or not gzip`);
      if (pageParser) yield* out(pageParser.finish(), true);
      if (!(yield* decide())) return;
      yield { kind: 'rejected', line: line.lineNumber, reason: `damaged file: the compressed data ends or breaks here (${line.damage}); lines 1-${line.lineNumber - 1} were read, nothing after them. Fetch the file again` };
      return;
    }
    const { lineNumber, text, binary, overLimitBytes } = line;
    if (binary) {
      // NUL bytes never occur in a text corpus. Before any paper: the whole file is binary, so
      // report it once and stop. After papers: one damaged line, rejected like any other.
      if (papersSeen === 0 && !held.some((item) => item.kind === 'paper')) {
        yield { kind: 'rejected', line: lineNumber, reason: BINARY };
        return;
      }
      yield* out([{ kind: 'rejected', line: lineNumber, reason: BINARY }], false);
      continue;
    }
    if (overLimitBytes !== undefined) {
      // The record this line belonged to is gone: a papers-page title waiting for it goes too.
      pageParser?.drop();
      yield* out([{ kind: 'rejected', line: lineNumber, reason: `line is ${overLimitBytes} bytes, over MAX_RECORD_BYTES (${limits.maxRecordBytes}); it was skipped unread` }], false);
      continue;
    }
    if (text === null) {
      yield* out([{ kind: 'rejected', line: lineNumber, reason: 'not valid UTF-8 text' }], false);
      continue;
    }
    if (!text.trim()) continue;
    if (format === undefined) {
      format = detectFormat(text);
      check = new CorpusCheck(format);
      firstLine = lineNumber;
    }
    check?.noteLine(text);
    const parsed = format === 'papers-page' ? (pageParser ??= new PapersPageParser()).push(text, lineNumber) : [parseJsonLine(text, lineNumber)];
    yield* out(parsed, true);
    if (check?.windowFull && !(yield* decide())) return;
  }
  if (pageParser) yield* out(pageParser.finish(), true);
  yield* decide();
}
