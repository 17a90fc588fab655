/** `index --rebuild [--embedder X]`: rebuild the keyword and vector indexes from the store. */
import { z } from 'zod';
import { PaperbotError } from '../errors.ts';
import type { Stats } from '../rag/paperbot-core.ts';
import { defineCommand } from './definition.ts';
import { statsCommand } from './stats.ts';

const EMBEDDERS = ['auto', 'ollama', 'local'] as const;

export const indexCommand = defineCommand({
  name: 'index',
  summary: 'Rebuild the keyword and vector indexes from the paper store (--rebuild [--embedder auto|ollama|local])',
  arguments: [],
  options: [
    { name: 'rebuild', description: 'rebuild both indexes from every stored paper', type: 'boolean' },
    { name: 'embedder', description: 'embedder for the new vector index (default EMBEDDER)', type: 'string', choices: EMBEDDERS },
  ],
  input: z.object({ rebuild: z.boolean().optional(), embedder: z.enum(EMBEDDERS).optional() }),
  rebuildsIndexes: true,
  run: async (core, input): Promise<Stats> => {
    if (!input.rebuild) throw new PaperbotError('usage', 'Nothing to do: run paperbot index --rebuild [--embedder auto|ollama|local].');
    return core.rebuildIndexes(input.embedder ?? core.settings.embedderChoice);
  },
  toText: (stats) => `Rebuilt.\n${statsCommand.toText(stats)}`,
});
