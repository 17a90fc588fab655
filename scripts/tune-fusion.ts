/**
 * Grid search of the hybrid fusion (RRF k and the vector weight) on a BEIR split, with the
 * configured embedder. Tune on SciFact *train*; report test with `npm run eval`.
 * Usage: tsx scripts/tune-fusion.ts --beir DIR [--split train]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { createPaperbot } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { loadBeir, scoreBeir } from './eval-lib.ts';

const options = new Command('tune-fusion')
  .requiredOption('--beir <dir>')
  .option('--split <name>', 'qrels split', 'train')
  .parse()
  .opts<{ beir: string; split: string }>();

const dataset = loadBeir(options.beir, options.split);
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'paperbot-tune-'));
const core = await createPaperbot(loadConfig(), { logger: createLogger('warn'), seed: false, dataDir });
try {
  await core.ingest([dataset.corpusFile], 'beir');
  const keyword = await scoreBeir(core, dataset, 'keyword');
  console.log(`keyword nDCG@10=${keyword['ndcg@10'].toFixed(4)}`);
  const results: Array<{ k: number; weight: number; ndcg: number }> = [];
  for (const k of [10, 20, 40, 60, 100]) {
    for (const weight of [0.3, 0.5, 0.7, 1]) {
      Object.assign(core.settings.fusion, { k, vectorWeight: weight, keywordWeight: 1 });
      const score = await scoreBeir(core, dataset, 'hybrid');
      results.push({ k, weight, ndcg: score['ndcg@10'] });
    }
  }
  results.sort((a, b) => b.ndcg - a.ndcg);
  for (const r of results.slice(0, 10)) console.log(`RRF k=${r.k} vector weight=${r.weight} nDCG@10=${r.ndcg.toFixed(4)}`);
} finally {
  core.close();
  rmSync(dataDir, { recursive: true, force: true });
}
