import { describe, expect, it } from 'vitest';
import { followUpQuery } from '../src/rag/paperbot-core.ts';

import type { PastTurn } from '../src/rag/types.ts';
const turn: PastTurn = {
  question: 'How can I edit a real photo with a diffusion model?',
  answer: {
    text: 'Invert it first [1].',
    sources: [
      { n: 1, paperId: 'a', title: 'Null-text Inversion for Editing Real Images', score: 1, cited: true },
      { n: 2, paperId: 'b', title: 'DECOR: Decomposition and Projection of Text Embeddings', score: 0.5, cited: false },
    ],
  },
};

describe('followUpQuery', () => {
  it('is the question itself when there is no earlier turn', () => {
    expect(followUpQuery('What is LoRA?', [])).toBe('What is LoRA?');
  });

  it('adds the titles of the sources a follow-up names by number, and the previous question', () => {
    const query = followUpQuery('and how does it compare to [2]?', [turn]);
    expect(query).toContain('and how does it compare to [2]?');
    expect(query).toContain('DECOR: Decomposition and Projection of Text Embeddings');
    expect(query).not.toContain('Null-text Inversion');
    expect(query).toContain(turn.question);
  });

  it('ignores numbers the last answer did not have', () => {
    expect(followUpQuery('what about [7]?', [turn])).toBe(`what about [7]?\n${turn.question}`);
  });
});
