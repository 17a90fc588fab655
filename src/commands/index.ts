/** Every platform-neutral command, in the order help lists them. */
import { askCommand } from './ask.ts';
import type { AnyCommand } from './definition.ts';
import { feedbackCommand } from './feedback.ts';
import { indexCommand } from './index-command.ts';
import { ingestCommand } from './ingest.ts';
import { paperCommand } from './paper.ts';
import { removeCommand } from './remove.ts';
import { searchCommand } from './search.ts';
import { statsCommand } from './stats.ts';

export const commands: readonly AnyCommand[] = [askCommand, searchCommand, paperCommand, ingestCommand, removeCommand, statsCommand, indexCommand, feedbackCommand];
