/**
 * The slash commands paperbot registers, and their registration. Registering is a separate step
 * (`paperbot discord:register [--guild ID]`), never done by `serve`: global commands take up to
 * an hour to reach every server, guild commands appear at once.
 */
import { REST, Routes, SlashCommandBuilder } from 'discord.js';

export const SLASH_COMMANDS = [
  new SlashCommandBuilder()
    .setName('ask')
    .setDescription('Ask a question; the answer cites the paper abstracts it comes from')
    .addStringOption((o) => o.setName('question').setDescription('your question').setRequired(true).setMaxLength(4000))
    .addBooleanOption((o) => o.setName('private').setDescription('answer only to you')),
  new SlashCommandBuilder()
    .setName('search')
    .setDescription('List the papers matching a query')
    .addStringOption((o) => o.setName('query').setDescription('words to search for').setRequired(true).setMaxLength(2000)),
  new SlashCommandBuilder()
    .setName('paper')
    .setDescription('Show one paper')
    .addStringOption((o) => o.setName('id').setDescription('paper id, as listed by /search').setRequired(true).setMaxLength(300)),
  new SlashCommandBuilder().setName('stats').setDescription('Corpus size, indexes and models'),
  new SlashCommandBuilder()
    .setName('digest')
    .setDescription('Show the next paper digest for this channel, only to you (nothing is posted)')
    .addStringOption((o) => o.setName('target').setDescription('digest target name from paperbot.digest.yml (default: the ones posting here)').setMaxLength(100)),
  new SlashCommandBuilder().setName('help').setDescription('How to use paperbot'),
].map((command) => command.toJSON());

/** Registers the commands for one guild (instant) or globally; returns how many were registered. */
export async function registerSlashCommands(options: { token: string; appId: string; apiBase: string; guildId?: string }): Promise<number> {
  const rest = new REST({ api: options.apiBase }).setToken(options.token);
  const route = options.guildId ? Routes.applicationGuildCommands(options.appId, options.guildId) : Routes.applicationCommands(options.appId);
  const registered = (await rest.put(route, { body: SLASH_COMMANDS })) as unknown[];
  return Array.isArray(registered) ? registered.length : SLASH_COMMANDS.length;
}
