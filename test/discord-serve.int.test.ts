/**
 * `paperbot serve` as a subprocess against a fake Discord (REST + gateway on loopback, via
 * DISCORD_API_BASE) and the fake Ollama: the real discord.js client, the real ollama client.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasLivePing } from './helpers/pings.ts';
import { CLI_NODE_ARGS, runCli } from './helpers/cli.ts';
import { APP_ID, CHANNEL_ID, GUILD_ID, TOKEN, startFakeDiscord, type FakeDiscord, type RecordedRequest } from './helpers/fake-discord.ts';
import { startFakeOllama, type FakeOllama } from './helpers/fake-ollama.ts';
import { startServe, type Served } from './helpers/serve.ts';
import { tempDir } from './helpers/temp.ts';

const SEED_TITLE = 'Null-text Inversion for Editing Real Images using Guided Diffusion Models';
const QUESTION = 'How can I edit a real photo with a text-guided diffusion model?';

const serve = (env: Record<string, string>): Promise<Served> => startServe(env, /discord: ready as /);

/** Message-producing calls the bot made (content it posted or edited). */
function postedBodies(fake: FakeDiscord): Array<{ request: RecordedRequest; body: Record<string, unknown> }> {
  return fake.requests
    .filter((r) => (r.method === 'POST' || r.method === 'PATCH') && r.body && typeof r.body === 'object')
    .map((request) => ({ request, body: (request.body as { data?: Record<string, unknown> }).data ?? (request.body as Record<string, unknown>) }))
    .filter(({ body }) => typeof body['content'] === 'string' || Array.isArray(body['embeds']));
}

const finalEditOf = (token: string) => (r: RecordedRequest) =>
  r.method === 'PATCH' && r.path === `/webhooks/${APP_ID}/${token}/messages/@original` && JSON.stringify(r.body).includes('fb:up:');

describe('paperbot serve with Discord and Ollama', () => {
  let fake: FakeDiscord;
  let ollama: FakeOllama;
  let served: Served;
  let dataDir: string;

  beforeAll(async () => {
    fake = await startFakeDiscord();
    ollama = await startFakeOllama({
      // Small chunks with a pause between them, so answers stream over several edits.
      chunkSize: 12,
      chunkDelayMs: 60,
      chatReply: (request) => {
        const user = JSON.parse(String(request.messages.at(-1)?.content ?? '{}')) as { abstracts?: Array<{ title: string }>; question?: string };
        // Echoing the question makes untrusted text (pings included) come back as model output.
        return `You asked: ${user.question ?? '?'}\n\nInvert the photo first, then edit the prompt [1]. The first abstract is "${user.abstracts?.[0]?.title ?? '?'}" [1].`;
      },
    });
    // Not tempDir(): that is emptied after each test, and this server outlives them.
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'paperbot-serve-'));
    served = await serve({
      PAPERBOT_DATA_DIR: dataDir,
      DISCORD_TOKEN: TOKEN,
      DISCORD_APP_ID: APP_ID,
      DISCORD_API_BASE: fake.apiBase,
      OLLAMA_HOST: ollama.url,
      EMBEDDER: 'local',
      LOCAL_EMBED_DIM: '256',
      RATE_LIMIT_PER_MINUTE: '100',
      DISCORD_EDIT_INTERVAL_MS: '200',
    });
  }, 60_000);

  afterAll(async () => {
    const code = await served?.stop();
    expect(code).toBe(0);
    await fake?.close();
    await ollama?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints one ready line per started part and identifies with only the intents it uses', () => {
    expect(served.stderr()).toMatch(/discord: ready as paperbot#0001/);
    // Guilds (1) + GuildMessages (512); no privileged Message Content unless asked for.
    expect(fake.intents).toBe(1 | 512);
  });

  it('/ask is deferred at once, then edited into a cited answer with sources and feedback buttons', async () => {
    const started = Date.now();
    const played = fake.slashCommand({ name: 'ask', options: { question: QUESTION } });
    const deferred = await fake.waitFor((r) => r.method === 'POST' && r.path === `/interactions/${played.id}/${played.token}/callback`, 3000);
    expect(deferred.at - started).toBeLessThan(3000);
    expect((deferred.body as { type: number }).type).toBe(5);

    const final = await fake.waitFor(finalEditOf(played.token), 15_000);
    const body = final.body as { content: string; embeds: Array<{ description?: string }>; allowed_mentions: { parse: unknown[] } };
    expect(body.content).toContain('[1]');
    expect(body.embeds[0]?.description).toContain(SEED_TITLE);
    expect(body.allowed_mentions).toEqual({ parse: [] });
  });

  it('a mention is answered in a thread; a follow-up there is answered with the thread as context; a button press is stored', async () => {
    const asked = fake.message({ content: QUESTION, mentionsBot: true });
    const threadRequest = await fake.waitFor((r) => r.method === 'POST' && r.path === `/channels/${CHANNEL_ID}/messages/${asked.id}/threads`, 5000);
    expect(threadRequest).toBeDefined();
    const threadId = asked.id; // Discord gives a thread started on a message that message's id
    const answered = await fake.waitFor((r) => r.method === 'PATCH' && r.path.startsWith(`/channels/${threadId}/messages/`) && JSON.stringify(r.body).includes('fb:up:'), 15_000);
    expect(JSON.stringify(answered.body)).toContain(SEED_TITLE);

    const chatsBefore = ollama.requests.filter((r) => r.path === '/api/chat').length;
    fake.threadMessage({ threadId, content: 'and how does it compare to [2]?', mentionsBot: true });
    await fake.waitFor((r) => r.method === 'PATCH' && r.path.startsWith(`/channels/${threadId}/messages/`) && r !== answered && JSON.stringify(r.body).includes('fb:up:'), 15_000);
    const chats = ollama.requests.filter((r) => r.path === '/api/chat');
    expect(chats.length).toBe(chatsBefore + 1);
    const followUpPrompt = JSON.parse(String((chats.at(-1)!.body as { messages: Array<{ content: string }> }).messages.at(-1)!.content)) as { earlier?: Array<{ question: string }> };
    expect(followUpPrompt.earlier?.[0]?.question).toBe(QUESTION);

    const customId = /fb:up:(\d+)/.exec(JSON.stringify(answered.body))![0];
    const press = fake.buttonPress({ customId, channelId: threadId });
    const ack = await fake.waitFor((r) => r.method === 'POST' && r.path === `/interactions/${press.id}/${press.token}/callback`, 5000);
    expect((ack.body as { data: { flags: number } }).data.flags & 64).toBe(64); // ephemeral: only the presser sees it
    const listed = runCli(['feedback', '--json'], { PAPERBOT_DATA_DIR: dataDir });
    expect(listed.status, listed.stderr).toBe(0);
    const feedback = (JSON.parse(listed.stdout) as { feedback: Array<{ rating: string; platform: string; question: string }> }).feedback;
    expect(feedback.some((f) => f.rating === 'up' && f.platform === 'discord' && f.question === QUESTION), JSON.stringify(feedback) + served.stderr()).toBe(true);
  });

  it('nothing it posts can ping, even when the question (echoed by the model) carries @everyone and a role mention', async () => {
    const played = fake.slashCommand({ name: 'ask', options: { question: '@everyone <@&123456> how does null-text inversion edit real images?' } });
    const final = await fake.waitFor((r) => r.method === 'PATCH' && r.path === `/webhooks/${APP_ID}/${played.token}/messages/@original` && JSON.stringify(r.body).includes('fb:up:'), 15_000);
    // The echo arrived, neutralised: the words are there, the ping is not.
    expect((final.body as { content: string }).content).toMatch(/You asked: @.everyone/);
    const inThread = fake.message({ content: '@here <!channel> how does null-text inversion edit real images?', mentionsBot: true });
    await fake.waitFor((r) => r.method === 'PATCH' && r.path.startsWith(`/channels/${inThread.id}/messages/`) && JSON.stringify(r.body).includes('fb:up:'), 15_000);
    for (const { body } of postedBodies(fake)) {
      expect(hasLivePing(JSON.stringify([body['content'], body['embeds']]))).toBe(false);
      expect(body['allowed_mentions']).toEqual({ parse: [] });
    }
  });

  it('the answer grows in place while the model streams, and private:true keeps it to the asker', async () => {
    const played = fake.slashCommand({ name: 'ask', options: { question: QUESTION, private: true } });
    const deferred = await fake.waitFor((r) => r.method === 'POST' && r.path === `/interactions/${played.id}/${played.token}/callback`, 3000);
    expect((deferred.body as { data: { flags: number } }).data.flags & 64).toBe(64);
    await fake.waitFor(finalEditOf(played.token), 15_000);
    const edits = fake.requestsTo('PATCH', `/webhooks/${APP_ID}/${played.token}/messages/@original`);
    // At least one partial edit before the final one, each within Discord's content limit.
    expect(edits.length).toBeGreaterThanOrEqual(2);
    for (const edit of edits) expect(String((edit.body as { content?: string }).content ?? '').length).toBeLessThanOrEqual(2000);
  });

  it('/search, /paper and /help answer privately with the platform-neutral commands', async () => {
    const search = fake.slashCommand({ name: 'search', options: { query: 'null-text inversion real image editing' } });
    const deferred = await fake.waitFor((r) => r.method === 'POST' && r.path === `/interactions/${search.id}/${search.token}/callback`, 3000);
    expect((deferred.body as { data: { flags: number } }).data.flags & 64).toBe(64);
    const listed = await fake.waitFor((r) => r.method === 'PATCH' && r.path === `/webhooks/${APP_ID}/${search.token}/messages/@original`, 10_000);
    const text = (listed.body as { content: string }).content;
    expect(text.split('\n')[0]).toContain(SEED_TITLE);
    const id = /\[(t-[0-9a-f]+)\]/.exec(text)![1]!;

    const paper = fake.slashCommand({ name: 'paper', options: { id } });
    const shown = await fake.waitFor((r) => r.method === 'PATCH' && r.path === `/webhooks/${APP_ID}/${paper.token}/messages/@original`, 10_000);
    expect((shown.body as { content: string }).content.startsWith(SEED_TITLE)).toBe(true);

    const missing = fake.slashCommand({ name: 'paper', options: { id: 'no-such-paper' } });
    const told = await fake.waitFor((r) => r.method === 'PATCH' && r.path === `/webhooks/${APP_ID}/${missing.token}/messages/@original`, 10_000);
    expect((told.body as { content: string }).content).toContain('No paper with id "no-such-paper"');

    const help = fake.slashCommand({ name: 'help' });
    const helped = await fake.waitFor((r) => r.method === 'POST' && r.path === `/interactions/${help.id}/${help.token}/callback`, 3000);
    expect(JSON.stringify(helped.body)).toContain('/ask');
  });

  it('a mention inside a thread paperbot did not start is answered in that thread', async () => {
    const { thread } = fake.threadMessage({ content: QUESTION, mentionsBot: true, threadName: 'reading group' });
    const answered = await fake.waitFor((r) => r.method === 'PATCH' && r.path.startsWith(`/channels/${thread.id}/messages/`) && JSON.stringify(r.body).includes('fb:up:'), 15_000);
    expect(JSON.stringify(answered.body)).toContain(SEED_TITLE);
    expect(fake.requestsTo('POST', new RegExp(`/messages/[0-9]+/threads$`)).every((r) => !r.path.includes(thread.id))).toBe(true);
  });

  it('bad input gets a clear reply, and the bot serves the next question', async () => {
    const empty = fake.slashCommand({ name: 'ask', options: { question: '   ' } });
    const emptyReply = await fake.waitFor((r) => r.method === 'PATCH' && r.path === `/webhooks/${APP_ID}/${empty.token}/messages/@original`, 5000);
    expect(JSON.stringify(emptyReply.body)).toMatch(/empty/i);

    const long = fake.slashCommand({ name: 'ask', options: { question: 'why '.repeat(600) } });
    const longReply = await fake.waitFor((r) => r.method === 'PATCH' && r.path === `/webhooks/${APP_ID}/${long.token}/messages/@original`, 5000);
    expect(JSON.stringify(longReply.body)).toContain('2000');

    const bare = fake.message({ content: '', mentionsBot: true });
    const bareReply = await fake.waitFor((r) => r.method === 'POST' && r.path === `/channels/${CHANNEL_ID}/messages` && JSON.stringify(r.body).includes('Ask me something'), 5000);
    expect(JSON.stringify(bareReply.body)).toContain(bare.id);

    const next = fake.slashCommand({ name: 'ask', options: { question: QUESTION } });
    await fake.waitFor(finalEditOf(next.token), 15_000);
  });
});

describe('paperbot serve with Discord and no Ollama at all', () => {
  it('answers /ask with a cited extractive answer and says why; a second question within the rate limit is told when to retry', async () => {
    const fake = await startFakeDiscord();
    const served = await serve({
      PAPERBOT_DATA_DIR: tempDir(),
      DISCORD_TOKEN: TOKEN,
      DISCORD_APP_ID: APP_ID,
      DISCORD_API_BASE: fake.apiBase,
      OLLAMA_HOST: 'http://127.0.0.1:47',
      EMBEDDER: 'local',
      LOCAL_EMBED_DIM: '256',
      DISCORD_EDIT_INTERVAL_MS: '200',
      RATE_LIMIT_PER_MINUTE: '1',
    });
    try {
      const played = fake.slashCommand({ name: 'ask', options: { question: QUESTION } });
      const final = await fake.waitFor(finalEditOf(played.token), 15_000);
      const again = fake.slashCommand({ name: 'ask', options: { question: QUESTION } });
      const limited = await fake.waitFor((r) => r.method === 'PATCH' && r.path === `/webhooks/${APP_ID}/${again.token}/messages/@original`, 5000);
      expect((limited.body as { content: string }).content).toMatch(/try again in \d+ (s|min)\./);
      const body = final.body as { content: string; embeds: Array<{ description?: string; footer?: { text: string } }> };
      expect(body.content).toMatch(/^Extractive answer/);
      expect(body.content).toContain('[1]');
      expect(body.embeds[0]?.description).toContain(SEED_TITLE);
      expect(body.embeds[0]?.footer?.text).toMatch(/not reachable/);
    } finally {
      expect(await served.stop()).toBe(0);
      await fake.close();
    }
  }, 60_000);
});

describe('paperbot discord:register', () => {
  it('registers the slash commands in one guild through DISCORD_API_BASE', async () => {
    const fake = await startFakeDiscord();
    try {
      const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        let stdout = '';
        const child = spawn(process.execPath, [...CLI_NODE_ARGS, 'discord:register', '--guild', GUILD_ID], {
          cwd: os.tmpdir(),
          env: { PATH: process.env['PATH'] ?? '', DISCORD_TOKEN: TOKEN, DISCORD_APP_ID: APP_ID, DISCORD_API_BASE: fake.apiBase, PAPERBOT_DATA_DIR: tempDir() },
        });
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.on('exit', (code) => resolve({ code, stdout }));
      });
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('registered 6 slash commands');
      const put = fake.requests.find((r) => r.method === 'PUT' && r.path === `/applications/${APP_ID}/guilds/${GUILD_ID}/commands`);
      expect((put?.body as Array<{ name: string }>).map((c) => c.name).sort()).toEqual(['ask', 'digest', 'help', 'paper', 'search', 'stats']);
    } finally {
      await fake.close();
    }
  }, 30_000);
});

describe('paperbot serve with nothing configured', () => {
  it('exits 2 and lists what to set', () => {
    const result = runCli(['serve'], { PAPERBOT_DATA_DIR: tempDir() });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('DISCORD_TOKEN');
    expect(result.stderr).toContain('DISCORD_APP_ID');
  });
});
