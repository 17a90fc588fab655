/**
 * The one place that reads settings. The environment (and `.env`, loaded by the composition
 * root) is validated once with zod; every problem is reported together, then the CLI exits 2.
 * `.env.example` documents each setting and must stay in step with this schema.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { PaperbotError } from './errors.ts';

/** The package root, so defaults do not depend on the directory paperbot is started from. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SHIPPED_CORPUS_DIR = path.join(PACKAGE_ROOT, 'data', 'corpus');

const DEFAULT_OLLAMA_HOST = 'http://127.0.0.1:11434';

/**
 * Accepts OLLAMA_HOST the way the Ollama CLI does: `host`, `host:port`, `:port`, or a URL.
 * Without a scheme the port defaults to 11434; with `http://` or `https://` and no port, to 80/443.
 * Returns null when the value cannot be a host.
 */
export function parseOllamaHost(raw: string): string | null {
  const value = raw.trim();
  if (!value) return DEFAULT_OLLAMA_HOST;
  const schemeEnd = value.indexOf('://');
  let scheme = 'http';
  let defaultPort = '11434';
  let rest = value;
  if (schemeEnd >= 0) {
    scheme = value.slice(0, schemeEnd).toLowerCase();
    rest = value.slice(schemeEnd + 3);
    if (scheme === 'http') defaultPort = '80';
    else if (scheme === 'https') defaultPort = '443';
    else return null;
  }
  const slash = rest.indexOf('/');
  const hostPort = slash >= 0 ? rest.slice(0, slash) : rest;
  const pathPart = slash >= 0 ? rest.slice(slash).replace(/\/+$/, '') : '';
  let host = hostPort;
  let port = defaultPort;
  const bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(hostPort);
  if (bracketed) {
    host = `[${bracketed[1]}]`;
    if (bracketed[2]) port = bracketed[2];
  } else if ((hostPort.match(/:/g) ?? []).length === 1) {
    const [h, p] = hostPort.split(':') as [string, string];
    host = h;
    if (p) port = p;
  }
  if (!host) host = '127.0.0.1';
  const portNumber = Number(port);
  if (!/^\d+$/.test(port) || portNumber > 65535) return null;
  if (/\s/.test(host)) return null;
  try {
    const url = new URL(`${scheme}://${host}:${portNumber}${pathPart}`);
    return url.toString().replace(/\/$/, '');
  } catch {
    return null;
  }
}

const booleanSetting = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** Every setting paperbot reads, with its default. Names are the environment variable names. */
export const configSchema = z.object({
  /** Relative values resolve against the working directory; the default lives in the package. */
  PAPERBOT_DATA_DIR: z.string().trim().min(1).default(path.join(PACKAGE_ROOT, 'data', 'var')),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('warn'),
  /** Unset: one human line a problem at warn and quieter levels, JSON lines at info and chattier ones. */
  LOG_FORMAT: z.enum(['text', 'json']).optional(),
  OLLAMA_HOST: z
    .string()
    .default(DEFAULT_OLLAMA_HOST)
    .transform((value, ctx) => {
      const parsed = parseOllamaHost(value);
      if (parsed === null) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a host: use host:port, :port or http://host:port` });
        return z.NEVER;
      }
      return parsed;
    }),
  /**
   * Several Ollama hosts for answers (`http://gpu1:11434,http://gpu2:11434`): each answer goes to
   * the host with the fewest answers in flight; a failing host is left out for
   * OLLAMA_HOST_COOLDOWN_MS. Unset: OLLAMA_HOST alone. Embeddings stay on OLLAMA_HOST.
   */
  OLLAMA_HOSTS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || !value.trim()) return undefined;
      const hosts: string[] = [];
      for (const part of value.split(',').map((host) => host.trim()).filter(Boolean)) {
        const parsed = parseOllamaHost(part);
        if (parsed === null) {
          ctx.addIssue({ code: 'custom', message: `"${part}" is not a host: list hosts as host:port or http://host:port, separated by commas` });
          return z.NEVER;
        }
        if (!hosts.includes(parsed)) hosts.push(parsed);
      }
      return hosts;
    }),
  OLLAMA_HOST_COOLDOWN_MS: positiveInt(30_000),
  OLLAMA_CHAT_MODEL: z.string().trim().min(1).default('llama3.2'),
  OLLAMA_EMBED_MODEL: z.string().trim().min(1).default('nomic-embed-text'),
  OLLAMA_TIMEOUT_MS: positiveInt(60_000),
  OLLAMA_CONNECT_TIMEOUT_MS: positiveInt(1_500),
  /** The whole answer's deadline, from when answering starts (after any wait in the chat queue); past it the text so far is the answer. */
  ANSWER_TIMEOUT_MS: positiveInt(120_000),
  /** The most tokens a model answer may have (Ollama's num_predict); past it the text so far is the answer. */
  OLLAMA_MAX_TOKENS: z.coerce.number().int().min(16).max(131_072).default(1024),
  OLLAMA_TEMPERATURE: z.coerce.number().min(0).max(2).default(0.2),
  /** Fixed seed for repeatable answers; unset for the model's default. */
  OLLAMA_SEED: z.coerce.number().int().optional(),
  EMBEDDER: z.enum(['auto', 'ollama', 'local']).default('auto'),
  /** Dimension of the embedded local embedder's vectors (fitted on SciFact train; see README). */
  LOCAL_EMBED_DIM: z.coerce.number().int().min(64).max(8192).default(2048),
  EMBED_BATCH_SIZE: z.coerce.number().int().min(1).max(1024).default(64),
  RETRIEVAL_MODE: z.enum(['keyword', 'vector', 'hybrid']).default('hybrid'),
  /** Reciprocal rank fusion: score = Σ weight / (RRF_K + rank). Fitted on SciFact train. */
  RRF_K: z.coerce.number().min(1).max(1000).default(10),
  RRF_KEYWORD_WEIGHT: z.coerce.number().min(0).max(10).default(1),
  RRF_VECTOR_WEIGHT: z.coerce.number().min(0).max(10).default(0.3),
  RRF_CANDIDATES: z.coerce.number().int().min(1).max(1000).default(50),
  /** Top keyword candidates scored exactly against their stored vectors, beside HNSW's own hits. */
  RRF_EXACT_CANDIDATES: z.coerce.number().int().min(0).max(1000).default(50),
  HNSW_M: z.coerce.number().int().min(4).max(96).default(16),
  HNSW_EF_CONSTRUCTION: z.coerce.number().int().min(10).max(1000).default(40),
  HNSW_EF_SEARCH: z.coerce.number().int().min(10).max(2000).default(64),
  TOP_K: z.coerce.number().int().min(1).max(50).default(8),
  MAX_QUESTION_CHARS: z.coerce.number().int().min(10).max(100_000).default(2000),
  /** Keyword BM25 parameters: fitted on SciFact train (see README, "Retrieval quality"). */
  BM25_K1: z.coerce.number().positive().max(10).default(1.2),
  BM25_B: z.coerce.number().min(0).max(1).default(0.75),
  BM25_TITLE_WEIGHT: z.coerce.number().min(0).max(20).default(3),
  /**
   * The relevance bands (src/rag/retrieval.ts `decideBand`; README "Relevance bands"), fitted with
   * scripts/fit-bands.ts. Ratio: the top BM25 score over the best the question could reach;
   * evidence: ratio × the question's term count. Band `none` below both minimums; `confident` at
   * either confident level, or at the coverage when both rankings agree on the top paper (above 1:
   * never); `uncertain` in between.
   */
  RELEVANCE_MIN_RATIO: z.coerce.number().min(0).max(1).default(0.16),
  RELEVANCE_MIN_EVIDENCE: z.coerce.number().min(0).max(1000).default(1),
  RELEVANCE_CONFIDENT_RATIO: z.coerce.number().min(0).max(1).default(0.36),
  RELEVANCE_CONFIDENT_EVIDENCE: z.coerce.number().min(0).max(1000).default(3.2),
  RELEVANCE_CONFIDENT_COVERAGE: z.coerce.number().min(0).max(2).default(0.6),
  /** Sentences quoted in an extractive answer, at most (never more than 4, MAX_QUOTES). */
  EXTRACTIVE_SENTENCES: z.coerce.number().int().min(1).max(10).default(4),
  PROGRESS: booleanSetting.optional(),

  /** Chat adapters: questions answered at once (1 suits a local Ollama), and per-user limits. */
  ANSWER_CONCURRENCY: z.coerce.number().int().min(1).max(32).default(1),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).max(1000).default(5),
  DISCORD_TOKEN: z.string().trim().optional(),
  DISCORD_APP_ID: z.string().trim().regex(/^\d+$/, 'a numeric application id').optional(),
  /** REST base handed to discord.js unchanged (it appends /v10); the gateway URL comes from it too. */
  DISCORD_API_BASE: z.string().trim().url().default('https://discord.com/api'),
  /** Follow-ups in threads without a mention; needs the privileged Message Content intent. */
  DISCORD_MESSAGE_CONTENT: booleanSetting.default(false),
  /** Shortest time between two edits of a streaming answer (Discord rate-limits edits). */
  DISCORD_EDIT_INTERVAL_MS: z.coerce.number().int().min(200).max(10_000).default(1000),

  /** Slack: bot token always; an app-level token for Socket Mode, else a signing secret for HTTP. */
  SLACK_BOT_TOKEN: z.string().trim().optional(),
  SLACK_APP_TOKEN: z.string().trim().optional(),
  SLACK_SIGNING_SECRET: z.string().trim().optional(),
  SLACK_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Web API base, used as given (keep its trailing slash); Socket Mode's apps.connections.open goes there too. */
  SLACK_API_URL: z.string().trim().url().default('https://slack.com/api/'),
  SLACK_PRIVATE_DEFAULT: booleanSetting.default(false),
  SLACK_COMMAND_ASK: z.string().trim().regex(/^\/[\w-]+$/, 'a slash command such as /ask').default('/ask'),
  SLACK_COMMAND_SEARCH: z.string().trim().regex(/^\/[\w-]+$/, 'a slash command such as /papers').default('/papers'),
  SLACK_COMMAND_PAPER: z.string().trim().regex(/^\/[\w-]+$/, 'a slash command such as /paper').default('/paper'),
  SLACK_COMMAND_HELP: z.string().trim().regex(/^\/[\w-]+$/, 'a slash command such as /paperbot').default('/paperbot'),
  /** Shortest time between two chat.update calls while an answer streams (Slack allows about one a second). */
  SLACK_EDIT_INTERVAL_MS: z.coerce.number().int().min(200).max(10_000).default(1000),

  /** Daily digest: the targets file (no file, no digest), and where new papers come from. */
  DIGEST_CONFIG: z.string().trim().min(1).default('paperbot.digest.yml'),
  /** Drop folder scanned before each digest; ingested files move to its processed/ folder. Default: <data dir>/inbox. */
  DIGEST_INBOX: z.string().trim().optional(),
  HF_PAPERS_URL: z.string().trim().url().default('https://huggingface.co/api/daily_papers'),
  ARXIV_API_URL: z.string().trim().url().default('http://export.arxiv.org/api/query'),
  /** arXiv asks for one request every 3 s; lower it only for a local test server. */
  ARXIV_REQUEST_INTERVAL_MS: z.coerce.number().int().min(0).max(60_000).default(3000),
  /** How long one request to a paper source may take, and the longest Retry-After honoured on a 429. */
  SOURCE_TIMEOUT_MS: positiveInt(30_000),
  SOURCE_MAX_RETRY_AFTER_MS: z.coerce.number().int().min(0).max(600_000).default(60_000),
  /** A digest covers papers that arrived at most this many days ago (catch-up after downtime included). */
  DIGEST_MAX_AGE_DAYS: z.coerce.number().int().min(1).max(365).default(7),
  /** An ingest adding more papers than this is a bulk import: askable, but never in a digest unless backfilled with --since. */
  BULK_IMPORT_PAPERS: z.coerce.number().int().min(1).default(500),
  /** Ingest: a corpus line (one record) longer than this many bytes is rejected, skipped without being read into memory. */
  MAX_RECORD_BYTES: z.coerce.number().int().min(1024).max(1_073_741_824).default(1_048_576),
  /** Ingest: an abstract longer than this many characters is rejected (titles: 1,000 characters). */
  MAX_ABSTRACT_CHARS: z.coerce.number().int().min(100).max(10_000_000).default(20_000),
  /** How long a writer (ingest, remove, index --rebuild, a digest's gather) waits for another writer's lock on the data directory before it gives up (exit 1). */
  WRITE_LOCK_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  /** How often `serve` checks the paper store for papers another process added or removed, and catches its indexes up. */
  STORE_POLL_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
});

export type Config = z.output<typeof configSchema>;

/** Validates the environment; throws one `config` error listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset" in .env files; let the defaults apply.
  const defined = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const result = configSchema.safeParse(defined);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `  - ${issue.path.join('.') || 'config'}: ${issue.message}`);
    throw new PaperbotError(
      'config',
      `The configuration is invalid:\n${problems.join('\n')}\nFix these settings in your environment or .env (see .env.example).`,
    );
  }
  return result.data;
}
