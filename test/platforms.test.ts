import { describe, expect, it } from 'vitest';
import { checkDigestPlatforms } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import type { DigestTarget } from '../src/digest/model.ts';
import { PLATFORMS, type Platform } from '../src/platforms.ts';
import { tempDir } from './helpers/temp.ts';

const target = (name: string, platform: DigestTarget['platform']) => ({ name, platform, channel: 'C1' }) as DigestTarget;

describe('the platform table', () => {
  it('names each platform and the setting it needs in the digest check', () => {
    const config = loadConfig({ PAPERBOT_DATA_DIR: tempDir() });
    expect(() => checkDigestPlatforms(config, [target('team', 'slack'), target('lab', 'discord')])).toThrow(
      /digest target "team" posts to Slack, but SLACK_BOT_TOKEN is not set\n {2}- digest target "lab" posts to Discord, but DISCORD_TOKEN is not set/,
    );
    expect(() => checkDigestPlatforms(loadConfig({ PAPERBOT_DATA_DIR: tempDir(), DISCORD_TOKEN: 'x' }), [target('lab', 'discord')])).not.toThrow();
  });

  it("says how to search on each platform, with Slack's configured command", () => {
    const usage = (platform: Platform) => PLATFORMS[platform].searchUsage({ SLACK_COMMAND_SEARCH: '/lit' });
    expect(usage('discord')).toBe('/search');
    expect(usage('slack')).toBe('/lit <words>');
  });
});
