/**
 * `npm run bench`: speed figures, printed with their settings and the machine. Not a test.
 *   0. start-up of the compiled CLI (`--help`, and `ask` on the shipped corpus) as multiples of `node -e 0`;
 *   1. first `ask` on a fresh data directory (shipped corpus ingested on the way), then a warm one;
 *   2. ingest + embed + index of 10k papers (the corpus's first 10,000) and of the whole large
 *      corpus (default: the 74k arXiv abstracts in ../shared), each in a process of its own, with peak RSS;
 *   3. a cold `ask` (a new process) against the large store, and the cost of the load-time
 *      integrity check (whole-file CRC32 of the index files) at that size;
 *   4. keyword, vector and hybrid retrieval latency over natural-language questions at that size.
 * Options: --corpus FILE, --questions FILE (repeatable), --runs N, --keep DIR (reuse/keep the large store).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { Command } from 'commander';
import { fileChecksum, fileChecksumSync } from '../src/adapters/files/file-checksum.ts';
import { HnswVectorIndex } from '../src/adapters/hnswlib/hnsw-vector-index.ts';
import { createPaperbot, dataFiles } from '../src/composition-root.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { queryTerms } from '../src/rag/text.ts';
import { buildDist } from '../test/helpers/build.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const options = new Command('bench')
  .option('--corpus <file>', 'large corpus to ingest', path.resolve(ROOT, '../shared/data/arxiv-74k/corpus.jsonl.gz'))
  .option('--questions <file...>', 'question files (JSON Lines with "question", or BEIR queries with "text")', [
    path.join(ROOT, 'test/fixtures/seed-questions.jsonl'),
    path.join(ROOT, 'test/fixtures/seed-questions-holdout.jsonl'),
    path.resolve(ROOT, '../shared/data/scifact/queries.jsonl'),
  ])
  .option('--runs <n>', 'repetitions of each timed CLI run', '3')
  .option('--keep <dir>', 'data directory for the large store (kept afterwards; ingest skipped if it has papers)')
  .parse()
  .opts<{ corpus: string; questions: string[]; runs: string; keep?: string }>();

const runs = Math.max(1, Number(options.runs));

// Child mode: ingest in a process of its own, so its peak memory is measured alone.
if (process.env['PAPERBOT_BENCH_CHILD_INGEST']) {
  const [dataDir, corpus] = JSON.parse(process.env['PAPERBOT_BENCH_CHILD_INGEST']) as [string, string];
  const started = performance.now();
  const core = await createPaperbot(loadConfig({ ...process.env, PAPERBOT_DATA_DIR: dataDir }), { logger: createLogger('warn') });
  const report = await core.ingest([corpus]);
  core.close();
  process.stdout.write(JSON.stringify({ ms: performance.now() - started, maxRssMB: process.resourceUsage().maxRSS / 1024, added: report.totals.added }));
  process.exit(0);
}
const env = { ...process.env, OLLAMA_HOST: 'http://127.0.0.1:9', LOG_LEVEL: 'warn' };
const question = 'How can I edit a real photo with a text-guided diffusion model?';

function timeCli(args: string[], dataDir: string): { ms: number; status: number | null; stderr: string } {
  const started = performance.now();
  const result = spawnSync(process.execPath, [path.join(ROOT, 'bin/paperbot.js'), ...args], { env: { ...env, PAPERBOT_DATA_DIR: dataDir }, encoding: 'utf8', cwd: os.tmpdir() });
  return { ms: performance.now() - started, status: result.status, stderr: result.stderr };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(2)} ms`);

const cpus = os.cpus();
console.log(`machine: ${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`);
const config = loadConfig({ ...process.env, PAPERBOT_DATA_DIR: os.tmpdir() });
console.log(`settings: BM25 k1=${config.BM25_K1} b=${config.BM25_B} title weight=${config.BM25_TITLE_WEIGHT}, TOP_K=${config.TOP_K}`);

// 0. Start-up of the compiled CLI against a bare `node -e 0`, each a new process, rounds interleaved
// (node, --help, ask) so a busy moment hits all three; one untimed round first warms the page cache.
{
  buildDist(); // bin/paperbot.js runs dist/: build it from the current sources if needed
  const startRuns = 5;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paperbot-bench-start-'));
  const startEnv = { ...process.env, PAPERBOT_DATA_DIR: dir, OLLAMA_HOST: 'http://127.0.0.1:47', LOG_LEVEL: 'warn' };
  const timed = (args: string[]) => {
    const started = performance.now();
    const result = spawnSync(process.execPath, args, { env: startEnv, encoding: 'utf8', cwd: os.tmpdir() });
    if (result.status !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr}`);
    return performance.now() - started;
  };
  const bin = path.join(ROOT, 'bin/paperbot.js');
  const startTimes = { node: [] as number[], help: [] as number[], ask: [] as number[] };
  try {
    for (let round = -1; round < startRuns; round++) {
      // Round -1 also seeds the data directory, so the timed asks are of a warmed one.
      const node = timed(['-e', '0']);
      const help = timed([bin, '--help']);
      const ask = timed([bin, 'ask', question]);
      if (round < 0) continue;
      startTimes.node.push(node);
      startTimes.help.push(help);
      startTimes.ask.push(ask);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const base = median(startTimes.node);
  const list = (values: number[]) => values.map((ms) => ms.toFixed(0)).join(', ');
  console.log(`start: node -e 0 median ${base.toFixed(0)} ms of ${startRuns} (${list(startTimes.node)})`);
  console.log(`start: --help median ${median(startTimes.help).toFixed(0)} ms = ${(median(startTimes.help) / base).toFixed(1)}× node -e 0 (target ≤ 4×) (${list(startTimes.help)})`);
  console.log(`start: ask median ${median(startTimes.ask).toFixed(0)} ms = ${(median(startTimes.ask) / base).toFixed(1)}× node -e 0 (target ≤ 6×) (shipped corpus, no Ollama; ${list(startTimes.ask)})`);
}

// 1. First ask on a fresh clone's data directory, then warm asks.
const first: number[] = [];
const warm: number[] = [];
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'paperbot-bench-first-'));
  const cold = timeCli(['ask', question], dir);
  if (cold.status !== 0) throw new Error(`ask failed: ${cold.stderr}`);
  first.push(cold.ms);
  warm.push(timeCli(['ask', question], dir).ms);
  rmSync(dir, { recursive: true, force: true });
}
console.log(`first ask, fresh data dir (seed ingest included): median ${fmt(median(first))} of ${runs} (${first.map(fmt).join(', ')})`);
console.log(`later ask, seed corpus (new process):              median ${fmt(median(warm))} of ${runs}`);

// 2. Ingest of the large corpus.
if (!existsSync(options.corpus)) {
  console.log(`large corpus ${options.corpus} not found: skipping ingest and latency figures`);
  process.exit(0);
}
const indexSettings = `${config.RETRIEVAL_MODE} retrieval, embedder ${config.EMBEDDER} (local: ${config.LOCAL_EMBED_DIM} dims), HNSW M=${config.HNSW_M} efConstruction=${config.HNSW_EF_CONSTRUCTION} ef=${config.HNSW_EF_SEARCH}`;

/** Ingests `corpus` into `dataDir` in a child process; returns its time and peak memory. */
function ingestInChild(dataDir: string, corpus: string): { ms: number; maxRssMB: number; added: number } {
  const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    env: { ...env, PAPERBOT_BENCH_CHILD_INGEST: JSON.stringify([dataDir, corpus]) },
    encoding: 'utf8',
    cwd: ROOT,
    maxBuffer: 1 << 26,
  });
  if (child.status !== 0) throw new Error(`ingest failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as { ms: number; maxRssMB: number; added: number };
}

// 2a. Ingest + embed + index at 10k papers: the first 10,000 records of the corpus.
{
  const smallDir = mkdtempSync(path.join(os.tmpdir(), 'paperbot-bench-10k-'));
  try {
    const raw = readFileSync(options.corpus);
    const text = (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString('utf8');
    const lines = text.split('\n').filter((line) => line.trim()).slice(0, 10_000);
    const smallCorpus = path.join(smallDir, 'corpus-10k.jsonl');
    writeFileSync(smallCorpus, `${lines.join('\n')}\n`);
    const result = ingestInChild(path.join(smallDir, 'data'), smallCorpus);
    console.log(`ingest + embed + index ${result.added} papers (+ seed), own process: ${fmt(result.ms)}, peak RSS ${result.maxRssMB.toFixed(0)} MB [${indexSettings}]`);
  } finally {
    rmSync(smallDir, { recursive: true, force: true });
  }
}

const largeDir = options.keep ?? mkdtempSync(path.join(os.tmpdir(), 'paperbot-bench-large-'));
try {
  const statsRun = spawnSync(process.execPath, [path.join(ROOT, 'bin/paperbot.js'), 'stats', '--json'], { env: { ...env, PAPERBOT_DATA_DIR: largeDir }, encoding: 'utf8', cwd: os.tmpdir() });
  const existing = statsRun.status === 0 ? (JSON.parse(statsRun.stdout) as { papers: number }).papers : 0;
  if (existing > 1000) {
    console.log(`ingest: skipped, ${largeDir} already holds ${existing} papers`);
  } else {
    const result = ingestInChild(largeDir, options.corpus);
    console.log(`ingest + embed + index ${result.added} papers (+ seed) from ${path.basename(options.corpus)}, own process: ${fmt(result.ms)}, peak RSS ${result.maxRssMB.toFixed(0)} MB [${indexSettings}]`);
  }

  // 3. Cold asks against the large store, before this process holds the library in memory too.
  const coldLarge: number[] = [];
  for (let i = 0; i < runs; i++) coldLarge.push(timeCli(['ask', question], largeDir).ms);
  console.log(`cold ask (new process) at the large store: median ${fmt(median(coldLarge))} of ${runs} (${coldLarge.map(fmt).join(', ')}) (target ≤ 2 s at 74k)`);

  // 3a. What the load-time integrity check costs: hnswlib reads the vector index only after its
  // whole-file CRC32 matched (a worker thread, while the main thread loads the rest); the int8
  // copy and the keyword index are checked in memory as they are read.
  {
    const files = dataFiles(largeDir);
    const hnswParams = { m: config.HNSW_M, efConstruction: config.HNSW_EF_CONSTRUCTION, efSearch: config.HNSW_EF_SEARCH };
    const sizeOf = (file: string) => `${(statSync(file).size / 2 ** 20).toFixed(0)} MB`;
    const timed = async (work: () => unknown) => {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        await work();
        times.push(performance.now() - started);
      }
      return median(times);
    };
    const hnswlibModule = (await import('hnswlib-node')).default;
    const meta = JSON.parse(readFileSync(`${files.vectorIndex}.json`, 'utf8')) as { dimension: number; count: number };
    const worker = await timed(() => fileChecksum(files.vectorIndex));
    const inline = await timed(() => fileChecksumSync(files.vectorIndex));
    const copy = await timed(() => fileChecksumSync(`${files.vectorIndex}.q8`));
    const keywords = await timed(() => fileChecksumSync(files.keywordIndex));
    const readOnly = await timed(() => new hnswlibModule.HierarchicalNSW('cosine', meta.dimension).readIndex(files.vectorIndex, true));
    const checked = await timed(() => HnswVectorIndex.loadAsync(files.vectorIndex, hnswParams));
    console.log(
      `integrity check at ${meta.count} papers: CRC32 of vector-index.hnsw (${sizeOf(files.vectorIndex)}) ${fmt(worker)} on its worker thread (${fmt(inline)} inline), ` +
        `of the .q8 copy (${sizeOf(`${files.vectorIndex}.q8`)}) ${fmt(copy)}, of keyword-index.bin (${sizeOf(files.keywordIndex)}) ${fmt(keywords)}; ` +
        `vector index load with the check ${fmt(checked)} against hnswlib's read alone ${fmt(readOnly)} (medians of ${runs}; the cold ask above includes it)`,
    );
  }

  // 4. Retrieval latency in process.
  const openStarted = performance.now();
  const core = await createPaperbot(loadConfig({ ...process.env, PAPERBOT_DATA_DIR: largeDir }), { logger: createLogger('warn') });
  console.log(`open the large library in process (store, keyword and vector index): ${fmt(performance.now() - openStarted)}`);
  try {
    const questions = options.questions
      .filter((file) => existsSync(file))
      .flatMap((file) => readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()))
      .map((line) => {
        const parsed = JSON.parse(line) as { question?: string; text?: string };
        return parsed.question ?? parsed.text ?? '';
      })
      .filter(Boolean);
    const retriever = core.retriever();
    for (const q of questions.slice(0, 50)) await retriever.retrieve(q, config.TOP_K, 'hybrid'); // warm-up
    const timings: Record<string, number[]> = { 'keyword index search only': [], keyword: [], vector: [], hybrid: [] };
    for (const q of questions) {
      const started = performance.now();
      core.library.keywordIndex.search(queryTerms(q), config.TOP_K);
      timings['keyword index search only']!.push(performance.now() - started);
      for (const mode of ['keyword', 'vector', 'hybrid'] as const) {
        const t = performance.now();
        await retriever.retrieve(q, config.TOP_K, mode);
        timings[mode]!.push(performance.now() - t);
      }
    }
    const papers = core.library.store.count();
    const stats = await core.stats();
    const vector = stats.vectorIndex.state === 'ready' ? `${stats.vectorIndex.embedder} ${stats.vectorIndex.dimension} dims, ${Object.entries(stats.vectorIndex.parameters).map(([name, value]) => `${name}=${value}`).join(' ')}, file ${(stats.vectorIndex.bytes / 2 ** 20).toFixed(0)} MB` : stats.vectorIndex.state;
    console.log(`retrieval at ${papers} papers, ${questions.length} natural-language questions, top ${config.TOP_K}, candidates ${config.RRF_CANDIDATES}; vectors: ${vector}`);
    console.log('  (times include embedding the question with the local embedder and reading the papers from SQLite)');
    for (const [name, values] of Object.entries(timings)) {
      values.sort((a, b) => a - b);
      console.log(`  ${name.padEnd(27)} p50 ${fmt(percentile(values, 50))}  p95 ${fmt(percentile(values, 95))}  p99 ${fmt(percentile(values, 99))}`);
    }
    console.log(`  memory after load: rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`);
  } finally {
    core.close();
  }

} finally {
  if (!options.keep) rmSync(largeDir, { recursive: true, force: true });
}
