/** The reporter for callers that show no progress (tests, chat, evaluation). */
import type { ProgressReporter } from './types.ts';

export const silentProgress: ProgressReporter = { start() {}, update() {}, stop() {} };
