/**
 * The Slack side of the daily digest: rendering a `DigestLayout` within Slack's limits (pure),
 * the publisher against the fake Slack Web API on loopback, and `/paperbot digest` through a real
 * Bolt app (Socket Mode) talking to the same fake.
 */
import { WebClient } from '@slack/web-api';
import { afterEach, describe, expect, it } from 'vitest';
import { renderSlackDigest, type SlackDigest } from '../src/adapters/slack/digest-render.ts';
import { SlackDigestPublisher } from '../src/adapters/slack/slack-digest-publisher.ts';
import { SlackBot } from '../src/adapters/slack/slack-bot.ts';
import type { SlackBlock, SlackMessage } from '../src/adapters/slack/render.ts';
import { AnswerQueue } from '../src/adapters/chat/answer-queue.ts';
import { RateLimiter } from '../src/adapters/chat/rate-limiter.ts';
import { createPaperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import type { DigestItem, DigestLayout, DigestPreview } from '../src/digest/model.ts';
import { PaperbotError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import { hasLivePing } from './helpers/pings.ts';
import { CHANNEL_ID, slashCommandPayload, startFakeSlack, type FakeSlack } from './helpers/fake-slack.ts';
import { tempDir } from './helpers/temp.ts';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  while (cleanups.length) await Promise.resolve(cleanups.pop()?.()).catch(() => undefined);
});

async function fakeSlack(): Promise<FakeSlack> {
  const fake = await startFakeSlack();
  cleanups.push(() => fake.close());
  return fake;
}

// ---------------------------------------------------------------------------------------------
// A small layout factory: realistic lengths, some very long fields, some abstracts that try to ping.

const MARKER = 'paperbot-digest lab-slack 2026-11-27T07:00:00.000Z';
const PINGS = ['@everyone look at this', 'cc <!channel> and <!here>', 'thanks <@U123> and <@U456|bob>', 'ping <!subteam^S1|ml-team> now', '@here @channel'];
const SENTENCE = 'We propose a retrieval-augmented method that improves recall on long-tail queries by 12.5% while halving latency & memory (<1 GB). ';

function paper(n: number): DigestItem {
  const id = `2401.${String(n).padStart(5, '0')}`;
  const longTitle = n % 11 === 0;
  const hugeSummary = n === 7;
  return {
    id,
    title: longTitle ? `A very long title about retrieval & unlearning, part ${n}: ${'on scaling laws of <sparse> mixtures '.repeat(12)}` : `Paper ${n}: Dense retrieval for scientific abstracts`,
    ...(n % 5 === 0 ? {} : { url: `https://arxiv.org/abs/${id}?ref=digest&x=${n}|y` }),
    authors: n % 9 === 0 ? '' : `A. Author${n}, B. Jones, C. Smith et al.`,
    summary: `${PINGS[n % PINGS.length]} ${SENTENCE.repeat(hugeSummary ? 40 : 5 + (n % 3))}`.trim(),
    why: n % 2 ? `${100 + n} upvotes on Hugging Face` : 'matches your topic "retrieval"',
  };
}

function layout(overrides: Partial<DigestLayout> = {}): DigestLayout {
  return {
    target: 'lab-slack',
    slot: '2026-11-27T07:00:00.000Z',
    marker: MARKER,
    header: 'Paper digest for Fri 27 Nov 2026: 60 new papers',
    date: '2026-11-27',
    newCount: 60,
    sections: [],
    thread: [],
    more: null,
    notes: [],
    empty: false,
    ...overrides,
  };
}

/** 60 new papers: 20 in the channel message under two topics, 30 for the thread, 10 more beyond. */
function sixtyPaperLayout(): { layout: DigestLayout; shown: DigestItem[] } {
  const papers = Array.from({ length: 50 }, (_, i) => paper(i + 1));
  const sections = [
    { heading: 'retrieval <@U999>', items: papers.slice(0, 12) },
    { heading: 'unlearning', items: papers.slice(12, 20) },
  ];
  return {
    layout: layout({
      sections,
      thread: papers.slice(20, 50),
      more: { count: 10, hint: 'run `/paperbot digest` or `paperbot digest --dry-run --target lab-slack` to list them' },
      notes: ['Hugging Face daily papers failed: HTTP 500', 'arXiv failed: timed out after 20 s'],
    }),
    shown: papers,
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers reading rendered messages

function texts(block: SlackBlock): string[] {
  if (block.type === 'section') return [block.text.text];
  if (block.type === 'context') return block.elements.map((e) => e.text);
  return block.elements.map((e) => e.text.text);
}

function allTexts(digest: SlackDigest): string[] {
  return [digest.main, ...digest.thread].flatMap((m) => [m.text, ...m.blocks.flatMap(texts)]);
}

/** Paper ids in the order they appear (each paper's block ends with its id in backticks). */
function idsIn(messages: readonly SlackMessage[]): string[] {
  return messages.flatMap((m) => m.blocks.flatMap(texts)).flatMap((text) => [...text.matchAll(/`(2401\.\d{5})`/g)].map((match) => match[1]!));
}

function expectWithinLimits(message: SlackMessage): void {
  expect(message.blocks.length).toBeGreaterThan(0);
  expect(message.blocks.length).toBeLessThanOrEqual(50);
  expect(message.text.length).toBeGreaterThan(0);
  expect(message.text.length).toBeLessThanOrEqual(4000);
  let total = message.text.length;
  for (const block of message.blocks) {
    if (block.type === 'section') expect(block.text.text.length).toBeLessThanOrEqual(3000);
    if (block.type === 'context') {
      expect(block.elements.length).toBeLessThanOrEqual(10);
      for (const element of block.elements) expect(element.text.length).toBeLessThanOrEqual(3000);
    }
    total += texts(block).reduce((sum, t) => sum + t.length, 0);
  }
  expect(total).toBeLessThanOrEqual(12_000);
}

// ---------------------------------------------------------------------------------------------

describe('renderSlackDigest', () => {
  it('fits a 60-paper digest within every Slack limit, overflowing into the thread in order, each paper exactly once, with the more-hint', () => {
    const { layout: sixty, shown } = sixtyPaperLayout();
    const digest = renderSlackDigest(sixty);
    for (const message of [digest.main, ...digest.thread]) expectWithinLimits(message);

    const mainIds = idsIn([digest.main]);
    // 20 papers of 700+ characters do not fit 11,000 characters: some moved to the thread, whole.
    expect(mainIds.length).toBeGreaterThan(0);
    expect(mainIds.length).toBeLessThan(20);
    expect(digest.thread.length).toBeGreaterThan(1);
    expect([...mainIds, ...idsIn(digest.thread)]).toEqual(shown.map((p) => p.id));

    const main = digest.main.blocks.flatMap(texts).join('\n');
    expect(main).toContain(`${50 - mainIds.length} more papers in the thread`);
    expect(main).toContain('Hugging Face daily papers failed: HTTP 500');
    expect(main).toContain('arXiv failed: timed out after 20 s');
    expect(main).toContain('*retrieval'); // topic heading
    const lastThread = digest.thread.at(-1)!.blocks.flatMap(texts).join('\n');
    expect(lastThread).toContain('10 more new papers: run `/paperbot digest`');
    expect(digest.thread.flatMap((m) => m.blocks.flatMap(texts)).join('\n')).not.toContain(MARKER);

    // Paper 7's summary is far over a section: shortened with an ellipsis, the paper still whole.
    const seventh = [digest.main, ...digest.thread].flatMap((m) => m.blocks.flatMap(texts)).find((t) => t.includes('`2401.00007`'))!;
    expect(seventh).toContain('Paper 7: Dense retrieval');
    expect(seventh).toMatch(/…\n_/);
    expect(seventh.length).toBeLessThanOrEqual(3000);
  });

  it('links titles safely, escapes &, < and >, and lets no mention survive anywhere', () => {
    const digest = renderSlackDigest(sixtyPaperLayout().layout);
    const all = allTexts(digest);
    for (const text of all) expect(hasLivePing(text), text.slice(0, 200)).toBe(false);
    const joined = all.join('\n');
    // Readable, not deleted: the words are still there, broken by a zero-width space.
    expect(joined).toContain('@\u200beveryone');
    expect(joined).toContain('&lt;\u200b!channel&gt;');
    expect(joined).toContain('latency &amp; memory (&lt;1 GB)');
    expect(joined).not.toMatch(/&amp;amp;/);
    // A link's | and the query's & cannot end it early; a paper without a URL gets no link.
    expect(joined).toContain('*<https://arxiv.org/abs/2401.00001?ref=digest&amp;x=1%7Cy|Paper 1: Dense retrieval for scientific abstracts>*');
    expect(joined).toContain('*Paper 5: Dense retrieval for scientific abstracts*');
  });

  it('carries the marker verbatim in a context block of the channel message', () => {
    const { main } = renderSlackDigest(sixtyPaperLayout().layout);
    const contexts = main.blocks.filter((b) => b.type === 'context').flatMap(texts);
    expect(contexts).toContain(MARKER);
  });

  it('renders an empty day as a short "no new papers" message, with its notes and the marker, and no thread', () => {
    const digest = renderSlackDigest(layout({ header: 'Paper digest for Sat 28 Nov 2026: no new papers', newCount: 0, empty: true, notes: ['arXiv failed: HTTP 503'] }));
    expect(digest.thread).toEqual([]);
    expectWithinLimits(digest.main);
    const text = digest.main.blocks.flatMap(texts).join('\n');
    expect(text).toContain('No new papers');
    expect(text).toContain('arXiv failed: HTTP 503');
    expect(digest.main.blocks.filter((b) => b.type === 'context').flatMap(texts)).toContain(MARKER);
    expect(digest.main.blocks.length).toBeLessThanOrEqual(4);
  });

  it('marks a catch-up digest "while I was away"; a short digest stays in one message', () => {
    const papers = [paper(1), paper(2), paper(3)];
    const digest = renderSlackDigest(layout({ sections: [{ items: papers }], catchUp: { missedSlots: 3, since: '2026-11-24' } }));
    expect(digest.thread).toEqual([]);
    expect(digest.main.blocks[0]?.type).toBe('section');
    expect(texts(digest.main.blocks[0]!)[0]).toMatch(/While I was away: .*3 missed digests since 2026-11-24/);
    expect(digest.main.text).toMatch(/^While I was away/);
    expect(idsIn([digest.main])).toEqual(papers.map((p) => p.id));
    expect(digest.main.blocks.flatMap(texts).join('\n')).not.toContain('in the thread');
  });

  it('does not repeat what the layout already says: a catch-up header, a hint that carries its count', () => {
    const digest = renderSlackDigest(
      layout({
        header: 'While I was away: 3 new papers since Tue 24 Nov 2026 (3 digests missed)',
        catchUp: { missedSlots: 3, since: '2026-11-24T07:00:00.000Z' },
        sections: [{ items: [paper(1)] }],
        thread: [paper(2)],
        more: { count: 7, hint: '…and 7 more new papers not listed here. Run `paperbot digest --dry-run` to list them.' },
      }),
    );
    expect(texts(digest.main.blocks[0]!)).toEqual(['*While I was away: 3 new papers since Tue 24 Nov 2026 (3 digests missed)*']);
    expect(digest.main.text).toBe('While I was away: 3 new papers since Tue 24 Nov 2026 (3 digests missed)');
    const thread = digest.thread.flatMap((m) => m.blocks.flatMap(texts));
    expect(thread.at(-1)).toBe('…and 7 more new papers not listed here. Run `paperbot digest --dry-run` to list them.');
  });
});

// ---------------------------------------------------------------------------------------------

const postCalls = (fake: FakeSlack) => fake.calls.filter((c) => c.method === 'chat.postMessage');

describe('SlackDigestPublisher against the fake Slack Web API', () => {
  it('posts the channel message with metadata and no unfurls, calls onMainPosted, then the thread replies under it', async () => {
    const fake = await fakeSlack();
    const publisher = new SlackDigestPublisher({ token: 'xoxb-test', apiUrl: fake.apiUrl });
    expect(publisher.platform).toBe('slack');
    const { layout: sixty } = sixtyPaperLayout();
    const expected = renderSlackDigest(sixty);
    const postsWhenRecorded: number[] = [];

    const posted = await publisher.publish(CHANNEL_ID, sixty, ({ messageRef }) => postsWhenRecorded.push(postCalls(fake).length, Number(messageRef)));

    const posts = postCalls(fake);
    expect(posts).toHaveLength(1 + expected.thread.length);
    const [main, ...replies] = posts;
    expect(main!.authorization).toBe('Bearer xoxb-test');
    expect(main!.body).toMatchObject({ channel: CHANNEL_ID, unfurl_links: 'false', unfurl_media: 'false', metadata: { event_type: 'paperbot_digest', event_payload: { marker: MARKER } } });
    expect(main!.body['thread_ts']).toBeUndefined();
    expect(main!.body['blocks']).toEqual(expected.main.blocks);
    expect(posted.messageRef).toBe(main!.response['ts']);
    // onMainPosted ran after the channel message and before any reply, with its ts.
    expect(postsWhenRecorded).toEqual([1, Number(posted.messageRef)]);
    for (const [i, reply] of replies.entries()) {
      expect(reply.body).toMatchObject({ channel: CHANNEL_ID, thread_ts: posted.messageRef, unfurl_links: 'false' });
      expect(reply.body['blocks']).toEqual(expected.thread[i]!.blocks);
    }
    // The fake kept them: the channel shows one message, its thread the replies.
    const client = new WebClient('xoxb-test', { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } });
    const history = await client.conversations.history({ channel: CHANNEL_ID });
    expect(history.messages?.map((m) => m.ts)).toEqual([posted.messageRef]);
    expect(history.messages?.[0]).not.toHaveProperty('metadata');
    const thread = await client.conversations.replies({ channel: CHANNEL_ID, ts: posted.messageRef });
    expect(thread.messages?.map((m) => m.ts)).toEqual(posts.map((p) => p.response['ts']));
  });

  it('findPosted finds a posted digest by its marker in one history read, and returns null for another marker', async () => {
    const fake = await fakeSlack();
    const publisher = new SlackDigestPublisher({ token: 'xoxb-test', apiUrl: fake.apiUrl });
    fake.seedHistory(CHANNEL_ID, [{ text: 'an older chat', user: 'U123' }]);
    const posted = await publisher.publish(CHANNEL_ID, layout({ sections: [{ items: [paper(1), paper(2)] }] }));
    fake.seedHistory(CHANNEL_ID, Array.from({ length: 10 }, (_, i) => ({ text: `chatter ${i}`, user: 'U123' })));

    expect(await publisher.findPosted(CHANNEL_ID, MARKER)).toBe(posted.messageRef);
    expect(await publisher.findPosted(CHANNEL_ID, 'paperbot-digest lab-slack 2026-11-26T07:00:00.000Z')).toBeNull();
    const reads = fake.calls.filter((c) => c.method === 'conversations.history');
    expect(reads).toHaveLength(2);
    expect(reads[0]!.body).toMatchObject({ channel: CHANNEL_ID, limit: '50', include_all_metadata: 'true' });
  });

  it('findPosted also finds the marker in the text of a message without metadata, and not beyond the 50 newest messages', async () => {
    const fake = await fakeSlack();
    const publisher = new SlackDigestPublisher({ token: 'xoxb-test', apiUrl: fake.apiUrl });
    const rendered = renderSlackDigest(layout({ sections: [{ items: [paper(3)] }] }));
    const [old] = fake.seedHistory(CHANNEL_ID, [{ text: rendered.main.text, blocks: rendered.main.blocks, bot_id: 'B1' }]);
    expect(await publisher.findPosted(CHANNEL_ID, MARKER)).toBe(old!.ts);
    fake.seedHistory(CHANNEL_ID, Array.from({ length: 50 }, (_, i) => ({ text: `chatter ${i}`, user: 'U123' })));
    expect(await publisher.findPosted(CHANNEL_ID, MARKER)).toBeNull();
  });

  it('turns Slack refusals into platform errors that say what to do', async () => {
    const fake = await fakeSlack();
    const publisher = new SlackDigestPublisher({ token: 'xoxb-test', apiUrl: fake.apiUrl });
    const digest = layout({ sections: [{ items: [paper(1)] }] });
    const failure = async (promise: Promise<unknown>): Promise<PaperbotError> => {
      const error = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(PaperbotError);
      expect((error as PaperbotError).code).toBe('platform');
      return error as PaperbotError;
    };

    fake.failNext('chat.postMessage', 'not_in_channel');
    expect((await failure(publisher.publish(CHANNEL_ID, digest))).message).toContain('/invite @paperbot');

    fake.failChannel('C0MISSING', 'channel_not_found');
    const notFound = await failure(publisher.publish('C0MISSING', digest));
    expect(notFound.message).toContain('C0MISSING');
    expect(notFound.message).toContain("target's channel id in paperbot.digest.yml");
    expect((await failure(publisher.findPosted('C0MISSING', MARKER))).message).toContain('paperbot.digest.yml');

    fake.failNext('conversations.history', 'missing_scope', { needed: 'groups:history', provided: 'chat:write' });
    const scope = await failure(publisher.findPosted(CHANNEL_ID, MARKER));
    expect(scope.message).toMatch(/groups:history scope.*reinstall/);

    fake.failNext('chat.postMessage', 'invalid_auth');
    expect((await failure(publisher.publish(CHANNEL_ID, digest))).message).toContain('SLACK_BOT_TOKEN');
    expect(postCalls(fake).every((c) => c.response['ok'] === false)).toBe(true);
  });

  it('a thread reply that fails after the channel message rejects, after onMainPosted recorded the message', async () => {
    const fake = await fakeSlack();
    const publisher = new SlackDigestPublisher({ token: 'xoxb-test', apiUrl: fake.apiUrl });
    const recorded: string[] = [];
    const publishing = publisher.publish(CHANNEL_ID, sixtyPaperLayout().layout, ({ messageRef }) => {
      recorded.push(messageRef);
      fake.failNext('chat.postMessage', 'not_in_channel');
    });
    await expect(publishing).rejects.toMatchObject({ code: 'platform', message: expect.stringMatching(/thread reply 1 of \d+ .*is posted/) });
    expect(recorded).toEqual([postCalls(fake)[0]!.response['ts']]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('/paperbot digest through a real Bolt app (Socket Mode) against the fake', () => {
  async function startBot(fake: FakeSlack, digestPreview?: DigestPreview): Promise<SlackBot> {
    const logger = createLogger('silent');
    const core = await createPaperbot(loadConfig({ PAPERBOT_DATA_DIR: tempDir(), OLLAMA_HOST: 'http://127.0.0.1:47', RETRIEVAL_MODE: 'keyword' }), { logger, seed: false });
    cleanups.push(() => core.close());
    const bot = new SlackBot(core, {
      botToken: 'xoxb-test',
      appToken: 'xapp-test',
      port: 0,
      apiUrl: fake.apiUrl,
      privateDefault: false,
      commands: { ask: '/ask', search: '/papers', paper: '/paper', help: '/paperbot' },
      editIntervalMs: 100,
      queue: new AnswerQueue({ concurrency: 1 }),
      limiter: new RateLimiter({ limit: 10, windowMs: 60_000 }),
      logger,
      ...(digestPreview ? { digestPreview } : {}),
    });
    await bot.start();
    cleanups.push(() => bot.stop(0));
    await fake.waitForSocket();
    return bot;
  }

  it('acks at once and shows the asker the channel message then the thread replies, privately; a refusal shows its message', async () => {
    const fake = await fakeSlack();
    const requests: unknown[] = [];
    const { layout: sixty } = sixtyPaperLayout();
    await startBot(fake, async (request) => {
      requests.push(request);
      return request.targetName === 'nope' ? { ok: false, message: 'No digest target is named "nope" here; targets: lab-slack.' } : { ok: true, layouts: [sixty] };
    });
    const expected = renderSlackDigest(sixty);

    const ack = await fake.sendEnvelope('slash_commands', slashCommandPayload({ command: '/paperbot', text: 'digest lab-slack', response_url: fake.responseUrl('d1') }));
    expect(JSON.stringify(ack.payload ?? '')).toContain('Laying out the next digest');
    // A response_url takes 5 posts: 4 messages of the digest, then how many are not shown.
    const total = 1 + expected.thread.length;
    expect(total).toBeGreaterThan(5);
    await fake.waitForResponse((r) => r.id === 'd1' && JSON.stringify(r.body).includes('not shown'));
    // Settled: a command sent after the preview's last reply has been answered.
    await fake.sendEnvelope('slash_commands', slashCommandPayload({ command: '/paperbot', text: 'help', response_url: fake.responseUrl('after-d1') }));
    await fake.waitForResponse((r) => r.id === 'after-d1');
    const responses = fake.responses.filter((r) => r.id === 'd1').map((r) => r.body as { response_type?: string; text?: string; blocks?: SlackBlock[] });
    expect(responses).toHaveLength(5);
    expect(requests).toEqual([{ platform: 'slack', channel: CHANNEL_ID, targetName: 'lab-slack' }]);
    expect(responses.every((r) => r.response_type === 'ephemeral')).toBe(true);
    expect(JSON.stringify(responses[0]!.blocks?.[0])).toContain('Preview of the next digest for lab-slack');
    expect(responses[0]!.blocks?.slice(1)).toEqual(expected.main.blocks);
    expect(responses.slice(1, 4).map((r) => r.blocks)).toEqual(expected.thread.slice(0, 3).map((m) => m.blocks));
    expect(responses[4]!.text).toContain(`${total - 4} more preview messages are not shown`);
    expect(postCalls(fake)).toEqual([]); // nothing posted to the channel

    await fake.sendEnvelope('slash_commands', slashCommandPayload({ command: '/paperbot', text: 'digest nope', response_url: fake.responseUrl('d2') }));
    const refusal = await fake.waitForResponse((r) => r.id === 'd2');
    expect(refusal.body).toMatchObject({ response_type: 'ephemeral', text: 'No digest target is named "nope" here; targets: lab-slack.' });

    await fake.sendEnvelope('slash_commands', slashCommandPayload({ command: '/paperbot', text: 'help', response_url: fake.responseUrl('h1') }));
    expect(JSON.stringify((await fake.waitForResponse((r) => r.id === 'h1')).body)).toContain('/paperbot digest [target]');
  });

  it('says no digest is configured without a preview, and a failing preview gets the usual failure message', async () => {
    const fake = await fakeSlack();
    await startBot(fake);
    await fake.sendEnvelope('slash_commands', slashCommandPayload({ command: '/paperbot', text: 'digest', response_url: fake.responseUrl('n1') }));
    expect((await fake.waitForResponse((r) => r.id === 'n1')).body).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining('No digest is configured') });

    const other = await fakeSlack();
    await startBot(other, async () => {
      throw new Error('database is locked');
    });
    await other.sendEnvelope('slash_commands', slashCommandPayload({ command: '/paperbot', text: 'digest', response_url: other.responseUrl('f1'), trigger_id: 'req-42' }));
    const failed = await other.waitForResponse((r) => r.id === 'f1');
    expect(failed.body).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining('request req-42') });
    expect(JSON.stringify(failed.body)).not.toContain('database is locked');
  });
});
