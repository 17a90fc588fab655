/**
 * Turns one corpus file into parsed papers and per-line rejections, detecting its format from the
 * content unless one is forced. A binary file is one rejection, not a crash; a bad line never
 * stops the lines after it.
 */
import { readCorpusLines } from './line-reader.ts';
import { detectFormat, parseJsonLine, PapersPageParser, type CorpusFormat, type ParsedLine } from './formats.ts';

export interface ReadCorpusOptions {
  format?: CorpusFormat;
  onFormat?: (format: CorpusFormat) => void;
  onBytes?: (bytesRead: number) => void;
}

export async function* readCorpusFile(filePath: string, options: ReadCorpusOptions = {}): AsyncGenerator<ParsedLine> {
  let format: CorpusFormat | undefined = options.format;
  let pageParser: PapersPageParser | undefined;
  const lineOptions = options.onBytes ? { onBytes: options.onBytes } : {};
  if (format !== undefined) options.onFormat?.(format);

  let papersSeen = 0;
  for await (const { lineNumber, text, binary } of readCorpusLines(filePath, lineOptions)) {
    if (binary) {
      // NUL bytes never occur in a text corpus. Before any paper: the whole file is binary, so
      // report it once and stop. After papers: one damaged line, rejected like any other.
      yield { kind: 'rejected', line: lineNumber, reason: 'binary data (NUL bytes): not a text corpus; expected a papers-page dump, JSON Lines or a BEIR corpus' };
      if (papersSeen === 0) return;
      continue;
    }
    if (text === null) {
      yield { kind: 'rejected', line: lineNumber, reason: 'not valid UTF-8 text' };
      continue;
    }
    if (format === undefined) {
      if (!text.trim()) continue;
      format = detectFormat(text);
      options.onFormat?.(format);
    }
    const parsed = format === 'papers-page' ? (pageParser ??= new PapersPageParser()).push(text, lineNumber) : text.trim() ? [parseJsonLine(text, lineNumber)] : [];
    for (const item of parsed) {
      if (item.kind === 'paper') papersSeen += 1;
      yield item;
    }
  }
  if (pageParser) yield* pageParser.finish();
}
