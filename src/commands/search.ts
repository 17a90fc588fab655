/** `search`: list the papers that match a query, with their scores. */
import { z } from 'zod';
import { neutraliseMentions } from '../chat-text.ts';
import type { SearchResult } from '../rag/paperbot-core.ts';
import { RETRIEVAL_MODES } from '../rag/retrieval.ts';
import { defineCommand } from './definition.ts';

export const searchCommand = defineCommand({
  name: 'search',
  summary: 'List the papers matching a query, best first, with scores',
  arguments: [{ name: 'query', description: 'words to search for', variadic: 'join', required: true }],
  options: [
    { name: 'limit', description: 'how many papers to list (default TOP_K)', type: 'number' },
    { name: 'mode', description: 'retrieval: keyword, vector or hybrid (default RETRIEVAL_MODE)', type: 'string', choices: RETRIEVAL_MODES },
  ],
  input: z.object({ query: z.string(), limit: z.coerce.number().int().min(1).max(100).optional(), mode: z.enum(RETRIEVAL_MODES).optional() }),
  run: async (core, input): Promise<SearchResult> => core.search(input.query, input.limit, input.mode),
  toText: (result) => {
    if (!result.hits.length) return `No paper among ${result.corpusSize} matches "${result.query}".`;
    const lines: string[] = [];
    for (const hit of result.hits) lines.push(`${String(hit.n).padStart(2)}. ${hit.score.toFixed(3).padStart(7)}  ${hit.title}  [${hit.paperId}]${hit.date ? ` ${hit.date}` : ''}`);
    lines.push('', `(${result.mode} search over ${result.corpusSize} papers)`);
    if (!result.relevance.relevant) lines.push('None of these looks relevant to the query (low keyword match).');
    return neutraliseMentions(lines.join('\n'));
  },
});
