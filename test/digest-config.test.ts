/**
 * paperbot.digest.yml parsing (`parseDigestTargets`, `loadDigestTargets`): the shipped example,
 * defaults, Discord snowflakes written as bare integers, and one config error that lists every
 * problem with its place in the file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CronerCalendar } from '../src/adapters/croner/croner-calendar.ts';
import { loadDigestTargets as loadTargetsFile, parseDigestTargets as parseTargetsText } from '../src/adapters/yaml/digest-config-file.ts';

const calendar = new CronerCalendar();
const parseDigestTargets = (text: string, file: string) => parseTargetsText(text, file, calendar);
const loadDigestTargets = (file: string) => loadTargetsFile(file, calendar);
import { PaperbotError } from '../src/errors.ts';
import { ROOT } from './helpers/cli.ts';
import { tempDir } from './helpers/temp.ts';

const FILE = '/etc/paperbot/test.digest.yml';

/** The error `parseDigestTargets` throws for `text` (fails the test when it throws none). */
function configError(text: string): PaperbotError {
  try {
    parseDigestTargets(text, FILE);
  } catch (error) {
    expect(error).toBeInstanceOf(PaperbotError);
    expect((error as PaperbotError).code).toBe('config');
    return error as PaperbotError;
  }
  throw new Error('expected a config error, got targets');
}

const minimal = (extra = '') => `targets:\n  - name: lab\n    platform: slack\n    channel: C0123456789\n    cron: "0 8 * * 1-5"\n${extra}`;

describe('parseDigestTargets', () => {
  it('parses the shipped paperbot.digest.example.yml into its two targets, keys camel-cased', () => {
    const file = path.join(ROOT, 'paperbot.digest.example.yml');
    const targets = parseDigestTargets(readFileSync(file, 'utf8'), file);
    expect(targets).toEqual([
      {
        name: 'lab-slack',
        platform: 'slack',
        channel: 'C0123456789',
        cron: '0 8 * * 1-5',
        timezone: 'Europe/Berlin',
        size: 10,
        threadMax: 30,
        topics: ['retrieval', 'unlearning'],
        empty: 'skip',
        sources: ['inbox', 'huggingface', 'arxiv'],
        arxivCategories: ['cs.CL', 'cs.IR'],
      },
      {
        name: 'lab-discord',
        platform: 'discord',
        channel: '123456789012345678',
        cron: '30 9 * * *',
        timezone: 'America/New_York',
        size: 8,
        threadMax: 20,
        topics: [],
        empty: 'post',
        sources: ['inbox'],
        arxivCategories: [],
      },
    ]);
  });

  it('fills in the defaults: UTC, 10 in the message, 30 in the thread, no topics, skip empty days, the inbox only', () => {
    expect(parseDigestTargets(minimal(), FILE)).toEqual([
      { name: 'lab', platform: 'slack', channel: 'C0123456789', cron: '0 8 * * 1-5', timezone: 'UTC', size: 10, threadMax: 30, topics: [], empty: 'skip', sources: ['inbox'], arxivCategories: [] },
    ]);
  });

  it('keeps every digit of a Discord snowflake written as a bare integer (beyond 2^53)', () => {
    const text = [
      'targets:',
      '  - { name: a, platform: discord, channel: 812345678901234570, cron: "0 8 * * *" }',
      '  - { name: b, platform: discord, channel: 1234567890123456789, cron: "0 8 * * *" }',
      '  - { name: c, platform: discord, channel: "912345678901234567", cron: "0 8 * * *" }',
    ].join('\n');
    const channels = parseDigestTargets(text, FILE).map((t) => t.channel);
    // A float would give 812345678901234600 and 1234567890123456800.
    expect(channels).toEqual(['812345678901234570', '1234567890123456789', '912345678901234567']);
  });

  it('lists a source once when it is repeated, and accepts arXiv with its categories', () => {
    const [target] = parseDigestTargets(minimal('    sources: [inbox, arxiv, inbox]\n    arxiv_categories: [cs.CL, cs.IR]\n'), FILE);
    expect(target!.sources).toEqual(['inbox', 'arxiv']);
    expect(target!.arxivCategories).toEqual(['cs.CL', 'cs.IR']);
  });

  it('reports every problem of a file in one config error, each with its path: duplicate name, bad cron, bad time zone, arxiv without categories, unknown platform', () => {
    const text = [
      'targets:',
      '  - name: lab',
      '    platform: slack',
      '    channel: C1',
      '    cron: "0 8 * * 1-5"',
      '  - name: lab',
      '    platform: slack',
      '    channel: C2',
      '    cron: "61 8 * * *"',
      '  - name: zoned',
      '    platform: slack',
      '    channel: C3',
      '    cron: "0 8 * * *"',
      '    timezone: Mars/Olympus_Mons',
      '  - name: papers',
      '    platform: slack',
      '    channel: C4',
      '    cron: "0 8 * * *"',
      '    sources: [inbox, arxiv]',
      '  - name: teams',
      '    platform: teams',
      '    channel: C5',
      '    cron: "0 8 * * *"',
    ].join('\n');
    const error = configError(text);
    const message = error.message;
    expect(message).toContain(FILE);
    expect(message).toMatch(/^ {2}- targets\.1\.name: "lab" is used by another target$/m);
    expect(message).toMatch(/^ {2}- targets\.1\.cron: not a cron expression/m);
    expect(message).toMatch(/^ {2}- targets\.2\.timezone: /m);
    expect(message).toMatch(/^ {2}- targets\.3\.arxiv_categories: /m);
    expect(message).toMatch(/^ {2}- targets\.4\.platform: /m);
    // Exactly these five problems: the valid first target is not blamed.
    expect(message.split('\n').filter((line) => line.startsWith('  - '))).toHaveLength(5);
    expect(message).not.toMatch(/targets\.0\./);
  });

  it('reports a duplicate name on its own', () => {
    const error = configError('targets:\n  - { name: lab, platform: slack, channel: C1, cron: "0 8 * * *" }\n  - { name: lab, platform: discord, channel: "1", cron: "0 9 * * *" }\n');
    expect(error.message).toMatch(/^ {2}- targets\.1\.name: "lab" is used by another target$/m);
  });

  it('an unknown platform does not hide the same target\'s bad cron and missing arxiv_categories', () => {
    const error = configError('targets:\n  - { name: lab, platform: teams, channel: C1, cron: "61 8 * * *", sources: [inbox, arxiv] }\n');
    expect(error.message).toMatch(/^ {2}- targets\.0\.platform: /m);
    expect(error.message).toMatch(/^ {2}- targets\.0\.cron: not a cron expression/m);
    expect(error.message).toMatch(/^ {2}- targets\.0\.arxiv_categories: /m);
  });

  it('names out-of-range sizes, a missing channel and a bad empty-day setting by their keys', () => {
    const error = configError('targets:\n  - name: lab\n    platform: slack\n    cron: "0 8 * * *"\n    size: 0\n    thread_max: 500\n    empty: sometimes\n');
    for (const key of ['channel', 'size', 'thread_max', 'empty']) expect(error.message).toMatch(new RegExp(`^ {2}- targets\\.0\\.${key}: `, 'm'));
  });

  it('says a file that is not YAML is not valid YAML, with the line; a file without targets says so', () => {
    const broken = configError('targets:\n  - name: lab\n    platform: [slack\n    channel: C1\n');
    expect(broken.message).toMatch(/is not valid YAML \(line \d+\)/);
    expect(broken.message).toContain(FILE);
    expect(configError('').message).toMatch(/^ {2}- targets: /m);
    expect(configError('targets: []\n').message).toMatch(/targets: list at least one target/);
  });
});

describe('loadDigestTargets', () => {
  it('returns null when the file does not exist (no digest), and the targets when it does', () => {
    const dir = tempDir();
    const file = path.join(dir, 'paperbot.digest.yml');
    expect(loadDigestTargets(file)).toBeNull();
    writeFileSync(file, minimal());
    expect(loadDigestTargets(file)?.map((t) => t.name)).toEqual(['lab']);
  });
});
