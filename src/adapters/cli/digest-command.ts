/**
 * `paperbot digest`: `--dry-run` prints the next digest of each target without posting or
 * recording it; `--now --target NAME [--since YYYY-MM-DD]` posts one now (at most once: a
 * second run has nothing new and follows the target's empty-day setting); `--list --target NAME`
 * lists every paper of the target's latest digest. stdout carries only the result.
 */
import { checkDigestPlatforms, createDigest, openPaperbot, type Paperbot } from '../../composition-root.ts';
import type { Config } from '../../config.ts';
import { digestAsText } from '../../digest/layout.ts';
import type { DigestService, GatherReport, RunOutcome } from '../../digest/digest-service.ts';
import type { DigestTarget } from '../../digest/model.ts';
import { PaperbotError } from '../../errors.ts';
import { createLogger } from '../../logger.ts';
import { neutraliseMentions } from '../../chat-text.ts';

export interface DigestCommandOptions {
  dryRun?: boolean;
  now?: boolean;
  list?: boolean;
  status?: boolean;
  target?: string;
  since?: string;
  json?: boolean;
}

/** Midnight at the start of `day` (YYYY-MM-DD) in `timezone`. */
export function startOfDay(day: string, timezone: string): Date {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  const utc = match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : NaN;
  if (!match || Number.isNaN(utc) || new Date(utc).toISOString().slice(0, 10) !== day) {
    throw new PaperbotError('usage', `--since wants a date as YYYY-MM-DD, not "${day}".`);
  }
  // The zone's offset at that moment: format the UTC instant as wall time there and compare.
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: timezone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(new Date(utc));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return new Date(utc - (wall - utc));
}

function validate(options: DigestCommandOptions): 'dry-run' | 'now' | 'list' | 'status' {
  const modes = (['dryRun', 'now', 'list', 'status'] as const).filter((m) => options[m]);
  if (modes.length !== 1) {
    throw new PaperbotError('usage', 'Say what to do: `paperbot digest --dry-run [--target NAME]`, `paperbot digest --now --target NAME [--since YYYY-MM-DD]`, `paperbot digest --list --target NAME` or `paperbot digest --status`.');
  }
  const mode = modes[0] === 'dryRun' ? 'dry-run' : modes[0]!;
  if ((mode === 'now' || mode === 'list') && !options.target) throw new PaperbotError('usage', `digest --${mode} needs --target NAME (a target in the digest config).`);
  if (options.since !== undefined && mode !== 'now') throw new PaperbotError('usage', '--since only goes with --now (a deliberate backfill).');
  return mode;
}

function reportGather(report: GatherReport, notify: (message: string) => void): void {
  for (const file of report.inbox) {
    notify(file.error ? `inbox: ${file.file} could not be ingested (moved to failed/): ${file.error}` : `inbox: ${file.file}: ${file.added} added, ${file.updated} updated, ${file.rejected} rejected`);
  }
  for (const source of report.sources) {
    if (!source.ok) notify(`${source.label}: failed (${source.error}); the digest names it in its footer`);
    else if (!source.skipped) notify(`${source.label}: ${source.added} new papers`);
  }
}

export async function runDigestCommand(config: Config, options: DigestCommandOptions, notify: (message: string) => void): Promise<void> {
  const mode = validate(options);
  const logger = createLogger(config.LOG_LEVEL, { format: config.LOG_FORMAT, noticesShown: true });
  let paperbot: Paperbot | undefined;
  try {
    paperbot = await openPaperbot(config, { notify, logger });
    const digest = await createDigest(config, paperbot);
    if (!digest) {
      throw new PaperbotError('config', `No digest is configured: ${config.DIGEST_CONFIG} does not exist. Copy paperbot.digest.example.yml to paperbot.digest.yml (or set DIGEST_CONFIG) and edit its targets.`);
    }
    const { service } = digest;
    service.registerTargets();
    const target = options.target ? service.target(options.target) : undefined;
    if (mode === 'dry-run') return await dryRun(service, target, options.json === true, notify);
    if (mode === 'list') return listLatest(paperbot, service, target!, options.json === true);
    if (mode === 'status') return printStatus(service, options.json === true);
    checkDigestPlatforms(config, [target!]);
    for (const settled of await service.reconcile()) notify(`digest: an interrupted ${settled.target} digest (${settled.slot}) was ${settled.outcome === 'recorded' ? 'found in the channel and recorded as sent' : settled.outcome === 'released' ? 'not posted; its papers go into this digest' : 'not checkable yet'}`);
    const since = options.since !== undefined ? startOfDay(options.since, target!.timezone) : undefined;
    const outcome = await service.postNow(target!, since ? { since } : {});
    printOutcome(outcome, options.json === true);
    // The footer's notes (a source that failed) are this run's problems: one line each.
    for (const note of outcome.notes) notify(note);
    if (outcome.status === 'failed' || outcome.status === 'pending') process.exitCode = 1;
  } finally {
    paperbot?.close();
  }
}

async function dryRun(service: DigestService, target: DigestTarget | undefined, json: boolean, notify: (message: string) => void): Promise<void> {
  const targets = target ? [target] : [...service.targets];
  // The dry run reads the inbox and sources too (their papers become askable), but leaves the
  // inbox files where they are: the real run files them away.
  const report = await service.gather(targets, { dryRun: true });
  reportGather(report, notify);
  const entries = await service.preview({ targets, useModel: true, gathered: report });
  if (json) {
    const digests = entries.map((e) => ({ target: e.target.name, platform: e.target.platform, channel: e.target.channel, slot: e.slot, nextAt: e.nextAt, wouldPost: e.wouldPost, layout: e.layout }));
    process.stdout.write(`${JSON.stringify({ dryRun: true, digests, gathered: report }, null, 2)}\n`);
    return;
  }
  const blocks = entries.map((e) => {
    const head = `== ${e.target.name} → ${e.target.platform} ${e.target.channel} · next at ${e.nextAt ?? 'never'} ==`;
    const skip = e.wouldPost ? '' : `\n(no new papers and empty: skip, so this digest would not be posted)`;
    return `${head}${skip}\n${neutraliseMentions(digestAsText(e.layout))}`;
  });
  process.stdout.write(`${blocks.join('\n\n')}\n(dry run: nothing was posted or recorded)\n`);
}

function listLatest(paperbot: Paperbot, service: DigestService, target: DigestTarget, json: boolean): void {
  const latest = service.latestDigest(target);
  if (!latest) {
    if (json) process.stdout.write(`${JSON.stringify({ target: target.name, digest: null, papers: [] }, null, 2)}\n`);
    else process.stdout.write(`No digest has been posted to ${target.name} yet.\n`);
    return;
  }
  const byRow = new Map(paperbot.library.store.getByRowIds(latest.papers.map((p) => p.rowId)).map((p) => [p.rowId, p]));
  const papers = latest.papers.flatMap((p) => {
    const paper = byRow.get(p.rowId);
    return paper ? [{ id: paper.id, title: paper.title, url: paper.url ?? null, shown: p.shown }] : [];
  });
  if (json) {
    process.stdout.write(`${JSON.stringify({ target: target.name, digest: { slot: latest.slot.slot, messageRef: latest.slot.messageRef }, papers }, null, 2)}\n`);
    return;
  }
  const lines = papers.map((p) => `${p.id}\t${p.shown ? 'posted' : 'not shown'}\t${p.title}`);
  process.stdout.write(`${target.name} digest ${latest.slot.slot} (message ${latest.slot.messageRef ?? '?'}): ${papers.length} paper${papers.length === 1 ? '' : 's'}\n${lines.join('\n')}\n`);
}

function printOutcome(outcome: RunOutcome, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
    return;
  }
  const lines: Record<RunOutcome['status'], string> = {
    sent: `posted the ${outcome.target} digest: ${outcome.papers} new paper${outcome.papers === 1 ? '' : 's'} (message ${outcome.messageRef ?? '?'})${outcome.detail ? `; ${outcome.detail}` : ''}`,
    skipped: `no new papers for ${outcome.target}: nothing posted (empty: skip)`,
    taken: `another run is posting ${outcome.target} right now: nothing posted`,
    failed: `the ${outcome.target} digest was not posted: ${outcome.detail ?? 'unknown error'}. Its papers wait for the next digest.`,
    pending: `posting the ${outcome.target} digest failed midway (${outcome.detail ?? 'unknown error'}); the next run checks the channel before posting again.`,
  };
  process.stdout.write(`${lines[outcome.status]}\n`);
}

function printStatus(service: DigestService, json: boolean): void {
  const status = service.status();
  if (json) {
    process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return;
  }
  const lines: string[] = [];
  for (const t of status.targets) {
    lines.push(`${t.name} → ${t.platform} ${t.channel} (${t.cron}, ${t.timezone}; sources ${t.sources.join(', ')})`);
    lines.push(`  first seen ${t.firstSeenAt ?? 'not yet'}; next at ${t.nextAt ?? 'never'}; ${t.postedPapers} papers posted in all`);
    if (!t.recent.length) lines.push('  no digest yet');
    for (const r of t.recent) lines.push(`  ${r.slot}  ${r.status}${r.messageRef ? ` (message ${r.messageRef})` : ''}${r.detail ? `: ${r.detail}` : ''}`);
  }
  for (const s of status.sources) {
    lines.push(`source ${s.source}: last fetched ${s.lastSuccessAt ?? 'never'}${s.lastError ? `; last attempt ${s.lastAttemptAt} failed: ${s.lastError}` : ''}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
