import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, PACKAGE_ROOT, parseOllamaHost, SHIPPED_CORPUS_DIR } from '../src/config.ts';
import { PaperbotError } from '../src/errors.ts';
import { DEFAULT_BAND_THRESHOLDS } from '../src/rag/retrieval.ts';

function configError(env: Record<string, string>): PaperbotError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(PaperbotError);
    expect((error as PaperbotError).code).toBe('config');
    return error as PaperbotError;
  }
  throw new Error(`expected a config error for ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('has the documented defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config.TOP_K).toBe(8);
    expect(config.MAX_QUESTION_CHARS).toBe(2000);
    expect(config.OLLAMA_HOST).toBe('http://127.0.0.1:11434');
    expect(config.EMBEDDER).toBe('auto');
    expect(config.LOG_LEVEL).toBe('warn');
    expect(config.BM25_K1).toBe(1.2);
    expect(config.BM25_B).toBe(0.75);
    expect(config.BM25_TITLE_WEIGHT).toBe(3);
    expect(config.RELEVANCE_MIN_RATIO).toBe(0.16);
    expect([config.RELEVANCE_MIN_EVIDENCE, config.RELEVANCE_CONFIDENT_RATIO, config.RELEVANCE_CONFIDENT_EVIDENCE, config.RELEVANCE_CONFIDENT_COVERAGE]).toEqual([1, 0.36, 3.2, 0.6]);
    // The core's own defaults (used where no config is loaded) are the same.
    expect({ minRatio: config.RELEVANCE_MIN_RATIO, minEvidence: config.RELEVANCE_MIN_EVIDENCE, confidentRatio: config.RELEVANCE_CONFIDENT_RATIO, confidentEvidence: config.RELEVANCE_CONFIDENT_EVIDENCE, confidentCoverage: config.RELEVANCE_CONFIDENT_COVERAGE }).toEqual(DEFAULT_BAND_THRESHOLDS);
    expect(config.EXTRACTIVE_SENTENCES).toBe(4);
    expect(config.PROGRESS).toBeUndefined();
    expect(config.PAPERBOT_DATA_DIR).toBe(path.join(PACKAGE_ROOT, 'data', 'var'));
    expect(SHIPPED_CORPUS_DIR).toBe(path.join(PACKAGE_ROOT, 'data', 'corpus'));
  });

  it('reads and coerces values from the environment', () => {
    const config = loadConfig({
      TOP_K: '12',
      MAX_QUESTION_CHARS: '500',
      OLLAMA_HOST: 'gpu-box:1234',
      EMBEDDER: 'local',
      BM25_B: '0.5',
      PROGRESS: 'no',
      PAPERBOT_DATA_DIR: '  /tmp/somewhere  ',
    });
    expect(config.TOP_K).toBe(12);
    expect(config.MAX_QUESTION_CHARS).toBe(500);
    expect(config.OLLAMA_HOST).toBe('http://gpu-box:1234');
    expect(config.EMBEDDER).toBe('local');
    expect(config.BM25_B).toBe(0.5);
    expect(config.PROGRESS).toBe(false);
    expect(config.PAPERBOT_DATA_DIR).toBe('/tmp/somewhere');
    expect(loadConfig({ PROGRESS: 'yes' }).PROGRESS).toBe(true);
    expect(loadConfig({ PROGRESS: '1' }).PROGRESS).toBe(true);
  });

  it('ignores variables it does not know', () => {
    expect(loadConfig({ PATH: '/usr/bin', HOME: '/root', SOMETHING_ELSE: 'x' }).TOP_K).toBe(8);
  });

  it('treats empty and blank strings as unset', () => {
    const config = loadConfig({ TOP_K: '', MAX_QUESTION_CHARS: '   ', OLLAMA_HOST: '', EMBEDDER: '', PAPERBOT_DATA_DIR: ' ', PROGRESS: '' });
    expect(config.TOP_K).toBe(8);
    expect(config.MAX_QUESTION_CHARS).toBe(2000);
    expect(config.OLLAMA_HOST).toBe('http://127.0.0.1:11434');
    expect(config.EMBEDDER).toBe('auto');
    expect(config.PAPERBOT_DATA_DIR).toBe(path.join(PACKAGE_ROOT, 'data', 'var'));
    expect(config.PROGRESS).toBeUndefined();
  });

  it('reports every bad value in one config error', () => {
    const error = configError({
      TOP_K: '0',
      MAX_QUESTION_CHARS: 'lots',
      OLLAMA_HOST: 'ftp://x',
      EMBEDDER: 'gpt',
      BM25_B: '2',
      PROGRESS: 'maybe',
      LOG_LEVEL: 'loud',
    });
    for (const key of ['TOP_K', 'MAX_QUESTION_CHARS', 'OLLAMA_HOST', 'EMBEDDER', 'BM25_B', 'PROGRESS', 'LOG_LEVEL']) {
      expect(error.message, key).toContain(key);
    }
    expect(error.message).toContain('ftp://x');
    // Good settings are not blamed.
    expect(error.message).not.toContain('BM25_K1');
    expect(error.message).not.toContain('EXTRACTIVE_SENTENCES');
  });

  it('rejects out-of-range and non-integer numbers', () => {
    expect(configError({ TOP_K: '51' }).message).toContain('TOP_K');
    expect(configError({ TOP_K: '2.5' }).message).toContain('TOP_K');
    expect(configError({ MAX_QUESTION_CHARS: '9' }).message).toContain('MAX_QUESTION_CHARS');
    expect(configError({ OLLAMA_TIMEOUT_MS: '-1' }).message).toContain('OLLAMA_TIMEOUT_MS');
    expect(configError({ RELEVANCE_MIN_RATIO: '1.5' }).message).toContain('RELEVANCE_MIN_RATIO');
  });
});

describe('parseOllamaHost', () => {
  it.each([
    ['host', 'http://host:11434'],
    ['host:1234', 'http://host:1234'],
    [':5000', 'http://127.0.0.1:5000'],
    ['  gpu-box  ', 'http://gpu-box:11434'],
    ['host:', 'http://host:11434'],
    ['127.0.0.1', 'http://127.0.0.1:11434'],
    ['[::1]:99', 'http://[::1]:99'],
    ['[::1]', 'http://[::1]:11434'],
    ['http://h:8080', 'http://h:8080'],
    ['HTTP://Example.COM:8080', 'http://example.com:8080'],
    ['https://h:8443/ollama', 'https://h:8443/ollama'],
  ])('%s → %s', (raw, expected) => {
    expect(parseOllamaHost(raw)).toBe(expected);
  });

  it('gives http:// and https:// their default ports 80 and 443', () => {
    const http = parseOllamaHost('http://h');
    const https = parseOllamaHost('https://h/path/');
    // URL serialisation leaves out a scheme's default port.
    expect(http).toBe('http://h');
    expect(new URL(http!).port).toBe('');
    expect(https).toBe('https://h/path');
    expect(new URL(https!).pathname).toBe('/path');
    expect(new URL(https!).protocol).toBe('https:');
    expect(parseOllamaHost('https://h:443')).toBe('https://h');
  });

  it('means the default for an empty value', () => {
    expect(parseOllamaHost('')).toBe('http://127.0.0.1:11434');
    expect(parseOllamaHost('   ')).toBe('http://127.0.0.1:11434');
  });

  it.each(['ftp://x', 'a:b', 'http://h:70000', 'host:-1', 'host:12ab', 'bad host:80', 'ws://h:1'])('rejects %s', (raw) => {
    expect(parseOllamaHost(raw)).toBeNull();
  });
});

describe('.env.example', () => {
  it('documents every setting of the config schema, each with a comment above it', async () => {
    const { readFileSync } = await import('node:fs');
    const { configSchema } = await import('../src/config.ts');
    const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
    for (const key of Object.keys(configSchema.shape)) {
      const lines = example.split('\n');
      const at = lines.findIndex((line) => line.startsWith(`${key}=`));
      expect(at, `${key} is missing from .env.example`).toBeGreaterThan(0);
      // The setting's block (lines above it up to a blank line) holds a comment.
      let i = at - 1;
      let commented = false;
      while (i >= 0 && lines[i]!.trim() !== '') {
        if (lines[i]!.startsWith('#')) commented = true;
        i -= 1;
      }
      expect(commented, `${key} has no comment`).toBe(true);
    }
  });
});
