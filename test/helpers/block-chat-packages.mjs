/**
 * `node --import ./test/helpers/block-chat-packages.mjs …`: runs as if discord.js, @slack/bolt and
 * @slack/web-api were not installed. A module.register resolve hook fails every import of them
 * (and of their subpaths) the way Node fails a missing package: ERR_MODULE_NOT_FOUND.
 * This one file is both the --import entry (main thread: registers itself) and the hooks module.
 */
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

export const BLOCKED = ['discord.js', '@slack/bolt', '@slack/web-api'];

const blocked = (specifier) => BLOCKED.some((name) => specifier === name || specifier.startsWith(`${name}/`));

export async function resolve(specifier, context, nextResolve) {
  if (blocked(specifier)) {
    const error = new Error(`Cannot find package '${specifier}' imported from ${context.parentURL ?? 'the command line'} (blocked by test/helpers/block-chat-packages.mjs)`);
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return nextResolve(specifier, context);
}

if (isMainThread) register(import.meta.url);
