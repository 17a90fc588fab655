/**
 * The Discord side of the daily digest: rendering a layout within Discord's limits (pure), the
 * REST publisher against the fake Discord on loopback, and `/digest` through the real discord.js
 * client and gateway of an in-process DiscordBot.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DiscordBot } from '../src/adapters/discord/discord-bot.ts';
import { DiscordDigestPublisher } from '../src/adapters/discord/discord-digest-publisher.ts';
import { SUPPRESS_EMBEDS_FLAG, renderDiscordDigest, type DiscordDigestPayload, type RenderedDiscordDigest } from '../src/adapters/discord/digest-render.ts';
import { DISCORD_LIMITS } from '../src/adapters/discord/render.ts';
import { AnswerQueue } from '../src/adapters/chat/answer-queue.ts';
import { RateLimiter } from '../src/adapters/chat/rate-limiter.ts';
import type { DigestItem, DigestLayout, DigestPreview } from '../src/digest/model.ts';
import { PaperbotError } from '../src/errors.ts';
import { hasLivePing } from './helpers/pings.ts';
import type { PaperbotCore } from '../src/rag/paperbot-core.ts';
import { APP_ID, CHANNEL_ID, HUMAN_USER_ID, TOKEN, snowflake, startFakeDiscord, type ApiMessage, type FakeDiscord, type RecordedRequest } from './helpers/fake-discord.ts';

// ---------------------------------------------------------------------------------------------
// A small layout factory: realistic lengths, and the untrusted text an abstract can carry.

const PINGS = ['@everyone', '@here', '<@&123456789012345678>', '<@123456789012345678>'];
const SENTENCE = 'We propose a retrieval-augmented method that improves exact-match accuracy by 4.2 points on three open-domain QA benchmarks while halving the index size';

/** Paper `i`; `long` (default: every seventh) gives it a long title and a summary of about 650 characters. */
function paper(i: number, long = i % 7 === 3): DigestItem {
  const ping = PINGS[i % PINGS.length]!;
  return {
    id: `2311.${String(10_000 + i)}`,
    title: long
      ? `Paper ${i}: Scaling Laws for Retrieval-Augmented Generation under Distribution Shift, with ${ping} in the Title and a Subtitle That Goes On [and On] (for *Quite* a While)`
      : `Paper ${i}: Efficient Dense Retrieval with ${ping}`,
    url: `https://arxiv.org/abs/2311.${String(10_000 + i)}`,
    authors: i % 5 === 0 ? '' : `A. Author${i}, B. Writer, C. ${ping} Coauthor et al.`,
    summary: long ? `${SENTENCE}; ${ping} please read this. `.repeat(4).trim() : `${SENTENCE}, ${ping}.`,
    why: i % 2 ? `${100 - i} upvotes on Hugging Face` : `matches your topic "retrieval" ${ping}`,
  };
}

const MARKER = 'paperbot-digest lab-discord 2026-11-27T07:00:00.000Z';

/** 60 new papers: 10 in the channel message under three headings, 40 for the thread, 10 more. */
function sixtyPaperLayout(overrides: Partial<DigestLayout> = {}): DigestLayout {
  // The channel message's papers are long, so ten of them cannot all fit one message's embeds.
  const papers = Array.from({ length: 60 }, (_, i) => paper(i + 1, i < 10 || undefined));
  return {
    target: 'lab-discord',
    slot: '2026-11-27T07:00:00.000Z',
    marker: MARKER,
    header: 'Paper digest for Fri 27 Nov 2026: 60 new papers',
    date: '2026-11-27',
    newCount: 60,
    sections: [
      { heading: 'Retrieval @everyone', items: papers.slice(0, 4) },
      { heading: 'Unlearning', items: papers.slice(4, 7) },
      { heading: 'Other <@&42>', items: papers.slice(7, 10) },
    ],
    thread: papers.slice(10, 50),
    more: { count: 10, hint: '10 more papers: `npm start -- digest --dry-run --target lab-discord` lists them all. @here' },
    notes: ['Hugging Face daily papers failed: HTTP 500 @everyone'],
    empty: false,
    ...overrides,
  };
}

function emptyLayout(overrides: Partial<DigestLayout> = {}): DigestLayout {
  return {
    target: 'lab-discord',
    slot: '2026-11-28T07:00:00.000Z',
    marker: 'paperbot-digest lab-discord 2026-11-28T07:00:00.000Z',
    header: 'Paper digest for Sat 28 Nov 2026: no new papers',
    date: '2026-11-28',
    newCount: 0,
    sections: [],
    thread: [],
    more: null,
    notes: [],
    empty: true,
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the tests

function allPayloads(rendered: RenderedDiscordDigest): DiscordDigestPayload[] {
  return [rendered.main, ...rendered.thread];
}

/** Every text of a payload that Discord shows. */
function shownText(payload: DiscordDigestPayload): string {
  return [payload.content, ...payload.embeds.flatMap((e) => [e.title ?? '', e.description ?? '', e.footer?.text ?? '', ...(e.fields ?? []).flatMap((f) => [f.name, f.value])])].join('\n');
}

function expectWithinLimits(rendered: RenderedDiscordDigest): void {
  for (const payload of allPayloads(rendered)) {
    expect(payload.content.length).toBeGreaterThan(0);
    expect(payload.content.length).toBeLessThanOrEqual(DISCORD_LIMITS.content);
    expect(payload.embeds.length).toBeLessThanOrEqual(DISCORD_LIMITS.embedsPerMessage);
    let total = 0;
    for (const embed of payload.embeds) {
      expect(embed.title?.length ?? 0).toBeLessThanOrEqual(DISCORD_LIMITS.embedTitle);
      expect(embed.description?.length ?? 0).toBeLessThanOrEqual(DISCORD_LIMITS.embedDescription);
      expect(embed.footer?.text.length ?? 0).toBeLessThanOrEqual(DISCORD_LIMITS.embedFooter);
      total += (embed.title?.length ?? 0) + (embed.description?.length ?? 0) + (embed.footer?.text.length ?? 0);
    }
    expect(total).toBeLessThanOrEqual(DISCORD_LIMITS.embedCharactersPerMessage);
    expect(payload.allowedMentions).toEqual({ parse: [] });
    expect(hasLivePing(shownText(payload)), shownText(payload)).toBe(false);
  }
  expect(rendered.threadName.length).toBeGreaterThan(0);
  expect(rendered.threadName.length).toBeLessThanOrEqual(100);
}

const count = (text: string, part: string): number => text.split(part).length - 1;

// ---------------------------------------------------------------------------------------------
// Rendering

describe('renderDiscordDigest', () => {
  it('fits a 60-paper digest in Discord limits, overflow in the thread, each shown paper exactly once and in order', () => {
    const layout = sixtyPaperLayout();
    const rendered = renderDiscordDigest(layout);
    expectWithinLimits(rendered);

    const shown = [...layout.sections.flatMap((s) => s.items), ...layout.thread];
    expect(shown).toHaveLength(50);
    const mainText = shownText(rendered.main);
    const threadText = rendered.thread.map(shownText).join('\n');
    for (const item of shown) expect(count(mainText, `\`${item.id}\``) + count(threadText, `\`${item.id}\``), item.id).toBe(1);
    // Papers beyond size + thread_max are only counted in the hint, never listed.
    for (const item of Array.from({ length: 10 }, (_, i) => paper(51 + i))) expect(count(mainText + threadText, `\`${item.id}\``)).toBe(0);

    // Numbered in layout order across the message and the thread.
    const numbers = [...(mainText + '\n' + threadText).matchAll(/^\*\*(\d+)\. /gm)].map((m) => Number(m[1]));
    expect(numbers).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));

    // Ten papers with summaries do not fit one message's 6000 embed characters: the rest moved to the thread whole.
    const inMain = layout.sections.flatMap((s) => s.items).filter((item) => mainText.includes(`\`${item.id}\``));
    expect(inMain.length).toBeGreaterThan(0);
    expect(inMain.length).toBeLessThan(10);
    expect(rendered.thread[0]!.content).toMatch(new RegExp(`^\\*\\*[^\\n]+\\*\\*\\n\\*\\*${inMain.length + 1}\\. `));
    expect(rendered.thread.length).toBeGreaterThan(1);
    // As few thread messages as the whole papers allow: no two neighbours could have been one.
    for (let i = 1; i < rendered.thread.length; i++) {
      expect(rendered.thread[i - 1]!.content.length + 2 + rendered.thread[i]!.content.split('\n\n')[0]!.length).toBeGreaterThan(DISCORD_LIMITS.content);
    }

    // Headings: embed titles in the message, a bold line where the overflow continues a section.
    expect(rendered.main.embeds[0]?.title).toMatch(/^Retrieval @\u200beveryone$/);
    expect(threadText).toContain('**Other \\<@\u200b&42\\>**\n');

    // The more-hint ends the thread; the marker ends the message, verbatim; the source failure is visible.
    expect(rendered.thread.at(-1)!.content.endsWith('10 more papers: `npm start -- digest --dry-run --target lab-discord` lists them all. @\u200bhere')).toBe(true);
    expect(rendered.main.content.split('\n').at(-1)).toBe(`-# ${MARKER}`);
    expect(rendered.main.content).toContain('Hugging Face daily papers failed: HTTP 500');
    expect(rendered.main.content).toContain('41 more papers in the thread below (and how to list 10 more)'.replace('41', String(50 - inMain.length)));
    expect(rendered.threadName).toBe('More papers: 2026-11-27');

    // Links: masked, in angle brackets (no unfurl), and thread messages suppress link previews.
    expect(mainText).toMatch(/^\*\*1\. \[Paper 1: Scaling Laws [^\n]+\\\[and On\\\] \\\(for \\\*Quite\\\* a While\\\)\]\(<https:\/\/arxiv\.org\/abs\/2311\.10001>\)\*\*$/m);
    expect(threadText).toContain('**11. [Paper 11: Efficient Dense Retrieval with \\<@\u200b123456789012345678\\>](<https://arxiv.org/abs/2311.10011>)**\n');
    for (const payload of rendered.thread) expect(payload.flags).toBe(SUPPRESS_EMBEDS_FLAG);
    expect(rendered.main.embeds.length).toBeGreaterThan(0);
    expect(rendered.main.flags).toBeUndefined(); // the flag would hide the message's own embeds
    // The pings are still readable words, just not pings.
    expect(threadText).toContain('@\u200beveryone');
    expect(threadText).toContain('\\<@\u200b123456789012345678\\>');
  });

  it('escapes titles so they cannot break their link, links only to safe http(s) URLs, and shortens one huge summary', () => {
    const tricky: DigestItem = {
      id: '2401.00001',
      title: 'Breaking [links](https://evil.example) and *stars* `code` ||spoiler|| > quote',
      url: 'https://arxiv.org/abs/2401.00001?x=(1)',
      authors: '# Not A Heading',
      summary: `${'Long summary sentence with numbers 1 2 3. '.repeat(200)}END`,
      why: 'newest',
    };
    const unsafe: DigestItem = { id: '2401.00002', title: 'Unsafe link', url: 'javascript:alert(1)', authors: 'A. B', summary: 'Short.', why: 'newest' };
    const creds: DigestItem = { ...unsafe, id: '2401.00003', title: 'Credentials', url: 'https://user:pw@example.com/x' };
    const rendered = renderDiscordDigest(sixtyPaperLayout({ sections: [{ items: [tricky, unsafe, creds] }], thread: [], more: null }));
    expectWithinLimits(rendered);
    const text = shownText(rendered.main);
    expect(text).toContain(
      '**1. [Breaking \\[links\\]\\(https://evil.example\\) and \\*stars\\* \\`code\\` \\|\\|spoiler\\|\\| \\> quote](<https://arxiv.org/abs/2401.00001?x=%281%29>)**',
    );
    expect(text).toContain('\n\\# Not A Heading\n');
    expect(text).toContain('**2. Unsafe link**');
    expect(text).not.toContain('javascript:');
    expect(text).toContain('**3. Credentials**');
    expect(text).not.toContain('user:pw');
    // The huge summary is cut with an ellipsis; the paper's other lines survive whole.
    const first = rendered.main.embeds[0]!.description!.split('\n\n')[0]!;
    expect(first).toMatch(/…\n\*newest\* · `2401\.00001`$/);
    expect(first).not.toContain('END');
    expect(rendered.thread).toEqual([]);
  });

  it('puts every paper of a short digest in the channel message and starts no thread', () => {
    const items = Array.from({ length: 3 }, (_, i) => paper(i * 7 + 1));
    const rendered = renderDiscordDigest(sixtyPaperLayout({ sections: [{ items }], thread: [], more: null, notes: [] }));
    expectWithinLimits(rendered);
    expect(rendered.thread).toEqual([]);
    expect(rendered.main.embeds).toHaveLength(1);
    expect(rendered.main.embeds[0]!.title).toBeUndefined();
    for (const item of items) expect(count(shownText(rendered.main), `\`${item.id}\``)).toBe(1);
    expect(rendered.main.content).not.toMatch(/thread/);
  });

  it('renders an empty day as a short "no new papers" message that still carries the marker', () => {
    const layout = emptyLayout();
    const rendered = renderDiscordDigest(layout);
    expectWithinLimits(rendered);
    expect(rendered.thread).toEqual([]);
    expect(rendered.main.embeds).toEqual([]);
    expect(rendered.main.content).toBe(`**Paper digest for Sat 28 Nov 2026: no new papers**\n-# ${layout.marker}`);
    expect(rendered.main.flags).toBe(SUPPRESS_EMBEDS_FLAG);

    // A header that does not say so gets a line that does; a source failure is shown beside it.
    const bare = renderDiscordDigest(emptyLayout({ header: 'Paper digest for Sat 28 Nov 2026', notes: ['arXiv failed: timed out after 20 s'] }));
    expectWithinLimits(bare);
    expect(bare.main.content.split('\n')).toEqual([
      '**Paper digest for Sat 28 Nov 2026**',
      'No new papers since the last digest.',
      '⚠️ arXiv failed: timed out after 20 s',
      `-# ${layout.marker}`,
    ]);
  });

  it('does not repeat "while I was away" when the header already says it', () => {
    const rendered = renderDiscordDigest(
      sixtyPaperLayout({ header: 'While I was away: 60 new papers since Tue 24 Nov 2026 (3 digests missed)', catchUp: { missedSlots: 3, since: '2026-11-24T07:00:00.000Z' } }),
    );
    expect(count(rendered.main.content.toLowerCase(), 'while i was away')).toBe(1);
  });

  it('says "while I was away" for a catch-up digest and keeps every source failure visible', () => {
    const notes = Array.from({ length: 30 }, (_, i) => `Source ${i} failed: ${'HTTP 500 '.repeat(20)}`);
    const rendered = renderDiscordDigest(sixtyPaperLayout({ catchUp: { missedSlots: 3, since: '2026-11-24T07:00:00.000Z' }, notes }));
    expectWithinLimits(rendered);
    expect(rendered.main.content).toMatch(/While I was away: this digest stands for 3 missed digests, covering everything new since 2026-11-24/);
    expect(rendered.main.content).toContain('Source 0 failed');
    // Thirty long notes do not fit: the ones left out are counted, not silently dropped.
    expect(rendered.main.content).toMatch(/… and \d+ more problems: see the log\./);
    expect(rendered.main.content.split('\n').at(-1)).toBe(`-# ${MARKER}`);
  });
});

// ---------------------------------------------------------------------------------------------
// Publishing through the fake Discord REST endpoint

describe('DiscordDigestPublisher', () => {
  let fake: FakeDiscord | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  const start = async (): Promise<{ fake: FakeDiscord; publisher: DiscordDigestPublisher }> => {
    fake = await startFakeDiscord();
    return { fake, publisher: new DiscordDigestPublisher({ token: TOKEN, apiBase: fake.apiBase }) };
  };

  it('posts the message, records it, starts a thread from it and posts the overflow into the thread in order', async () => {
    const { fake, publisher } = await start();
    const layout = sixtyPaperLayout();
    const rendered = renderDiscordDigest(layout);
    let requestsWhenRecorded = -1;
    const posted = await publisher.publish(CHANNEL_ID, layout, () => (requestsWhenRecorded = fake.requests.length));

    const mainPost = fake.requestsTo('POST', `/channels/${CHANNEL_ID}/messages`);
    expect(mainPost).toHaveLength(1);
    const mainBody = mainPost[0]!.body as { content: string; embeds: unknown[]; allowed_mentions: unknown; flags?: number };
    expect(mainBody.content).toBe(rendered.main.content);
    expect(mainBody.embeds).toEqual(rendered.main.embeds);
    expect(mainBody.allowed_mentions).toEqual({ parse: [] });
    expect(mainPost[0]!.authorization).toBe(`Bot ${TOKEN}`);
    expect(posted.messageRef).toBe((mainPost[0]!.response as { id: string }).id);
    expect(fake.messages.get(posted.messageRef)?.content).toContain(MARKER);

    // Recorded as soon as the message existed: the only request before was that post.
    expect(requestsWhenRecorded).toBe(1);

    const threadStart = fake.requestsTo('POST', `/channels/${CHANNEL_ID}/messages/${posted.messageRef}/threads`);
    expect(threadStart).toHaveLength(1);
    expect(threadStart[0]!.body).toEqual({ name: 'More papers: 2026-11-27', auto_archive_duration: 1440 });
    const threadId = (threadStart[0]!.response as { id: string }).id;
    expect(fake.threads.get(threadId)?.parent_id).toBe(CHANNEL_ID);

    const threadPosts = fake.requestsTo('POST', `/channels/${threadId}/messages`);
    expect(threadPosts.map((r) => (r.body as { content: string }).content)).toEqual(rendered.thread.map((p) => p.content));
    for (const request of threadPosts) {
      expect(request.status).toBe(200);
      expect((request.body as { allowed_mentions: unknown }).allowed_mentions).toEqual({ parse: [] });
      expect((request.body as { flags: number }).flags).toBe(SUPPRESS_EMBEDS_FLAG);
      expect(hasLivePing((request.body as { content: string }).content)).toBe(false);
    }
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST /channels/${CHANNEL_ID}/messages`,
      `POST /channels/${CHANNEL_ID}/messages/${posted.messageRef}/threads`,
      ...rendered.thread.map(() => `POST /channels/${threadId}/messages`),
    ]);
  });

  it('posts a short digest as one message and starts no thread', async () => {
    const { fake, publisher } = await start();
    const posted = await publisher.publish(CHANNEL_ID, emptyLayout());
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`POST /channels/${CHANNEL_ID}/messages`]);
    expect(fake.messages.get(posted.messageRef)?.content).toContain('no new papers');
  });

  it('findPosted finds the digest by its marker in one read of the history, and null for an unknown marker or a person quoting one', async () => {
    const { fake, publisher } = await start();
    const posted = await publisher.publish(CHANNEL_ID, emptyLayout());
    // Later chatter, including a person pasting another digest's marker.
    const quoted = 'paperbot-digest lab-discord 2026-11-29T07:00:00.000Z';
    const human = { id: snowflake(), channel_id: CHANNEL_ID, content: `did this post? ${quoted}`, author: { id: HUMAN_USER_ID, username: 'alice', global_name: 'Alice', discriminator: '0', avatar: null }, embeds: [], components: [], attachments: [], mentions: [], flags: 0 } satisfies ApiMessage;
    fake.messages.set(human.id, human);

    const before = fake.requests.length;
    expect(await publisher.findPosted(CHANNEL_ID, emptyLayout().marker)).toBe(posted.messageRef);
    const reads = fake.requests.slice(before);
    expect(reads.map((r) => `${r.method} ${r.path}`)).toEqual([`GET /channels/${CHANNEL_ID}/messages`]);
    expect(reads[0]!.query).toEqual({ limit: '50' });

    expect(await publisher.findPosted(CHANNEL_ID, 'paperbot-digest lab-discord 2030-01-01T07:00:00.000Z')).toBeNull();
    expect(await publisher.findPosted(CHANNEL_ID, quoted)).toBeNull();
    // One history read per call; the quoted marker's human author is checked against paperbot's own id, asked once.
    const after = fake.requests.slice(before).map((r) => `${r.method} ${r.path}`);
    expect(after.filter((r) => r === `GET /channels/${CHANNEL_ID}/messages`)).toHaveLength(3);
    expect(after.filter((r) => r !== `GET /channels/${CHANNEL_ID}/messages`)).toEqual(['GET /users/@me']);
    expect(await publisher.findPosted(CHANNEL_ID, quoted)).toBeNull();
    expect(fake.requests.slice(before).filter((r) => r.path === '/users/@me')).toHaveLength(1);
  });

  it('findPosted finds a digest whose papers are in embeds, among newer messages', async () => {
    const { fake, publisher } = await start();
    const posted = await publisher.publish(CHANNEL_ID, sixtyPaperLayout());
    await publisher.publish(CHANNEL_ID, emptyLayout());
    expect(await publisher.findPosted(CHANNEL_ID, MARKER)).toBe(posted.messageRef);
    // The fake lists newest first and honours limit, as Discord does.
    const listed = await fetch(`${fake.apiBase}/v10/channels/${CHANNEL_ID}/messages?limit=1`, { headers: { authorization: `Bot ${TOKEN}` } });
    const newest = (await listed.json()) as ApiMessage[];
    expect(newest).toHaveLength(1);
    expect(newest[0]!.content).toContain(emptyLayout().marker);
    const older = await fetch(`${fake.apiBase}/v10/channels/${CHANNEL_ID}/messages?limit=1&before=${newest[0]!.id}`, { headers: { authorization: `Bot ${TOKEN}` } });
    expect(((await older.json()) as ApiMessage[]).map((m) => m.id)).toEqual([posted.messageRef]);
  });

  it.each([
    ['missing-access', /Missing Access/],
    ['missing-permissions', /Missing Permissions/],
  ] as const)('a channel refusing with %s gives a platform error naming the permissions to grant', async (refusal, reason) => {
    const { fake, publisher } = await start();
    fake.refuseChannel(CHANNEL_ID, refusal);
    let recorded = false;
    for (const attempt of [publisher.publish(CHANNEL_ID, sixtyPaperLayout(), () => (recorded = true)), publisher.findPosted(CHANNEL_ID, MARKER)]) {
      const error = await attempt.then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(PaperbotError);
      expect((error as PaperbotError).code).toBe('platform');
      expect((error as PaperbotError).message).toMatch(reason);
      expect((error as PaperbotError).message).toContain(CHANNEL_ID);
      expect((error as PaperbotError).message).toContain('View Channel, Send Messages, Create Public Threads, Send Messages in Threads and Read Message History');
    }
    expect(recorded).toBe(false);
  });

  it('an unknown channel gives a platform error pointing at paperbot.digest.yml, and a bad token one pointing at DISCORD_TOKEN', async () => {
    const { fake, publisher } = await start();
    const unknown = '812345678901239999'; // not a channel of the fake's guild
    const error = await publisher.publish(unknown, emptyLayout()).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(PaperbotError);
    expect((error as PaperbotError).code).toBe('platform');
    expect((error as PaperbotError).message).toMatch(/Unknown Channel/);
    expect((error as PaperbotError).message).toContain("check the target's channel id in paperbot.digest.yml");

    fake.refuseChannel(CHANNEL_ID, 'unknown-channel');
    const refused = await publisher.findPosted(CHANNEL_ID, MARKER).then(() => undefined, (e: unknown) => e);
    expect((refused as PaperbotError).message).toContain('paperbot.digest.yml');

    const badToken = new DiscordDigestPublisher({ token: 'not.the.token', apiBase: fake.apiBase });
    const unauthorised = await badToken.findPosted('812345678901234570', MARKER).then(() => undefined, (e: unknown) => e);
    expect(unauthorised).toBeInstanceOf(PaperbotError);
    expect((unauthorised as PaperbotError).code).toBe('platform');
    expect((unauthorised as PaperbotError).message).toContain('check DISCORD_TOKEN');
  });

  it('when the thread cannot be started, the message is recorded and the error says it was posted', async () => {
    const { fake, publisher } = await start();
    fake.intercept((r) => (r.method === 'POST' && r.path.endsWith('/threads') ? { status: 403, body: { message: 'Missing Permissions', code: 50013 } } : undefined));
    let recorded: string | undefined;
    const error = await publisher.publish(CHANNEL_ID, sixtyPaperLayout(), (p) => (recorded = p.messageRef)).then(() => undefined, (e: unknown) => e);
    expect(recorded).toBe((fake.requestsTo('POST', `/channels/${CHANNEL_ID}/messages`)[0]!.response as { id: string }).id);
    expect(error).toBeInstanceOf(PaperbotError);
    expect((error as PaperbotError).code).toBe('platform');
    expect((error as PaperbotError).message).toContain(`The digest was posted (message ${recorded}) but its thread replies were not`);
    expect((error as PaperbotError).message).toContain('Create Public Threads');
  });
});

// ---------------------------------------------------------------------------------------------
// /digest through the real discord.js client and the fake gateway, with an in-process bot

describe('/digest in Discord', () => {
  let fake: FakeDiscord | undefined;
  let bot: DiscordBot | undefined;
  afterEach(async () => {
    await bot?.stop(100);
    bot = undefined;
    await fake?.close();
    fake = undefined;
  });

  const startBot = async (digestPreview?: DigestPreview): Promise<{ fake: FakeDiscord; bot: DiscordBot }> => {
    fake = await startFakeDiscord();
    bot = new DiscordBot({} as PaperbotCore, {
      token: TOKEN,
      apiBase: fake.apiBase,
      messageContent: false,
      editIntervalMs: 200,
      queue: new AnswerQueue({ concurrency: 1 }),
      limiter: new RateLimiter({ limit: 10, windowMs: 60_000 }),
      logger: pino({ level: 'silent' }),
      ...(digestPreview ? { digestPreview } : {}),
    });
    await bot.start();
    return { fake, bot };
  };

  const followUpsOf = (f: FakeDiscord, token: string): RecordedRequest[] => f.requestsTo('POST', `/webhooks/${APP_ID}/${token}`);
  const originalEdits = (f: FakeDiscord, token: string): RecordedRequest[] => f.requestsTo('PATCH', `/webhooks/${APP_ID}/${token}/messages/@original`);

  it('shows the next digest privately: the channel message, then the thread messages, nothing posted', async () => {
    const asked: Parameters<DigestPreview>[0][] = [];
    const layout = sixtyPaperLayout();
    const { fake } = await startBot(async (request) => {
      asked.push(request);
      return request.targetName === 'nope' ? { ok: false, message: 'No digest target is named "nope" @everyone.' } : { ok: true, layouts: [layout] };
    });
    const rendered = renderDiscordDigest(layout);

    const played = fake.slashCommand({ name: 'digest', options: { target: 'lab-discord' } });
    const deferred = await fake.waitFor((r) => r.path === `/interactions/${played.id}/${played.token}/callback`, 3000);
    expect((deferred.body as { type: number; data: { flags: number } }).type).toBe(5);
    expect((deferred.body as { data: { flags: number } }).data.flags & 64).toBe(64);
    await fake.waitFor(() => followUpsOf(fake, played.token).length === rendered.thread.length, 10_000);

    expect(asked).toEqual([{ platform: 'discord', channel: CHANNEL_ID, targetName: 'lab-discord' }]);
    const edit = originalEdits(fake, played.token);
    expect(edit).toHaveLength(1);
    const first = edit[0]!.body as { content: string; embeds: unknown[]; allowed_mentions: unknown };
    expect(first.content).toContain('only you see this, nothing was posted');
    expect(first.content.endsWith(rendered.main.content)).toBe(true);
    expect(first.embeds).toEqual(rendered.main.embeds);
    const followUps = followUpsOf(fake, played.token).map((r) => r.body as { content: string; flags: number; allowed_mentions: unknown });
    expect(followUps[0]!.content.startsWith('-# In the thread "More papers: 2026-11-27":\n')).toBe(true);
    expect(followUps.map((f) => f.content.replace(/^-# In the thread .*\n/, ''))).toEqual(rendered.thread.map((p) => p.content));
    for (const body of [first, ...followUps]) {
      expect(body.allowed_mentions).toEqual({ parse: [] });
      expect(hasLivePing(JSON.stringify(body))).toBe(false);
    }
    for (const body of followUps) expect(body.flags).toBe(64 | SUPPRESS_EMBEDS_FLAG);
    // Only interaction webhooks were used: nothing went to the channel itself.
    expect(fake.requests.filter((r) => r.path.startsWith(`/channels/`))).toEqual([]);

    const refused = fake.slashCommand({ name: 'digest', options: { target: 'nope' } });
    const told = await fake.waitFor((r) => r.method === 'PATCH' && r.path === `/webhooks/${APP_ID}/${refused.token}/messages/@original`, 5000);
    expect((told.body as { content: string }).content).toBe('No digest target is named "nope" @\u200beveryone.');
    expect(asked.at(-1)).toEqual({ platform: 'discord', channel: CHANNEL_ID, targetName: 'nope' });
  });

  it('says no digest is configured when there is none, and reports a failing preview to the asker', async () => {
    const { fake } = await startBot();
    const played = fake.slashCommand({ name: 'digest' });
    const told = await fake.waitFor((r) => r.method === 'PATCH' && r.path === `/webhooks/${APP_ID}/${played.token}/messages/@original`, 5000);
    expect((told.body as { content: string }).content).toMatch(/^No digest is configured/);
    await bot?.stop(100);
    await fake.close();

    const { fake: second } = await startBot(async () => {
      throw new PaperbotError('config', 'paperbot.digest.yml: targets[0].cron is not a cron expression.');
    });
    const failing = second.slashCommand({ name: 'digest' });
    const failed = await second.waitFor((r) => r.method === 'PATCH' && r.path === `/webhooks/${APP_ID}/${failing.token}/messages/@original`, 5000);
    // A broken config is for whoever runs paperbot (the log has it); the asker gets the request id.
    expect((failed.body as { content: string }).content).toMatch(/^Sorry, something went wrong/);
    expect((failed.body as { content: string }).content).toContain(failing.id);
  });

  it('lists /digest in /help', async () => {
    const { fake } = await startBot();
    const played = fake.slashCommand({ name: 'help' });
    const helped = await fake.waitFor((r) => r.path === `/interactions/${played.id}/${played.token}/callback`, 3000);
    expect(JSON.stringify(helped.body)).toContain('/digest');
  });
});
