/**
 * `paperbot serve` with Slack, as a subprocess: HTTP mode receiving signed requests, and Socket
 * Mode against a fake socket server; the Web API (SLACK_API_URL) and Ollama are loopback fakes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasLivePing } from './helpers/pings.ts';
import { runCli } from './helpers/cli.ts';
import { startFakeOllama, type FakeOllama } from './helpers/fake-ollama.ts';
import { startServe, type Served } from './helpers/serve.ts';
import { CHANNEL_ID, appMentionEvent, blockActionsBody, signSlackRequest, slashCommandBody, slashCommandPayload, startFakeSlack, type FakeSlack, type RecordedCall } from './helpers/fake-slack.ts';

const SECRET = 'test-signing-secret';
const SEED_TITLE = 'Null-text Inversion for Editing Real Images using Guided Diffusion Models';
const QUESTION = 'How can I edit a real photo with a text-guided diffusion model?';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

const serve = startServe;

const updatesWithFeedback = (call: RecordedCall) => (call.method === 'chat.update' || call.method === 'chat.postMessage') && JSON.stringify(call.body).includes('feedback_up');

describe('paperbot serve with Slack over HTTP', () => {
  let slack: FakeSlack;
  let ollama: FakeOllama;
  let served: Served;
  let dataDir: string;
  let port: number;

  const post = (body: string, headers: object) => fetch(`http://127.0.0.1:${port}/slack/events`, { method: 'POST', body, headers: headers as Record<string, string> });

  beforeAll(async () => {
    slack = await startFakeSlack();
    ollama = await startFakeOllama({
      chatReply: (request) => {
        const user = JSON.parse(String(request.messages.at(-1)?.content ?? '{}')) as { question?: string };
        return `You asked: ${user.question ?? '?'}\n\nInvert the photo first, then edit the prompt [1].`;
      },
    });
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'paperbot-slack-'));
    port = await freePort();
    served = await serve(
      {
        PAPERBOT_DATA_DIR: dataDir,
        SLACK_BOT_TOKEN: 'xoxb-test',
        SLACK_SIGNING_SECRET: SECRET,
        SLACK_PORT: String(port),
        SLACK_API_URL: slack.apiUrl,
        OLLAMA_HOST: ollama.url,
        EMBEDDER: 'local',
        LOCAL_EMBED_DIM: '256',
        RATE_LIMIT_PER_MINUTE: '100',
        SLACK_EDIT_INTERVAL_MS: '200',
      },
      /slack: ready \(http :\d+\)/,
    );
  }, 60_000);

  afterAll(async () => {
    expect(await served?.stop()).toBe(0);
    await slack?.close();
    await ollama?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints its ready line with the port', () => {
    expect(served.stderr()).toContain(`slack: ready (http :${port})`);
  });

  it('a signed /ask is acknowledged within 3 s and answered in the channel with blocks citing a seed paper', async () => {
    const body = slashCommandBody({ command: '/ask', text: QUESTION, response_url: slack.responseUrl('ask1') });
    const started = Date.now();
    const response = await post(body, signSlackRequest(SECRET, body));
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await response.text()).toMatch(/Searching \d+ abstracts/);
    const final = await slack.waitFor((c) => c.method === 'chat.update' && updatesWithFeedback(c), 15_000);
    const text = JSON.stringify(final.body);
    expect(text).toContain('[1]');
    expect(text).toContain(SEED_TITLE);
    expect(hasLivePing(text)).toBe(false);
  });

  it('when the bot may not post in the channel, the answer goes to the asker through response_url with how to invite it; --private answers there too', async () => {
    slack.failNext('chat.postMessage', 'not_in_channel');
    const body = slashCommandBody({ command: '/ask', text: QUESTION, response_url: slack.responseUrl('blocked') });
    expect((await post(body, signSlackRequest(SECRET, body))).status).toBe(200);
    const fallback = await slack.waitForResponse((r) => r.id === 'blocked' && JSON.stringify(r.body).includes('invite'), 15_000);
    // The hint is in the blocks (what Slack shows), not only in the notification text.
    expect(JSON.stringify((fallback.body as { blocks: unknown[] }).blocks)).toContain('/invite @paperbot');
    expect(JSON.stringify(fallback.body)).toContain(SEED_TITLE);

    const privately = slashCommandBody({ command: '/ask', text: `--private ${QUESTION}`, response_url: slack.responseUrl('private') });
    const before = slack.calls.filter((c) => c.method === 'chat.postMessage').length;
    expect((await post(privately, signSlackRequest(SECRET, privately))).status).toBe(200);
    const answer = await slack.waitForResponse((r) => r.id === 'private' && JSON.stringify(r.body).includes(SEED_TITLE), 15_000);
    expect((answer.body as { response_type?: string }).response_type).toBe('ephemeral');
    expect(slack.calls.filter((c) => c.method === 'chat.postMessage').length).toBe(before);
  });

  it('a bad signature and a stale timestamp get 401 and post nothing', async () => {
    const before = slack.calls.length;
    const body = slashCommandBody({ command: '/ask', text: QUESTION });
    expect((await post(body, signSlackRequest('wrong-secret', body))).status).toBe(401);
    expect((await post(body, signSlackRequest(SECRET, body, Math.floor(Date.now() / 1000) - 600))).status).toBe(401);
    // Settled: a signed command sent after them has been answered (through its response_url, so it posts nothing).
    const later = slashCommandBody({ command: '/paperbot', text: 'help', response_url: slack.responseUrl('after-401') });
    expect((await post(later, signSlackRequest(SECRET, later))).status).toBe(200);
    await slack.waitForResponse((r) => r.id === 'after-401', 15_000);
    expect(slack.calls.slice(before).filter((c) => c.method === 'chat.postMessage')).toEqual([]);
  });

  it('a mention is answered in a thread once even when delivered twice; a follow-up in the thread is answered with context; a button press is stored', async () => {
    const event = appMentionEvent({ text: `<@UBOT> ${QUESTION}`, ts: '1700000100.000200', event_id: 'Ev1' });
    const body = JSON.stringify(event);
    expect((await post(body, signSlackRequest(SECRET, body))).status).toBe(200);
    expect((await post(body, { ...signSlackRequest(SECRET, body), 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' })).status).toBe(200);
    const mentionMark = slack.calls.length;
    const answered = await slack.waitFor((c) => slack.calls.indexOf(c) >= mentionMark && updatesWithFeedback(c) && c.method === 'chat.update', 15_000);
    expect(JSON.stringify(answered.body)).toContain(SEED_TITLE);
    // Settled: a mention delivered after the retry has been answered. Questions are answered one at a time, in
    // order (ANSWER_CONCURRENCY 1), so an answer to the retry would have been posted before this one.
    const laterMark = slack.calls.length;
    const later = JSON.stringify(appMentionEvent({ text: `<@UBOT> ${QUESTION}`, ts: '1700000150.000250', event_id: 'Ev1b' }));
    expect((await post(later, signSlackRequest(SECRET, later))).status).toBe(200);
    await slack.waitFor((c) => slack.calls.indexOf(c) >= laterMark && updatesWithFeedback(c) && c.method === 'chat.update', 15_000);
    const threadPosts = slack.calls.filter((c) => c.method === 'chat.postMessage' && (c.body as { thread_ts?: string }).thread_ts === '1700000100.000200');
    expect(threadPosts).toHaveLength(1); // answered once, in the thread

    const chats = ollama.requests.filter((r) => r.path === '/api/chat').length;
    const mark = slack.calls.length;
    const followUp = JSON.stringify({
      token: 'x', team_id: 'T1', api_app_id: 'A1', type: 'event_callback', event_id: 'Ev2', event_time: 1700000200,
      event: { type: 'message', channel: CHANNEL_ID, channel_type: 'channel', user: 'U123', text: 'and what does it need from the prompt?', ts: '1700000200.000300', thread_ts: '1700000100.000200' },
    });
    expect((await post(followUp, signSlackRequest(SECRET, followUp))).status).toBe(200);
    await slack.waitFor((c) => slack.calls.indexOf(c) >= mark && updatesWithFeedback(c) && c.method === 'chat.update', 15_000);
    const lastChat = ollama.requests.filter((r) => r.path === '/api/chat');
    expect(lastChat.length).toBe(chats + 1);
    const prompt = JSON.parse(String((lastChat.at(-1)!.body as { messages: Array<{ content: string }> }).messages.at(-1)!.content)) as { earlier?: Array<{ question: string }> };
    expect(prompt.earlier?.[0]?.question).toBe(QUESTION);

    const blocks = (answered.body as { blocks: Array<{ type: string; elements?: Array<{ action_id?: string; value?: string }> }> }).blocks;
    const value = blocks.flatMap((b) => b.elements ?? []).find((e) => e.action_id === 'feedback_up')?.value;
    expect(value).toBeDefined();
    const press = blockActionsBody({ action_id: 'feedback_up', value: value!, response_url: slack.responseUrl('press1') });
    expect((await post(press, signSlackRequest(SECRET, press))).status).toBe(200);
    const ack = await slack.waitForResponse((r) => r.id === 'press1', 5000);
    expect(JSON.stringify(ack.body)).toContain('Thanks');
    const listed = runCli(['feedback', '--json'], { PAPERBOT_DATA_DIR: dataDir });
    const feedback = (JSON.parse(listed.stdout) as { feedback: Array<{ rating: string; platform: string }> }).feedback;
    expect(feedback.some((f) => f.rating === 'up' && f.platform === 'slack')).toBe(true);
  });
});

describe('paperbot serve with Slack in Socket Mode', () => {
  it('connects through SLACK_API_URL, acknowledges a slash command envelope and answers it', async () => {
    const slack = await startFakeSlack();
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paperbot-slack-socket-'));
    const served = await serve(
      { PAPERBOT_DATA_DIR: dataDir, SLACK_BOT_TOKEN: 'xoxb-test', SLACK_APP_TOKEN: 'xapp-test', SLACK_API_URL: slack.apiUrl, OLLAMA_HOST: 'http://127.0.0.1:47', EMBEDDER: 'local', LOCAL_EMBED_DIM: '256', SLACK_EDIT_INTERVAL_MS: '200' },
      /slack: ready \(socket mode\)/,
    );
    try {
      await slack.waitForSocket(10_000);
      const ack = await slack.sendEnvelope('slash_commands', slashCommandPayload({ command: '/ask', text: QUESTION, response_url: slack.responseUrl('s1') }), 5000);
      expect(JSON.stringify(ack)).toMatch(/Searching \d+ abstracts/);
      const final = await slack.waitFor((c) => c.method === 'chat.update' && updatesWithFeedback(c), 15_000);
      expect(JSON.stringify(final.body)).toContain(SEED_TITLE);
    } finally {
      expect(await served.stop()).toBe(0);
      await slack.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
