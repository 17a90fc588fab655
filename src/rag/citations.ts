/**
 * Checks a model's citations while its answer streams. Text passes through at once, except a
 * possible citation (`[`, digits, commas, dashes) which is held until its `]` arrives and then
 * validated: numbers outside 1..n are removed and counted, so no unchecked `[n]` ever reaches a
 * user, mid-stream included.
 */
const COMPLETE = /^\[\s*(\d+(?:\s*[-–]\s*\d+)?(?:\s*[,;]\s*\d+(?:\s*[-–]\s*\d+)?)*)\s*\]/;
/** A prefix that may still become a citation: hold it rather than show it. */
const MAYBE = /^\[[\d\s,;\-–]*$/;
/** Longer than any real citation list: beyond it, a held "[1, 2, 3, …" is dropped, never shown unchecked. */
const MAX_HELD = 200;

export class CitationFilter {
  /** How many cited numbers were outside the retrieved set and removed. */
  removed = 0;
  /** Valid cited numbers in order of first citation. */
  readonly cited: number[] = [];
  private held = '';

  constructor(private readonly sourceCount: number) {}

  /** Feeds a chunk of model output; returns the text that is safe to show now. */
  push(chunk: string): string {
    let text = this.held + chunk;
    this.held = '';
    let out = '';
    for (;;) {
      const open = text.indexOf('[');
      if (open < 0) return out + text;
      out += text.slice(0, open);
      text = text.slice(open);
      const match = COMPLETE.exec(text);
      if (match) {
        out += this.check(match[0], match[1] ?? '');
        text = text.slice(match[0].length);
        continue;
      }
      if (MAYBE.test(text)) {
        if (text.length < MAX_HELD) {
          this.held = text;
          return out;
        }
        this.removed += 1;
        return out;
      }
      // Not a citation ("[see Fig. 2]", "[CLS]"): show the bracket as text and move on.
      out += '[';
      text = text.slice(1);
    }
  }

  /** Ends the stream: a half-written citation is dropped, never shown unchecked. */
  flush(): string {
    const rest = this.held;
    this.held = '';
    return /\d/.test(rest) ? '' : rest;
  }

  private check(original: string, body: string): string {
    const numbers: number[] = [];
    for (const part of body.split(/[,;]/)) {
      const range = /^\s*(\d+)\s*[-–]\s*(\d+)\s*$/.exec(part);
      if (range) {
        const from = Number(range[1]);
        const to = Number(range[2]);
        // A reversed range ("9-2") is checked number by number rather than expanded.
        if (from > to) numbers.push(from, to);
        else for (let n = from; n <= to && n - from < 50; n++) numbers.push(n);
      } else {
        numbers.push(Number(part.trim()));
      }
    }
    const valid = numbers.filter((n) => Number.isInteger(n) && n >= 1 && n <= this.sourceCount);
    this.removed += numbers.length - valid.length;
    for (const n of valid) if (!this.cited.includes(n)) this.cited.push(n);
    if (valid.length === numbers.length) return original;
    return valid.length ? `[${[...new Set(valid)].join(', ')}]` : '';
  }
}
