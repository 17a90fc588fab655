/**
 * The digest targets' schema: what paperbot.digest.yml must hold, checked with zod, every
 * problem reported together with its place in the file. Reading and parsing the file (YAML) is
 * the adapter's (`src/adapters/yaml/digest-config-file.ts`); this module only checks the data.
 */
import { z } from 'zod';
import { PaperbotError } from '../errors.ts';
import type { CronCalendar, DigestTarget } from './model.ts';

/** True for an IANA time zone this Node knows (`Europe/Berlin`). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const ARXIV_CATEGORY = /^[a-z-]+(?:\.[A-Za-z-]+)?$/;

const targetSchema = z
  .object({
    name: z.string().trim().regex(/^[A-Za-z0-9][\w.-]{0,63}$/, 'letters, digits, ".", "_" and "-" (it is typed after --target)'),
    platform: z.enum(['slack', 'discord']),
    // Integers arrive as BigInt (see parse below): a Discord snowflake must not be rounded.
    channel: z
      .union([z.string(), z.bigint()], { error: 'a channel id (Slack C…, a Discord channel snowflake)' })
      .transform((value) => String(value).trim())
      .pipe(z.string().min(1, 'a channel id (Slack C…, a Discord channel snowflake)')),
    cron: z.string().trim().min(1),
    timezone: z.string().trim().default('UTC').refine(isTimeZone, 'an IANA time zone such as Europe/Berlin'),
    size: z.coerce.number().int().min(1).max(25).default(10),
    thread_max: z.coerce.number().int().min(0).max(200).default(30),
    topics: z.array(z.coerce.string().trim().min(1)).max(20).default([]),
    empty: z.enum(['skip', 'post']).default('skip'),
    sources: z.array(z.enum(['inbox', 'huggingface', 'arxiv'])).min(1).default(['inbox']),
    arxiv_categories: z.array(z.string().trim().regex(ARXIV_CATEGORY, 'an arXiv category such as cs.CL')).default([]),
  })
  .passthrough();

const fileSchema = z.object({ targets: z.array(targetSchema).min(1, 'list at least one target') }).passthrough();

/**
 * The checks that span fields or targets (cron with its zone, arxiv with its categories, unique
 * names), run on the raw file so they are reported even when a field check fails elsewhere:
 * the user gets every problem in one go.
 */
function crossFieldProblems(raw: unknown, calendar: CronCalendar): string[] {
  const targets = (raw as { targets?: unknown } | null)?.targets;
  if (!Array.isArray(targets)) return [];
  const problems: string[] = [];
  const seen = new Set<string>();
  targets.forEach((target: unknown, i) => {
    if (typeof target !== 'object' || target === null) return;
    const t = target as Record<string, unknown>;
    const timezone = typeof t['timezone'] === 'string' ? t['timezone'].trim() : undefined;
    if (typeof t['cron'] === 'string' && t['cron'].trim()) {
      const problem = calendar.problem(t['cron'].trim(), timezone);
      if (problem) problems.push(`  - targets.${i}.cron: not a cron expression: ${problem}`);
    }
    const sources = Array.isArray(t['sources']) ? t['sources'] : [];
    const categories = Array.isArray(t['arxiv_categories']) ? t['arxiv_categories'] : [];
    if (sources.includes('arxiv') && categories.length === 0) {
      problems.push(`  - targets.${i}.arxiv_categories: list the arXiv categories to fetch (e.g. [cs.CL, cs.IR]) when sources has arxiv`);
    }
    if (typeof t['name'] === 'string') {
      const name = t['name'].trim();
      if (seen.has(name)) problems.push(`  - targets.${i}.name: "${name}" is used by another target`);
      seen.add(name);
    }
  });
  return problems;
}

/**
 * Checks the parsed contents of a digest config and returns its targets; `file` only names it
 * in messages. Throws a `config` error listing every problem.
 */
export function checkDigestTargets(raw: unknown, file: string, calendar: CronCalendar): DigestTarget[] {
  const result = fileSchema.safeParse(raw ?? {});
  const problems = [...(result.success ? [] : result.error.issues.map((issue) => `  - ${issue.path.join('.') || 'file'}: ${issue.message}`)), ...crossFieldProblems(raw, calendar)];
  if (!result.success || problems.length) {
    throw new PaperbotError('config', `The digest config ${file} is invalid:\n${problems.join('\n')}\nSee paperbot.digest.example.yml and README "Daily digest".`);
  }
  return result.data.targets.map((target) => ({
    name: target.name,
    platform: target.platform,
    channel: target.channel,
    cron: target.cron,
    timezone: target.timezone,
    size: target.size,
    threadMax: target.thread_max,
    topics: target.topics,
    empty: target.empty,
    sources: [...new Set(target.sources)],
    arxivCategories: target.arxiv_categories,
  }));
}
