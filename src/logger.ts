/**
 * Structured logs (pino) on stderr, so stdout stays the command's output. Created once by the
 * composition root and injected; library code never logs with `console`.
 */
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({ level, base: { app: 'paperbot' } }, pino.destination({ fd: 2, sync: true }));
}

export type { Logger };
