/**
 * The chat platforms paperbot talks to, and every decision that differs between them, in one
 * typed table. Adding a platform to `Platform` is a compile error here until its traits exist,
 * and everywhere else that indexes the table gets them for free: no `=== 'slack' ? … : …`
 * hands a third platform another one's text.
 *
 * A bottom module (it imports nothing), so the digest, the composition root and the chat
 * adapters can all depend on it.
 */

export type Platform = 'discord' | 'slack';

/** The settings the traits read (a structural slice of the validated config). */
export interface PlatformSettings {
  /** The Slack slash command that lists matching papers (`/papers` by default). */
  SLACK_COMMAND_SEARCH: string;
}

export interface PlatformTraits {
  /** The platform's name as users know it, in messages. */
  readonly displayName: string;
  /** The setting that must be set before paperbot can post there (answers and digests). */
  readonly tokenSetting: 'DISCORD_TOKEN' | 'SLACK_BOT_TOKEN';
  /** How a user searches the papers there, e.g. `/search` (completes "Search them with …"). */
  readonly searchUsage: (settings: PlatformSettings) => string;
}

export const PLATFORMS = {
  discord: {
    displayName: 'Discord',
    tokenSetting: 'DISCORD_TOKEN',
    searchUsage: () => '/search',
  },
  slack: {
    displayName: 'Slack',
    tokenSetting: 'SLACK_BOT_TOKEN',
    searchUsage: (settings) => `${settings.SLACK_COMMAND_SEARCH} <words>`,
  },
} as const satisfies Record<Platform, PlatformTraits>;
