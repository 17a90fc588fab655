/**
 * Whether a text could still ping anyone: true when the mention neutraliser would change it
 * (it is idempotent, so anything it leaves alone holds no @everyone, <@…> or <!…>).
 */
import { neutraliseMentions } from '../../src/chat-text.ts';

export function hasLivePing(text: string): boolean {
  return neutraliseMentions(text) !== text;
}
