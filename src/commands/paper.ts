/** `paper`: show one paper in full. */
import { z } from 'zod';
import { paperUrl } from '../rag/answer.ts';
import { neutraliseMentions } from '../chat-text.ts';
import { paperDate } from '../rag/paper.ts';
import { defineCommand } from './definition.ts';

import type { Paper } from '../rag/types.ts';
export const paperCommand = defineCommand({
  name: 'paper',
  summary: 'Show one paper: title, authors, date, link and abstract',
  arguments: [{ name: 'id', description: 'the paper id (as listed by search), or its exact title', variadic: 'join', required: true }],
  options: [],
  input: z.object({ id: z.string() }),
  run: async (core, input): Promise<Paper> => core.paper(input.id),
  toText: (paper) => {
    const url = paperUrl(paper);
    const date = paperDate(paper);
    const lines = [
      paper.title,
      `id: ${paper.id}${paper.version ? ` (v${paper.version})` : ''}`,
      ...(paper.authors.length ? [`authors: ${paper.authors.join(', ')}`] : []),
      ...(date ? [`date: ${date}`] : []),
      ...(url ? [`link: ${url}`] : []),
      ...(paper.categories.length ? [`categories: ${paper.categories.join(' ')}`] : []),
      `source: ${paper.source}`,
      '',
      paper.abstract,
    ];
    return neutraliseMentions(lines.join('\n'));
  },
});
