/**
 * The digest's slot logic with an injected clock, in process: the real DigestService, SQLite
 * store and SlackDigestPublisher posting to the fake Slack Web API on loopback. On time, a late
 * start, downtime over several slots (one catch-up post), two processes claiming one slot (two
 * services on one data directory), each paper posted once per target, empty days, bulk imports
 * and backfill, a platform refusal, and a failing live source named in the footer.
 *
 * `added_at` is real wall-clock time while the service's clock is injected, so the injected
 * clock stays within days of the real one: slots are the target's next real 08:00 Berlin runs.
 */
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Cron } from 'croner';
import { afterEach, describe, expect, it } from 'vitest';
import { SlackDigestPublisher } from '../src/adapters/slack/slack-digest-publisher.ts';
import { createDigest, openPaperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import type { DigestService } from '../src/digest/digest-service.ts';
import type { DigestTarget } from '../src/digest/model.ts';
import { SqliteDigestStore } from '../src/adapters/sqlite/sqlite-digest-store.ts';
import { createLogger } from '../src/logger.ts';
import type { PaperbotCore } from '../src/rag/paperbot-core.ts';
import { startFakePaperSources } from './helpers/fake-paper-sources.ts';
import { startFakeSlack, type FakeSlack, type StoredMessage } from './helpers/fake-slack.ts';
import { tempDir } from './helpers/temp.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length) await Promise.resolve(cleanups.pop()?.()).catch(() => undefined);
});

const ZONE = 'Europe/Berlin';
const CRON = '0 8 * * *';
/** The next real 08:00 Berlin slots: S[0] is within a day of now, S[4] within five. */
const S = new Cron(CRON, { timezone: ZONE, paused: true }).nextRuns(6, new Date());
const MIN = 60_000;
const at = (slot: Date, minutes: number): Date => new Date(slot.getTime() + minutes * MIN);

// ---------------------------------------------------------------------------------------------
// Papers

interface TestPaper {
  id: string;
  title: string;
  abstract: string;
  authors: string[];
}

/** Papers with distinctive titles (no Slack-escaped characters), easy to look for in a post. */
function papers(prefix: string, count: number, firstNumber = 1): TestPaper[] {
  return Array.from({ length: count }, (_, i) => {
    const n = firstNumber + i;
    const id = `2611.${String(n).padStart(5, '0')}`;
    return {
      id,
      title: `${prefix} paper ${n} on sparse retrieval`,
      abstract: `We study sparse retrieval for scientific abstracts, variant ${prefix} ${n}. Our method improves recall on long-tail queries by a wide margin while keeping latency low.`,
      authors: ['Ada Lovelace', 'Alan Turing'],
    };
  });
}

function jsonl(list: readonly TestPaper[]): string {
  return list.map((p) => JSON.stringify(p)).join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// A paperbot with a digest, on a temporary data directory

interface TargetSpec {
  name: string;
  channel: string;
  empty?: 'skip' | 'post';
  sources?: string[];
}

interface Setup {
  dataDir: string;
  inbox: string;
  env: Record<string, string>;
  fake: FakeSlack;
}

async function setup(options: { targets?: TargetSpec[]; env?: Record<string, string> } = {}): Promise<Setup> {
  const fake = await startFakeSlack();
  cleanups.push(() => fake.close());
  const dir = tempDir();
  const dataDir = path.join(dir, 'data');
  const inbox = path.join(dir, 'inbox');
  const digestConfig = path.join(dir, 'paperbot.digest.yml');
  const targets = options.targets ?? [{ name: 'lab', channel: 'C123' }];
  const yaml = ['targets:'];
  for (const t of targets) {
    yaml.push(
      `  - name: ${t.name}`,
      '    platform: slack',
      `    channel: ${t.channel}`,
      `    cron: "${CRON}"`,
      `    timezone: ${ZONE}`,
      '    size: 3',
      '    thread_max: 2',
      `    empty: ${t.empty ?? 'skip'}`,
      `    sources: [${(t.sources ?? ['inbox']).join(', ')}]`,
    );
  }
  writeFileSync(digestConfig, yaml.join('\n') + '\n');
  const env = {
    PAPERBOT_DATA_DIR: dataDir,
    DIGEST_CONFIG: digestConfig,
    DIGEST_INBOX: inbox,
    SLACK_BOT_TOKEN: 'xoxb-test',
    SLACK_API_URL: fake.apiUrl,
    OLLAMA_HOST: 'http://127.0.0.1:47',
    RETRIEVAL_MODE: 'keyword',
    LOG_LEVEL: 'silent',
    ...options.env,
  };
  return { dataDir, inbox, env, fake };
}

interface Process {
  core: PaperbotCore;
  service: DigestService;
  store: SqliteDigestStore;
  clock: { now: Date };
  target: (name?: string) => DigestTarget;
}

/** One "process": a core and a digest service on the setup's data directory, with its own clock and owner. */
async function open(s: Setup, options: { now: Date; owner?: string; alive?: (owner: string) => boolean }): Promise<Process> {
  const config = loadConfig(s.env);
  const logger = createLogger('silent');
  const clock = { now: options.now };
  const paperbot = await openPaperbot(config, { seed: false, logger, clock: () => clock.now });
  const { core } = paperbot;
  cleanups.push(() => core.close());
  const digest = await createDigest(config, paperbot, {
    ...(options.owner ? { owner: { id: options.owner, isAlive: options.alive ?? (() => true) } } : {}),
  });
  if (!digest) throw new Error('no digest configured');
  return {
    core,
    service: digest.service,
    store: new SqliteDigestStore(paperbot.database),
    clock,
    target: (name = 'lab') => digest.service.target(name),
  };
}

/** Drops papers into the inbox as a file old enough to be scanned (the inbox skips files changed in the last 2 s). */
function dropInInbox(s: Setup, name: string, list: readonly TestPaper[]): void {
  mkdirSync(s.inbox, { recursive: true });
  const file = path.join(s.inbox, name);
  writeFileSync(file, jsonl(list));
  const past = new Date(Date.now() - 10_000);
  utimesSync(file, past, past);
}

/** Ingests papers as the inbox would (not a bulk import unless there are many), outside any digest run. */
async function ingest(p: Process, name: string, list: readonly TestPaper[], origin?: { name: string; bulk: 'auto' | 'always' | 'never' }) {
  const file = path.join(tempDir('paperbot-papers-'), name);
  writeFileSync(file, jsonl(list));
  return p.core.library.ingest([file], origin === undefined ? { origin: { name: 'inbox', bulk: 'auto' } } : { origin });
}

// ---------------------------------------------------------------------------------------------
// Reading the fake channel

/** The channel's top-level digest messages (carrying the digest metadata), oldest first. */
function digests(fake: FakeSlack, channel = 'C123'): StoredMessage[] {
  return fake.channelMessages(channel).filter((m) => m.thread_ts === undefined && (m.metadata as { event_type?: string } | undefined)?.event_type === 'paperbot_digest');
}

/** The text a reader sees of a digest: its `text`, its blocks, and its thread replies. */
function readable(fake: FakeSlack, message: StoredMessage, channel = 'C123'): string {
  const replies = fake.channelMessages(channel).filter((m) => m.thread_ts === message.ts);
  return [message, ...replies].map((m) => `${m.text ?? ''}\n${JSON.stringify(m.blocks ?? [])}`).join('\n');
}

function markerOf(message: StoredMessage): string | undefined {
  return (message.metadata as { event_payload?: { marker?: string } } | undefined)?.event_payload?.marker;
}

function postCalls(fake: FakeSlack): number {
  return fake.calls.filter((c) => c.method === 'chat.postMessage' && c.body['thread_ts'] === undefined).length;
}

/** The ids of the papers a slot covered, in digest order. */
function slotPaperIds(p: Process, slot: string, target = 'lab'): string[] {
  const rows = p.store.slotPapers(target, slot).map((r) => r.rowId);
  const byRow = new Map(p.core.library.store.getByRowIds(rows).map((paper) => [paper.rowId, paper.id]));
  return rows.map((r) => byRow.get(r)!);
}

// ---------------------------------------------------------------------------------------------

describe('digest slots with an injected clock', () => {
  it('on time: posts the slot once, with the new inbox papers and its marker; a second run at the same time posts nothing', async () => {
    const s = await setup();
    const p = await open(s, { now: at(S[0]!, -60) });
    p.service.registerTargets();
    const fresh = papers('Ontime', 2);
    dropInInbox(s, 'new.jsonl', fresh);

    p.clock.now = S[0]!;
    const outcome = await p.service.runDue(p.target());
    expect(outcome).toMatchObject({ status: 'sent', slot: S[0]!.toISOString(), papers: 2 });
    expect(outcome?.catchUp).toBeUndefined();

    const posted = digests(s.fake);
    expect(posted).toHaveLength(1);
    expect(postCalls(s.fake)).toBe(1);
    expect(markerOf(posted[0]!)).toBe(`paperbot digest lab ${S[0]!.toISOString()}`);
    const text = readable(s.fake, posted[0]!);
    expect(text).toContain(`paperbot digest lab ${S[0]!.toISOString()}`);
    for (const paper of fresh) expect(text).toContain(paper.title);
    expect(text).not.toMatch(/while I was away/i);
    expect(outcome?.messageRef).toBe(posted[0]!.ts);
    expect(p.store.slot('lab', S[0]!.toISOString())).toMatchObject({ status: 'sent', messageRef: posted[0]!.ts });
    // The inbox file was ingested and moved out of the way.
    expect(readdirSync(s.inbox).filter((f) => f.endsWith('.jsonl'))).toEqual([]);

    expect(await p.service.runDue(p.target())).toBeNull();
    // A tick that fires a hair early names its slot: still handled, still nothing.
    p.clock.now = at(S[0]!, -0.01);
    expect(await p.service.runDue(p.target(), { expected: S[0]! })).toBeNull();
    expect(digests(s.fake)).toHaveLength(1);
    expect(postCalls(s.fake)).toBe(1);
  });

  it('late start: first seen before the slot, started at 08:40, posts the 08:00 slot as an ordinary digest', async () => {
    const s = await setup();
    const p = await open(s, { now: at(S[0]!, -30) });
    p.service.registerTargets();
    const fresh = papers('Late', 2);
    dropInInbox(s, 'late.jsonl', fresh);

    p.clock.now = at(S[0]!, 40);
    const outcome = await p.service.runDue(p.target());
    expect(outcome).toMatchObject({ status: 'sent', slot: S[0]!.toISOString(), papers: 2 });
    expect(outcome?.catchUp).toBeUndefined();
    const posted = digests(s.fake);
    expect(posted).toHaveLength(1);
    expect(markerOf(posted[0]!)).toBe(`paperbot digest lab ${S[0]!.toISOString()}`);
    const text = readable(s.fake, posted[0]!);
    expect(text).not.toMatch(/while I was away/i);
    expect(text).toMatch(/Paper digest for .*2 new papers/);
    for (const paper of fresh) expect(text).toContain(paper.title);
    expect(await p.service.runDue(p.target())).toBeNull();
    expect(digests(s.fake)).toHaveLength(1);
  });

  it('a slot before the first sighting is never posted: a target first seen at 08:40 waits for the next slot', async () => {
    const s = await setup();
    const p = await open(s, { now: at(S[0]!, 40) });
    p.service.registerTargets();
    await ingest(p, 'a.jsonl', papers('Next', 1));
    expect(await p.service.runDue(p.target())).toBeNull();
    expect(postCalls(s.fake)).toBe(0);
    p.clock.now = S[1]!;
    expect(await p.service.runDue(p.target())).toMatchObject({ status: 'sent', slot: S[1]!.toISOString(), papers: 1 });
  });

  it('downtime over several slots: one "while I was away" digest of every unposted paper; the missed slots are recorded', async () => {
    const s = await setup();
    const p = await open(s, { now: at(S[0]!, -60) });
    p.service.registerTargets();
    const before = papers('Before', 2, 1);
    dropInInbox(s, 'before.jsonl', before);
    p.clock.now = S[0]!;
    expect(await p.service.runDue(p.target())).toMatchObject({ status: 'sent', papers: 2 });

    // Down over S1, S2 and S3; papers keep arriving meanwhile.
    const during = papers('Away', 3, 10);
    await ingest(p, 'during-1.jsonl', during.slice(0, 1));
    dropInInbox(s, 'during-2.jsonl', during.slice(1));
    p.clock.now = at(S[3]!, 5);
    const outcome = await p.service.runDue(p.target());
    expect(outcome).toMatchObject({ status: 'sent', slot: S[3]!.toISOString(), papers: 3, catchUp: { missedSlots: 3 } });

    const posted = digests(s.fake);
    expect(posted).toHaveLength(2);
    expect(postCalls(s.fake)).toBe(2);
    const text = readable(s.fake, posted[1]!);
    expect(markerOf(posted[1]!)).toBe(`paperbot digest lab ${S[3]!.toISOString()}`);
    expect(text).toMatch(/while I was away/i);
    expect(text).toMatch(/3 scheduled digests in one/);
    for (const paper of during) expect(text).toContain(paper.title);
    for (const paper of before) expect(text).not.toContain(paper.title);
    expect(slotPaperIds(p, S[3]!.toISOString()).sort()).toEqual(during.map((x) => x.id).sort());

    // The older slots are recorded as covered by the catch-up, so nothing posts them later.
    expect(p.store.slot('lab', S[1]!.toISOString())).toMatchObject({ status: 'merged' });
    expect(p.store.slot('lab', S[2]!.toISOString())).toMatchObject({ status: 'merged' });
    expect(await p.service.runDue(p.target())).toBeNull();
    p.clock.now = at(S[3]!, 30);
    expect(await p.service.runDue(p.target())).toBeNull();
    expect(postCalls(s.fake)).toBe(2);

    // The next slot is an ordinary digest again.
    await ingest(p, 'later.jsonl', papers('Later', 1, 20));
    p.clock.now = S[4]!;
    const next = await p.service.runDue(p.target());
    expect(next).toMatchObject({ status: 'sent', slot: S[4]!.toISOString(), papers: 1 });
    expect(next?.catchUp).toBeUndefined();
    expect(readable(s.fake, digests(s.fake)[2]!)).not.toMatch(/while I was away/i);
  });

  it('two processes claiming one slot: exactly one posts, the other is told the slot is taken', async () => {
    const s = await setup();
    const a = await open(s, { now: at(S[0]!, -60), owner: 'host/1/a' });
    const b = await open(s, { now: at(S[0]!, -60), owner: 'host/2/b' });
    a.service.registerTargets();
    b.service.registerTargets();
    const fresh = papers('Race', 3);
    await ingest(a, 'race.jsonl', fresh);

    a.clock.now = S[0]!;
    b.clock.now = S[0]!;
    const outcomes = await Promise.all([a.service.runDue(a.target()), b.service.runDue(b.target())]);
    expect(outcomes.map((o) => o?.status).sort()).toEqual(['sent', 'taken']);
    expect(outcomes.every((o) => o?.slot === S[0]!.toISOString())).toBe(true);
    expect(postCalls(s.fake)).toBe(1);
    const posted = digests(s.fake);
    expect(posted).toHaveLength(1);
    for (const paper of fresh) expect(readable(s.fake, posted[0]!)).toContain(paper.title);

    // Later ticks of either process find the slot handled.
    expect(await a.service.runDue(a.target())).toBeNull();
    expect(await b.service.runDue(b.target())).toBeNull();
    expect(postCalls(s.fake)).toBe(1);
  });

  it('two processes scanning one inbox at the same slot: both runs finish without an error, one posts, every paper reaches the channel once', async () => {
    // Also what happens when `digest --now` runs while `serve` is scanning the same inbox.
    const s = await setup();
    const a = await open(s, { now: at(S[0]!, -60), owner: 'host/1/a' });
    const b = await open(s, { now: at(S[0]!, -60), owner: 'host/2/b' });
    a.service.registerTargets();
    const fresh = papers('Shared', 3);
    dropInInbox(s, 'shared.jsonl', fresh);

    a.clock.now = S[0]!;
    b.clock.now = S[0]!;
    const settled = await Promise.allSettled([a.service.runDue(a.target()), b.service.runDue(b.target())]);
    const errors = settled.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error | undefined)?.message ?? r.reason)] : []));
    expect(errors).toEqual([]);
    const statuses = settled.map((r) => (r.status === 'fulfilled' ? r.value?.status : 'rejected'));
    expect(statuses.filter((x) => x === 'taken')).toHaveLength(1);
    expect(postCalls(s.fake)).toBeLessThanOrEqual(1);
    // The inbox file went to processed/, not to failed/.
    expect(readdirSync(s.inbox)).not.toContain('failed');

    // Whichever run claimed the slot, no paper is lost or doubled: the next slot carries what this one did not.
    a.clock.now = S[1]!;
    await a.service.runDue(a.target());
    const all = digests(s.fake).map((m) => readable(s.fake, m));
    for (const paper of fresh) expect(all.filter((text) => text.includes(paper.title))).toHaveLength(1);
  });

  it('a second process leaves a live run\'s claim alone while its post is slow, and does not post the slot again', async () => {
    const s = await setup();
    const a = await open(s, { now: at(S[0]!, -60), owner: 'host/1/a' });
    const b = await open(s, { now: at(S[0]!, -60), owner: 'host/2/b' });
    a.service.registerTargets();
    await ingest(a, 'slow.jsonl', papers('Slow', 2));
    a.clock.now = at(S[0]!, 1);
    b.clock.now = at(S[0]!, 2);

    const held = s.fake.holdNext('chat.postMessage', { store: true });
    const running = a.service.runDue(a.target());
    const post = await held;
    // The message is in the channel but A has not heard back: B must neither settle A's claim nor post.
    expect(await b.service.reconcile()).toEqual([]);
    expect(await b.service.runDue(b.target())).toBeNull();
    expect(b.store.slot('lab', S[0]!.toISOString())).toMatchObject({ status: 'claimed', owner: 'host/1/a' });
    post.release();
    expect(await running).toMatchObject({ status: 'sent', papers: 2 });
    expect(postCalls(s.fake)).toBe(1);
    expect(digests(s.fake)).toHaveLength(1);
  });

  it('a post whose answer is lost after Slack kept it is not posted again by a retry', async () => {
    // The connection drops after Slack stored the message (a reset, a proxy timeout): the client
    // cannot tell whether it was posted, so re-sending chat.postMessage double-posts.
    const s = await setup();
    const p = await open(s, { now: at(S[0]!, -60) });
    p.service.registerTargets();
    await ingest(p, 'lost.jsonl', papers('Lost', 2));
    p.clock.now = S[0]!;

    const held = s.fake.holdNext('chat.postMessage', { store: true });
    const running = p.service.runDue(p.target());
    (await held).drop();
    const outcome = await running;
    expect(outcome?.status).not.toBe('failed');
    const marker = `paperbot digest lab ${S[0]!.toISOString()}`;
    expect(digests(s.fake).filter((m) => markerOf(m) === marker)).toHaveLength(1);
    expect(s.fake.calls.filter((c) => c.method === 'chat.postMessage' && c.body['thread_ts'] === undefined)).toHaveLength(1);

    // Whatever this run concluded, a later run (after the claim's lease) settles it from the channel without posting.
    p.clock.now = at(S[0]!, 20);
    await p.service.reconcile();
    expect(p.store.slot('lab', S[0]!.toISOString())).toMatchObject({ status: 'sent', messageRef: digests(s.fake)[0]!.ts });
    expect(digests(s.fake)).toHaveLength(1);
  });

  it('each paper is posted to a target once: re-ingested and re-versioned papers are not in the next digest', async () => {
    const s = await setup();
    const p = await open(s, { now: at(S[0]!, -60) });
    p.service.registerTargets();
    const first = papers('Once', 2);
    dropInInbox(s, 'first.jsonl', first);
    p.clock.now = S[0]!;
    expect(await p.service.runDue(p.target())).toMatchObject({ status: 'sent', papers: 2 });

    // The same file again, a v2 of the first paper with a new abstract, and one genuinely new paper.
    dropInInbox(s, 'again.jsonl', first);
    const v2 = { ...first[0]!, id: `${first[0]!.id}v2`, abstract: `${first[0]!.abstract} In version two we add experiments on 12 more collections.` };
    const brandNew = papers('Fresh', 1, 50);
    const reingest = await ingest(p, 'v2.jsonl', [v2, ...brandNew]);
    expect(reingest.totals).toMatchObject({ added: 1, updated: 1 });
    expect(p.core.library.store.getById(first[0]!.id)).toMatchObject({ version: 2, abstract: v2.abstract });

    p.clock.now = S[1]!;
    const outcome = await p.service.runDue(p.target());
    expect(outcome).toMatchObject({ status: 'sent', papers: 1 });
    expect(slotPaperIds(p, S[1]!.toISOString())).toEqual([brandNew[0]!.id]);
    const text = readable(s.fake, digests(s.fake)[1]!);
    expect(text).toContain(brandNew[0]!.title);
    for (const paper of first) expect(text).not.toContain(paper.title);

    // Nothing new at all: empty: skip posts nothing.
    dropInInbox(s, 'third.jsonl', [...first, v2, ...brandNew]);
    p.clock.now = S[2]!;
    expect(await p.service.runDue(p.target())).toMatchObject({ status: 'skipped', papers: 0 });
    expect(postCalls(s.fake)).toBe(2);
  });

  it('an empty day: "skip" posts nothing and records the slot skipped; "post" says there are no new papers', async () => {
    const s = await setup({ targets: [{ name: 'lab', channel: 'C123', empty: 'skip' }, { name: 'lab-post', channel: 'C456', empty: 'post' }] });
    const p = await open(s, { now: at(S[0]!, -60) });
    p.service.registerTargets();
    p.clock.now = S[0]!;

    const skipped = await p.service.runDue(p.target('lab'));
    expect(skipped).toMatchObject({ status: 'skipped', papers: 0 });
    expect(p.store.slot('lab', S[0]!.toISOString())).toMatchObject({ status: 'skipped' });
    expect(s.fake.channelMessages('C123')).toEqual([]);
    expect(await p.service.runDue(p.target('lab'))).toBeNull();

    const posted = await p.service.runDue(p.target('lab-post'));
    expect(posted).toMatchObject({ status: 'sent', papers: 0 });
    const messages = digests(s.fake, 'C456');
    expect(messages).toHaveLength(1);
    expect(readable(s.fake, messages[0]!, 'C456')).toMatch(/no new papers/i);
    expect(markerOf(messages[0]!)).toBe(`paperbot digest lab-post ${S[0]!.toISOString()}`);
    expect(postCalls(s.fake)).toBe(1);
  });

  it('the first digest covers only papers that arrived after the target was first seen, never a bulk import; --since backfills both', async () => {
    const s = await setup({ env: { BULK_IMPORT_PAPERS: '5' } });
    const p = await open(s, { now: at(S[0]!, -120) });
    const old = papers('Old', 2, 1);
    await ingest(p, 'old.jsonl', old);
    p.clock.now = at(S[0]!, -60);
    p.service.registerTargets();
    const bulk = papers('Bulk', 8, 100);
    await ingest(p, 'bulk.jsonl', bulk, { name: 'cli', bulk: 'auto' });
    const fresh = papers('New', 2, 200);
    await ingest(p, 'new.jsonl', fresh, { name: 'cli', bulk: 'auto' });

    p.clock.now = S[0]!;
    const first = await p.service.runDue(p.target());
    expect(first).toMatchObject({ status: 'sent', papers: 2 });
    expect(slotPaperIds(p, S[0]!.toISOString()).sort()).toEqual(fresh.map((x) => x.id).sort());
    const text = readable(s.fake, digests(s.fake)[0]!);
    for (const paper of [...old, ...bulk]) expect(text).not.toContain(paper.title);

    // A deliberate backfill takes the papers from before the first sighting and the bulk import.
    p.clock.now = at(S[0]!, 10);
    const backfill = await p.service.postNow(p.target(), { since: new Date(Date.now() - 60 * MIN) });
    expect(backfill).toMatchObject({ status: 'sent', papers: 10 });
    expect(slotPaperIds(p, backfill.slot).sort()).toEqual([...old, ...bulk].map((x) => x.id).sort());
    const backfillText = readable(s.fake, digests(s.fake)[1]!);
    expect(backfillText).toMatch(/5 more new papers/);
    for (const paper of fresh) expect(backfillText).not.toContain(paper.title);
  });

  it('a platform refusal: the slot fails, nothing is posted, and the next slot carries those papers', async () => {
    const s = await setup();
    const p = await open(s, { now: at(S[0]!, -60) });
    p.service.registerTargets();
    const waiting = papers('Refused', 2);
    dropInInbox(s, 'refused.jsonl', waiting);

    s.fake.failChannel('C123', 'not_in_channel');
    p.clock.now = S[0]!;
    const failed = await p.service.runDue(p.target());
    expect(failed).toMatchObject({ status: 'failed', papers: 2 });
    expect(failed?.detail).toMatch(/not a member|invite/i);
    expect(s.fake.calls.filter((c) => c.method === 'chat.postMessage').map((c) => c.response['error'])).toEqual(['not_in_channel']);
    expect(s.fake.channelMessages('C123')).toEqual([]);
    expect(p.store.slot('lab', S[0]!.toISOString())).toMatchObject({ status: 'failed' });
    // A failed slot is not retried on the next tick of the same slot...
    expect(await p.service.runDue(p.target())).toBeNull();

    // ...its papers wait for the next one.
    s.fake.failChannel('C123', null);
    const more = papers('After', 1, 30);
    dropInInbox(s, 'after.jsonl', more);
    p.clock.now = S[1]!;
    const next = await p.service.runDue(p.target());
    expect(next).toMatchObject({ status: 'sent', papers: 3 });
    const posted = digests(s.fake);
    expect(posted).toHaveLength(1);
    const text = readable(s.fake, posted[0]!);
    for (const paper of [...waiting, ...more]) expect(text).toContain(paper.title);
  });

  it('a failing live source is named in the footer and the digest goes out with the other sources, even on an empty day', async () => {
    const sources = await startFakePaperSources();
    cleanups.push(() => sources.close());
    sources.route('/api/daily_papers', () => ({ status: 500, body: 'internal error' }));
    const s = await setup({
      targets: [{ name: 'lab', channel: 'C123', empty: 'skip', sources: ['inbox', 'huggingface'] }],
      env: { HF_PAPERS_URL: `${sources.url}/api/daily_papers`, SOURCE_TIMEOUT_MS: '2000' },
    });
    const p = await open(s, { now: at(S[0]!, -60) });
    p.service.registerTargets();
    const fresh = papers('Inbox', 2);
    dropInInbox(s, 'inbox.jsonl', fresh);

    p.clock.now = S[0]!;
    const outcome = await p.service.runDue(p.target());
    expect(outcome).toMatchObject({ status: 'sent', papers: 2 });
    expect(sources.requests.length).toBeGreaterThan(0);
    expect(outcome?.notes.join('\n')).toMatch(/Hugging Face.*(500)/);
    const text = readable(s.fake, digests(s.fake)[0]!);
    expect(text).toMatch(/Hugging Face/);
    for (const paper of fresh) expect(text).toContain(paper.title);

    // Nothing new the next day, and the source still fails: not a silent skip.
    p.clock.now = S[1]!;
    const empty = await p.service.runDue(p.target());
    expect(empty).toMatchObject({ status: 'sent', papers: 0 });
    expect(readable(s.fake, digests(s.fake)[1]!)).toMatch(/Hugging Face/);
  });
  it("each target posts only papers from the sources it lists", async () => {
    const s = await setup({
      targets: [
        { name: 'files', channel: 'C123', sources: ['inbox'] },
        { name: 'hf', channel: 'C200', sources: ['huggingface'] },
      ],
    });
    const p = await open(s, { now: at(S[0]!, -60) });
    p.service.registerTargets();
    const fromInbox = papers('Inbox', 2);
    dropInInbox(s, 'files.jsonl', fromInbox);
    // Papers a live source fetched go through the same ingest path, tagged with their origin.
    const fromHf = papers('Hub', 2, 50).map((paper) => ({ sourceId: paper.id, title: paper.title, abstract: paper.abstract, authors: paper.authors, categories: [], metadata: { upvotes: 5, source: 'huggingface' } }));
    await p.core.library.ingestRecords(fromHf, { name: 'huggingface', bulk: 'never' });

    p.clock.now = S[0]!;
    const files = await p.service.runDue(p.target('files'));
    const hf = await p.service.runDue(p.target('hf'));
    expect(files).toMatchObject({ status: 'sent', papers: 2 });
    expect(hf).toMatchObject({ status: 'sent', papers: 2 });
    const filesText = readable(s.fake, digests(s.fake, 'C123')[0]!, 'C123');
    const hfText = readable(s.fake, digests(s.fake, 'C200')[0]!, 'C200');
    for (const paper of fromInbox) {
      expect(filesText).toContain(paper.title);
      expect(hfText).not.toContain(paper.title);
    }
    for (const paper of fromHf) {
      expect(hfText).toContain(paper.title);
      expect(filesText).not.toContain(paper.title);
    }
  });

  it('a thread reply that fails gives its papers back to the next digest; the channel message is not posted again', async () => {
    const s = await setup();
    const p = await open(s, { now: at(S[0]!, -60) });
    p.service.registerTargets();
    const batch = papers('Threaded', 5); // size 3 in the channel, 2 in the thread
    dropInInbox(s, 'threaded.jsonl', batch);

    p.clock.now = S[0]!;
    const held = s.fake.holdNext('chat.postMessage', { store: true });
    const running = p.service.runDue(p.target());
    const main = await held;
    // The main message exists; the thread reply that follows is refused.
    s.fake.failNext('chat.postMessage', 'msg_too_long');
    main.release();
    const outcome = await running;
    expect(outcome).toMatchObject({ status: 'sent', papers: 3 });
    expect(outcome?.detail).toMatch(/thread reply failed/);
    const slot = S[0]!.toISOString();
    expect(slotPaperIds(p, slot)).toHaveLength(3);

    p.clock.now = S[1]!;
    const next = await p.service.runDue(p.target());
    expect(next).toMatchObject({ status: 'sent', papers: 2 });
    const posted = digests(s.fake);
    expect(posted).toHaveLength(2);
    const firstShown = slotPaperIds(p, slot);
    const secondShown = slotPaperIds(p, S[1]!.toISOString());
    expect(new Set([...firstShown, ...secondShown])).toEqual(new Set(batch.map((paper) => paper.id)));
  });

  it('a marker quoted by a person is not taken for a posted digest', async () => {
    const s = await setup();
    const p = await open(s, { now: S[0]! });
    const marker = `paperbot digest lab ${S[0]!.toISOString()}`;
    s.fake.seedHistory('C123', [{ text: `did this post? ${marker}`, user: 'U123' }]);
    const publisher = new SlackDigestPublisher({ token: 'xoxb-test', apiUrl: s.fake.apiUrl });
    expect(await publisher.findPosted('C123', marker)).toBeNull();
    // The bot's own user (auth.test) or a message without any user counts as the bot's.
    const [own] = s.fake.seedHistory('C123', [{ text: `digest ${marker}`, user: 'UBOT' }]);
    expect(await publisher.findPosted('C123', marker)).toBe(own!.ts);
    p.core.close();
  });
  it('an inbox file that cannot be read is set aside in failed/, named in the footer, and the other files still go out', async () => {
    const s = await setup();
    const p = await open(s, { now: at(S[0]!, -60) });
    p.service.registerTargets();
    const good = papers('Readable', 2);
    dropInInbox(s, 'good.jsonl', good);
    // A gzip header followed by garbage: the stream breaks while reading.
    const broken = path.join(s.inbox, 'broken.jsonl.gz');
    writeFileSync(broken, Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03]), Buffer.from('not deflate data at all, not at all')]));
    utimesSync(broken, new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));

    p.clock.now = S[0]!;
    const outcome = await p.service.runDue(p.target());
    expect(outcome).toMatchObject({ status: 'sent', papers: 2 });
    expect(outcome?.notes.join('\n')).toMatch(/broken\.jsonl\.gz could not be read/);
    expect(readdirSync(path.join(s.inbox, 'failed'))).toEqual(['broken.jsonl.gz']);
    expect(readdirSync(path.join(s.inbox, 'processed'))).toEqual(['good.jsonl']);
    const text = readable(s.fake, digests(s.fake)[0]!);
    expect(text).toMatch(/broken\.jsonl\.gz/);
    for (const paper of good) expect(text).toContain(paper.title);
  });
  it('status shows each target\'s first sighting, recent digests with their message, the next run and the posted count', async () => {
    const s = await setup();
    const p = await open(s, { now: at(S[0]!, -60) });
    p.service.registerTargets();
    dropInInbox(s, 'status.jsonl', papers('Status', 2));
    p.clock.now = S[0]!;
    const outcome = await p.service.runDue(p.target());
    const status = p.service.status();
    expect(status.targets).toHaveLength(1);
    const [lab] = status.targets;
    expect(lab).toMatchObject({ name: 'lab', platform: 'slack', channel: 'C123', firstSeenAt: at(S[0]!, -60).toISOString(), postedPapers: 2, nextAt: S[1]!.toISOString() });
    expect(lab!.recent).toEqual([{ slot: S[0]!.toISOString(), kind: 'scheduled', status: 'sent', messageRef: outcome!.messageRef, detail: null }]);
    expect(status.sources).toEqual([]);
  });
});
