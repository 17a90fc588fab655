/**
 * A fake Discord on loopback (REST and gateway on one port), for tests that drive the real
 * discord.js `Client` or a plain REST client. The fake lives in `./fake-discord/` split by concern
 * (state, REST, gateway, what a test plays); this path stays the one tests import.
 */
export * from './fake-discord/index.ts';
