/**
 * Logs (pino) on stderr, so stdout stays the command's output. Created once by the composition
 * root (or the command that runs it) and injected; library code never logs with `console`.
 *
 * Two formats. `json`: pino's JSON lines, errors with their stack and causes. `text`: one human
 * line a record (`paperbot: <what happened>: <the error's message>`), no stack. By default a
 * problem at the default level (`LOG_LEVEL=warn`) is one human line; `LOG_LEVEL=info` or `debug`,
 * or `LOG_FORMAT=json`, give the JSON lines with stack traces.
 *
 * A record logged with `notified: true` is a problem the user was already told about in a
 * notice (the model failed, this is an extractive answer instead). Where notices go to the same
 * stderr (`noticesShown`: the CLI), the text format does not print it a second time; the JSON
 * format always does, and `serve`, whose notices go to a chat user, prints it as its one line.
 */
import { writeSync } from 'node:fs';
import { pino, type Logger } from 'pino';

export type LogFormat = 'text' | 'json';

export interface LoggerOptions {
  /** Default: `text` at `warn` and quieter levels, `json` at `info` and chattier ones. */
  format?: LogFormat | undefined;
  /** The user sees every notice on this stderr (the CLI): `notified` records are not repeated as text. */
  noticesShown?: boolean;
}

const QUIET_LEVELS = new Set(['fatal', 'error', 'warn', 'silent']);

export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  const format = options.format ?? (QUIET_LEVELS.has(level) ? 'text' : 'json');
  if (format === 'json') return pino({ level, base: { app: 'paperbot' } }, pino.destination({ fd: 2, sync: true }));
  return pino({
    level,
    base: { app: 'paperbot' },
    hooks: {
      // The text format writes its line here, from the record's own arguments (the error object,
      // not pino's serialisation of it), and never hands the record on to the JSON destination.
      logMethod(args, _method, levelNumber) {
        const line = textLine(args as unknown[], levelNumber, options.noticesShown === true);
        if (line !== null) writeSync(2, `${line}\n`);
      },
    },
  });
}

/** The one human line of a record, or null when it repeats a notice the user already saw. */
export function textLine(args: readonly unknown[], levelNumber: number, noticesShown: boolean): string | null {
  const [first, ...rest] = args;
  let fields: Record<string, unknown> = {};
  let message: unknown;
  if (first instanceof Error) {
    fields = { err: first };
    message = rest[0];
  } else if (typeof first === 'object' && first !== null) {
    fields = first as Record<string, unknown>;
    message = rest[0];
  } else {
    message = first;
  }
  if (fields['notified'] === true && noticesShown) return null;
  const parts = [typeof message === 'string' ? message : ''];
  const error = fields['err'] ?? fields['error'];
  if (error !== undefined) parts.push(error instanceof Error ? error.message : String(error));
  // A few plain fields (target, slot, source, file) say where; objects and ids stay in the JSON format.
  const where = Object.entries(fields)
    .filter(([key, value]) => !['err', 'error', 'notified', 'requestId'].includes(key) && (typeof value === 'string' || typeof value === 'number'))
    .slice(0, 4)
    .map(([key, value]) => `${key}=${String(value)}`);
  const text = parts.filter(Boolean).join(': ') + (where.length ? ` (${where.join(', ')})` : '');
  const prefix = levelNumber >= 50 ? 'paperbot: error: ' : 'paperbot: ';
  return prefix + text.replace(/\s*\n\s*/g, ' ');
}

export type { Logger };
