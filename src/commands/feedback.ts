/** `feedback`: the 👍 / 👎 stored from chat answers, newest first. */
import { z } from 'zod';
import { neutraliseMentions } from '../chat-text.ts';

import { defineCommand } from './definition.ts';

import type { FeedbackEntry } from '../rag/types.ts';
export const feedbackCommand = defineCommand({
  name: 'feedback',
  summary: 'List the 👍 / 👎 given to answers in chat, newest first',
  arguments: [],
  options: [{ name: 'limit', description: 'how many entries (default 100)', type: 'number' }],
  input: z.object({ limit: z.coerce.number().int().min(1).max(10_000).optional() }),
  run: async (core, input): Promise<{ feedback: FeedbackEntry[] }> => ({ feedback: core.feedback(input.limit) }),
  toText: ({ feedback }) => {
    if (!feedback.length) return 'No feedback yet: it is stored when someone presses 👍 or 👎 under an answer in Discord or Slack.';
    const up = feedback.filter((f) => f.rating === 'up').length;
    const lines = feedback.map((f) => `${f.createdAt.slice(0, 16).replace('T', ' ')}  ${f.rating === 'up' ? '👍' : '👎'}  ${f.platform}/${f.userId}  [${f.mode}]  ${f.question}  (${f.paperIds.slice(0, 3).join(', ')}${f.paperIds.length > 3 ? ', …' : ''})`);
    lines.push('', `${feedback.length} ratings: ${up} 👍, ${feedback.length - up} 👎`);
    return neutraliseMentions(lines.join('\n'));
  },
});
