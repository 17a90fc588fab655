/**
 * Progress bars for long work (ingest, index rebuilds), drawn on stderr only when stderr is a
 * terminal, so scripts and CI logs never see bar redraws.
 */
import cliProgress from 'cli-progress';
import { silentProgress } from '../../rag/progress.ts';
import type { ProgressReporter } from '../../rag/types.ts';

/** `mode`: 'auto' draws only on a terminal; 'on' draws anyway (PROGRESS=true); 'off' never. */
export function terminalProgress(mode: 'auto' | 'on' | 'off'): ProgressReporter {
  if (mode === 'off' || (mode === 'auto' && !process.stderr.isTTY)) return silentProgress;
  let bar: cliProgress.SingleBar | null = null;
  return {
    start(label, total) {
      bar = new cliProgress.SingleBar(
        { stream: process.stderr, format: `${label.padEnd(28).slice(0, 28)} [{bar}] {percentage}% | {eta_formatted} left`, hideCursor: true, clearOnComplete: false, noTTYOutput: mode === 'on', notTTYSchedule: 1000 },
        cliProgress.Presets.shades_classic,
      );
      bar.start(Math.max(total, 1), 0);
    },
    update(done) {
      bar?.update(done);
    },
    stop() {
      if (bar) {
        bar.update(bar.getTotal());
        bar.stop();
      }
      bar = null;
    },
  };
}
