/**
 * Builds the real `ollama` client with the timeouts it lacks, and turns its errors into
 * `PaperbotError`s that tell the user what to do. The client carries no abort signal on
 * non-streaming calls, so every request goes through a `fetch` that adds one; streams get an
 * idle watchdog instead (a long answer is fine as long as tokens keep coming).
 */
import { Ollama } from 'ollama';
import { PaperbotError } from '../../errors.ts';

export interface OllamaConnection {
  host: string;
  /** Longest wait for a response, or between two streamed chunks. */
  timeoutMs: number;
}

/** A client whose every request is aborted after `timeoutMs`, or when `signal` aborts. */
export function createOllamaClient(connection: OllamaConnection, signal?: AbortSignal): Ollama {
  const timedFetch: typeof fetch = (input, init) => {
    const signals = [AbortSignal.timeout(connection.timeoutMs)];
    if (init?.signal) signals.push(init.signal);
    if (signal) signals.push(signal);
    return fetch(input, { ...init, signal: AbortSignal.any(signals) });
  };
  return new Ollama({ host: connection.host, fetch: timedFetch });
}

/**
 * A watchdog for streamed responses: `signal` aborts when `touch()` has not been called for
 * `idleMs`. Call `stop()` when the stream ends.
 */
export function idleWatchdog(idleMs: number): { signal: AbortSignal; touch(): void; stop(): void } {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new DOMException(`no response within ${idleMs} ms`, 'TimeoutError')), idleMs);
    timer.unref?.();
  };
  arm();
  return { signal: controller.signal, touch: arm, stop: () => clearTimeout(timer) };
}

function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  while (current && chain.length < 5) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

/** Turns whatever the client threw into a `PaperbotError` with a code and an instruction. */
export function describeOllamaError(error: unknown, host: string, model: string, timeoutMs: number): PaperbotError {
  if (error instanceof PaperbotError) return error;
  const chain = causeChain(error);
  const status = (error as { status_code?: unknown }).status_code;
  if (status === 404) {
    return new PaperbotError('ollama_model_missing', `Ollama has no model "${model}": run \`ollama pull ${model}\`.`, { cause: error });
  }
  if (chain.some((e) => (e as { name?: string }).name === 'TimeoutError')) {
    return new PaperbotError('ollama_timeout', `Ollama at ${host} did not answer within ${Math.round(timeoutMs / 1000)} s (OLLAMA_TIMEOUT_MS=${timeoutMs}).`, { cause: error });
  }
  const code = chain.map((e) => (e as { code?: unknown }).code).find((c) => typeof c === 'string');
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ECONNRESET' || code === 'UND_ERR_CONNECT_TIMEOUT' || (error instanceof TypeError && /fetch failed/.test(error.message))) {
    return new PaperbotError('ollama_unreachable', `Ollama is not reachable at ${host} (${code ?? 'connection failed'}): start it with \`ollama serve\`, or set OLLAMA_HOST.`, { cause: error });
  }
  if (typeof status === 'number') {
    return new PaperbotError('ollama_failed', `Ollama answered with an error (${status}: ${(error as Error).message}).`, { cause: error });
  }
  return new PaperbotError('ollama_failed', `Ollama failed: ${(error as Error).message ?? String(error)}.`, { cause: error });
}

/** The pulled models, or the reason Ollama cannot be used. */
export async function listOllamaModels(connection: OllamaConnection): Promise<{ ok: true; models: string[]; version?: string } | { ok: false; error: PaperbotError }> {
  try {
    const client = createOllamaClient(connection);
    const listed = await client.list();
    const models = Array.isArray(listed?.models) ? listed.models.map((m) => String(m.name ?? m.model ?? '')).filter(Boolean) : [];
    return { ok: true, models };
  } catch (error) {
    return { ok: false, error: describeOllamaError(error, connection.host, '(any)', connection.timeoutMs) };
  }
}

/** True when `model` is among `pulled`, where a name without tag means `:latest`. */
export function hasModel(pulled: readonly string[], model: string): boolean {
  const withTag = (name: string) => (name.includes(':') ? name : `${name}:latest`);
  return pulled.some((name) => withTag(name) === withTag(model));
}
