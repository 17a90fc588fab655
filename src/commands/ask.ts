/** `ask`: answer a question from the abstracts, with citations. */
import { z } from 'zod';

import { defineCommand } from './definition.ts';
import { answerToText, sourcesToText } from './render.ts';

import type { Answer } from '../rag/types.ts';
export const askCommand = defineCommand({
  name: 'ask',
  summary: 'Answer a question from the paper abstracts, citing the papers used',
  arguments: [{ name: 'question', description: 'the question (quote it, or pass several words)', variadic: 'join', required: true }],
  options: [],
  input: z.object({ question: z.string() }),
  run: (core, input): Promise<Answer> => core.ask(input.question),
  toText: answerToText,
  stream: (core, input) => core.askStream(input.question),
  trailerText: sourcesToText,
});
