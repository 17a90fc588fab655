/**
 * The daily digest end to end: the real CLI (`bin/paperbot.js`) as a subprocess, posting through
 * the fake Slack Web API and the fake Discord REST endpoint, fetching from fake paper sources, all
 * on loopback. Nothing of paperbot is mocked: the fakes speak each platform's protocol.
 *
 * The CLI runs asynchronously (spawn, not spawnSync), so the in-process fakes keep answering.
 * Each test has its own data directory, inbox, config and fakes, so the tests run concurrently
 * (two cores: subprocesses dominate the time); temporary directories are removed after all.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { ROOT, runCliAsync, type CliResult } from './helpers/cli.ts';
import { CHANNEL_ID as DISCORD_CHANNEL_ID, TOKEN as DISCORD_TOKEN, startFakeDiscord, type FakeDiscord } from './helpers/fake-discord.ts';
import { startFakeOllama, type ChatRequestBody } from './helpers/fake-ollama.ts';
import { startFakePaperSources } from './helpers/fake-paper-sources.ts';
import { startFakeSlack, type FakeSlack, type RecordedCall } from './helpers/fake-slack.ts';
import { startServe } from './helpers/serve.ts';

// ---------------------------------------------------------------------------------------------
// Temporary directories (removed after all tests: the tests run concurrently, so not afterEach)

const created: string[] = [];
function dir(prefix: string): string {
  const made = mkdtempSync(path.join(os.tmpdir(), `paperbot-digest-e2e-${prefix}-`));
  created.push(made);
  return made;
}
const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  await Promise.allSettled(closers.map((close) => close()));
  for (const made of created) rmSync(made, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// The CLI, asynchronously

/** One test's world: a data dir, an inbox, a digest config path and a working directory. */
interface World {
  env: Record<string, string>;
  inbox: string;
  config: string;
  cwd: string;
  run: (args: readonly string[], extra?: Record<string, string>) => Promise<CliResult>;
}

function world(name: string, env: Record<string, string> = {}): World {
  const root = dir(name);
  const inbox = path.join(root, 'inbox');
  const config = path.join(root, 'paperbot.digest.yml');
  const cwd = path.join(root, 'cwd');
  mkdirSync(cwd);
  const base = { PAPERBOT_DATA_DIR: path.join(root, 'data'), DIGEST_INBOX: inbox, DIGEST_CONFIG: config, RETRIEVAL_MODE: 'keyword', ...env };
  return { env: base, inbox, config, cwd, run: (args, extra = {}) => runCliAsync(args, { ...base, ...extra }, { cwd, timeoutMs: 45_000 }) };
}

// ---------------------------------------------------------------------------------------------
// Papers and configs

interface InboxPaper {
  id: string;
  title: string;
  abstract: string;
  authors?: string[];
  published?: string;
}

/** Drops papers into the inbox as JSON Lines, dated in the past (the inbox skips files changed in the last 2 s). */
function dropInbox(inbox: string, name: string, papers: readonly InboxPaper[]): string {
  mkdirSync(inbox, { recursive: true });
  const file = path.join(inbox, name);
  writeFileSync(file, `${papers.map((p) => JSON.stringify(p)).join('\n')}\n`);
  const past = new Date(Date.now() - 60_000);
  utimesSync(file, past, past);
  return file;
}

interface TargetSpec {
  name: string;
  platform: string;
  /** Written as is: quote it yourself for a string, leave a snowflake bare to test integers. */
  channel: string;
  cron?: string;
  timezone?: string;
  size?: number;
  thread_max?: number;
  topics?: string[];
  empty?: 'skip' | 'post';
  sources?: string[];
  arxiv_categories?: string[];
}

function targetsYaml(targets: readonly TargetSpec[]): string {
  const lines = ['targets:'];
  for (const t of targets) {
    lines.push(`  - name: ${t.name}`, `    platform: ${t.platform}`, `    channel: ${t.channel}`, `    cron: ${JSON.stringify(t.cron ?? '0 8 * * 1-5')}`, `    timezone: ${t.timezone ?? 'Europe/Berlin'}`);
    if (t.size !== undefined) lines.push(`    size: ${t.size}`);
    if (t.thread_max !== undefined) lines.push(`    thread_max: ${t.thread_max}`);
    if (t.topics) lines.push(`    topics: [${t.topics.join(', ')}]`);
    if (t.empty) lines.push(`    empty: ${t.empty}`);
    lines.push(`    sources: [${(t.sources ?? ['inbox']).join(', ')}]`);
    if (t.arxiv_categories) lines.push(`    arxiv_categories: [${t.arxiv_categories.join(', ')}]`);
  }
  return `${lines.join('\n')}\n`;
}

const writeTargets = (file: string, targets: readonly TargetSpec[]) => writeFileSync(file, targetsYaml(targets));

/** Four papers with words found nowhere in the seed corpus, newest first by publication date. */
const PAPERS: InboxPaper[] = [
  {
    id: '2611.09001',
    title: 'Zyxomorphic Sketches for Citation Graph Retrieval',
    abstract: 'We introduce zyxomorphic sketches, a compact summary of citation graphs built for retrieval. Zyxomorphic sketches answer citation queries 7 times faster than graph traversal on 3 benchmarks.',
    authors: ['Ada Quint', 'Bo Rivers', 'Cy Stone', 'Di Tran'],
    published: '2026-11-26',
  },
  {
    id: '2611.09002',
    title: 'Quillwort Attention for Very Long Abstracts',
    abstract: 'Quillwort attention reads abstracts of any length with a fixed memory budget by pooling distant sentences into shared quillwort slots.',
    authors: ['Eve Ulm'],
    published: '2026-11-25',
  },
  {
    id: '2611.09003',
    title: 'Marmoset Tokenisers Under Domain Shift',
    abstract: 'Marmoset tokenisers split chemistry and legal text into stable pieces, and we measure how their vocabularies drift when the domain shifts.',
    published: '2026-11-24',
  },
  {
    id: '2611.09004',
    title: 'Lanternfish Rerankers for Sparse Candidates',
    abstract: 'Lanternfish rerankers rescore sparse retrieval candidates with a small cross-encoder distilled from a larger teacher model.',
    published: '2026-11-23',
  },
];
const TITLES = PAPERS.map((p) => p.title);
const ZYX_QUESTION = 'What are zyxomorphic sketches of citation graphs good for?';

// ---------------------------------------------------------------------------------------------
// Reading what the fakes received

/** Every file under `root` (any depth), as paths relative to it. */
function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)));
}

const postMessages = (slack: FakeSlack): RecordedCall[] => slack.calls.filter((c) => c.method === 'chat.postMessage');
const textOf = (value: unknown): string => JSON.stringify(value ?? null);

/** The titles (of `titles`) that a piece of text shows. */
const titlesIn = (text: string, titles: readonly string[]): string[] => titles.filter((t) => text.includes(t));

/** `Sources:` lines of a text answer, up to `Also relevant:`. */
function citedSourceLines(stdout: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.indexOf('Sources:');
  if (start < 0) return [];
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((line) => !/^\s+\[\d+\] /.test(line));
  return end < 0 ? rest : rest.slice(0, end);
}

function slackEnv(slack: FakeSlack): Record<string, string> {
  return { SLACK_BOT_TOKEN: 'xoxb-digest-test', SLACK_API_URL: slack.apiUrl };
}

async function fakeSlack(): Promise<FakeSlack> {
  const slack = await startFakeSlack();
  closers.push(() => slack.close());
  return slack;
}

async function fakeDiscord(): Promise<FakeDiscord> {
  const discord = await startFakeDiscord();
  closers.push(() => discord.close());
  return discord;
}

// ---------------------------------------------------------------------------------------------

// Subprocesses on two shared cores: allow more than the default 60 s when the machine is busy.
describe.concurrent('paperbot digest end to end', { timeout: 120_000 }, () => {
  it('Slack: inbox papers are posted by digest --now (overflow in a thread), the inbox file moves to processed/, a second run posts nothing (skip) or an empty-day message (post), and ask answers about a new paper', async ({ expect }) => {
    const slack = await fakeSlack();
    // The default retrieval (hybrid, local embedder) here: the new papers must be askable with it too.
    const w = world('slack', { ...slackEnv(slack), RETRIEVAL_MODE: 'hybrid', LOCAL_EMBED_DIM: '256' });
    const target: TargetSpec = { name: 'lab-slack', platform: 'slack', channel: 'C0DIGEST01', size: 2, thread_max: 5, empty: 'skip', sources: ['inbox'] };
    writeTargets(w.config, [target]);
    // Dropped before the first digest command: the inbox is scanned after the target is registered.
    dropInbox(w.inbox, 'papers.jsonl', PAPERS);

    const first = await w.run(['digest', '--now', '--target', 'lab-slack']);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^posted the lab-slack digest: 4 new papers \(message 1700000000\.\d+\)\n$/);

    const posts = postMessages(slack);
    expect(posts.length, textOf(posts)).toBeGreaterThanOrEqual(2);
    const [main, ...replies] = posts;
    expect(main!.body['channel']).toBe('C0DIGEST01');
    expect(main!.body['thread_ts']).toBeUndefined();
    expect(main!.authorization).toBe('Bearer xoxb-digest-test');
    const mainTs = String(main!.response['ts']);
    expect(first.stdout).toContain(`(message ${mainTs})`);
    for (const reply of replies) {
      expect(reply.body['channel']).toBe('C0DIGEST01');
      expect(reply.body['thread_ts']).toBe(mainTs);
    }
    const mainText = textOf(main!.body['blocks']);
    const threadText = textOf(replies.map((r) => r.body['blocks']));
    expect(mainText).toContain('4 new papers');
    // size 2: two papers in the channel message, the other two in the thread, each exactly once.
    expect(titlesIn(mainText, TITLES)).toHaveLength(2);
    expect(titlesIn(threadText, TITLES)).toHaveLength(2);
    expect([...titlesIn(mainText, TITLES), ...titlesIn(threadText, TITLES)].sort()).toEqual([...TITLES].sort());
    // The newest (by publication date) leads; titles link to arXiv.
    expect(mainText).toContain(TITLES[0]);
    expect(mainText).toContain('https://arxiv.org/abs/2611.09001');
    // The marker is in the message, for reconciling after a crash.
    expect(mainText).toMatch(/paperbot digest lab-slack now:\d{4}-\d{2}-\d{2}T/);

    // The inbox file was ingested and moved to processed/: it is the only file left anywhere under the inbox.
    const left = filesUnder(w.inbox);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^processed\/.*papers\.jsonl$/);

    // Run twice: nothing new, and empty: skip posts nothing.
    const second = await w.run(['digest', '--now', '--target', 'lab-slack']);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toBe('no new papers for lab-slack: nothing posted (empty: skip)\n');
    expect(postMessages(slack)).toHaveLength(posts.length);

    // With empty: post, a day without new papers says so in the channel (and posts no paper again).
    writeTargets(w.config, [{ ...target, empty: 'post' }]);
    const third = await w.run(['digest', '--now', '--target', 'lab-slack']);
    expect(third.status, third.stderr).toBe(0);
    expect(third.stdout).toMatch(/^posted the lab-slack digest: 0 new papers/);
    const emptyPosts = postMessages(slack).slice(posts.length);
    expect(emptyPosts).toHaveLength(1);
    expect(emptyPosts[0]!.body['channel']).toBe('C0DIGEST01');
    expect(emptyPosts[0]!.body['thread_ts']).toBeUndefined();
    const emptyText = textOf(emptyPosts[0]!.body);
    expect(emptyText).toMatch(/no new papers/i);
    expect(titlesIn(emptyText, TITLES)).toEqual([]);

    // The new papers are askable at once.
    const asked = await w.run(['ask', ZYX_QUESTION]);
    expect(asked.status, asked.stderr).toBe(0);
    const cited = citedSourceLines(asked.stdout);
    expect(cited.join('\n'), asked.stdout).toContain(TITLES[0]);
    expect(asked.stdout).toMatch(/\[\d+\]/);
  });

  it('Discord: digest --now posts the channel message, starts a thread from it for the overflow, and nothing it posts can ping (even an abstract with @everyone); the snowflake channel keeps its digits', async ({ expect }) => {
    const discord = await fakeDiscord();
    const w = world('discord', { DISCORD_TOKEN, DISCORD_API_BASE: discord.apiBase });
    // The channel id as a bare YAML integer beyond 2^53: rounded, the fake would answer Unknown Channel.
    writeTargets(w.config, [{ name: 'lab-discord', platform: 'discord', channel: DISCORD_CHANNEL_ID, size: 1, thread_max: 5, timezone: 'UTC' }]);
    const pinging: InboxPaper = {
      id: '2611.09010',
      title: 'Glimmerwing Caches for @everyone',
      abstract: 'Hello @everyone and @here: glimmerwing caches halve the memory that retrieval needs for long abstracts.',
      published: '2026-11-27',
    };
    const papers = [pinging, PAPERS[1]!, PAPERS[2]!];
    dropInbox(w.inbox, 'discord.jsonl', papers);

    const first = await w.run(['digest', '--now', '--target', 'lab-discord']);
    expect(first.status, first.stderr).toBe(0);
    const mainPosts = discord.requestsTo('POST', `/channels/${DISCORD_CHANNEL_ID}/messages`);
    expect(mainPosts, textOf(discord.requests.map((r) => `${r.method} ${r.path} ${r.status}`))).toHaveLength(1);
    const main = mainPosts[0]!;
    expect(main.status).toBe(200);
    expect(main.authorization).toBe(`Bot ${DISCORD_TOKEN}`);
    const mainId = String((main.response as { id: string }).id);
    expect(first.stdout).toBe(`posted the lab-discord digest: 3 new papers (message ${mainId})\n`);

    // A thread started from the channel message (it takes the message's id), the overflow posted in it.
    const threadStarts = discord.requestsTo('POST', `/channels/${DISCORD_CHANNEL_ID}/messages/${mainId}/threads`);
    expect(threadStarts).toHaveLength(1);
    expect(threadStarts[0]!.status).toBe(201);
    const threadPosts = discord.requestsTo('POST', `/channels/${mainId}/messages`);
    expect(threadPosts.length).toBeGreaterThanOrEqual(1);
    for (const post of threadPosts) expect(post.status).toBe(200);

    const mainBody = main.body as { content: string; embeds: unknown[]; allowed_mentions?: { parse?: unknown[] } };
    const mainText = textOf(mainBody);
    const threadText = textOf(threadPosts.map((p) => p.body));
    expect(mainBody.content).toContain('3 new papers');
    expect(mainBody.content.split('\n').at(-1)).toMatch(/^-# paperbot digest lab-discord now:\d{4}-\d{2}-\d{2}T/);
    // size 1: the newest paper (the pinging one) in the channel message, the other two in the thread.
    expect(mainText).toContain('Glimmerwing Caches for');
    expect(titlesIn(threadText, [PAPERS[1]!.title, PAPERS[2]!.title])).toHaveLength(2);
    expect(titlesIn(mainText, [PAPERS[1]!.title, PAPERS[2]!.title])).toEqual([]);

    // Nothing can ping: allowed_mentions.parse is empty on every message, and no mass mention survives the text.
    for (const post of [main, ...threadPosts]) {
      expect((post.body as { allowed_mentions?: { parse?: unknown[] } }).allowed_mentions).toEqual({ parse: [] });
      expect(textOf(post.body)).not.toMatch(/@(everyone|here)\b/);
    }
    // The pinging text was rendered (neutralised), so the check above is not vacuous.
    expect(mainText).toMatch(/@\u200beveryone/);
    expect(textOf(threadStarts[0]!.body)).not.toMatch(/@(everyone|here)\b/);

    // Run twice: the second has nothing new and (empty: skip by default) posts nothing.
    const before = discord.requests.filter((r) => r.method === 'POST').length;
    const second = await w.run(['digest', '--now', '--target', 'lab-discord']);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toBe('no new papers for lab-discord: nothing posted (empty: skip)\n');
    expect(discord.requests.filter((r) => r.method === 'POST')).toHaveLength(before);
  });

  it('digest --dry-run --json prints one JSON object with the layout, posts and records nothing: a following digest --now still posts those papers', async ({ expect }) => {
    const slack = await fakeSlack();
    const w = world('dry', slackEnv(slack));
    writeTargets(w.config, [{ name: 'lab-slack', platform: 'slack', channel: 'C0DRYRUN1', size: 1, thread_max: 1 }]);
    const papers = PAPERS.slice(0, 3);
    dropInbox(w.inbox, 'dry.jsonl', papers);

    const dry = await w.run(['digest', '--dry-run', '--json']);
    expect(dry.status, dry.stderr).toBe(0);
    // The whole of stdout is one JSON object.
    const parsed = JSON.parse(dry.stdout) as { dryRun: unknown; digests: Array<Record<string, unknown>> };
    expect(parsed.dryRun).toBe(true);
    expect(parsed.digests).toHaveLength(1);
    const [digest] = parsed.digests;
    expect(digest).toMatchObject({ target: 'lab-slack', platform: 'slack', channel: 'C0DRYRUN1', wouldPost: true });
    const layout = digest!['layout'] as Record<string, unknown>;
    for (const key of ['header', 'sections', 'thread', 'more', 'notes', 'marker']) expect(layout, key).toHaveProperty(key);
    expect(layout['header']).toMatch(/3 new papers/);
    expect(layout['marker']).toMatch(/^paperbot digest lab-slack /);
    const sections = layout['sections'] as Array<{ items: Array<{ id: string; title: string; summary: string; why: string }> }>;
    const inMessage = sections.flatMap((s) => s.items);
    const inThread = layout['thread'] as Array<{ id: string; title: string }>;
    expect(inMessage.map((i) => i.title)).toEqual([papers[0]!.title]);
    expect(inThread.map((i) => i.title)).toEqual([papers[1]!.title]);
    expect(layout['more']).toMatchObject({ count: 1 });
    expect((layout['more'] as { hint: string }).hint).toContain('paperbot digest --list --target lab-slack');
    expect(inMessage[0]!.summary.length).toBeGreaterThan(0);
    // Nothing was posted: the fake Slack saw no call at all.
    expect(slack.calls).toEqual([]);
    // The inbox file stays where it was dropped; the real run files it away.
    expect(readdirSync(w.inbox)).toContain('dry.jsonl');

    // Nothing was recorded: the papers are still new for the target.
    const now = await w.run(['digest', '--now', '--target', 'lab-slack']);
    expect(now.status, now.stderr).toBe(0);
    expect(now.stdout).toMatch(/^posted the lab-slack digest: 3 new papers/);
    const posted = textOf(postMessages(slack).map((c) => c.body['blocks']));
    expect(titlesIn(posted, papers.map((p) => p.title))).toHaveLength(2);
    expect(posted).toContain('1 more new paper');

    // --list names every paper of that digest, the one only counted included.
    const listed = await w.run(['digest', '--list', '--target', 'lab-slack', '--json']);
    expect(listed.status, listed.stderr).toBe(0);
    const list = JSON.parse(listed.stdout) as { target: string; digest: { messageRef: string }; papers: Array<{ id: string; title: string; shown: boolean }> };
    expect(list.target).toBe('lab-slack');
    expect(list.digest.messageRef).toBe(String(postMessages(slack)[0]!.response['ts']));
    expect(list.papers.map((p) => [p.id, p.shown])).toEqual([
      ['2611.09001', true],
      ['2611.09002', true],
      ['2611.09003', false],
    ]);
  });

  it('sources: Hugging Face (and arXiv when it announced) papers are fetched, posted and askable; duplicates kept once with the most upvotes', async ({ expect }) => {
    const slack = await fakeSlack();
    const sources = await startFakePaperSources();
    closers.push(() => sources.close());
    const hf = fixtures();
    const today = new Date().toISOString().slice(0, 10);
    sources.route('/api/daily_papers', (request) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: request.query['date'] === today ? hf.latest : hf.earlier }));
    sources.route('/api/query', () => ({ status: 200, headers: { 'content-type': 'application/atom+xml' }, body: hf.arxiv }));
    const w = world('sources', { ...slackEnv(slack), HF_PAPERS_URL: `${sources.url}/api/daily_papers`, ARXIV_API_URL: `${sources.url}/api/query`, ARXIV_REQUEST_INTERVAL_MS: '0', SOURCE_TIMEOUT_MS: '5000' });
    writeTargets(w.config, [{ name: 'lab-slack', platform: 'slack', channel: 'C0SOURCES', size: 10, thread_max: 30, topics: ['retrieval'], sources: ['inbox', 'huggingface', 'arxiv'], arxiv_categories: ['cs.CL', 'cs.IR'] }]);

    const run = await w.run(['digest', '--now', '--target', 'lab-slack']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^posted the lab-slack digest: \d+ new papers/);

    const hfRequests = sources.requests.filter((r) => r.path === '/api/daily_papers');
    expect(hfRequests.map((r) => r.query['date'])).toContain(today);
    const posted = textOf(postMessages(slack).map((c) => c.body['blocks']));
    for (const title of ['Learned Term Weights for Sparse Retrieval at Scale', 'Query Rewriting Without a Teacher', 'Forgetting on Request: Unlearning for Retrieval-Augmented Models', 'Citation Checking for Abstract-Only Question Answering']) {
      expect(posted, title).toContain(title);
    }
    // An item without a summary is skipped; a paper listed twice is posted once, with its higher upvotes.
    expect(posted).not.toContain('A Paper Whose Summary Went Missing');
    expect(posted.split('Learned Term Weights for Sparse Retrieval at Scale').length - 1).toBe(1);
    expect(posted).toContain('50 upvotes on Hugging Face');
    expect(posted).not.toContain('42 upvotes');
    expect(posted).not.toMatch(/could not be fetched/);

    // arXiv is asked only when it announced since the last fetch (Sun–Thu 20:00 New York): today's date decides.
    const arxivAsked = sources.requests.some((r) => r.path === '/api/query');
    if (arxivAsked) {
      // The newest version (v2) of the versioned paper, once.
      expect(posted).toMatch(/Retrieval (&amp;|&) Reasoning: Citing Abstracts Faithfully/);
      expect(posted).toContain('Citing Abstracts Faithfully');
      expect(posted).not.toContain('An Old Paper With a New Version');
      expect(posted.split('Citing Abstracts Faithfully').length - 1).toBe(1);
    } else {
      expect(posted).not.toContain('Citing Abstracts Faithfully');
    }

    const asked = await w.run(['ask', 'How do learned term weights make sparse retrieval faster than dense retrieval?']);
    expect(asked.status, asked.stderr).toBe(0);
    expect(citedSourceLines(asked.stdout).join('\n'), asked.stdout).toContain('Learned Term Weights for Sparse Retrieval at Scale');
  });

  it('sources: with Hugging Face answering 500 the digest still goes out with the inbox papers, and its footer names Hugging Face', async ({ expect }) => {
    const slack = await fakeSlack();
    const sources = await startFakePaperSources();
    closers.push(() => sources.close());
    sources.route('/api/daily_papers', () => ({ status: 500, body: 'internal error' }));
    const w = world('hf500', { ...slackEnv(slack), HF_PAPERS_URL: `${sources.url}/api/daily_papers`, SOURCE_TIMEOUT_MS: '5000' });
    writeTargets(w.config, [{ name: 'lab-slack', platform: 'slack', channel: 'C0HF500', sources: ['inbox', 'huggingface'] }]);
    dropInbox(w.inbox, 'one.jsonl', [PAPERS[0]!]);

    const run = await w.run(['digest', '--now', '--target', 'lab-slack']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^posted the lab-slack digest: 1 new paper \(/);
    expect(sources.requests.filter((r) => r.path === '/api/daily_papers').length).toBeGreaterThanOrEqual(1);
    const posts = postMessages(slack);
    expect(posts).toHaveLength(1);
    const blocks = textOf(posts[0]!.body['blocks']);
    expect(blocks).toContain(TITLES[0]);
    expect(blocks).toMatch(/Hugging Face daily papers could not be fetched \([^)]*500[^)]*\)/);
    // The log names it too.
    expect(run.stderr).toContain('Hugging Face');
  });

  it('a model summary with a number not in the abstract is replaced by the abstract sentence; a checked one is used (fake Ollama)', async ({ expect }) => {
    const slack = await fakeSlack();
    const ollama = await startFakeOllama({
      chatReply: (request: ChatRequestBody) => {
        // The model sees the abstract alone (no title): the summary is checked against it.
        const paper = JSON.parse(String(request.messages.at(-1)?.content ?? '{}')) as { abstract?: string; title?: string };
        if (paper.title !== undefined) return 'A title reached the model.';
        if (paper.abstract?.startsWith('We introduce zyxomorphic')) return 'Zyxomorphic sketches answer citation queries 7 times faster on 3 benchmarks.';
        return 'Quillwort attention is 99 times faster on 12 long-document benchmarks.';
      },
    });
    closers.push(() => ollama.close());
    const w = world('ollama', { ...slackEnv(slack), OLLAMA_HOST: ollama.url });
    writeTargets(w.config, [{ name: 'lab-slack', platform: 'slack', channel: 'C0OLLAMA' }]);
    dropInbox(w.inbox, 'two.jsonl', PAPERS.slice(0, 2));

    const run = await w.run(['digest', '--now', '--target', 'lab-slack']);
    expect(run.status, run.stderr).toBe(0);
    const summaryCalls = ollama.requests.filter((r) => r.path === '/api/chat' && JSON.stringify(r.body).includes('one-sentence summaries'));
    expect(summaryCalls).toHaveLength(2);
    for (const call of summaryCalls) expect((call.body as { stream?: boolean }).stream).toBe(false);
    const posted = textOf(postMessages(slack).map((c) => c.body['blocks']));
    expect(posted).toContain('Zyxomorphic sketches answer citation queries 7 times faster on 3 benchmarks.');
    expect(posted).not.toContain('99 times');
    // The abstract has one sentence: it is the replacement.
    expect(posted).toContain(PAPERS[1]!.abstract);
  });

  it('bad input and config exit 2 with a message that names the problem', async ({ expect }) => {
    const slack = await fakeSlack();
    const w = world('errors', slackEnv(slack));
    // Seed the data directory once, so each case below prints only its own error.
    const seeded = await w.run(['stats']);
    expect(seeded.status, seeded.stderr).toBe(0);
    const errorLines = (result: CliResult) => result.stderr.split('\n').filter((line) => line.trim());

    // No digest file.
    const missing = await w.run(['digest', '--dry-run']);
    expect(missing.status).toBe(2);
    expect(missing.stdout).toBe('');
    expect(errorLines(missing), missing.stderr).toHaveLength(1);
    expect(missing.stderr).toContain(w.config);

    // A Discord target without DISCORD_TOKEN: digest --now and serve both refuse, naming target and setting.
    writeTargets(w.config, [
      { name: 'lab-slack', platform: 'slack', channel: 'C0ERRORS1' },
      { name: 'lab-discord', platform: 'discord', channel: '"812345678901234570"' },
    ]);
    const noToken = await w.run(['digest', '--now', '--target', 'lab-discord']);
    expect(noToken.status, noToken.stderr).toBe(2);
    expect(noToken.stderr).toContain('"lab-discord"');
    expect(noToken.stderr).toContain('DISCORD_TOKEN');
    const serve = await w.run(['serve']);
    expect(serve.status, serve.stderr).toBe(2);
    expect(serve.stderr).toContain('"lab-discord"');
    expect(serve.stderr).toContain('DISCORD_TOKEN');
    expect(serve.stderr).not.toContain('lab-slack"'); // the Slack target is configured

    // --now without --target; an unknown target lists the configured ones; a date that is no date.
    const noTarget = await w.run(['digest', '--now']);
    expect(noTarget.status).toBe(2);
    expect(noTarget.stderr).toContain('--target');
    const unknown = await w.run(['digest', '--now', '--target', 'lab-nowhere']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('lab-nowhere');
    expect(unknown.stderr).toContain('lab-slack, lab-discord');
    const badSince = await w.run(['digest', '--now', '--target', 'lab-slack', '--since', '2026-13-45']);
    expect(badSince.status, badSince.stderr).toBe(2);
    expect(badSince.stderr).toContain('2026-13-45');
    expect(badSince.stderr).toContain('YYYY-MM-DD');

    // A file that is not YAML names the line; bad cron and time zone name their fields.
    writeFileSync(w.config, 'targets:\n  - name: lab-slack\n    platform: [slack\n    channel: C1\n');
    const yaml = await w.run(['digest', '--dry-run']);
    expect(yaml.status).toBe(2);
    expect(yaml.stderr).toMatch(/not valid YAML \(line \d+\)/);
    expect(yaml.stderr).toContain(w.config);
    writeTargets(w.config, [
      { name: 'bad-cron', platform: 'slack', channel: 'C1', cron: 'every morning' },
      { name: 'bad-zone', platform: 'slack', channel: 'C2', timezone: 'Mars/Olympus_Mons' },
    ]);
    const fields = await w.run(['digest', '--dry-run']);
    expect(fields.status).toBe(2);
    expect(fields.stderr).toMatch(/targets\.0\.cron: /);
    expect(fields.stderr).toMatch(/targets\.1\.timezone: /);

    // None of these posted anything.
    expect(postMessages(slack)).toEqual([]);
  });

  it('serve prints "digest: 1 targets, next at <ISO instant>" with a digest file, and one "digest: no digest (…)" line without', async ({ expect }) => {
    const slack = await fakeSlack();
    const withFile = world('serve', { ...slackEnv(slack), SLACK_APP_TOKEN: 'xapp-digest-test' });
    writeTargets(withFile.config, [{ name: 'lab-slack', platform: 'slack', channel: 'C0SERVE01', cron: '0 8 * * *', timezone: 'UTC' }]);
    const without = world('serve-none', { ...slackEnv(slack), SLACK_APP_TOKEN: 'xapp-digest-test' });

    const [a, b] = await Promise.all([startServe(withFile.env, /paperbot: digest: [^\n]*\n/, 40_000), startServe(without.env, /paperbot: digest: [^\n]*\n/, 40_000)]);
    const started = Date.now();
    try {
      const line = /paperbot: digest: 1 targets, next at (\S+)/.exec(a.stderr());
      expect(line, a.stderr()).not.toBeNull();
      const at = new Date(line![1]!);
      expect(line![1]).toBe(at.toISOString());
      // "0 8 * * *" in UTC: the next 08:00 UTC, within a day.
      expect(at.getTime()).toBeGreaterThan(started - 60_000);
      expect(at.getTime() - started).toBeLessThanOrEqual(24 * 3600_000);
      expect([at.getUTCHours(), at.getUTCMinutes(), at.getUTCSeconds()]).toEqual([8, 0, 0]);

      const lines = b.stderr().split('\n').filter((l) => l.includes('digest:'));
      expect(lines, b.stderr()).toHaveLength(1);
      expect(lines[0]).toMatch(/^paperbot: digest: no digest \(.+\)$/);
      expect(lines[0]).toContain(without.config);
    } finally {
      expect(await a.stop()).toBe(0);
      expect(await b.stop()).toBe(0);
    }
    expect(postMessages(slack)).toEqual([]);
  });

  it('--since backfills: papers ingested before the target was first seen, and a bulk import, are not in digest --now, but are with --since today, newest first', async ({ expect }) => {
    const slack = await fakeSlack();
    // An ingest adding more than 2 papers is a bulk import here.
    const w = world('since', { ...slackEnv(slack), BULK_IMPORT_PAPERS: '2' });
    writeTargets(w.config, [{ name: 'lab-slack', platform: 'slack', channel: 'C0SINCE01', size: 25, thread_max: 100, timezone: 'UTC' }]);
    // Taken before the ingest: should midnight pass in between, the backfill still covers it.
    const today = new Date().toISOString().slice(0, 10);
    const file = path.join(dir('since-file'), 'before.jsonl');
    writeFileSync(file, `${PAPERS.slice(0, 2).map((p) => JSON.stringify(p)).join('\n')}\n`);
    const bulk: InboxPaper[] = [
      ...PAPERS.slice(2, 4),
      { id: '2611.09005', title: 'Pangolin Indexes for Archive Imports', abstract: 'Pangolin indexes load whole paper archives at once without rebuilding the inverted index from scratch.', published: '2026-11-22' },
    ];

    const ingest = await w.run(['ingest', file]);
    expect(ingest.status, ingest.stderr).toBe(0);
    // The first digest command registers the target (after the ingest), then scans the inbox: 3 papers, a bulk import.
    dropInbox(w.inbox, 'bulk.jsonl', bulk);
    const now = await w.run(['digest', '--now', '--target', 'lab-slack']);
    expect(now.status, now.stderr).toBe(0);
    expect(now.stdout).toBe('no new papers for lab-slack: nothing posted (empty: skip)\n');
    expect(filesUnder(w.inbox)).toEqual([expect.stringMatching(/^processed\/.*bulk\.jsonl$/)]);
    expect(postMessages(slack)).toEqual([]);

    const backfill = await w.run(['digest', '--now', '--target', 'lab-slack', '--since', today]);
    expect(backfill.status, backfill.stderr).toBe(0);
    expect(backfill.stdout).toMatch(/^posted the lab-slack digest: \d+ new papers/);
    const posted = textOf(postMessages(slack).map((c) => c.body['blocks']));
    const mine = [...TITLES.slice(0, 2), ...bulk.map((p) => p.title)];
    expect(titlesIn(posted, mine)).toEqual(mine);
    // "else newest": the backfilled papers (published Nov 2026) lead the channel message, ahead of
    // older papers (the shipped seed, ingested today too and listed "Mar 14").
    const mainText = textOf(postMessages(slack)[0]!.body['blocks']);
    expect(mainText.indexOf(TITLES[0]!), 'the newest paper (2026-11-26) is not in the channel message').toBeGreaterThan(0);
    const firstPaper = /\{"type":"section","text":\{"type":"mrkdwn","text":"\*(?:<[^|]*\|)?([^*>]+)/g;
    const order = [...mainText.matchAll(firstPaper)].map((m) => m[1]).slice(1, 4);
    expect(order, 'the channel message should open with the newest papers').toEqual([TITLES[0], TITLES[1], PAPERS[2]!.title]);
  });
});

/** The HF fixtures (two listing dates) and the arXiv fixture with its recent submissions re-dated to the last hour. */
function fixtures(): { latest: string; earlier: string; arxiv: string } {
  const at = (name: string) => readFileSync(path.join(ROOT, 'test/fixtures/digest', name), 'utf8');
  const recent = new Date(Date.now() - 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  // arXiv's window is computed from the real clock: papers "submitted" an hour ago are after any
  // announcement's deadline. The old paper (2024) keeps its date and must stay out.
  const arxiv = at('arxiv-cs-cl.xml').replace(/<published>2026-11-2\dT[\d:]+Z<\/published>/g, `<published>${recent}</published>`);
  return { latest: at('hf-daily-papers-2026-11-27.json'), earlier: at('hf-daily-papers-2026-11-26.json'), arxiv };
}
