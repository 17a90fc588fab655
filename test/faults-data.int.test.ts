/**
 * Issue 11, data faults: concurrent writers on one data directory, indexes behind the store,
 * a long-running process that must see other processes' papers, and removing papers. The real
 * CLI runs as subprocesses (test/helpers/cli.ts); the "serve-like" process and the digest run
 * in this process on the real adapters, with the fake Slack on loopback. Nothing is mocked.
 *
 * Each test has its own data directory (removed after all: the tests run concurrently).
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { Bm25IndexFile } from '../src/adapters/bm25/bm25-index.ts';
import { FileWriteLock } from '../src/adapters/files/write-lock.ts';
import { openSqliteDatabase } from '../src/adapters/sqlite/sqlite-database.ts';
import { createDigest, dataFiles, openPaperbot, type Paperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { CLI_NODE_ARGS, runCliAsync, startCli, type CliResult } from './helpers/cli.ts';
import { startFakeSlack, type FakeSlack } from './helpers/fake-slack.ts';

const created: string[] = [];
const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
});

function dir(prefix: string): string {
  const made = mkdtempSync(path.join(os.tmpdir(), `paperbot-faults-data-${prefix}-`));
  created.push(made);
  return made;
}

interface TestPaper {
  id: string;
  title: string;
  abstract: string;
}

/** Papers with made-up words found nowhere in the seed corpus, so each title finds only itself. */
function papers(prefix: string, from: number, count: number): TestPaper[] {
  return Array.from({ length: count }, (_, i) => {
    const n = from + i;
    return {
      id: `2612.${String(n).padStart(5, '0')}`,
      title: `Vorpal ${prefix}${n} Lattices for Quibbling Snarks ${n}`,
      abstract: `We study vorpal ${prefix}${n} lattices and the quibbling of snarks in setting ${n}, with ${n % 7} frumious bandersnatches.`,
    };
  });
}

function writeJsonl(where: string, name: string, list: readonly TestPaper[]): string {
  const file = path.join(where, name);
  writeFileSync(file, `${list.map((p) => JSON.stringify(p)).join('\n')}\n`);
  return file;
}

/** A data directory, a place for corpus files, and the CLI bound to them. */
function world(name: string, env: Record<string, string> = {}) {
  const root = dir(name);
  const dataDir = path.join(root, 'data');
  const files = path.join(root, 'files');
  mkdirSync(files);
  const base = { PAPERBOT_DATA_DIR: dataDir, LOG_LEVEL: 'warn', LOCAL_EMBED_DIM: '256', ...env };
  return {
    root,
    dataDir,
    files,
    env: base,
    run: (args: readonly string[], extra: Record<string, string> = {}): Promise<CliResult> => runCliAsync(args, { ...base, ...extra }, { timeoutMs: 60_000 }),
    start: (args: readonly string[], extra: Record<string, string> = {}) => startCli(args, { ...base, ...extra }, { timeoutMs: 60_000 }),
    /** The library in this process (another "process" on the same directory: own connection, own indexes). */
    open: async (extra: Record<string, string> = {}, options: { watchStoreMs?: number } = {}): Promise<Paperbot> => {
      const paperbot = await openPaperbot(loadConfig({ OLLAMA_HOST: 'http://127.0.0.1:47', ...base, LOG_LEVEL: 'silent', ...extra }), { logger: createLogger('silent'), ...options });
      cleanups.push(() => paperbot.close());
      return paperbot;
    },
  };
}

/** The CLI as a subprocess whose stderr is readable while it runs (to act on what it says). */
function spawnCli(args: readonly string[], env: Record<string, string>): { stderr: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [...CLI_NODE_ARGS, ...args], {
    cwd: os.tmpdir(),
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', OLLAMA_HOST: 'http://127.0.0.1:47', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => (clearTimeout(timer), resolve(code))));
  cleanups.push(() => child.kill('SIGKILL'));
  return { stderr: () => stderr, exit };
}

/** Calls `check` until it returns true (a settled signal, not a sleep), failing after `timeoutMs`. */
async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function json<T>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
}

interface StatsJson {
  papers: number;
  storeGeneration: number;
  keywordIndex: { papers: number; upToDate: boolean };
  vectorIndex: { state: string; papers?: number };
}

/** The keyword index file as saved: the generation it is stamped with and its size. */
function savedKeywordIndex(dataDir: string): { generation: number; papers: number } {
  const { index, generation } = new Bm25IndexFile(dataFiles(dataDir).keywordIndex, { k1: 1.2, b: 0.75, titleWeight: 3 }).load();
  return { generation, papers: index.size };
}

const sqliteCount = (dataDir: string, sql: string): number => {
  const db = openSqliteDatabase(dataFiles(dataDir).database);
  try {
    return (db.prepare(sql).get() as { n: number }).n;
  } finally {
    db.close();
  }
};

describe.concurrent('issue 11: data faults', { timeout: 60_000 }, () => {
  it('concurrent writers: two CLI ingests of different files on one fresh data directory lose no paper from either index', async ({ expect }) => {
    const w = world('concurrent');
    const a = papers('alpha', 0, 400);
    const b = papers('beta', 1000, 400);
    const fileA = writeJsonl(w.files, 'a.jsonl', a);
    const fileB = writeJsonl(w.files, 'b.jsonl', b);
    // Both start on an empty directory: both want to seed too, and only one may.
    const [ra, rb] = await Promise.all([w.start(['ingest', fileA]).done, w.start(['ingest', fileB]).done]);
    expect(ra.status, ra.stderr).toBe(0);
    expect(rb.status, rb.stderr).toBe(0);

    const stats = json<StatsJson>(await w.run(['stats', '--json']));
    expect(stats.papers).toBe(53 + 800);
    expect(stats.keywordIndex.papers).toBe(stats.papers);
    expect(stats.vectorIndex.papers).toBe(stats.papers);
    // The files themselves are in step (not only the caught-up copy in memory).
    expect(savedKeywordIndex(w.dataDir)).toEqual({ generation: stats.storeGeneration, papers: stats.papers });

    const search = await w.run(['search', '--mode', 'keyword', '--limit', '1', b[399]!.title]);
    expect(search.stdout).toContain(`[${b[399]!.id}]`);
    // Every paper, by its exact title, through the keyword index as saved by the two writers.
    const { core } = await w.open({ RETRIEVAL_MODE: 'keyword' });
    const missing: string[] = [];
    for (const paper of [...a, ...b]) {
      const hits = (await core.search(paper.title, 1, 'keyword')).hits;
      if (hits[0]?.paperId !== paper.id) missing.push(paper.id);
    }
    expect(missing).toEqual([]);
  });

  it('the write lock: a second writer says it is waiting, gives up after WRITE_LOCK_TIMEOUT_MS with exit 1 and writes nothing, proceeds once the lock is free, and takes over a lock left by a dead process', async ({ expect }) => {
    const w = world('lock', { RETRIEVAL_MODE: 'keyword' });
    (await w.open()).close();
    const file = writeJsonl(w.files, 'new.jsonl', papers('gamma', 2000, 5));
    const lock = new FileWriteLock(dataFiles(w.dataDir).writeLock, { timeoutMs: 0 });
    const hold = await lock.acquire();
    try {
      const gaveUp = await w.run(['ingest', file], { WRITE_LOCK_TIMEOUT_MS: '300' });
      expect(gaveUp.status).toBe(1);
      expect(gaveUp.stderr).toContain(`waiting for another paperbot writer (pid ${process.pid})…`);
      const lines = gaveUp.stderr.trim().split('\n');
      expect(lines[lines.length - 1]).toMatch(/still holds the write lock .* after 300 ms \(WRITE_LOCK_TIMEOUT_MS\)/);
      expect(sqliteCount(w.dataDir, 'SELECT count(*) AS n FROM papers')).toBe(53);

      // Reads never need the lock.
      const read = await w.run(['search', '--mode', 'keyword', 'diffusion'], { WRITE_LOCK_TIMEOUT_MS: '0' });
      expect(read.status, read.stderr).toBe(0);

      // A patient writer: released as soon as it says it waits, it ingests.
      const waiting = spawnCli(['ingest', file], { ...w.env, WRITE_LOCK_TIMEOUT_MS: '30000' });
      await until(() => waiting.stderr().includes('waiting for another paperbot writer'), 'the second writer to wait', 30_000);
      hold.release();
      const status = await waiting.exit;
      expect(status, waiting.stderr()).toBe(0);
      expect(sqliteCount(w.dataDir, 'SELECT count(*) AS n FROM papers')).toBe(58);
    } finally {
      hold.release();
    }

    // A digest's gather while another writer keeps the lock: the inbox files stay for the next run (not failed/).
    const inbox = path.join(w.root, 'inbox');
    mkdirSync(inbox);
    const dropped = writeJsonl(inbox, 'waiting.jsonl', papers('theta', 2100, 2));
    utimesSync(dropped, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const digestConfig = path.join(w.root, 'paperbot.digest.yml');
    writeFileSync(digestConfig, ['targets:', '  - name: lab', '    platform: slack', '    channel: C1', '    cron: "0 8 * * 1-5"', '    timezone: Europe/Berlin', '    sources: [inbox]', ''].join('\n'));
    const digestEnv = { DIGEST_CONFIG: digestConfig, DIGEST_INBOX: inbox, WRITE_LOCK_TIMEOUT_MS: '200' };
    const gatherer = await w.open(digestEnv);
    const digest = (await createDigest(loadConfig({ ...w.env, ...digestEnv, LOG_LEVEL: 'silent' }), gatherer))!;
    const busy = await lock.acquire();
    const report = await digest.service.gather(digest.service.targets);
    busy.release();
    expect(report.inbox).toEqual([expect.objectContaining({ error: expect.stringMatching(/not scanned, its files wait for the next digest: .*WRITE_LOCK_TIMEOUT_MS/) })]);
    expect(statSync(dropped).isFile()).toBe(true);
    expect((await digest.service.gather(digest.service.targets)).inbox).toEqual([expect.objectContaining({ file: 'waiting.jsonl', added: 2 })]);
    gatherer.close();

    // A lock whose process is gone (kill -9) does not block anyone.
    writeFileSync(dataFiles(w.dataDir).writeLock, `${JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname(), token: 'dead', since: new Date().toISOString() })}\n`);
    const after = lock.tryAcquire();
    expect(after).toBeDefined();
    after!.release();
    expect(() => statSync(dataFiles(w.dataDir).writeLock)).toThrow();

    // A lock file paperbot cannot read (not its own): waited for while fresh, taken over once old.
    writeFileSync(dataFiles(w.dataDir).writeLock, 'not json\n');
    expect(lock.tryAcquire()).toBeUndefined();
    expect(readFileSync(dataFiles(w.dataDir).writeLock, 'utf8')).toBe('not json\n');
    utimesSync(dataFiles(w.dataDir).writeLock, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    const overOld = lock.tryAcquire();
    expect(overOld).toBeDefined();
    overOld!.release();
  });

  it('concurrent index --rebuild, ingest and remove on one data directory: every paper ingested and not removed is in both indexes, every removed one in neither', async ({ expect }) => {
    const w = world('rebuild-race');
    const first = papers('iota', 7000, 300);
    const seeded = await w.run(['ingest', writeJsonl(w.files, 'first.jsonl', first)]);
    expect(seeded.status, seeded.stderr).toBe(0);
    const second = papers('kappa', 8000, 300);
    const gone = first.slice(0, 20).map((paper) => paper.id);
    const runs = await Promise.all([
      w.start(['index', '--rebuild']).done,
      w.start(['ingest', writeJsonl(w.files, 'second.jsonl', second)]).done,
      w.start(['remove', ...gone]).done,
      w.start(['index', '--rebuild']).done,
    ]);
    for (const run of runs) expect(run.status, run.stderr).toBe(0);

    const stats = json<StatsJson>(await w.run(['stats', '--json']));
    const kept = [...first.slice(20), ...second];
    expect(stats.papers).toBe(53 + kept.length);
    expect(stats.keywordIndex).toMatchObject({ papers: stats.papers, upToDate: true });
    expect(stats.vectorIndex).toMatchObject({ state: 'ready', papers: stats.papers });
    expect(savedKeywordIndex(w.dataDir)).toEqual({ generation: stats.storeGeneration, papers: stats.papers });
    const { core } = await w.open();
    const wrong: string[] = [];
    for (const paper of kept) {
      if ((await core.search(paper.title, 1, 'keyword')).hits[0]?.paperId !== paper.id) wrong.push(`keyword missed ${paper.id}`);
      if ((await core.search(paper.title, 1, 'vector')).hits[0]?.paperId !== paper.id) wrong.push(`vector missed ${paper.id}`);
    }
    for (const paper of first.slice(0, 20)) {
      for (const mode of ['keyword', 'vector'] as const) {
        if ((await core.search(paper.title, 5, mode)).hits.some((hit) => hit.paperId === paper.id)) wrong.push(`${mode} still finds removed ${paper.id}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('records a live source fetched pass the same checks as a file: an empty title or abstract and an abstract over MAX_ABSTRACT_CHARS are rejected by position, the rest stored', async ({ expect }) => {
    const w = world('fetched', { RETRIEVAL_MODE: 'keyword' });
    const paperbot = await w.open();
    const [good, emptyTitle, emptyAbstract, huge] = papers('lambda', 9000, 4).map((paper) => ({ sourceId: paper.id, title: paper.title, abstract: paper.abstract, authors: [], categories: [], metadata: {} }));
    const report = await paperbot.library.ingestRecords(
      [good!, { ...emptyTitle!, title: ' \u200b ' }, { ...emptyAbstract!, abstract: '|---|' }, { ...huge!, abstract: 'word '.repeat(4001) }],
      { name: 'huggingface', bulk: 'never' },
    );
    expect(report).toMatchObject({ file: 'huggingface', format: 'fetched', added: 1 });
    expect(report.rejected).toEqual([
      { line: 2, reason: 'empty title (no letters or digits)' },
      { line: 3, reason: 'empty abstract (no letters or digits)' },
      { line: 4, reason: 'abstract is 20005 characters, over MAX_ABSTRACT_CHARS (20000)' },
    ]);
    expect(paperbot.library.store.count()).toBe(54);
    expect(paperbot.core.library.store.getById(huge!.sourceId)).toBeUndefined();
    expect((await paperbot.core.search(good!.title, 1, 'keyword')).hits[0]?.paperId).toBe(good!.sourceId);
  });

  it('ingest --dry-run on a directory with no data yet creates nothing and counts the shipped corpus a real first ingest would add', async ({ expect }) => {
    const w = world('dry-fresh');
    const file = writeJsonl(w.files, 'new.jsonl', papers('mu', 9100, 2));
    const dry = await w.run(['ingest', '--dry-run', '--json', file]);
    expect(dry.status, dry.stderr).toBe(0);
    expect(json<{ dryRun: boolean; totals: object; papers: number }>(dry)).toMatchObject({ dryRun: true, totals: { added: 2, rejected: 0 }, papers: 53 + 2 });
    expect(() => statSync(w.dataDir)).toThrow();
  });

  it('an index file stamped behind the store (papers added and removed since) is caught up at open, never served stale, and saved in step', async ({ expect }) => {
    const w = world('behind');
    const first = papers('delta', 3000, 20);
    const later = papers('epsilon', 4000, 20);
    expect((await w.run(['ingest', writeJsonl(w.files, 'first.jsonl', first)])).status).toBe(0);
    // Keep the index files as they are now, then move the store on: papers added, one removed.
    const files = dataFiles(w.dataDir);
    const saved = [files.keywordIndex, files.vectorIndex, `${files.vectorIndex}.json`, `${files.vectorIndex}.q8`];
    for (const file of saved) copyFileSync(file, `${file}.old`);
    const writer = await w.open();
    await writer.core.ingest([writeJsonl(w.files, 'later.jsonl', later)]);
    await writer.core.remove([first[0]!.id]);
    writer.close();
    for (const file of saved) copyFileSync(`${file}.old`, file);
    const stamped = savedKeywordIndex(w.dataDir);
    expect(stamped.papers).toBe(53 + 20);

    const found = await w.run(['search', '--mode', 'keyword', '--limit', '1', later[7]!.title]);
    expect(found.stdout).toContain(`[${later[7]!.id}]`);
    const gone = await w.run(['search', '--mode', 'vector', '--json', '--limit', '50', first[0]!.title]);
    expect(json<{ hits: { paperId: string }[] }>(gone).hits.map((h) => h.paperId)).not.toContain(first[0]!.id);
    const stats = json<StatsJson>(await w.run(['stats', '--json']));
    expect(stats.papers).toBe(53 + 20 + 20 - 1);
    expect(stats.keywordIndex).toMatchObject({ papers: stats.papers, upToDate: true });
    expect(stats.vectorIndex.papers).toBe(stats.papers);
    // The reader found the lock free and saved what it caught up.
    expect(savedKeywordIndex(w.dataDir)).toEqual({ generation: stats.storeGeneration, papers: stats.papers });
  });

  it('a long-running process (serve) sees papers another process ingests and stops seeing papers it removes, within STORE_POLL_MS, without a restart', async ({ expect }) => {
    const w = world('serve');
    const served = await w.open({}, { watchStoreMs: 100 });
    const fresh = papers('zeta', 5000, 3);
    const title = fresh[1]!.title;
    const finds = async (id: string) => (await served.core.search(title, 3, 'hybrid')).hits.some((hit) => hit.paperId === id);
    expect(await finds(fresh[1]!.id)).toBe(false);

    const ingested = await w.run(['ingest', writeJsonl(w.files, 'fresh.jsonl', fresh)]);
    expect(ingested.status, ingested.stderr).toBe(0);
    await until(() => finds(fresh[1]!.id), 'the served library to find the new paper');
    expect(served.library.keywordIndex.size).toBe(53 + 3);
    expect(served.library.vectors?.state.kind === 'ready' ? served.library.vectors.state.index.size : -1).toBe(53 + 3);
    const answer = await served.core.ask(`What do vorpal zeta5001 lattices do for quibbling snarks?`);
    expect(answer.sources.map((s) => s.paperId)).toContain(fresh[1]!.id);

    const other = await w.open();
    await other.core.remove([fresh[1]!.id]);
    other.close();
    // The store no longer returns it at once, and before the poll its stale index entry does not
    // make the question look more answerable than to a process in step (it was answered from
    // unrelated papers); the poll then drops it from both in-memory indexes.
    expect(await finds(fresh[1]!.id)).toBe(false);
    const asked = `What do vorpal zeta5001 lattices do for quibbling snarks?`;
    const afterRemoval = await served.core.ask(asked);
    const reopened = await w.open();
    const inStep = await reopened.core.ask(asked);
    reopened.close();
    expect(afterRemoval.sources.map((source) => source.paperId)).not.toContain(fresh[1]!.id);
    // Within the BM25 statistics' drift (the stale index still counts the paper in idf); the removed paper's own match would be ~0.9.
    expect(Math.abs(afterRemoval.relevance.ratio - inStep.relevance.ratio)).toBeLessThan(0.05);
    await until(() => served.library.keywordIndex.size === 53 + 2, 'the served keyword index to drop the removed paper');
    await until(() => served.library.vectors?.state.kind === 'ready' && served.library.vectors.state.index.size === 53 + 2, 'the served vector index to drop it');
  });

  it('remove and ingest --dry-run: the dry run writes nothing; remove reports removed and unknown ids, exit 1 when nothing matched; a removed paper is never cited by ask --json nor posted by a digest', async ({ expect }) => {
    const slack: FakeSlack = await startFakeSlack();
    cleanups.push(() => slack.close());
    const root = dir('remove-digest');
    const digestConfig = path.join(root, 'paperbot.digest.yml');
    writeFileSync(digestConfig, ['targets:', '  - name: lab', '    platform: slack', '    channel: C123', '    cron: "0 8 * * 1-5"', '    timezone: Europe/Berlin', '    size: 5', '    empty: skip', '    sources: [inbox]', ''].join('\n'));
    const w = world('remove', { RETRIEVAL_MODE: 'keyword', DIGEST_CONFIG: digestConfig, DIGEST_INBOX: path.join(root, 'inbox'), SLACK_BOT_TOKEN: 'xoxb-test', SLACK_API_URL: slack.apiUrl });
    const paperbot = await w.open();
    const digest = (await createDigest(loadConfig({ ...w.env, LOG_LEVEL: 'silent' }), paperbot))!;
    digest.service.registerTargets();
    const list = papers('eta', 6000, 3);
    const file = writeJsonl(w.files, 'eta.jsonl', list);

    // The dry run: the report of an ingest, and nothing written (no paper, no batch, no index save).
    const batchesBefore = sqliteCount(w.dataDir, 'SELECT count(*) AS n FROM ingest_batches');
    const indexBefore = statSync(dataFiles(w.dataDir).keywordIndex).mtimeMs;
    const dry = await w.run(['ingest', '--dry-run', '--json', file, file]);
    expect(dry.status, dry.stderr).toBe(0);
    expect(json<{ dryRun: boolean; totals: object; papers: number }>(dry)).toMatchObject({ dryRun: true, totals: { added: 3, updated: 0, unchanged: 3, rejected: 0 }, papers: 56 });
    expect(sqliteCount(w.dataDir, 'SELECT count(*) AS n FROM papers')).toBe(53);
    expect(sqliteCount(w.dataDir, 'SELECT count(*) AS n FROM ingest_batches')).toBe(batchesBefore);
    expect(statSync(dataFiles(w.dataDir).keywordIndex).mtimeMs).toBe(indexBefore);

    await paperbot.core.ingest([file]);
    const removed = await w.run(['remove', '--json', `${list[0]!.id}v2`, '2612.99999']);
    expect(removed.status, removed.stderr).toBe(0);
    expect(json(removed)).toEqual({ removed: [{ id: list[0]!.id, title: list[0]!.title }], notFound: ['2612.99999'], papers: 55 });
    const none = await w.run(['remove', '2612.99999']);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/No paper with id "2612\.99999": nothing removed/);

    const asked = await w.run(['ask', '--json', `What are vorpal eta6000 lattices for quibbling snarks?`]);
    expect(asked.status, asked.stderr).toBe(0);
    expect(json<{ sources: { paperId: string }[] }>(asked).sources.map((s) => s.paperId)).not.toContain(list[0]!.id);
    expect(paperbot.core.library.store.getById(list[0]!.id)).toBeUndefined();

    // The digest run in the first process (whose indexes still held the paper) posts the others only.
    const outcome = await digest.service.postNow(digest.service.target('lab'));
    expect(outcome.status).toBe('sent');
    const posted = JSON.stringify(slack.calls.filter((call) => call.method === 'chat.postMessage').map((call) => call.body));
    expect(posted).toContain(list[1]!.title);
    expect(posted).toContain(list[2]!.title);
    expect(posted).not.toContain(list[0]!.title);
  });
});
