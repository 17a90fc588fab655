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
  /** The setting `timeoutMs` comes from, named in the timeout message (default OLLAMA_TIMEOUT_MS). */
  timeoutSetting?: string;
  /** Shared by every adapter on this host, so one silent server costs one timeout, not one per call. */
  health?: OllamaHostHealth;
}

/**
 * What paperbot knows of one Ollama host across calls: once a call timed out (the server accepts
 * connections but does not answer, or a connect never completes), the calls made in the next
 * `cooldownMs` are refused at once with the same code, instead of each waiting its own timeout
 * (the question's embedding, then its answer). A refused connection is not remembered: it fails
 * in milliseconds anyway, and `ollama serve` should help the very next question. Any success,
 * and the end of the cooldown, make the host worth trying again.
 */
export class OllamaHostHealth {
  private down: { until: number; since: number; error: PaperbotError } | undefined;

  constructor(
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws the remembered failure while the host is in its cooldown. */
  check(): void {
    const down = this.down;
    if (!down) return;
    const now = this.now();
    if (now >= down.until) {
      this.down = undefined;
      return;
    }
    const ago = Math.max(1, Math.round((now - down.since) / 1000));
    const retry = Math.max(1, Math.round((down.until - now) / 1000));
    throw new PaperbotError(down.error.code, `${down.error.message} That was ${ago} s ago; paperbot tries it again in ${retry} s.`, { cause: down.error });
  }

  /** Records the outcome of a call: a timeout starts the cooldown, a success ends it. */
  record(outcome: PaperbotError | 'ok'): void {
    if (outcome === 'ok') {
      this.down = undefined;
      return;
    }
    if (!isTimeout(outcome)) return;
    const now = this.now();
    this.down = { since: now, until: now + this.cooldownMs, error: outcome };
  }
}

function isTimeout(error: PaperbotError): boolean {
  if (error.code === 'ollama_timeout') return true;
  // A connect that never completes (a host that drops packets) costs as much as a silent server.
  return error.code === 'ollama_unreachable' && causeChain(error).some((e) => (e as { code?: unknown }).code === 'UND_ERR_CONNECT_TIMEOUT');
}

/**
 * Runs one call to Ollama: refused at once while the host is in its cooldown (unless `check` is
 * false: the next chunk of a stream already flowing), its failure turned into a `PaperbotError`
 * and remembered. An abort by `signal` (the caller's) is passed on as it
 * is and says nothing about the host.
 */
export async function callOllama<T>(connection: OllamaConnection, model: string, signal: AbortSignal | undefined, call: () => Promise<T>, options: { check?: boolean } = {}): Promise<T> {
  if (options.check !== false) connection.health?.check();
  try {
    const result = await call();
    connection.health?.record('ok');
    return result;
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    const described = describeOllamaError(error, connection.host, model, connection.timeoutMs, connection.timeoutSetting);
    connection.health?.record(described);
    throw described;
  }
}

/** A client whose every request is aborted after `timeoutMs`, or when `signal` aborts. */
export function createOllamaClient(connection: OllamaConnection, signal?: AbortSignal): Ollama {
  const timedFetch: typeof fetch = (input, init) => {
    const signals = [AbortSignal.timeout(connection.timeoutMs)];
    if (init?.signal) signals.push(init.signal);
    if (signal) signals.push(signal);
    const streamed = typeof init?.body === 'string' && /"stream":\s*true/.test(init.body);
    return fetch(input, { ...init, signal: AbortSignal.any(signals) }).then((response) => (streamed ? checkedStream(response) : response));
  };
  return new Ollama({ host: connection.host, fetch: timedFetch });
}

/**
 * The client prints each streamed line that is not JSON with `console.warn` and skips it. The
 * lines are checked here first: the first one that is not JSON becomes an `{"error": …}` line,
 * which the client throws as the stream's error, and the stream ends there.
 */
function checkedStream(response: Response): Response {
  if (!response.ok || !response.body) return response;
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let pending = '';
  let broken = false;
  const pass = (line: string, controller: TransformStreamDefaultController<Uint8Array>) => {
    if (broken || !line.trim()) return;
    try {
      JSON.parse(line);
      controller.enqueue(encoder.encode(`${line}\n`));
    } catch {
      broken = true;
      const shown = line.length > 60 ? `${line.slice(0, 60)}…` : line;
      controller.enqueue(encoder.encode(`${JSON.stringify({ error: `Ollama sent a line that is not JSON (${JSON.stringify(shown)})` })}\n`));
      controller.terminate();
    }
  };
  const body = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        const lines = (pending + decoder.decode(chunk, { stream: true })).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) pass(line, controller);
      },
      flush(controller) {
        pass(pending + decoder.decode(), controller);
      },
    }),
  );
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
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
export function describeOllamaError(error: unknown, host: string, model: string, timeoutMs: number, timeoutSetting = 'OLLAMA_TIMEOUT_MS'): PaperbotError {
  if (error instanceof PaperbotError) return error;
  const chain = causeChain(error);
  const status = (error as { status_code?: unknown }).status_code;
  if (status === 404) {
    return new PaperbotError('ollama_model_missing', `Ollama has no model "${model}": run \`ollama pull ${model}\`.`, { cause: error });
  }
  if (chain.some((e) => (e as { name?: string }).name === 'TimeoutError')) {
    return new PaperbotError('ollama_timeout', `Ollama at ${host} did not answer within ${timeoutMs < 10_000 ? timeoutMs / 1000 : Math.round(timeoutMs / 1000)} s (${timeoutSetting}=${timeoutMs}).`, { cause: error });
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
    const listed = await callOllama(connection, '(any)', undefined, () => createOllamaClient(connection).list());
    const models = Array.isArray(listed?.models) ? listed.models.map((m) => String(m.name ?? m.model ?? '')).filter(Boolean) : [];
    return { ok: true, models };
  } catch (error) {
    return { ok: false, error: describeOllamaError(error, connection.host, '(any)', connection.timeoutMs, connection.timeoutSetting) };
  }
}

/** True when `model` is among `pulled`, where a name without tag means `:latest`. */
export function hasModel(pulled: readonly string[], model: string): boolean {
  const withTag = (name: string) => (name.includes(':') ? name : `${name}:latest`);
  return pulled.some((name) => withTag(name) === withTag(model));
}
