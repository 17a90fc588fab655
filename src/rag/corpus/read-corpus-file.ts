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

  for await (const { lineNumber, text, binary } of readCorpusLines(filePath, lineOptions)) {
    if (binary) {
      // NUL bytes mean this is not a text corpus at all: report it once rather than line by line.
      yield { kind: 'rejected', line: lineNumber, reason: 'binary data (NUL bytes): not a text corpus file; expected a papers-page dump, JSON Lines or a BEIR corpus' };
      if (lineNumber === 1 && format === undefined) return;
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
    if (format === 'papers-page') {
      pageParser ??= new PapersPageParser();
      yield* pageParser.push(text, lineNumber);
    } else if (text.trim()) {
      yield parseJsonLine(text, lineNumber);
    }
  }
  if (pageParser) yield* pageParser.finish();
  if (format === undefined) options.onFormat?.('papers-page'); // an empty file: nothing to detect from
}
