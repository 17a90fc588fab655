/** `remove <id…>`: delete papers from the store and both indexes (never cited, never posted after). */
import { z } from 'zod';
import { neutraliseMentions } from '../chat-text.ts';
import type { RemoveReport } from '../rag/library.ts';
import { defineCommand } from './definition.ts';

export const removeCommand = defineCommand({
  name: 'remove',
  summary: 'Remove papers by id (as search shows them; arXiv ids with or without version) from the store and both indexes',
  arguments: [{ name: 'ids', description: 'paper ids to remove', variadic: 'list', required: true }],
  options: [],
  input: z.object({ ids: z.array(z.string()).min(1) }),
  run: (core, input): Promise<RemoveReport> => core.remove(input.ids),
  toText: (report) => {
    const lines = report.removed.map((paper) => `removed ${paper.id}  ${paper.title}`);
    for (const id of report.notFound) lines.push(`not found: ${id} (no paper has this id; nothing removed for it)`);
    lines.push(`${report.removed.length} removed, ${report.notFound.length} not found; ${report.papers} papers in the library`);
    return neutraliseMentions(lines.join('\n'));
  },
});
