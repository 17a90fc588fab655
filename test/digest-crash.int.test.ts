/**
 * Real crashes of the digest: the CLI (`paperbot digest --now`) runs as a subprocess against the
 * fake Slack Web API on loopback; the fake holds the `chat.postMessage` response and the test
 * SIGKILLs the process while it waits, once before Slack kept the message (crash between claim
 * and post) and once after (crash between post and record). The next run must reconcile from the
 * channel's history: no double post, no lost paper. Last, two `serve` processes on one data
 * directory with an every-2-seconds schedule post each slot at most once.
 */
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createDigest, dataFiles, openPaperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import { SqliteDigestStore, type SlotRecord } from '../src/adapters/sqlite/sqlite-digest-store.ts';
import { createLogger } from '../src/logger.ts';
import { startCli as startCliProcess, type CliResult, type StartedCli } from './helpers/cli.ts';
import { startFakeSlack, type FakeSlack, type StoredMessage } from './helpers/fake-slack.ts';
import { startServe, type Served } from './helpers/serve.ts';
import { tempDir } from './helpers/temp.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length) await Promise.resolve(cleanups.pop()?.()).catch(() => undefined);
});

interface TestPaper {
  id: string;
  title: string;
  abstract: string;
  authors: string[];
}

function papers(prefix: string, count: number): TestPaper[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `2611.${String(i + 1).padStart(5, '0')}`,
    title: `${prefix} paper ${i + 1} on sparse retrieval`,
    abstract: `We study sparse retrieval for scientific abstracts, variant ${prefix} ${i + 1}. Our method improves recall on long-tail queries while keeping latency low.`,
    authors: ['Ada Lovelace', 'Alan Turing'],
  }));
}

interface Setup {
  env: Record<string, string>;
  dataDir: string;
  fake: FakeSlack;
}

/**
 * A data directory where target `lab` was first seen and `list` then arrived (through the inbox's
 * ingest path), so `digest --now --target lab` has exactly these papers to post.
 */
async function setup(list: readonly TestPaper[], options: { cron?: string; empty?: 'skip' | 'post' } = {}): Promise<Setup> {
  const fake = await startFakeSlack();
  cleanups.push(() => fake.close());
  const dir = tempDir();
  const dataDir = path.join(dir, 'data');
  const digestConfig = path.join(dir, 'paperbot.digest.yml');
  writeFileSync(
    digestConfig,
    [
      'targets:',
      '  - name: lab',
      '    platform: slack',
      '    channel: C123',
      `    cron: "${options.cron ?? '0 8 * * *'}"`,
      '    timezone: Europe/Berlin',
      '    size: 3',
      '    thread_max: 2',
      `    empty: ${options.empty ?? 'skip'}`,
      '    sources: [inbox]',
      '',
    ].join('\n'),
  );
  const env = {
    PAPERBOT_DATA_DIR: dataDir,
    DIGEST_CONFIG: digestConfig,
    DIGEST_INBOX: path.join(dir, 'inbox'),
    SLACK_BOT_TOKEN: 'xoxb-test',
    SLACK_API_URL: fake.apiUrl,
    OLLAMA_HOST: 'http://127.0.0.1:47',
    RETRIEVAL_MODE: 'keyword',
    LOG_LEVEL: 'silent',
  };
  const config = loadConfig(env);
  const logger = createLogger('silent');
  const paperbot = await openPaperbot(config, { seed: false, logger });
  const { core } = paperbot;
  try {
    (await createDigest(config, paperbot))!.service.registerTargets();
    const file = path.join(dir, 'papers.jsonl');
    writeFileSync(file, list.map((p) => JSON.stringify(p)).join('\n') + '\n');
    const report = await core.library.ingest([file], { origin: { name: 'inbox', bulk: 'auto' } });
    expect(report.totals.added).toBe(list.length);
  } finally {
    core.close();
  }
  return { env, dataDir, fake };
}

/** The real CLI, asynchronously (the fake Slack in this process must keep answering); killed at cleanup. */
function startCli(args: readonly string[], env: Record<string, string>): StartedCli {
  const started = startCliProcess(args, env);
  cleanups.push(() => {
    started.kill('SIGKILL');
    return started.done;
  });
  return started;
}

async function runCli(args: readonly string[], env: Record<string, string>): Promise<CliResult> {
  return startCli(args, env).done;
}

/** The channel's top-level digest messages (carrying the digest metadata), oldest first. */
function digests(fake: FakeSlack): StoredMessage[] {
  return fake.channelMessages('C123').filter((m) => m.thread_ts === undefined && (m.metadata as { event_type?: string } | undefined)?.event_type === 'paperbot_digest');
}

function markerOf(message: StoredMessage): string | undefined {
  return (message.metadata as { event_payload?: { marker?: string } } | undefined)?.event_payload?.marker;
}

/** A digest as a reader sees it: its text, its blocks, and its thread replies. */
function readable(fake: FakeSlack, message: StoredMessage): string {
  const replies = fake.channelMessages('C123').filter((m) => m.thread_ts === message.ts);
  return [message, ...replies].map((m) => `${m.text ?? ''}\n${JSON.stringify(m.blocks ?? [])}`).join('\n');
}

/** The digest's slot records, read from the data directory (after the processes are gone). */
async function slotRecords(s: Setup): Promise<SlotRecord[]> {
  const paperbot = await openPaperbot(loadConfig(s.env), { seed: false, logger: createLogger('silent') });
  try {
    return new SqliteDigestStore(paperbot.database).history('lab', 50);
  } finally {
    paperbot.close();
  }
}

/** How many of the digest's slots are sent and how many still claimed, read-only from the database while `serve` runs. */
function slotStatuses(s: Setup): { sent: number; claimed: number } {
  const db = new Database(dataFiles(s.dataDir).database, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare<[], { status: string; n: number }>(`SELECT status, count(*) AS n FROM digest_slots WHERE target = 'lab' GROUP BY status`).all();
    const count = (status: string) => rows.find((r) => r.status === status)?.n ?? 0;
    return { sent: count('sent'), claimed: count('claimed') };
  } finally {
    db.close();
  }
}

/** Starts `digest --now --target lab`, waits for its first chat.postMessage (held as asked), and SIGKILLs it there. */
async function crashWhilePosting(s: Setup, store: boolean): Promise<{ marker: string }> {
  const held = s.fake.holdNext('chat.postMessage', { store, timeoutMs: 30_000 });
  const run = startCli(['digest', '--now', '--target', 'lab'], s.env);
  const raced = await Promise.race([held, run.done.then((r) => ({ exited: r }))]);
  if ('exited' in raced) throw new Error(`digest --now exited before posting: ${raced.exited.stderr}`);
  run.kill('SIGKILL');
  const killed = await run.done;
  expect(killed.signal).toBe('SIGKILL');
  const metadata = raced.call.body['metadata'] as { event_payload?: { marker?: string } };
  expect(metadata.event_payload?.marker).toMatch(/^paperbot digest lab now:/);
  return { marker: metadata.event_payload!.marker! };
}

describe('the fake Slack holds a response', () => {
  it('store: true keeps the message but answers only on release; store: false keeps nothing until release; drop resets the connection', async () => {
    const fake = await startFakeSlack();
    cleanups.push(() => fake.close());
    const post = (text: string) =>
      fetch(`${fake.apiUrl}chat.postMessage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'C9', text }) }).then(
        (r) => r.json() as Promise<{ ok: boolean; ts?: string }>,
      );

    const holdKept = fake.holdNext('chat.postMessage', { store: true });
    let answered = false;
    const kept = post('kept').then((r) => ((answered = true), r));
    const heldKept = await holdKept;
    expect(heldKept.call.held).toBe(true);
    expect(fake.channelMessages('C9').map((m) => m.text)).toEqual(['kept']);
    // Settled: a later call has been answered, so the fake has had its chance to answer the held one.
    await fetch(`${fake.apiUrl}auth.test`, { method: 'POST' }).then((r) => r.json());
    expect(answered).toBe(false);
    heldKept.release();
    const keptAnswer = await kept;
    expect(keptAnswer).toMatchObject({ ok: true, ts: fake.channelMessages('C9')[0]!.ts });

    const holdLost = fake.holdNext('chat.postMessage', { store: false });
    const lost = post('not yet');
    const heldLost = await holdLost;
    expect(fake.channelMessages('C9').map((m) => m.text)).toEqual(['kept']);
    expect(heldLost.call.response).toEqual({});
    heldLost.release();
    expect(await lost).toMatchObject({ ok: true });
    expect(fake.channelMessages('C9').map((m) => m.text)).toEqual(['kept', 'not yet']);

    // drop(): no answer at all, the connection is reset; the message stays kept.
    const holdDropped = fake.holdNext('chat.postMessage', { store: true });
    const dropped = post('dropped');
    (await holdDropped).drop();
    await expect(dropped).rejects.toThrow();
    expect(fake.channelMessages('C9').map((m) => m.text)).toEqual(['kept', 'not yet', 'dropped']);

    // Only the next call is held.
    expect(await post('plain')).toMatchObject({ ok: true });
  });
});

describe('a digest run killed mid-post', () => {
  it('between claim and post: the next run finds no marker in the channel, releases the claim and posts the papers once', async () => {
    const list = papers('Unposted', 2);
    const s = await setup(list);
    const { marker } = await crashWhilePosting(s, false);
    expect(s.fake.channelMessages('C123')).toEqual([]);
    const crashedSlot = marker.slice('paperbot digest lab '.length);
    expect((await slotRecords(s)).find((r) => r.slot === crashedSlot)).toMatchObject({ status: 'claimed' });

    const again = await runCli(['digest', '--now', '--target', 'lab'], s.env);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/interrupted lab digest .*not posted/);
    expect(again.stdout).toMatch(/posted the lab digest: 2 new papers/);
    expect(s.fake.calls.some((c) => c.method === 'conversations.history' && c.body['channel'] === 'C123')).toBe(true);

    const posted = digests(s.fake);
    expect(posted).toHaveLength(1);
    expect(markerOf(posted[0]!)).not.toBe(marker);
    const text = readable(s.fake, posted[0]!);
    for (const paper of list) expect(text).toContain(paper.title);
    const records = await slotRecords(s);
    expect(records.find((r) => r.slot === crashedSlot)).toMatchObject({ status: 'abandoned' });
    expect(records.filter((r) => r.status === 'sent')).toHaveLength(1);

    // And a third run has nothing new.
    const third = await runCli(['digest', '--now', '--target', 'lab'], s.env);
    expect(third.status, third.stderr).toBe(0);
    expect(third.stdout).toMatch(/no new papers for lab: nothing posted/);
    expect(digests(s.fake)).toHaveLength(1);
  }, 40_000);

  it('between post and record: the next run finds the marker, records it as sent, and does not post those papers again', async () => {
    const list = papers('Posted', 2);
    const s = await setup(list);
    const { marker } = await crashWhilePosting(s, true);
    const inChannel = digests(s.fake);
    expect(inChannel).toHaveLength(1);
    expect(markerOf(inChannel[0]!)).toBe(marker);

    const again = await runCli(['digest', '--now', '--target', 'lab'], s.env);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/interrupted lab digest .*found in the channel and recorded as sent/);
    expect(again.stdout).toMatch(/no new papers for lab: nothing posted/);
    expect(digests(s.fake)).toHaveLength(1);
    expect(s.fake.channelMessages('C123').filter((m) => m.thread_ts === undefined)).toHaveLength(1);

    const listed = await runCli(['digest', '--list', '--target', 'lab', '--json'], s.env);
    expect(listed.status, listed.stderr).toBe(0);
    const parsed = JSON.parse(listed.stdout) as { digest: { slot: string; messageRef: string } | null; papers: Array<{ id: string; title: string }> };
    expect(parsed.digest).toEqual({ slot: marker.slice('paperbot digest lab '.length), messageRef: inChannel[0]!.ts });
    expect(parsed.papers.map((p) => p.id).sort()).toEqual(list.map((p) => p.id).sort());
  }, 40_000);
  it('while posting the thread: the channel message stays recorded, and the papers meant for the thread go into the next digest', async () => {
    const list = papers('Threaded', 5); // size 3 in the channel message, 2 in the thread
    const s = await setup(list);
    const heldMain = s.fake.holdNext('chat.postMessage', { store: true, timeoutMs: 30_000 });
    const run = startCli(['digest', '--now', '--target', 'lab'], s.env);
    const main = await heldMain;
    // Let the channel message through; hold the first thread reply (not kept) and crash there.
    const heldReply = s.fake.holdNext('chat.postMessage', { store: false, timeoutMs: 30_000 });
    main.release();
    const reply = await heldReply;
    expect(reply.call.body['thread_ts']).toBeDefined();
    run.kill('SIGKILL');
    expect((await run.done).signal).toBe('SIGKILL');
    expect(digests(s.fake)).toHaveLength(1);

    const again = await runCli(['digest', '--now', '--target', 'lab'], s.env);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/posted the lab digest: 2 new papers/);
    const posted = digests(s.fake);
    expect(posted).toHaveLength(2);
    // Every paper reached the channel: three in the first digest's message, two in the second digest.
    const firstText = `${posted[0]!.text ?? ''}${JSON.stringify(posted[0]!.blocks ?? [])}`;
    const secondText = readable(s.fake, posted[1]!);
    for (const paper of list) expect(firstText.includes(paper.title) || secondText.includes(paper.title), paper.title).toBe(true);
    expect(list.filter((paper) => secondText.includes(paper.title))).toHaveLength(2);
  }, 40_000);
});

describe('two serve processes on one data directory', () => {
  it('with an every-2-seconds schedule, post each slot at most once and each paper once', async () => {
    const list = papers('Served', 2);
    const s = await setup(list, { cron: '*/2 * * * * *', empty: 'post' });
    // Post-only Slack (no app token): the digest needs only the bot token.
    const served: Served[] = await Promise.all([startServe(s.env, /digest: \d+ target/, 30_000), startServe(s.env, /digest: \d+ target/, 30_000)]);
    for (const one of served) cleanups.push(() => one.stop());
    // Settled: the slot records (read from the live database) show two slots sent and none in flight.
    await expect.poll(() => slotStatuses(s), { timeout: 20_000, interval: 100 }).toSatisfy((count) => count.sent >= 2 && count.claimed === 0);
    const codes = await Promise.all(served.map((one) => one.stop()));
    expect(codes, served.map((one) => one.stderr()).join('\n----\n')).toEqual([0, 0]);

    const posted = digests(s.fake);
    const markers = posted.map((m) => markerOf(m));
    expect(posted.length).toBeGreaterThanOrEqual(2);
    expect(new Set(markers).size).toBe(markers.length);
    const all = posted.map((m) => readable(s.fake, m));
    for (const paper of list) expect(all.filter((text) => text.includes(paper.title))).toHaveLength(1);
    const records = await slotRecords(s);
    expect(records.filter((r) => r.status === 'claimed')).toEqual([]);
    expect(records.filter((r) => r.status === 'sent')).toHaveLength(posted.length);
    // Ensure both processes really ran a scheduler over the same slots.
    for (const one of served) expect(one.stderr()).toMatch(/digest: 1 targets, next at /);
  }, 40_000);
});
