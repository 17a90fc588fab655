/**
 * Issue 11, row 2 ("serve sees new papers"), end to end: a running `paperbot serve` subprocess
 * answers from papers another process (the CLI) ingests within STORE_POLL_MS, without a restart,
 * and stops citing a paper another process removes. test/faults-data.int.test.ts checks the
 * library's store watch in-process; this checks that `serve` really turns it on.
 *
 * Serve talks Slack Socket Mode to the loopback fake; each question is a `/ask --private` with
 * its own response_url, so every answer is told apart from the ones before it. Ollama points at
 * a closed port, so the built-in extractive answerer and the local embedder answer.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliAsync, type CliResult } from './helpers/cli.ts';
import { slashCommandPayload, startFakeSlack, type FakeSlack } from './helpers/fake-slack.ts';
import { startServe, type Served } from './helpers/serve.ts';

const STORE_POLL_MS = 300;
/** How long serve may take to show a change: many polls, so a slow machine does not fail it. */
const SETTLE_MS = 10_000;
const ASK_EVERY_MS = 500;

/** Made-up words found nowhere in the shipped corpus, so only this paper can answer the question. */
const PAPER = {
  id: '2612.05001',
  title: 'Vorpal zeta5001 Lattices for Quibbling Snarks',
  abstract: 'We study vorpal zeta5001 lattices and the quibbling of snarks, with frumious bandersnatches as the running example.',
};
const QUESTION = 'What are vorpal zeta5001 lattices and how do they quibble snarks?';

function citesPaper(answer: string): boolean {
  return answer.includes(PAPER.id) || answer.includes(PAPER.title);
}

/**
 * The refusal names the keyword index's size, so it tells which papers serve's in-memory index
 * holds; the store alone (read fresh on every question) could not make it say that.
 */
function refusesFrom(papers: number): (answer: string) => boolean {
  return (answer) => answer.includes(`Nothing in the ${papers} papers here answers this question.`);
}

/** Fails with the CLI's own output, which is what explains a failed ingest or remove. */
function expectSucceeded(result: CliResult): void {
  expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
}

describe('paperbot serve sees papers other processes ingest and remove (issue 11 row 2)', () => {
  let root: string;
  let env: Record<string, string>;
  let slack: FakeSlack;
  let served: Served | undefined;
  let seededPapers: number;
  let asked = 0;

  /** Asks once and resolves with the whole answer as posted (blocks included, as JSON). */
  async function ask(): Promise<string> {
    const responseId = `ask${++asked}`;
    await slack.sendEnvelope('slash_commands', slashCommandPayload({ command: '/ask', text: `--private ${QUESTION}`, response_url: slack.responseUrl(responseId) }), 5000);
    const answer = await slack.waitForResponse((response) => response.id === responseId, 15_000);
    return JSON.stringify(answer.body);
  }

  /** Asks until an answer satisfies `wanted` (serve polls the store, so this is the settled signal). */
  async function askUntil(wanted: (answer: string) => boolean, what: string): Promise<{ answer: string; afterMs: number }> {
    const started = Date.now();
    let answer = await ask();
    while (!wanted(answer)) {
      if (Date.now() - started > SETTLE_MS) throw new Error(`serve never answered ${what} within ${SETTLE_MS} ms; last answer:\n${answer}\nserve stderr:\n${served?.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, ASK_EVERY_MS));
      answer = await ask();
    }
    return { answer, afterMs: Date.now() - started };
  }

  beforeAll(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'paperbot-faults-serve-'));
    const dataDir = path.join(root, 'data');
    mkdirSync(dataDir);
    env = { PAPERBOT_DATA_DIR: dataDir, EMBEDDER: 'local', LOCAL_EMBED_DIM: '256', LOG_LEVEL: 'warn' };
    // Seeded by a CLI run first, so serve starts on a ready store and only the poll can change it.
    const stats = await runCliAsync(['stats', '--json'], env, { timeoutMs: 60_000 });
    expectSucceeded(stats);
    seededPapers = (JSON.parse(stats.stdout) as { papers: number }).papers;
    slack = await startFakeSlack();
    served = await startServe(
      {
        ...env,
        OLLAMA_HOST: 'http://127.0.0.1:47',
        SLACK_BOT_TOKEN: 'xoxb-test',
        SLACK_APP_TOKEN: 'xapp-test',
        SLACK_API_URL: slack.apiUrl,
        STORE_POLL_MS: String(STORE_POLL_MS),
        // The polls below ask many times a minute.
        RATE_LIMIT_PER_MINUTE: '1000',
      },
      /slack: ready \(socket mode\)/,
    );
    await slack.waitForSocket(10_000);
  }, 60_000);

  afterAll(async () => {
    try {
      if (served) expect(await served.stop()).toBe(0);
    } finally {
      await slack?.close();
      rmSync(root, { recursive: true, force: true });
    }
  }, 20_000);

  it('a paper ingested by the CLI is cited without a restart, and one removed by the CLI no longer is', async () => {
    const pid = served!.child.pid;
    const before = await ask();
    expect(citesPaper(before), before).toBe(false);
    expect(refusesFrom(seededPapers)(before), before).toBe(true);

    const file = path.join(root, 'new.jsonl');
    writeFileSync(file, `${JSON.stringify(PAPER)}\n`);
    expectSucceeded(await runCliAsync(['ingest', file], env, { timeoutMs: 60_000 }));
    const afterIngest = await askUntil(citesPaper, `citing ${PAPER.id} after the ingest`);
    expect(afterIngest.answer).toContain(PAPER.title);

    expectSucceeded(await runCliAsync(['remove', PAPER.id], env, { timeoutMs: 60_000 }));
    // Not citing it is not enough: the store drops the paper at once, while serve's index still
    // holds it until the next poll. Waiting for the seeded corpus's refusal proves the index followed.
    const afterRemove = await askUntil((answer) => !citesPaper(answer) && refusesFrom(seededPapers)(answer), `the refusal from ${seededPapers} papers after the remove`);
    expect(afterRemove.answer).not.toContain(PAPER.title);

    // The same process saw both changes: serve was never restarted.
    expect(served!.child.pid).toBe(pid);
    expect(served!.child.exitCode).toBeNull();
  }, 45_000);
});
