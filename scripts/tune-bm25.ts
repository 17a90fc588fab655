/**
 * Grid search of BM25 k1, b and title weight on a BEIR split (tune on SciFact *train*; report
 * test with `npm run eval`). The index keeps title and abstract term counts apart, so changing the
 * parameters needs no re-indexing. Usage: tsx scripts/tune-bm25.ts --beir DIR [--split train]
 */
import type { Bm25KeywordIndex } from '../src/adapters/bm25/bm25-index.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { createPaperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { loadBeir, scoreBeir } from './eval-lib.ts';

const options = new Command('tune-bm25')
  .requiredOption('--beir <dir>')
  .option('--split <name>', 'qrels split', 'train')
  .parse()
  .opts<{ beir: string; split: string }>();

const dataset = loadBeir(options.beir, options.split);
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paperbot-tune-'));
const config = loadConfig();
const core = await createPaperbot({ ...config, RETRIEVAL_MODE: 'keyword' }, { logger: createLogger('warn'), seed: false, dataDir });
try {
  await core.ingest([dataset.corpusFile], 'beir');
  const results: Array<{ k1: number; b: number; titleWeight: number; ndcg: number; recall: number }> = [];
  for (const k1 of [0.6, 0.8, 0.9, 1.0, 1.2, 1.4, 1.6]) {
    for (const b of [0.3, 0.4, 0.5, 0.6, 0.75, 0.9]) {
      for (const titleWeight of [1, 1.5, 2, 3, 4]) {
        // Tuning reaches into the BM25 adapter on purpose: it sweeps that backend's own parameters.
        (core.library.keywordIndex as Bm25KeywordIndex).params = { k1, b, titleWeight };
        const score = await scoreBeir(core, dataset, 'keyword');
        results.push({ k1, b, titleWeight, ndcg: score['ndcg@10'], recall: score['recall@100'] });
      }
    }
  }
  results.sort((x, y) => y.ndcg - x.ndcg);
  for (const r of results.slice(0, 15)) console.log(`k1=${r.k1} b=${r.b} tw=${r.titleWeight} nDCG@10=${r.ndcg.toFixed(4)} R@100=${r.recall.toFixed(4)}`);
} finally {
  core.close();
  rmSync(dataDir, { recursive: true, force: true });
}
