import { afterEach, describe, expect, it } from 'vitest';
import { createPaperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import type { PaperbotCore } from '../src/rag/paperbot-core.ts';
import { runCli } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';

let core: PaperbotCore | undefined;
afterEach(() => {
  core?.close();
  core = undefined;
});

async function openCore(dataDir: string): Promise<PaperbotCore> {
  core = await createPaperbot(loadConfig({ PAPERBOT_DATA_DIR: dataDir, OLLAMA_HOST: 'http://127.0.0.1:47', RETRIEVAL_MODE: 'keyword' }), { logger: createLogger('silent') });
  return core;
}

describe('feedback on answers', () => {
  it('stores a press with the question, the retrieved paper ids and the mode; a second press by the same person changes it', async () => {
    const bot = await openCore(tempDir());
    const answer = await bot.ask('How can I edit a real photo with a text-guided diffusion model?');
    const answerId = bot.logAnswer(answer, 'discord');

    bot.recordFeedback(answerId, 'user-1', 'up');
    bot.recordFeedback(answerId, 'user-2', 'down');
    bot.recordFeedback(answerId, 'user-1', 'down');

    const stored = bot.feedback();
    expect(stored).toHaveLength(2);
    const first = stored.find((f) => f.userId === 'user-1')!;
    expect(first).toMatchObject({ answerId, platform: 'discord', rating: 'down', question: answer.question, mode: 'extractive' });
    expect(first.paperIds).toEqual(answer.sources.map((s) => s.paperId));
    expect(first.paperIds.length).toBeGreaterThan(0);
  });

  it('refuses a press on an answer it never logged, with a not_found error', async () => {
    const bot = await openCore(tempDir());
    expect(() => bot.recordFeedback(12345, 'user-1', 'up')).toThrow(expect.objectContaining({ code: 'not_found' }));
  });

  it('paperbot feedback lists what was stored, as text and as one JSON object', async () => {
    const dataDir = tempDir();
    const bot = await openCore(dataDir);
    const answer = await bot.ask('How do diffusion models compare with GANs for image classification?');
    bot.recordFeedback(bot.logAnswer(answer, 'slack'), 'U123', 'up');
    bot.close();
    core = undefined;

    const json = runCli(['feedback', '--json'], { PAPERBOT_DATA_DIR: dataDir, RETRIEVAL_MODE: 'keyword' });
    expect(json.status, json.stderr).toBe(0);
    const parsed = JSON.parse(json.stdout) as { feedback: Array<{ rating: string; platform: string; question: string }> };
    expect(parsed.feedback).toHaveLength(1);
    expect(parsed.feedback[0]).toMatchObject({ rating: 'up', platform: 'slack', question: answer.question });

    const text = runCli(['feedback'], { PAPERBOT_DATA_DIR: dataDir, RETRIEVAL_MODE: 'keyword' });
    expect(text.status).toBe(0);
    expect(text.stdout).toContain('👍');
    expect(text.stdout).toContain('1 ratings: 1 👍, 0 👎');
  });
});

describe('conversation memory', () => {
  it('keeps the last turns of a thread across a restart, oldest first, with their numbered sources', async () => {
    const dataDir = tempDir();
    const first = await openCore(dataDir);
    const answer = await first.ask('How can I edit a real photo with a text-guided diffusion model?');
    for (let i = 1; i <= 7; i++) first.rememberTurn('discord:42', { question: `question ${i}`, answer });
    first.rememberTurn('discord:other', { question: 'elsewhere', answer });
    first.close();
    core = undefined;

    const second = await openCore(dataDir);
    const turns = second.conversation('discord:42', 5);
    expect(turns.map((t) => t.question)).toEqual(['question 3', 'question 4', 'question 5', 'question 6', 'question 7']);
    expect(turns[0]!.answer.text).toBe(answer.text);
    expect(turns[0]!.answer.sources.map((s) => s.title)).toEqual(answer.sources.map((s) => s.title));
    expect(second.conversation('discord:never', 5)).toEqual([]);
  });
});
