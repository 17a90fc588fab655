/**
 * The one HTTP GET both live paper sources make: a timeout per attempt, bounded retries on 429
 * after the server's `Retry-After`, and every failure turned into a short `SourceFailure` reason
 * the digest footer can show (`HTTP 500`, `timed out after 20 s`). Parsing stays with the sources.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { SourceFailure } from '../../digest/model.ts';

export const SOURCE_USER_AGENT = 'paperbot/0.1 (digest)';

export interface FetchPolicy {
  /** Longest wait for one attempt, headers and body together. */
  timeoutMs: number;
  /** 429 retries after the first attempt (default 2). */
  maxRetries?: number;
  /** A 429 asking to wait longer than this fails at once instead (default 60 000). */
  maxRetryAfterMs?: number;
  /** The source's human name, for `SourceFailure`. */
  sourceLabel: string;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /**
   * Awaited before every attempt, retries included, outside the attempt's timeout: where a
   * source that must space its requests (arXiv: one every 3 s) waits its turn.
   */
  beforeAttempt?: () => Promise<void>;
  /** Waits before a retry; injectable so tests can record waits. Must honour `signal`. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const DEFAULT_MAX_RETRIES = 2;
const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;
/** Used when a 429 names no wait at all. */
const DEFAULT_RETRY_AFTER_MS = 1_000;

/** A duration as people read it in a footer: `20 s`, `0.2 s`. */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/**
 * How long a 429 asks us to wait: `Retry-After` as seconds or an HTTP date, else the `t=` of the
 * IETF `RateLimit` header (Hugging Face sends that one), else one second.
 */
export function retryAfterMs(headers: Headers, now = Date.now()): number {
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+(?:\.\d+)?$/.test(retryAfter)) return Math.round(Number(retryAfter) * 1000);
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  const reset = /(?:^|[;,\s])t=(\d+)/.exec(headers.get('ratelimit') ?? '');
  if (reset?.[1]) return Number(reset[1]) * 1000;
  return DEFAULT_RETRY_AFTER_MS;
}

/** The first string `code` along an error's cause chain (`ECONNREFUSED`, `UND_ERR_SOCKET`). */
function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, undefined, signal ? { signal } : {});
}

/**
 * GETs `url` and resolves with the body text of a 2xx response. Rejects with a `SourceFailure`
 * naming the timeout, the connection error, the HTTP status, or the 429 that could not be waited
 * out within the bounds.
 */
export async function fetchWithPolicy(url: string, policy: FetchPolicy): Promise<string> {
  const label = policy.sourceLabel;
  const maxRetries = policy.maxRetries ?? DEFAULT_MAX_RETRIES;
  const maxRetryAfterMs = policy.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS;
  const doFetch = policy.fetch ?? fetch;
  const sleep = policy.sleep ?? defaultSleep;

  for (let attempt = 0; ; attempt++) {
    if (policy.beforeAttempt) {
      try {
        await policy.beforeAttempt();
      } catch (error) {
        throw new SourceFailure(label, 'cancelled', { cause: error });
      }
    }
    const timeout = AbortSignal.timeout(policy.timeoutMs);
    const signal = policy.signal ? AbortSignal.any([timeout, policy.signal]) : timeout;
    let response: Response;
    let body: string;
    try {
      response = await doFetch(url, {
        headers: { 'user-agent': SOURCE_USER_AGENT, accept: '*/*', ...policy.headers },
        signal,
      });
      // The body is read under the same signal: a server that sends headers and then stalls times out too.
      body = await response.text();
    } catch (error) {
      throw describeFetchError(error, label, policy, timeout);
    }

    if (response.status === 429) {
      const waitMs = retryAfterMs(response.headers);
      if (attempt >= maxRetries || waitMs > maxRetryAfterMs) {
        throw new SourceFailure(label, `rate-limited (HTTP 429); retry after ${formatSeconds(waitMs)}`);
      }
      try {
        await sleep(waitMs, policy.signal);
      } catch (error) {
        throw new SourceFailure(label, 'cancelled', { cause: error });
      }
      continue;
    }
    if (!response.ok) {
      throw new SourceFailure(label, `HTTP ${response.status}`);
    }
    return body;
  }
}

function describeFetchError(error: unknown, label: string, policy: FetchPolicy, timeout: AbortSignal): SourceFailure {
  if (error instanceof SourceFailure) return error;
  if (policy.signal?.aborted) return new SourceFailure(label, 'cancelled', { cause: error });
  if (timeout.aborted) return new SourceFailure(label, `timed out after ${formatSeconds(policy.timeoutMs)}`, { cause: error });
  const code = errorCode(error);
  if (code && CONNECT_CODES.has(code)) return new SourceFailure(label, `could not connect (${code})`, { cause: error });
  return new SourceFailure(label, `connection failed (${code ?? (error instanceof Error ? error.message : String(error))})`, { cause: error });
}
