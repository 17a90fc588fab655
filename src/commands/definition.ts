/**
 * Platform-neutral command definitions. The CLI, and later Discord and Slack, turn their own
 * input into a command's `input`, validate it with the same zod schema, run it against the core
 * and render the result; only the rendering of rich output differs per platform.
 */
import type { z } from 'zod';
import type { CoreEvent, PaperbotCore } from '../rag/paperbot-core.ts';

export interface CommandArgument {
  name: string;
  description: string;
  /** Collects the rest of the words: joined into one string (a question) or kept as a list (files). */
  variadic?: 'join' | 'list';
  required: boolean;
}

export interface CommandOption {
  name: string;
  description: string;
  type: 'string' | 'number' | 'boolean';
  choices?: readonly string[];
}

export interface CommandDefinition<Input, Output> {
  name: string;
  summary: string;
  arguments: readonly CommandArgument[];
  options: readonly CommandOption[];
  /** Validates what the platform collected; failures are usage errors. */
  input: z.ZodType<Input>;
  run(core: PaperbotCore, input: Input): Promise<Output>;
  /** Plain text for terminals and as a fallback for chat platforms. */
  toText(output: Output): string;
  /** For commands whose text output grows as it is written (ask): the event stream. */
  stream?(core: PaperbotCore, input: Input): AsyncGenerator<CoreEvent>;
  /** Rendered after a stream's text (the sources list of an answer). */
  trailerText?(output: Output): string;
  /** The command replaces the indexes: open the library without checking or building them. */
  rebuildsIndexes?: boolean;
  /** True for inputs that must write nothing (`ingest --dry-run`): the library opens read-only (no seed, no index saves). */
  readOnly?(input: Input): boolean;
}

// The registry holds definitions of different input/output types; `any` is confined to this alias.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCommand = CommandDefinition<any, any>;

export function defineCommand<Input, Output>(definition: CommandDefinition<Input, Output>): CommandDefinition<Input, Output> {
  return definition;
}
