// Self-test of the fake Slack, driven by a real @slack/bolt App (Socket Mode and HTTP mode).
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { App, LogLevel } from '@slack/bolt';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BOT_USER_ID,
  CHANNEL_ID,
  appMentionEvent,
  blockActionsBody,
  parseBody,
  signSlackRequest,
  slashCommandBody,
  slashCommandPayload,
  startFakeSlack,
  type FakeSlack,
} from './helpers/fake-slack.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.().catch(() => undefined);
});

async function fakeSlack(): Promise<FakeSlack> {
  const fake = await startFakeSlack();
  cleanups.push(() => fake.close());
  return fake;
}

describe('fake Slack with a Socket Mode Bolt App', () => {
  it('connects, answers auth.test, delivers a slash command envelope and records the ack and respond()', async () => {
    const fake = await fakeSlack();
    const app = new App({
      token: 'xoxb-test',
      appToken: 'xapp-test',
      socketMode: true,
      logLevel: LogLevel.ERROR,
      clientOptions: { slackApiUrl: fake.apiUrl },
    });
    const seen: string[] = [];
    app.command('/ask', async ({ command, ack, respond }) => {
      seen.push(command.text);
      await ack();
      await respond({ text: `answer to ${command.text}`, response_type: 'ephemeral' });
    });
    await app.start();
    cleanups.push(() => app.stop());

    // Bolt verifies the bot token at construction; the socket client opened a connection with the app token.
    const authTest = await fake.waitFor((c) => c.method === 'auth.test');
    expect(authTest.authorization).toBe('Bearer xoxb-test');
    const open = await fake.waitFor((c) => c.method === 'apps.connections.open');
    expect(open.authorization).toBe('Bearer xapp-test');
    expect(fake.socketCount).toBe(1);

    const ack = await fake.sendEnvelope(
      'slash_commands',
      slashCommandPayload({ command: '/ask', text: 'what is BM25?', response_url: fake.responseUrl('r1') }),
    );
    expect(seen).toEqual(['what is BM25?']);
    expect(ack.envelope_id).toBe(fake.envelopes[0]?.envelope_id);
    expect(fake.acks).toHaveLength(1);
    const response = await fake.waitForResponse((r) => r.id === 'r1');
    expect(response.body).toMatchObject({ text: 'answer to what is BM25?', response_type: 'ephemeral' });
  });

  it('acks events_api and interactive envelopes; Web API calls get parsed bodies, fresh ts and injected faults', async () => {
    const fake = await fakeSlack();
    const app = new App({
      token: 'xoxb-test',
      appToken: 'xapp-test',
      socketMode: true,
      logLevel: LogLevel.ERROR,
      clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
    });
    const mentions: string[] = [];
    app.event('app_mention', async ({ event }) => {
      mentions.push(event.text);
    });
    const clicks: string[] = [];
    app.action('more', async ({ ack, action }) => {
      await ack();
      if (action.type === 'button') clicks.push(action.value ?? '');
    });
    await app.start();
    cleanups.push(() => app.stop());

    const mentionAck = await fake.sendEnvelope('events_api', appMentionEvent({ text: `<@${BOT_USER_ID}> hi`, event_id: 'Ev1' }));
    expect(mentionAck.envelope_id).toBeTruthy();
    const payload = parseBody(blockActionsBody({ action_id: 'more', value: 'p2' }), undefined)['payload'];
    await fake.sendEnvelope('interactive', payload);
    await expect.poll(() => mentions).toEqual([`<@${BOT_USER_ID}> hi`]);
    expect(clicks).toEqual(['p2']);

    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*hi*' } }];
    const first = await app.client.chat.postMessage({ channel: CHANNEL_ID, text: 'hi', blocks });
    const second = await app.client.chat.postMessage({ channel: CHANNEL_ID, text: 'again', thread_ts: first.ts ?? '' });
    expect(first.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(second.ts).not.toBe(first.ts);
    const posted = fake.calls.find((c) => c.method === 'chat.postMessage');
    expect(posted?.body['blocks']).toEqual(blocks); // form-encoded JSON string parsed back
    const updated = await app.client.chat.update({ channel: CHANNEL_ID, ts: first.ts ?? '', text: 'edited' });
    expect(updated.ts).toBe(first.ts);

    fake.failNext('chat.postMessage', 'not_in_channel');
    await expect(app.client.chat.postMessage({ channel: CHANNEL_ID, text: 'x' })).rejects.toMatchObject({
      data: { ok: false, error: 'not_in_channel' },
    });
    await expect(app.client.chat.postMessage({ channel: CHANNEL_ID, text: 'y' })).resolves.toMatchObject({ ok: true });
  });
});

describe('fake Slack with an HTTP-mode Bolt App', () => {
  it('accepts a correctly signed slash command (200) and rejects a bad signature (401)', async () => {
    const fake = await fakeSlack();
    const signingSecret = 'shh';
    const app = new App({
      token: 'xoxb-test',
      signingSecret,
      logLevel: LogLevel.ERROR,
      clientOptions: { slackApiUrl: fake.apiUrl },
    });
    const seen: string[] = [];
    app.command('/ask', async ({ command, ack }) => {
      seen.push(command.text);
      await ack();
    });
    const server = (await app.start({ port: 0, host: '127.0.0.1' })) as Server;
    cleanups.push(() => app.stop());
    const { port } = server.address() as AddressInfo;
    const url = `http://127.0.0.1:${port}/slack/events`;

    const body = slashCommandBody({ command: '/ask', text: 'hello', response_url: fake.responseUrl('h1') });
    const ok = await fetch(url, { method: 'POST', headers: { ...signSlackRequest(signingSecret, body) }, body });
    expect(ok.status).toBe(200);
    expect(seen).toEqual(['hello']);

    const bad = await fetch(url, { method: 'POST', headers: { ...signSlackRequest('wrong-secret', body) }, body });
    expect(bad.status).toBe(401);
    const stale = await fetch(url, {
      method: 'POST',
      headers: { ...signSlackRequest(signingSecret, body, Math.floor(Date.now() / 1000) - 600) },
      body,
    });
    expect(stale.status).toBe(401);
    expect(seen).toEqual(['hello']);
    expect(fake.calls.some((c) => c.method === 'auth.test')).toBe(true);
  });
});
