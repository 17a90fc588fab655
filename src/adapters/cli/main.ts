/**
 * The paperbot command line. stdout carries only the command's result (text, or one JSON
 * object with --json); notices, logs and progress go to stderr. Exit codes: 0 done (an honest
 * refusal included), 2 usage or configuration error, 1 anything else.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { Command, CommanderError, Option } from 'commander';
import { commands } from '../../commands/index.ts';
import type { AnyCommand } from '../../commands/definition.ts';
import type { DigestScheduler } from '../../digest/digest-scheduler.ts';
import type { DigestCommandOptions } from './digest-command.ts';
import type { ChatAdapter } from '../chat/chat-session.ts';
import { loadConfig, type Config } from '../../config.ts';
import { describeError, exitCodeFor, PaperbotError } from '../../errors.ts';
import { MentionNeutraliser } from '../../chat-text.ts';
import type { PaperbotCore } from '../../rag/paperbot-core.ts';
import { createNotifier } from './notices.ts';

// Everything heavy (the store, the indexes, the chat packages, croner, pino) is imported inside
// the action that needs it, so `--help` and the other commands start fast and run without the
// chat packages installed.
// One problem, one line: a notice that repeats an earlier one's error keeps only what it adds.
const notify = createNotifier((line) => process.stderr.write(line));

function collectInput(command: AnyCommand, args: unknown[], options: Record<string, unknown>): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  command.arguments.forEach((argument, i) => {
    const value = args[i];
    input[argument.name] = argument.variadic === 'join' && Array.isArray(value) ? value.join(' ') : value;
  });
  for (const option of command.options) {
    // commander names `--dry-run` dryRun; inputs use the same name.
    const key = option.name.replace(/-(\w)/g, (_, letter: string) => letter.toUpperCase());
    if (options[key] !== undefined) input[key] = options[key];
  }
  return input;
}

async function runCommand(command: AnyCommand, config: Config, input: Record<string, unknown>, json: boolean): Promise<void> {
  const parsed = command.input.safeParse(input);
  if (!parsed.success) {
    throw new PaperbotError('usage', `Invalid arguments for ${command.name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ')}`);
  }
  const progressMode = config.PROGRESS === undefined ? 'auto' : config.PROGRESS ? 'on' : 'off';
  const [{ createPaperbot }, { terminalProgress }] = await Promise.all([import('../../composition-root.ts'), import('./progress.ts')]);
  let core: PaperbotCore | undefined;
  try {
    core = await createPaperbot(config, {
      progress: terminalProgress(progressMode),
      notify,
      ...(command.rebuildsIndexes ? { rebuilding: true } : {}),
      ...(command.readOnly?.(parsed.data) ? { readOnly: true } : {}),
    });
    if (!json && command.stream) {
      // Text grows on stdout as the model writes it; only checked text ever arrives here, and a
      // mention split across two deltas ("@every" + "one") is held back until it can be neutralised.
      let final: unknown;
      const mentions = new MentionNeutraliser();
      for await (const event of command.stream(core, parsed.data)) {
        if (event.type === 'delta') process.stdout.write(mentions.push(event.text));
        else if (event.type === 'notice') notify(event.text);
        else final = event.answer;
      }
      process.stdout.write(mentions.flush());
      const trailer = final !== undefined && command.trailerText ? command.trailerText(final) : '';
      process.stdout.write(trailer ? `\n\n${trailer}\n` : '\n');
      return;
    }
    const output: unknown = await command.run(core, parsed.data);
    const notices = (output as { notices?: unknown }).notices;
    if (Array.isArray(notices)) for (const notice of notices) notify(String(notice));
    process.stdout.write(json ? `${JSON.stringify(output, null, 2)}\n` : `${command.toText(output)}\n`);
  } finally {
    core?.close();
  }
}

function buildProgram(onConfig: () => Config): Command {
  const program = new Command('paperbot')
    .description('Answers questions about paper abstracts, with citations.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run paperbot --help for usage)');

  for (const definition of commands) {
    const sub = program.command(definition.name).description(definition.summary);
    for (const argument of definition.arguments) {
      const name = `${argument.name}${argument.variadic ? '...' : ''}`;
      sub.argument(argument.required ? `<${name}>` : `[${name}]`, argument.description);
    }
    for (const option of definition.options) {
      const flag = option.type === 'boolean' ? `--${option.name}` : `--${option.name} <${option.type === 'number' ? 'n' : 'value'}>`;
      const cliOption = new Option(flag, option.description);
      if (option.choices) cliOption.choices(option.choices);
      sub.addOption(cliOption);
    }
    sub.option('--json', 'print the result as one JSON object');
    sub.action(async (...actionArgs: unknown[]) => {
      // commander passes the positional arguments, then the options object, then the command.
      const options = actionArgs[definition.arguments.length] as Record<string, unknown>;
      const input = collectInput(definition, actionArgs.slice(0, definition.arguments.length), options);
      await runCommand(definition, onConfig(), input, Boolean(options['json']));
    });
  }
  program
    .command('serve')
    .description('Run the configured chat bots (Discord, Slack) until SIGINT/SIGTERM')
    .action(async () => {
      await serve(onConfig());
    });
  program
    .command('digest')
    .description('Daily digest: --dry-run shows the next one, --now --target NAME posts one now, --list --target NAME lists the last one, --status shows how they went')
    .option('--dry-run', 'print the next digest of each target (or --target) without posting or recording it')
    .option('--now', 'post a digest now of the papers not yet posted to --target')
    .option('--list', "list every paper of --target's latest digest, the ones not shown included")
    .option('--status', 'each target: first seen, recent digests, next run; each live source: last fetch')
    .option('--target <name>', 'the digest target (its name in paperbot.digest.yml)')
    .option('--since <YYYY-MM-DD>', 'with --now: backfill the papers that arrived since this date')
    .option('--json', 'print the result as one JSON object')
    .action(async (options: DigestCommandOptions) => {
      const { runDigestCommand } = await import('./digest-command.ts');
      await runDigestCommand(onConfig(), options, notify);
    });
  program
    .command('discord:register')
    .description('Register the slash commands with Discord (--guild ID: one server, instant; otherwise global)')
    .option('--guild <id>', 'register in this server only')
    .action(async (options: { guild?: string }) => {
      const config = onConfig();
      if (!config.DISCORD_TOKEN || !config.DISCORD_APP_ID) {
        throw new PaperbotError('config', 'Set DISCORD_TOKEN and DISCORD_APP_ID (see .env.example and README "Discord") to register the slash commands.');
      }
      const { registerSlashCommands } = await import('../discord/slash-commands.ts');
      const count = await registerSlashCommands({ token: config.DISCORD_TOKEN, appId: config.DISCORD_APP_ID, apiBase: config.DISCORD_API_BASE, ...(options.guild ? { guildId: options.guild } : {}) });
      process.stdout.write(`registered ${count} slash commands ${options.guild ? `in guild ${options.guild} (available now)` : 'globally (may take up to an hour to appear)'}\n`);
    });
  return program;
}

/** Starts every configured part, prints one line per part, and stops them cleanly on a signal. */
async function serve(config: Config): Promise<void> {
  const { checkDigestPlatforms, createChatAdapters, createDigest, createDigestScheduler, openPaperbot, readDigestTargets } = await import('../../composition-root.ts');
  // The digest file is read and checked before anything starts: a broken one is exit 2 at once.
  const digestTargets = await readDigestTargets(config);
  if (digestTargets) checkDigestPlatforms(config, digestTargets);
  if (!config.DISCORD_TOKEN && !config.SLACK_BOT_TOKEN) {
    throw new PaperbotError(
      'config',
      'Nothing to serve. Configure at least one part:\n  - Discord: set DISCORD_TOKEN and DISCORD_APP_ID (see README "Discord")\n  - Slack: set SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP) (see README "Slack")',
    );
  }
  // Listen for signals before the (possibly long) start-up, so one during it still stops cleanly.
  let requested: string | undefined;
  let wake: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => (wake = resolve));
  const onSignal = (signal: string) => {
    requested ??= signal;
    wake();
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  // Under npm (`npx paperbot serve`; `npm start` execs node, so there npm signals us directly) a
  // `sh -c` sits between npm and this process and does not pass npm's SIGTERM on: the shell dies
  // and this process is re-parented. A changed parent under npm is that lost SIGTERM.
  if (process.env['npm_lifecycle_event'] !== undefined) {
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) onSignal('SIGTERM');
    }, 250).unref();
  }

  const { createLogger } = await import('../../logger.ts');
  // serve's notices about answers go to the chat user, not here: its log lines are the operator's.
  const logger = createLogger(config.LOG_LEVEL, { format: config.LOG_FORMAT });
  // Papers other processes ingest or remove reach the bot within STORE_POLL_MS, without a restart.
  const paperbot = await openPaperbot(config, { notify, logger, watchStoreMs: config.STORE_POLL_MS });
  const { core } = paperbot;
  let adapters: ChatAdapter[] = [];
  let scheduler: DigestScheduler | null = null;
  try {
    const digest = await createDigest(config, paperbot);
    const chat = await createChatAdapters(config, paperbot, digest?.service ?? null);
    adapters = chat.adapters;
    for (const note of chat.notes) notify(note);
    for (const adapter of adapters) notify(`${adapter.name}: ${await adapter.start()}`);
    if (digest) {
      scheduler = await createDigestScheduler(digest.service, logger, (outcome) => {
        if (outcome.status !== 'sent' && outcome.status !== 'skipped') notify(`digest: ${outcome.target} ${outcome.slot}: ${outcome.status}${outcome.detail ? ` (${outcome.detail})` : ''}`);
      });
      const started = await scheduler.start();
      const next = started.next ? `next at ${started.next.at.toISOString()} (${started.next.target})` : 'no next run';
      // The wording is a contract (`digest: N targets, next at …`), kept even for one target.
      notify(`digest: ${started.targets} targets, ${next}`);
    } else {
      notify(`digest: no digest (no ${config.DIGEST_CONFIG}; copy paperbot.digest.example.yml there or set DIGEST_CONFIG)`);
    }
  } catch (error) {
    await scheduler?.stop(0);
    await Promise.all(adapters.map((adapter) => adapter.stop(0).catch(() => undefined)));
    core.close();
    throw error;
  }
  await stopRequested;
  notify(`${requested}: stopping (answers in progress get up to 10 s)`);
  // A part that does not stop must not keep the bot (and its port) alive past 15 s.
  setTimeout(() => {
    notify('not stopped after 13 s: closing the database and exiting');
    core.close();
    process.exit(1);
  }, 13_000).unref();
  await Promise.all([...adapters.map((adapter) => adapter.stop()), scheduler?.stop()]);
  core.close();
  notify('stopped');
  // Keep-alive sockets of the HTTP clients must not hold a stopped bot open.
  setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
}

/** Loads `.env` from the working directory when there is one; a `config` error when it is not a readable file. */
function loadDotEnv(file: string): void {
  const where = path.resolve(file);
  let isFile: boolean;
  try {
    isFile = statSync(file).isFile();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new PaperbotError('config', `Cannot read ${where}: ${(error as Error).message}. Make it readable, or move it away.`, { cause: error });
  }
  if (!isFile) throw new PaperbotError('config', `${where} is not a file: paperbot reads its settings from a .env file there. Move it away, or run paperbot from another directory.`);
  // Read here, not by process.loadEnvFile: that reports an unreadable file as ENOENT.
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new PaperbotError('config', `Cannot read ${where}: ${(error as Error).message}. Make it readable (chmod u+r), or move it away.`, { cause: error });
  }
  // As loadEnvFile: the environment wins over the file.
  for (const [name, value] of Object.entries(parseEnv(text))) process.env[name] ??= value;
}

export async function main(argv: string[]): Promise<number> {
  try {
    loadDotEnv('.env');
  } catch (error) {
    process.stderr.write(`paperbot: ${describeError(error)}\n`);
    return exitCodeFor(error);
  }
  let config: Config | undefined;
  const program = buildProgram(() => (config ??= loadConfig()));
  try {
    if (argv.length <= 2) {
      program.outputHelp();
      return 0;
    }
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has already printed its message; help and --version are not errors.
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help' ? 0 : 2;
    }
    process.stderr.write(`paperbot: ${describeError(error)}\n`);
    return exitCodeFor(error);
  }
}

process.exitCode = await main(process.argv);
