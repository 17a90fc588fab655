/**
 * paperbot.digest.yml on disk: read once at start (serve, `paperbot digest`), parsed as YAML
 * with integers kept exact (a Discord snowflake must not be rounded), then checked by the
 * digest's schema. A missing file means "no digest", which callers say in one line; a broken
 * one is a config error naming the line.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { checkDigestTargets } from '../../digest/digest-config.ts';
import type { CronCalendar, DigestTarget } from '../../digest/model.ts';
import { PaperbotError } from '../../errors.ts';

/** The targets in `file`, or null when the file does not exist. Throws a `config` error otherwise. */
export function loadDigestTargets(file: string, calendar: CronCalendar): DigestTarget[] | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new PaperbotError('config', `Cannot read the digest config ${file}: ${(error as Error).message}.`, { cause: error });
  }
  return parseDigestTargets(text, file, calendar);
}

/** Parses and validates the YAML text of a digest config; `file` only names it in messages. */
export function parseDigestTargets(text: string, file: string, calendar: CronCalendar): DigestTarget[] {
  let raw: unknown;
  try {
    raw = parseYaml(text, { intAsBigInt: true });
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` (line ${error.linePos[0].line})` : '';
    throw new PaperbotError('config', `The digest config ${file} is not valid YAML${where}: ${(error as Error).message.split('\n')[0]}. See paperbot.digest.example.yml.`, { cause: error });
  }
  return checkDigestTargets(raw, file, calendar);
}
