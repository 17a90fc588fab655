/**
 * Issue 11, operator rows (3, 11, 12, 13): damaged index files, a quiet stderr, npm's output,
 * and the small ones (read-only data directory, a `.env` that is not a file, stats' timeouts).
 * Each case was tried on main and failed; each runs the real CLI (or npm) as a user would.
 * One data directory is seeded once and copied for each case, so the cases run side by side.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import { Bm25KeywordIndex } from '../src/adapters/bm25/bm25-index.ts';
import { fileChecksum, fileChecksumSync } from '../src/adapters/files/file-checksum.ts';
import { HnswVectorIndex, metaPath } from '../src/adapters/hnswlib/hnsw-vector-index.ts';
import { QuantizedVectors } from '../src/adapters/hnswlib/quantized-vectors.ts';
import { PaperbotError } from '../src/errors.ts';
import { buildDist } from './helpers/build.ts';
import { CLI_NODE_ARGS, ROOT, runCli, runCliAsync } from './helpers/cli.ts';
import { startFakeOllama } from './helpers/fake-ollama.ts';

const QUESTION = 'How can I edit a real photo with a diffusion model?';
let root: string;
let seeded: string;

/** A fresh copy of the seeded data directory. */
function dataDir(name: string): string {
  const dir = path.join(root, name);
  cpSync(seeded, dir, { recursive: true });
  return dir;
}

/** Flips `count` bytes in the middle of a file (not its first or last 64 KiB when it is large). */
function flipMiddle(file: string, count = 64): void {
  const bytes = readFileSync(file);
  const middle = Math.floor(bytes.length / 2);
  for (let i = middle; i < Math.min(bytes.length, middle + count); i++) bytes[i] = bytes[i]! ^ 0x5a;
  writeFileSync(file, bytes);
}

const env = (dir: string, extra: Record<string, string> = {}) => ({ PAPERBOT_DATA_DIR: dir, PROGRESS: '0', ...extra });
const lines = (stderr: string) => stderr.split('\n').filter((line) => line.trim());
/** No JSON log record and no stack trace on stderr. */
function expectQuiet(stderr: string): void {
  expect(stderr).not.toMatch(/"level":|^\s+at /m);
  expect(stderr).not.toContain('invalid json');
}

beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'paperbot-faults-ops-'));
  // Readable by the unprivileged user of the read-only case.
  chmodSync(root, 0o755);
  seeded = path.join(root, 'seeded');
  const seed = runCli(['stats'], env(seeded));
  expect(seed.status, seed.stderr).toBe(0);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe.concurrent('row 3: damaged index files are caught on load, never read by hnswlib', () => {
  it('bytes flipped in the middle of vector-index.hnsw: ask and search exit 0 with a notice; stats does not call it ready', async () => {
    // Each command on its own damaged copy, side by side (each run repairs what it finds).
    const [stats, ask, search] = await Promise.all(
      (['stats', 'ask', 'search'] as const).map((command) => {
        const dir = dataDir(`hnsw-middle-${command}`);
        flipMiddle(path.join(dir, 'vector-index.hnsw'));
        return runCliAsync(command === 'stats' ? ['stats', '--json'] : [command, QUESTION], env(dir));
      }),
    );
    for (const run of [stats!, ask!, search!]) {
      expect(run.status, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/vector index .*vector-index\.hnsw fails its checksum: it is damaged\. Rebuilding it with local-hashed-v1\./);
    }
    // What stats reports is the index rebuilt just now, not the damaged file.
    expect(JSON.parse(stats!.stdout).vectorIndex).toMatchObject({ state: 'ready', papers: 53 });
    expect(ask!.stdout).toMatch(/\[1\]/);
    expect(search!.stdout).toMatch(/^ 1\. /m);
  });

  it('bytes flipped in the middle of the int8 copy (.q8) and of keyword-index.bin: rebuilt with a notice', async () => {
    const dir = dataDir('copy-and-keywords');
    flipMiddle(path.join(dir, 'vector-index.hnsw.q8'));
    flipMiddle(path.join(dir, 'keyword-index.bin'));
    const run = await runCliAsync(['ask', QUESTION], env(dir));
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/Rebuilding the keyword index from 53 papers \(The keyword index .* is unusable \(checksum mismatch: it is damaged\)\.\)/);
    expect(run.stderr).toMatch(/The vector copy .*vector-index\.hnsw\.q8 is unusable \(checksum mismatch: it is damaged\)\. Rebuilding it/);
    expect(run.stdout).toMatch(/\[1\]/);
    const again = await runCliAsync(['search', QUESTION], env(dir));
    expect(again.status).toBe(0);
    expect(again.stderr).toBe('');
  });

  it('any flipped byte (header, sidecar, body) is an index error before anything is sized from it', () => {
    const dir = dataDir('unit');
    const vectorFile = path.join(dir, 'vector-index.hnsw');
    const params = { m: 16, efConstruction: 40, efSearch: 64 };
    expect(HnswVectorIndex.load(vectorFile, params).index.size).toBe(53);

    // The sidecar's own fields: a damaged dimension would make hnswlib misread the file.
    const sidecar = readFileSync(metaPath(vectorFile), 'utf8');
    writeFileSync(metaPath(vectorFile), sidecar.replace('"dimension": 2048', '"dimension": 2049'));
    expect(() => HnswVectorIndex.load(vectorFile, params)).toThrow(/description of the vector index .* fails its checksum/);
    // An older paperbot's sidecar (first and last 64 KiB only) is not trusted with the middle.
    const old = JSON.parse(sidecar) as Record<string, unknown>;
    writeFileSync(metaPath(vectorFile), JSON.stringify({ ...old, format: 1, checksum: undefined, seal: undefined, edgeChecksum: 1 }));
    expect(() => HnswVectorIndex.load(vectorFile, params)).toThrow(/saved by an older paperbot/);

    const copy = path.join(dir, 'vector-index.hnsw.q8');
    const copyBytes = readFileSync(copy);
    for (const at of [5, 17, 30, copyBytes.length - 1]) {
      const damaged = Buffer.from(copyBytes);
      damaged[at] = damaged[at]! ^ 1;
      writeFileSync(copy, damaged);
      expect(() => QuantizedVectors.loadSync(copy), `byte ${at}`).toThrow(PaperbotError);
    }

    // A digit of the keyword index's JSON header (its total length) stays valid JSON: still caught.
    const keywordFile = path.join(dir, 'keyword-index.bin');
    const keywordBytes = readFileSync(keywordFile);
    const header = keywordBytes.toString('latin1', 0, 400);
    const digit = header.indexOf('"totalLength":') + '"totalLength":'.length;
    const damaged = Buffer.from(keywordBytes);
    damaged[digit] = damaged[digit] === 0x31 ? 0x32 : 0x31;
    writeFileSync(keywordFile, damaged);
    expect(() => Bm25KeywordIndex.load(keywordFile, { k1: 1.2, b: 0.75, titleWeight: 3 })).toThrow(/checksum mismatch/);
  });

  it('the whole-file checksum of a large index (on its worker thread) is the CRC32 of every byte', async () => {
    const big = path.join(root, 'big.bin');
    const bytes = Buffer.alloc(40 << 20);
    for (let i = 0; i < bytes.length; i += 4093) bytes[i] = i & 0xff;
    writeFileSync(big, bytes);
    const expected = crc32(bytes) >>> 0;
    expect(fileChecksumSync(big)).toBe(expected);
    await expect(fileChecksum(big)).resolves.toBe(expected);
    const middle = bytes.length >> 1;
    bytes[middle] = bytes[middle]! ^ 1;
    writeFileSync(big, bytes);
    await expect(fileChecksum(big)).resolves.not.toBe(expected);
    await expect(fileChecksum(path.join(root, 'missing.bin'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

/** A server that answers Ollama's listing calls properly and everything else with a broken body. */
async function garbageOllama(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((request, response) => {
    response.writeHead(200, { 'content-type': request.url === '/api/chat' ? 'application/x-ndjson' : 'application/json' });
    if (request.url === '/api/tags') response.end(JSON.stringify({ models: [{ name: 'llama3.2:latest' }, { name: 'nomic-embed-text:latest' }] }));
    else if (request.url === '/api/version') response.end(JSON.stringify({ version: '0.12.0' }));
    else response.end('this is not json{\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe.concurrent('row 11: at the default level each problem is one human line on stderr', () => {
  for (const [name, faults, said] of [
    ['an Ollama 500', { status500: true }, /^paperbot: Ollama answered with an error \(500.*This is an extractive answer instead\.$/],
    ['an error mid-stream', { errorMidStream: 2 }, /^paperbot: Ollama failed: .*This is an extractive answer instead\.$/],
    ['a stream that ends without done', { endWithoutDone: true }, /^paperbot: Ollama failed: .*This is an extractive answer instead\.$/],
  ] as const) {
    it(`${name}: one line, no JSON, no stack trace`, async () => {
      const fake = await startFakeOllama({ faults: { ...faults } });
      try {
        const dir = dataDir(`ollama-${Object.keys(faults)[0]}`);
        const run = await runCliAsync(['ask', QUESTION], env(dir, { OLLAMA_HOST: fake.url }));
        expect(run.status, run.stderr).toBe(0);
        expectQuiet(run.stderr);
        expect(lines(run.stderr)).toHaveLength(1);
        expect(lines(run.stderr)[0]).toMatch(said);
        if (name === 'an Ollama 500') {
          // The details are one setting away: JSON records with the stack at LOG_LEVEL=info.
          const verbose = await runCliAsync(['ask', QUESTION], env(dir, { OLLAMA_HOST: fake.url, LOG_LEVEL: 'info' }));
          expect(verbose.stderr).toMatch(/"level":40.*"stack":"PaperbotError: Ollama answered with an error/);
        }
      } finally {
        await fake.close();
      }
    });
  }

  it('garbage JSON from Ollama: one line naming it, and not the client\'s raw "invalid json" output', async () => {
    const garbage = await garbageOllama();
    try {
      const run = await runCliAsync(['ask', QUESTION], env(dataDir('garbage'), { OLLAMA_HOST: garbage.url }));
      expect(run.status, run.stderr).toBe(0);
      expectQuiet(run.stderr);
      expect(lines(run.stderr)).toEqual([expect.stringMatching(/^paperbot: Ollama failed: Ollama sent a line that is not JSON \("this is not json\{"\)\. This is an extractive answer instead\.$/)]);
    } finally {
      await garbage.close();
    }
  });

  it('Ollama down under an index built with Ollama: the problem is said once', async () => {
    const fake = await startFakeOllama();
    const dir = path.join(root, 'ollama-down');
    // Generous timeouts: the side-by-side cases load the machine, and this run must find Ollama.
    const built = await runCliAsync(['stats'], env(dir, { OLLAMA_HOST: fake.url, EMBEDDER: 'ollama', OLLAMA_CONNECT_TIMEOUT_MS: '20000' }));
    await fake.close();
    expect(built.stderr).toContain('ollama:nomic-embed-text');
    const run = await runCliAsync(['ask', QUESTION], env(dir, { OLLAMA_HOST: fake.url }));
    expect(run.status, run.stderr).toBe(0);
    expectQuiet(run.stderr);
    expect(run.stderr.match(/start it with `ollama serve`/g)).toHaveLength(1);
    expect(lines(run.stderr)).toEqual([expect.stringMatching(/^paperbot: Using keyword search only: .*Ollama is not reachable/), 'paperbot: This is an extractive answer instead.']);
  });

  it('an offline digest --dry-run: one line a failed source, no stack trace', async () => {
    const dir = dataDir('digest');
    const config = path.join(root, 'digest-offline.yml');
    writeFileSync(config, 'targets:\n  - name: lab\n    platform: slack\n    channel: C123\n    cron: "0 8 * * *"\n    timezone: UTC\n    sources: [huggingface, arxiv]\n    arxiv_categories: [cs.CL]\n');
    const run = await runCliAsync(
      ['digest', '--dry-run'],
      env(dir, { DIGEST_CONFIG: config, HF_PAPERS_URL: 'http://127.0.0.1:47/api/daily_papers', ARXIV_API_URL: 'http://127.0.0.1:47/api/query', ARXIV_REQUEST_INTERVAL_MS: '10' }),
    );
    expect(run.status, run.stderr).toBe(0);
    expectQuiet(run.stderr);
    expect(lines(run.stderr)).toEqual([expect.stringMatching(/^paperbot: Hugging Face daily papers: failed \(could not connect/), expect.stringMatching(/^paperbot: arXiv: failed \(could not connect/)]);
    expect(run.stdout).toContain('dry run');
  });
});

describe.concurrent('row 12: npm keeps `npm start` stdout clean and shows install errors', () => {
  it('npm start -- ask --json: stdout parses as JSON (the banner goes to stderr)', async () => {
    buildDist();
    const dir = dataDir('npm-start');
    const child = spawn('npm', ['start', '--', 'ask', '--json', QUESTION], { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', OLLAMA_HOST: 'http://127.0.0.1:47', ...env(dir) } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(status, stderr).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ question: QUESTION });
    expect(stderr).toContain('> paperbot@0.1.0 start');
  });

  it("a failing install under the project's .npmrc prints npm's error", () => {
    const project = path.join(root, 'npm-install');
    mkdirSync(path.join(project, 'native'), { recursive: true });
    cpSync(path.join(ROOT, '.npmrc'), path.join(project, '.npmrc'));
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'p', version: '1.0.0', private: true, dependencies: { native: 'file:./native' } }));
    writeFileSync(
      path.join(project, 'native/package.json'),
      JSON.stringify({ name: 'native', version: '1.0.0', scripts: { install: 'echo "gyp ERR! find Python: no C++ toolchain" >&2; exit 1' } }),
    );
    // Without the log level of an outer `npm test --silent` (npm passes it on in the environment): the project's .npmrc is what is tested.
    const outer = { ...process.env };
    delete outer['npm_config_loglevel'];
    const install = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund'], { cwd: project, encoding: 'utf8', env: { ...outer, npm_config_cache: path.join(root, 'npm-cache') } });
    expect(install.status).not.toBe(0);
    expect(install.stderr).toMatch(/npm error/);
    expect(install.stderr).toContain('gyp ERR! find Python: no C++ toolchain');
  });
});

describe.concurrent('row 13: small ones', () => {
  it('a read-only data directory is reported as read-only, naming PAPERBOT_DATA_DIR', async () => {
    const dir = dataDir('read-only');
    for (const name of readdirSync(dir)) chmodSync(path.join(dir, name), 0o444);
    chmodSync(dir, 0o555);
    // root writes through any mode bits: the CLI runs as an unprivileged user (nobody) then.
    const asRoot = process.getuid?.() === 0;
    const child = spawn(process.execPath, [...CLI_NODE_ARGS, 'ask', QUESTION], {
      cwd: os.tmpdir(),
      env: { PATH: process.env['PATH'] ?? '', HOME: os.tmpdir(), OLLAMA_HOST: 'http://127.0.0.1:47', ...env(dir) },
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    chmodSync(dir, 0o755);
    expect(status).toBe(1);
    expect(stderr).toBe(`paperbot: The data directory ${dir} is read-only (attempt to write a readonly database): paperbot writes its database and indexes there. Make it writable, or set PAPERBOT_DATA_DIR to a directory paperbot can write to.\n`);
    expect(stderr).not.toMatch(/damaged|move it away/);
  });

  it('a .env that is a directory: exit 2 with its path', async () => {
    const cwd = path.join(root, 'dotenv-dir');
    mkdirSync(path.join(cwd, '.env'), { recursive: true });
    const run = await runCliAsync(['stats'], env(path.join(root, 'dotenv-data')), { cwd });
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(`paperbot: ${path.join(cwd, '.env')} is not a file: paperbot reads its settings from a .env file there. Move it away, or run paperbot from another directory.\n`);
  });

  it('an unreadable .env: exit 2 with its path', async () => {
    const cwd = path.join(root, 'dotenv-unreadable');
    mkdirSync(cwd, { recursive: true });
    chmodSync(cwd, 0o755);
    writeFileSync(path.join(cwd, '.env'), 'LOG_LEVEL=warn\n', { mode: 0o000 });
    // root reads through any mode bits: the CLI runs as an unprivileged user (nobody) then.
    const asRoot = process.getuid?.() === 0;
    const data = path.join(os.tmpdir(), `paperbot-dotenv-unreadable-${process.pid}`);
    const child = spawn(process.execPath, [...CLI_NODE_ARGS, 'stats'], {
      cwd,
      env: { PATH: process.env['PATH'] ?? '', HOME: os.tmpdir(), OLLAMA_HOST: 'http://127.0.0.1:47', PAPERBOT_DATA_DIR: data },
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(status).toBe(2);
    expect(stderr).toContain(`paperbot: Cannot read ${path.join(cwd, '.env')}: `);
    expect(stderr).toMatch(/permission denied.*Make it readable.*or move it away\.\n$/i);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(() => statSync(data)).toThrow();
  });

  it('ingest --dry-run on a read-only data directory reports what it would do and writes nothing', async () => {
    const dir = dataDir('read-only-dry-run');
    const corpus = path.join(root, 'dry-run.jsonl');
    writeFileSync(corpus, `${JSON.stringify({ id: '2612.09001', title: 'Vorpal Lattices for Quibbling Snarks', abstract: 'We study vorpal lattices and the quibbling of snarks in several settings.' })}\n`);
    chmodSync(corpus, 0o644);
    for (const name of readdirSync(dir)) chmodSync(path.join(dir, name), 0o444);
    chmodSync(dir, 0o555);
    const before = readdirSync(dir).sort();
    const asRoot = process.getuid?.() === 0;
    const child = spawn(process.execPath, [...CLI_NODE_ARGS, 'ingest', '--dry-run', '--json', corpus], {
      cwd: os.tmpdir(),
      env: { PATH: process.env['PATH'] ?? '', HOME: os.tmpdir(), OLLAMA_HOST: 'http://127.0.0.1:47', ...env(dir) },
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const after = readdirSync(dir).sort();
    chmodSync(dir, 0o755);
    expect(status, stderr).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ dryRun: true, totals: { added: 1, rejected: 0 } });
    expect(after).toEqual(before);
  });

  it('stats names the timeout setting its probe used, with its real value', async () => {
    const silent = await startFakeOllama({ faults: { neverAnswer: true } });
    try {
      const run = await runCliAsync(['stats'], env(dataDir('stats-timeout'), { OLLAMA_HOST: silent.url, OLLAMA_CONNECT_TIMEOUT_MS: '300', OLLAMA_TIMEOUT_MS: '45000' }));
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`Ollama at ${silent.url}: not reachable \\(.*did not answer within 0\\.3 s \\(OLLAMA_CONNECT_TIMEOUT_MS=300\\)`));
      expect(run.stdout).toContain('  timeouts: OLLAMA_CONNECT_TIMEOUT_MS=300 OLLAMA_TIMEOUT_MS=45000');
      expect(run.stdout).not.toContain('OLLAMA_TIMEOUT_MS=300');
    } finally {
      await silent.close();
    }
  });
});
