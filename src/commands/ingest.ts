/** `ingest`: add papers from corpus files or directories; `--dry-run` says what it would do, writing nothing. */
import path from 'node:path';
import { z } from 'zod';
import { CORPUS_FORMATS } from '../rag/corpus/formats.ts';
import type { IngestReport } from '../rag/library.ts';
import { defineCommand } from './definition.ts';

export const ingestCommand = defineCommand({
  name: 'ingest',
  summary: 'Add papers from files or directories (papers-page dump, JSON Lines, BEIR; plain or .gz)',
  arguments: [{ name: 'paths', description: 'files or directories to ingest', variadic: 'list', required: true }],
  options: [
    { name: 'format', description: 'force a format instead of detecting it', type: 'string', choices: CORPUS_FORMATS },
    { name: 'dry-run', description: 'report what the ingest would add, update and reject, writing nothing', type: 'boolean' },
  ],
  input: z.object({ paths: z.array(z.string()).min(1), format: z.enum(CORPUS_FORMATS).optional(), dryRun: z.boolean().optional() }),
  readOnly: (input) => input.dryRun === true,
  run: (core, input): Promise<IngestReport> => core.ingest(input.paths, input.format, { dryRun: input.dryRun === true }),
  toText: (report) => (report.dryRun ? `${ingestText(report)}\n(dry run: nothing was written)` : ingestText(report)),
});

/** One line per file (and its rejected lines), then the totals. */
function ingestText(report: IngestReport): string {
  const lines: string[] = [];
  for (const file of report.files) {
    lines.push(`${path.relative(process.cwd(), file.file) || file.file} (${file.format}): ${file.added} added, ${file.updated} updated, ${file.unchanged} unchanged, ${file.rejected.length} rejected`);
    for (const rejected of file.rejected.slice(0, 50)) lines.push(`  line ${rejected.line}: ${rejected.reason}`);
    if (file.rejected.length > 50) lines.push(`  … and ${file.rejected.length - 50} more (use --json for all)`);
  }
  const t = report.totals;
  const would = report.dryRun ? 'would be ' : '';
  lines.push(`total: ${t.added} ${would}added, ${t.updated} ${would}updated, ${t.unchanged} unchanged, ${t.rejected} rejected; ${report.papers} papers in the library${report.dryRun ? ' after it' : ''}`);
  return lines.join('\n');
}
