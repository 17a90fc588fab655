/**
 * The Slack libraries' logger interface (`@slack/logger`, used by Bolt's App and by the Web API
 * client alike) on top of our pino logger, so their logs are structured like ours.
 */
import { LogLevel, type Logger as SlackLogger } from '@slack/web-api';
import type { Logger } from 'pino';

/** `source` names the library in each line (`bolt`, `slack web api`). */
export function slackLogger(logger: Logger, source: string): SlackLogger {
  let level = LogLevel.WARN;
  return {
    debug: (...msg: unknown[]) => logger.debug({ slack: msg }, source),
    info: (...msg: unknown[]) => logger.info({ slack: msg }, source),
    warn: (...msg: unknown[]) => logger.warn({ slack: msg }, source),
    error: (...msg: unknown[]) => logger.error({ slack: msg }, source),
    setLevel: (next: LogLevel) => (level = next),
    getLevel: () => level,
    setName: () => undefined,
  };
}
