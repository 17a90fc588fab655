/**
 * The composition root: the only module that reads the configuration and builds the real
 * adapters. It opens the database once, builds every store, index and model adapter, and hands
 * them to the core's plain constructors. Chat platforms and their libraries (discord.js, Bolt,
 * Slack's Web API) are imported only when a command needs them (`serve`, digest posting), so
 * `ask`, `search`, `ingest` and `stats` start without them.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Bm25IndexFile } from './adapters/bm25/bm25-index.ts';
import { HnswIndexFile } from './adapters/hnswlib/hnsw-vector-index.ts';
import { OllamaChatModel } from './adapters/ollama/ollama-chat-model.ts';
import { hasModel, listOllamaModels, OllamaHostHealth, type OllamaConnection } from './adapters/ollama/ollama-client.ts';
import { OllamaEmbedder } from './adapters/ollama/ollama-embedder.ts';
import { OllamaHostPool } from './adapters/ollama/ollama-host-pool.ts';
import { openSqliteDatabase, type SqliteDatabase } from './adapters/sqlite/sqlite-database.ts';
import { SqliteFeedbackStore } from './adapters/sqlite/sqlite-feedback-store.ts';
import { SqlitePaperStore } from './adapters/sqlite/sqlite-paper-store.ts';
import { FileWriteLock } from './adapters/files/write-lock.ts';
import type { AnswerQueue } from './adapters/chat/answer-queue.ts';
import type { ChatAdapter } from './adapters/chat/chat-session.ts';
import type { RateLimiter } from './adapters/chat/rate-limiter.ts';
import { SHIPPED_CORPUS_DIR, type Config } from './config.ts';
import type { DigestScheduler } from './digest/digest-scheduler.ts';
import type { DigestService, RunOutcome } from './digest/digest-service.ts';
import type { CronCalendar, DigestPublisher, DigestTarget, PaperSource } from './digest/model.ts';
import { PaperbotError } from './errors.ts';
import { PLATFORMS, type Platform } from './platforms.ts';
import { createLogger, type Logger } from './logger.ts';
import { LocalHashedEmbedder } from './rag/embedders/local-hashed-embedder.ts';
import { ExtractiveAnswerer } from './rag/extractive-answerer.ts';
import { GroundedAnswerer } from './rag/grounded-answerer.ts';
import { KeywordIndexManager } from './rag/keyword-index-manager.ts';
import { PaperLibrary } from './rag/library.ts';
import { PaperbotCore, type ModelStatus } from './rag/paperbot-core.ts';
import type { ChatModel, Embedder } from './rag/ports.ts';
import type { Clock, ProgressReporter } from './rag/types.ts';
import { VectorIndexManager, type EmbedderFactory } from './rag/vector-index-manager.ts';

export interface CompositionOptions {
  progress?: ProgressReporter;
  notify?: (message: string) => void;
  logger?: Logger;
  /** Ingest the shipped corpus into an empty store (default true). */
  seed?: boolean;
  /** Overrides PAPERBOT_DATA_DIR (evaluation uses a temporary store). */
  dataDir?: string;
  /** For `index --rebuild`: do not check or build the vector index on open; the rebuild replaces it. */
  rebuilding?: boolean;
  /** The clock every store and service reads (tests inject one). */
  clock?: Clock;
  /** Open without writing anything: no seed, no index saves (`ingest --dry-run`). */
  readOnly?: boolean;
  /** Follow other processes' changes to the store every this many ms (`serve`: STORE_POLL_MS); stopped by `close`. */
  watchStoreMs?: number;
}

/** What the composition root built, for the parts composed on top of the core (digests, chat). */
export interface Paperbot {
  core: PaperbotCore;
  library: PaperLibrary;
  /** The one open database, for the other stores that keep their tables in it (digests). */
  database: SqliteDatabase;
  chatModel: ChatModel;
  clock: Clock;
  logger: Logger;
  close(): void;
}

const LOCAL_WEIGHTS = { word: 1, bigram: 0.3, char: 2 } as const;

/** The files paperbot keeps in its data directory. */
export function dataFiles(dataDir: string): { database: string; keywordIndex: string; vectorIndex: string; writeLock: string } {
  return {
    database: path.join(dataDir, 'papers.sqlite'),
    keywordIndex: path.join(dataDir, 'keyword-index.bin'),
    vectorIndex: path.join(dataDir, 'vector-index.hnsw'),
    writeLock: path.join(dataDir, 'write.lock'),
  };
}
const systemClock: Clock = () => new Date();

function embedderFactory(config: Config, keywords: KeywordIndexManager, logger: Logger, health: OllamaHostHealth): EmbedderFactory {
  const connection: OllamaConnection = { host: config.OLLAMA_HOST, timeoutMs: config.OLLAMA_TIMEOUT_MS, health };
  const probe: OllamaConnection = { host: config.OLLAMA_HOST, timeoutMs: config.OLLAMA_CONNECT_TIMEOUT_MS, timeoutSetting: 'OLLAMA_CONNECT_TIMEOUT_MS', health };
  const model = config.OLLAMA_EMBED_MODEL;
  const local = (dimension: number): Embedder =>
    // idf is read at call time from the live keyword index, which ingest and rebuilds replace.
    new LocalHashedEmbedder({ dimension, idf: (term) => keywords.idf(term), weights: LOCAL_WEIGHTS });
  const localId = local(config.LOCAL_EMBED_DIM).id;

  const connectOllama = async (embedModel: string): Promise<OllamaEmbedder> => {
    const listed = await listOllamaModels(probe);
    if (!listed.ok) throw listed.error;
    if (!hasModel(listed.models, embedModel)) {
      throw new PaperbotError('ollama_model_missing', `Ollama has no model "${embedModel}": run \`ollama pull ${embedModel}\`.`);
    }
    return OllamaEmbedder.connect(connection, embedModel, Math.min(config.EMBED_BATCH_SIZE, 64));
  };

  return {
    wanted: (choice) => (choice === 'ollama' ? { id: `ollama:${model}`, dimension: 0 } : { id: localId, dimension: config.LOCAL_EMBED_DIM }),
    async choose(choice) {
      if (choice === 'local') return { embedder: local(config.LOCAL_EMBED_DIM), reason: 'EMBEDDER=local' };
      if (choice === 'ollama') return { embedder: await connectOllama(model), reason: 'EMBEDDER=ollama' };
      try {
        return { embedder: await connectOllama(model), reason: `Ollama at ${config.OLLAMA_HOST} has ${model}` };
      } catch (error) {
        logger.info({ err: error }, 'Ollama embedder unavailable; using the local embedder');
        const why = error instanceof PaperbotError ? error.message.replace(/[.:]\s.*$/, '') : String(error);
        return {
          embedder: local(config.LOCAL_EMBED_DIM),
          reason: `Ollama cannot embed (${why}); the embedded local embedder needs no server. Once Ollama has ${model}, \`paperbot index --rebuild --embedder ollama\` switches`,
        };
      }
    },
    async recreate(embedderId, dimension) {
      if (embedderId.startsWith('ollama:')) {
        const embedder = await connectOllama(embedderId.slice('ollama:'.length));
        if (embedder.dimension !== dimension) {
          throw new PaperbotError('embedder_mismatch', `${embedderId} now returns ${embedder.dimension} dimensions, but the index holds ${dimension}: run \`paperbot index --rebuild\`.`);
        }
        return embedder;
      }
      if (embedderId !== localId) throw new PaperbotError('embedder_mismatch', `The vector index was built by ${embedderId}, which this paperbot does not have: run \`paperbot index --rebuild\`.`);
      return local(dimension);
    },
  };
}

/**
 * The model that writes answers: Ollama at OLLAMA_HOST, or the pool of OLLAMA_HOSTS (each host
 * with its own health; OLLAMA_HOST's is shared with the embedder when it is in the pool).
 */
function answerModel(config: Config, ollamaHealth: OllamaHostHealth): ChatModel {
  const hosts = config.OLLAMA_HOSTS ?? [config.OLLAMA_HOST];
  const model = (host: string) =>
    new OllamaChatModel({ host, timeoutMs: config.OLLAMA_TIMEOUT_MS, health: host === config.OLLAMA_HOST ? ollamaHealth : new OllamaHostHealth(config.OLLAMA_TIMEOUT_MS) }, config.OLLAMA_CHAT_MODEL);
  if (hosts.length === 1) return model(hosts[0]!);
  return new OllamaHostPool(hosts.map((host) => ({ host, model: model(host) })), config.OLLAMA_HOST_COOLDOWN_MS);
}

async function modelStatus(config: Config, pool?: OllamaHostPool): Promise<ModelStatus> {
  const probe = (host: string) => listOllamaModels({ host, timeoutMs: config.OLLAMA_CONNECT_TIMEOUT_MS, timeoutSetting: 'OLLAMA_CONNECT_TIMEOUT_MS' });
  const [listed, pooled] = await Promise.all([probe(config.OLLAMA_HOST), pool ? Promise.all(pool.hosts.map(probe)) : Promise.resolve(undefined)]);
  const timeouts = { OLLAMA_CONNECT_TIMEOUT_MS: config.OLLAMA_CONNECT_TIMEOUT_MS, OLLAMA_TIMEOUT_MS: config.OLLAMA_TIMEOUT_MS };
  const answerHosts =
    pool && pooled
      ? pool.states().map((state, i) => {
          const result = pooled[i]!;
          return {
            ...state,
            reachable: result.ok,
            hasChatModel: result.ok && hasModel(result.models, config.OLLAMA_CHAT_MODEL),
            ...(result.ok ? {} : { error: result.error.message }),
          };
        })
      : undefined;
  const base = { chatModel: config.OLLAMA_CHAT_MODEL, embedModel: config.OLLAMA_EMBED_MODEL, ollamaHost: config.OLLAMA_HOST, timeouts, ...(answerHosts ? { answerHosts } : {}) };
  if (!listed.ok) return { ...base, ollama: { reachable: false, models: [], hasChatModel: false, hasEmbedModel: false, error: listed.error.message } };
  return {
    ...base,
    ollama: { reachable: true, models: listed.models, hasChatModel: hasModel(listed.models, config.OLLAMA_CHAT_MODEL), hasEmbedModel: hasModel(listed.models, config.OLLAMA_EMBED_MODEL) },
  };
}

/** Opens the data directory and builds the core with every store, index and model adapter. */
export async function openPaperbot(config: Config, options: CompositionOptions = {}): Promise<Paperbot> {
  const logger = options.logger ?? createLogger(config.LOG_LEVEL, { format: config.LOG_FORMAT, noticesShown: options.notify !== undefined });
  const clock = options.clock ?? systemClock;
  const dataDir = options.dataDir ?? path.resolve(config.PAPERBOT_DATA_DIR);
  const feedback = { ...(options.progress ? { progress: options.progress } : {}), ...(options.notify ? { notify: options.notify } : {}), logger };
  const files = dataFiles(dataDir);
  // One per process and host: a silent Ollama costs one timeout, not one per call (embedding, then chat).
  const ollamaHealth = new OllamaHostHealth(config.OLLAMA_TIMEOUT_MS);
  // Read-only (a dry run) creates nothing: no data directory, no database file; with no
  // database yet, an empty one in memory stands in, so every record reads as new.
  if (!options.readOnly) ensureDataDir(dataDir);
  const database = !options.readOnly
    ? openSqliteDatabase(files.database)
    : existsSync(files.database)
      ? openSqliteDatabase(files.database, { readOnly: true })
      : openSqliteDatabase(':memory:');
  try {
    const store = new SqlitePaperStore(database, clock);
    const chatLog = new SqliteFeedbackStore(database, clock);
    const keywords = new KeywordIndexManager(store, new Bm25IndexFile(files.keywordIndex, { k1: config.BM25_K1, b: config.BM25_B, titleWeight: config.BM25_TITLE_WEIGHT }), feedback);
    // Read-only opens need no vector index (a dry run compares records with the store only) and
    // must not build one.
    const vectors =
      config.RETRIEVAL_MODE === 'keyword' || options.readOnly
        ? null
        : new VectorIndexManager(
            store,
            new HnswIndexFile(files.vectorIndex, { m: config.HNSW_M, efConstruction: config.HNSW_EF_CONSTRUCTION, efSearch: config.HNSW_EF_SEARCH }, clock),
            embedderFactory(config, keywords, logger, ollamaHealth),
            { choice: config.EMBEDDER, batchSize: config.EMBED_BATCH_SIZE, ...(options.rebuilding ? { allowEmbedderChange: true } : {}), ...feedback },
          );
    const library = new PaperLibrary({
      dataDir,
      store,
      keywords,
      vectors,
      shippedCorpusDir: options.seed === false ? null : SHIPPED_CORPUS_DIR,
      clock,
      bulkImportPapers: config.BULK_IMPORT_PAPERS,
      corpusLimits: { maxRecordBytes: config.MAX_RECORD_BYTES, maxAbstractChars: config.MAX_ABSTRACT_CHARS },
      writeLock: new FileWriteLock(files.writeLock, { timeoutMs: config.WRITE_LOCK_TIMEOUT_MS, ...feedback }),
      ...(options.readOnly ? { readOnly: true } : {}),
      ...feedback,
    });
    await library.open();
    if (options.watchStoreMs !== undefined) library.watchStore(options.watchStoreMs);
    const chatModel = answerModel(config, ollamaHealth);
    const core = new PaperbotCore({
      library,
      answerer: new GroundedAnswerer(chatModel, {
        temperature: config.OLLAMA_TEMPERATURE,
        ...(config.OLLAMA_SEED === undefined ? {} : { seed: config.OLLAMA_SEED }),
        maxSources: config.TOP_K,
        timeoutMs: config.ANSWER_TIMEOUT_MS,
        maxTokens: config.OLLAMA_MAX_TOKENS,
        logger,
      }),
      // idf is read at call time: ingest or a rebuild may replace the keyword index.
      extractive: new ExtractiveAnswerer({ sentences: config.EXTRACTIVE_SENTENCES, maxPapers: 3, minRelativeScore: 0.5, idf: (term) => keywords.idf(term) }),
      conversations: chatLog,
      answerLog: chatLog,
      logger,
      modelStatus: () => modelStatus(config, chatModel instanceof OllamaHostPool ? chatModel : undefined),
      settings: {
        topK: config.TOP_K,
        maxQuestionChars: config.MAX_QUESTION_CHARS,
        bands: {
          minRatio: config.RELEVANCE_MIN_RATIO,
          minEvidence: config.RELEVANCE_MIN_EVIDENCE,
          confidentRatio: config.RELEVANCE_CONFIDENT_RATIO,
          confidentEvidence: config.RELEVANCE_CONFIDENT_EVIDENCE,
          confidentCoverage: config.RELEVANCE_CONFIDENT_COVERAGE,
        },
        retrievalMode: config.RETRIEVAL_MODE,
        embedderChoice: config.EMBEDDER,
        fusion: { k: config.RRF_K, keywordWeight: config.RRF_KEYWORD_WEIGHT, vectorWeight: config.RRF_VECTOR_WEIGHT, candidates: config.RRF_CANDIDATES, exactCandidates: config.RRF_EXACT_CANDIDATES },
      },
    });
    return { core, library, database, chatModel, clock, logger, close: () => core.close() };
  } catch (error) {
    database.close();
    throw error;
  }
}

/** The core alone, for commands and tests that need nothing composed on top of it. */
export async function createPaperbot(config: Config, options: CompositionOptions = {}): Promise<PaperbotCore> {
  return (await openPaperbot(config, options)).core;
}

/** The chat adapters' shared parts: one queue in front of the model, one per-user rate limit. */
async function createChatServices(config: Config): Promise<{ queue: AnswerQueue; limiter: RateLimiter }> {
  const [{ AnswerQueue }, { RateLimiter }] = await Promise.all([import('./adapters/chat/answer-queue.ts'), import('./adapters/chat/rate-limiter.ts')]);
  return {
    // ANSWER_CONCURRENCY is per Ollama host: a pool of hosts answers that many each at once.
    queue: new AnswerQueue({ concurrency: config.ANSWER_CONCURRENCY * (config.OLLAMA_HOSTS?.length ?? 1) }),
    limiter: new RateLimiter({ limit: config.RATE_LIMIT_PER_MINUTE, windowMs: 60_000 }),
  };
}

/**
 * Throws a `config` error naming each target whose platform is not configured, and the setting
 * to set. Serve checks every target at start; `digest --now` checks the one it posts.
 */
export function checkDigestPlatforms(config: Config, targets: readonly DigestTarget[]): void {
  const missing = targets.filter((target) => !config[PLATFORMS[target.platform].tokenSetting]);
  if (!missing.length) return;
  const lines = missing.map((t) => `  - digest target "${t.name}" posts to ${PLATFORMS[t.platform].displayName}, but ${PLATFORMS[t.platform].tokenSetting} is not set`);
  throw new PaperbotError('config', `Digest targets cannot post:\n${lines.join('\n')}\nSet the missing settings (see .env.example), or remove those targets from ${config.DIGEST_CONFIG}.`);
}

// The digest's parts (cron, YAML, live sources) load only for the commands that run digests,
// so `ask` and `search` start without them.
let calendar: CronCalendar | undefined;
async function cronCalendar(): Promise<CronCalendar> {
  const { CronerCalendar } = await import('./adapters/croner/croner-calendar.ts');
  return (calendar ??= new CronerCalendar());
}

/** The targets in DIGEST_CONFIG, or null when that file does not exist; a broken file is a `config` error. */
export async function readDigestTargets(config: Config): Promise<DigestTarget[] | null> {
  const { loadDigestTargets } = await import('./adapters/yaml/digest-config-file.ts');
  return loadDigestTargets(path.resolve(config.DIGEST_CONFIG), await cronCalendar());
}

/** Runs the digest targets on their cron schedules beside the bots. */
export async function createDigestScheduler(service: DigestService, logger: Logger, onOutcome: (outcome: RunOutcome) => void): Promise<DigestScheduler> {
  const { DigestScheduler } = await import('./digest/digest-scheduler.ts');
  return new DigestScheduler(service, await cronCalendar(), logger, onOutcome);
}

export interface DigestParts {
  service: DigestService;
  /** The targets file that was read. */
  file: string;
}

/**
 * Loads a chat adapter module, whose vendor package (discord.js, Bolt) may be missing from a
 * trimmed install: then the user learns which package to install, not a stack trace.
 */
async function loadChatModule<T>(load: () => Promise<T>, packageName: string, setting: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' || !String((error as Error).message).includes(packageName)) throw error;
    throw new PaperbotError('config', `${setting} is set, but ${packageName} is not installed: run \`npm install\` in paperbot's folder (or unset ${setting}).`, { cause: error });
  }
}

/** The digest publisher of a platform, its chat library loaded only now. */
async function createPublisher(platform: Platform, config: Config, logger: Logger): Promise<DigestPublisher | undefined> {
  if (platform === 'slack' && config.SLACK_BOT_TOKEN) {
    const { SlackDigestPublisher } = await loadChatModule(() => import('./adapters/slack/slack-digest-publisher.ts'), '@slack/web-api', 'SLACK_BOT_TOKEN');
    return new SlackDigestPublisher({ token: config.SLACK_BOT_TOKEN, apiUrl: config.SLACK_API_URL, logger });
  }
  if (platform === 'discord' && config.DISCORD_TOKEN) {
    const { DiscordDigestPublisher } = await loadChatModule(() => import('./adapters/discord/discord-digest-publisher.ts'), 'discord.js', 'DISCORD_TOKEN');
    return new DiscordDigestPublisher({ token: config.DISCORD_TOKEN, apiBase: config.DISCORD_API_BASE, logger });
  }
  return undefined;
}

/**
 * The digest runner for the targets in DIGEST_CONFIG, or null when that file does not exist.
 * Live sources are built only when a target lists them; publishers only for configured
 * platforms that a target posts to.
 */
export async function createDigest(
  config: Config,
  paperbot: Paperbot,
  options: { owner?: { id: string; isAlive: (owner: string) => boolean } } = {},
): Promise<DigestParts | null> {
  const file = path.resolve(config.DIGEST_CONFIG);
  const targets = await readDigestTargets(config);
  if (!targets) return null;
  const [{ DigestService }, { ModelSummarizer }, { SqliteDigestStore }, { FsInboxSource }] = await Promise.all([
    import('./digest/digest-service.ts'),
    import('./digest/model-summarizer.ts'),
    import('./adapters/sqlite/sqlite-digest-store.ts'),
    import('./adapters/sources/fs-inbox-source.ts'),
  ]);
  const { logger, clock, library } = paperbot;
  const publishers: Partial<Record<Platform, DigestPublisher>> = {};
  for (const platform of new Set(targets.map((target) => target.platform))) {
    const publisher = await createPublisher(platform, config, logger);
    if (publisher) publishers[platform] = publisher;
  }
  const listed = new Set(targets.flatMap((t) => t.sources));
  const sourcePolicy = { timeoutMs: config.SOURCE_TIMEOUT_MS, maxRetryAfterMs: config.SOURCE_MAX_RETRY_AFTER_MS, logger };
  const sources: Partial<Record<PaperSource['name'], PaperSource>> = {};
  if (listed.has('huggingface')) {
    const { HuggingFaceDailyPapersSource } = await import('./adapters/sources/huggingface-source.ts');
    sources.huggingface = new HuggingFaceDailyPapersSource({ url: config.HF_PAPERS_URL, maxDays: config.DIGEST_MAX_AGE_DAYS, ...sourcePolicy });
  }
  if (listed.has('arxiv')) {
    const { ArxivApiSource } = await import('./adapters/sources/arxiv-source.ts');
    sources.arxiv = new ArxivApiSource({ url: config.ARXIV_API_URL, intervalMs: config.ARXIV_REQUEST_INTERVAL_MS, ...sourcePolicy });
  }
  const listCommand = (target: DigestTarget) => `\`paperbot digest --list --target ${target.name}\``;
  const service = new DigestService({
    library,
    store: new SqliteDigestStore(paperbot.database),
    targets,
    publishers,
    sources,
    inbox: new FsInboxSource({ dir: config.DIGEST_INBOX ? path.resolve(config.DIGEST_INBOX) : path.join(library.dataDir, 'inbox'), clock, logger }),
    summarizer: new ModelSummarizer(paperbot.chatModel, config.OLLAMA_SEED === undefined ? {} : { seed: config.OLLAMA_SEED }),
    calendar: await cronCalendar(),
    clock,
    ...(options.owner ? { owner: options.owner } : {}),
    logger,
    settings: {
      maxAgeDays: config.DIGEST_MAX_AGE_DAYS,
      claimLeaseMs: 15 * 60 * 1000,
      moreHint: (target) => `Search them with ${PLATFORMS[target.platform].searchUsage(config)}, or list them all with ${listCommand(target)} on paperbot's machine.`,
    },
  });
  return { service, file };
}

/**
 * The chat adapters `serve` runs: one per configured platform, sharing one answer queue and one
 * rate limit. `notes` are one-line remarks for the operator (a Slack that only posts digests).
 */
export async function createChatAdapters(config: Config, paperbot: Paperbot, digest: DigestService | null): Promise<{ adapters: ChatAdapter[]; notes: string[] }> {
  const { core, logger } = paperbot;
  const services = await createChatServices(config);
  const adapters: ChatAdapter[] = [];
  const notes: string[] = [];
  const discord = await createDiscordBot(config, core, services, logger, digest);
  if (discord) adapters.push(discord);
  // A Slack digest only needs the bot token; answering questions needs Socket Mode or HTTP too.
  const postOnly = Boolean(digest && config.SLACK_BOT_TOKEN && !config.SLACK_APP_TOKEN && !config.SLACK_SIGNING_SECRET && digest.targets.some((t) => t.platform === 'slack'));
  const slack = postOnly ? null : await createSlackBot(config, core, services, logger, digest);
  if (slack) adapters.push(slack);
  if (postOnly) notes.push('slack: posting digests only (set SLACK_APP_TOKEN or SLACK_SIGNING_SECRET to answer questions too)');
  return { adapters, notes };
}

/** The Discord bot, or null when Discord is not configured (DISCORD_TOKEN unset); discord.js is loaded only then. */
async function createDiscordBot(config: Config, core: PaperbotCore, services: { queue: AnswerQueue; limiter: RateLimiter }, logger: Logger, digest?: DigestService | null) {
  if (!config.DISCORD_TOKEN) return null;
  const { DiscordBot } = await loadChatModule(() => import('./adapters/discord/discord-bot.ts'), 'discord.js', 'DISCORD_TOKEN');
  return new DiscordBot(core, {
    ...(digest ? { digestPreview: (request) => digest.chatPreview(request) } : {}),
    token: config.DISCORD_TOKEN,
    apiBase: config.DISCORD_API_BASE,
    messageContent: config.DISCORD_MESSAGE_CONTENT,
    editIntervalMs: config.DISCORD_EDIT_INTERVAL_MS,
    queue: services.queue,
    limiter: services.limiter,
    logger,
  });
}

/** The Slack bot, or null when Slack is not configured (SLACK_BOT_TOKEN unset); Bolt is loaded only then. */
async function createSlackBot(config: Config, core: PaperbotCore, services: { queue: AnswerQueue; limiter: RateLimiter }, logger: Logger, digest?: DigestService | null) {
  if (!config.SLACK_BOT_TOKEN) return null;
  if (!config.SLACK_APP_TOKEN && !config.SLACK_SIGNING_SECRET) {
    throw new PaperbotError('config', 'SLACK_BOT_TOKEN is set, but neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP mode) is: set one of them.');
  }
  const { SlackBot } = await loadChatModule(() => import('./adapters/slack/slack-bot.ts'), '@slack/', 'SLACK_BOT_TOKEN');
  return new SlackBot(core, {
    ...(digest ? { digestPreview: (request) => digest.chatPreview(request) } : {}),
    botToken: config.SLACK_BOT_TOKEN,
    ...(config.SLACK_APP_TOKEN ? { appToken: config.SLACK_APP_TOKEN } : {}),
    ...(config.SLACK_SIGNING_SECRET ? { signingSecret: config.SLACK_SIGNING_SECRET } : {}),
    port: config.SLACK_PORT ?? config.PORT ?? 3000,
    apiUrl: config.SLACK_API_URL,
    privateDefault: config.SLACK_PRIVATE_DEFAULT,
    commands: { ask: config.SLACK_COMMAND_ASK, search: config.SLACK_COMMAND_SEARCH, paper: config.SLACK_COMMAND_PAPER, help: config.SLACK_COMMAND_HELP },
    editIntervalMs: config.SLACK_EDIT_INTERVAL_MS,
    queue: services.queue,
    limiter: services.limiter,
    logger,
  });
}

function ensureDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true });
    if (!statSync(dataDir).isDirectory()) throw new Error('it is not a directory');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOTDIR' || (error as NodeJS.ErrnoException).code === 'EEXIST'
      ? 'a file is in the way (a directory is needed there)'
      : (error as Error).message;
    throw new PaperbotError('data_dir', `Cannot create the data directory ${dataDir}: ${reason}. Set PAPERBOT_DATA_DIR to a directory paperbot can write to.`, { cause: error });
  }
}
