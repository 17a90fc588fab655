/**
 * The CLI's notices on stderr: one problem, one line. A fault reaches several layers, and each
 * says why it falls back (Ollama down: the vector index is unusable, so is the vector search, and
 * the answer is extractive), each quoting the same error message. A notice that repeats a long
 * stretch of an earlier one keeps only what it adds; one that adds nothing is not printed.
 */

/** Shared stretches shorter than this are ordinary phrases, not the same error message. */
const MIN_REPEAT = 60;

/** The longest stretch of `text` that also occurs in `earlier` (at least MIN_REPEAT long), or ''. */
function longestRepeat(text: string, earlier: string): string {
  let best = '';
  for (let start = 0; start + MIN_REPEAT <= text.length; start++) {
    let end = start + Math.max(MIN_REPEAT, best.length + 1);
    if (end > text.length || !earlier.includes(text.slice(start, end))) continue;
    while (end < text.length && earlier.includes(text.slice(start, end + 1))) end++;
    best = text.slice(start, end);
  }
  return best;
}

const words = (text: string) => text.toLowerCase().match(/[a-z0-9]+/g) ?? [];

/**
 * Returns the text to print for `message` given the notices printed before, or null when it
 * only repeats them.
 */
export function newPart(message: string, printed: readonly string[]): string | null {
  if (printed.includes(message)) return null;
  let text = message;
  let repeated = false;
  for (const earlier of printed) {
    for (let repeat = longestRepeat(text, earlier); repeat; repeat = longestRepeat(text, earlier)) {
      text = text.replace(repeat, ' ');
      repeated = true;
    }
  }
  if (!repeated) return message;
  // What is left, if anything, is the notice's own consequence ("This is an extractive answer instead.").
  const said = new Set(printed.flatMap(words));
  if (words(text).every((word) => said.has(word))) return null;
  const rest = text
    .replace(/\(\s*[;:,.]?\s*\)/g, '')
    .replace(/^[\s;:,.)]+/, '')
    .replace(/\s+/g, ' ')
    .trim();
  // Only a whole sentence stands on its own; otherwise the shared stretch was not one repeated
  // error (two sources failing the same way) and the notice is printed as it is.
  return /^[A-Z].*[.!]$/.test(rest) ? rest : message;
}

/** A `notify` for the CLI: writes each notice's new part as one `paperbot: …` line. */
export function createNotifier(write: (line: string) => void): (message: string) => void {
  const printed: string[] = [];
  return (message) => {
    const text = newPart(message, printed);
    printed.push(message);
    if (text) write(`paperbot: ${text}\n`);
  };
}
