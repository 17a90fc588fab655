/**
 * Plain-text rendering of answers and search hits, shared by the CLI and as chat fallbacks.
 * Everything shown passes through the mention neutraliser.
 */

import { neutraliseMentions } from '../chat-text.ts';

import type { Answer, AnswerSource } from '../rag/types.ts';
export function sourceLine(source: AnswerSource): string {
  const details = [source.date, source.url].filter(Boolean).join(' · ');
  return `[${source.n}] ${source.title}${details ? ` (${details})` : ''}`;
}

export function answerToText(answer: Answer): string {
  return neutraliseMentions(`${answer.text}\n\n${sourcesToText(answer)}`.trimEnd());
}

/** The sources part of an answer: cited papers first, then "Also relevant"; or a refusal's closest papers. */
export function sourcesToText(answer: Answer): string {
  const lines: string[] = [];
  if (answer.refusal) {
    lines.push('Closest, probably not what you need:');
    for (const source of answer.refusal.closest) lines.push(`  ${sourceLine(source)}`);
    if (!answer.refusal.closest.length) lines.push('  (none: no paper shares a word with the question)');
  } else {
    const cited = answer.sources.filter((s) => s.cited);
    const others = answer.sources.filter((s) => !s.cited);
    lines.push('Sources:');
    for (const source of cited) lines.push(`  ${sourceLine(source)}`);
    if (others.length) {
      lines.push('Also relevant:');
      for (const source of others) lines.push(`  ${sourceLine(source)}`);
    }
  }
  return neutraliseMentions(lines.join('\n').trimEnd());
}
