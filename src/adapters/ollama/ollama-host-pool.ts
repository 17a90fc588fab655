/**
 * `ChatModel` over several Ollama hosts (OLLAMA_HOSTS): each answer goes to the host with the
 * fewest answers in flight (ties: the one used least recently), so a pool of GPU machines shares
 * the load. A host whose call fails before it wrote anything (refused, silent, missing the model,
 * a 5xx) is left out for `cooldownMs` and the answer is tried on the next host; after the
 * cooldown the host is tried again by the next answer (that is its re-probe). A failure after
 * text has been streamed is the answer's failure, as on one host: the core then answers
 * extractively. When every host is out, the one whose cooldown ends first is tried anyway.
 */
import { PaperbotError } from '../../errors.ts';
import type { ChatChunk, ChatModel, ChatRequest } from '../../rag/ports.ts';

export interface PooledHost {
  host: string;
  model: ChatModel;
}

/** What `stats` shows of one host of the pool. */
export interface PooledHostState {
  host: string;
  inFlight: number;
  /** Answers sent to it since start. */
  answered: number;
  /** Set while the host is left out: until when (ISO time) and why. */
  down?: { until: string; reason: string };
}

interface HostSlot extends PooledHost {
  inFlight: number;
  answered: number;
  lastUsed: number;
  downUntil: number;
  reason?: string;
}

/** Failures that say the host cannot answer now (another host may); a bad request would fail everywhere. */
const HOST_FAILURES = new Set(['ollama_unreachable', 'ollama_timeout', 'ollama_failed', 'ollama_model_missing']);

export class OllamaHostPool implements ChatModel {
  readonly mode = 'ollama';
  readonly model: string;
  private readonly slots: HostSlot[];
  private uses = 0;

  constructor(
    hosts: readonly PooledHost[],
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!hosts.length) throw new PaperbotError('config', 'The Ollama host pool needs at least one host (OLLAMA_HOSTS).');
    this.model = hosts[0]!.model.model;
    this.slots = hosts.map((host) => ({ ...host, inFlight: 0, answered: 0, lastUsed: 0, downUntil: 0 }));
  }

  get hosts(): readonly string[] {
    return this.slots.map((slot) => slot.host);
  }

  states(): PooledHostState[] {
    const now = this.now();
    return this.slots.map((slot) => ({
      host: slot.host,
      inFlight: slot.inFlight,
      answered: slot.answered,
      ...(slot.downUntil > now ? { down: { until: new Date(slot.downUntil).toISOString(), reason: slot.reason ?? 'failed' } } : {}),
    }));
  }

  async *stream(request: ChatRequest): AsyncGenerator<ChatChunk> {
    const tried = new Set<HostSlot>();
    for (;;) {
      const slot = this.pick(tried);
      tried.add(slot);
      let wrote = false;
      this.begin(slot);
      try {
        for await (const chunk of slot.model.stream(request)) {
          wrote = true;
          yield chunk;
        }
        return;
      } catch (error) {
        if (wrote || request.signal?.aborted || !this.isHostFailure(error)) throw error;
        this.takeOut(slot, error);
        if (tried.size >= this.slots.length) throw error;
      } finally {
        slot.inFlight -= 1;
      }
    }
  }

  async complete(request: ChatRequest): Promise<string> {
    const tried = new Set<HostSlot>();
    for (;;) {
      const slot = this.pick(tried);
      tried.add(slot);
      this.begin(slot);
      try {
        return await slot.model.complete(request);
      } catch (error) {
        if (request.signal?.aborted || !this.isHostFailure(error)) throw error;
        this.takeOut(slot, error);
        if (tried.size >= this.slots.length) throw error;
      } finally {
        slot.inFlight -= 1;
      }
    }
  }

  /** The host for the next call: not tried yet for it, not out, fewest in flight, least recently used. */
  private pick(tried: ReadonlySet<HostSlot>): HostSlot {
    const now = this.now();
    const untried = this.slots.filter((slot) => !tried.has(slot));
    const up = untried.filter((slot) => slot.downUntil <= now);
    const candidates = up.length ? up : [...untried].sort((a, b) => a.downUntil - b.downUntil).slice(0, 1);
    return candidates.reduce((best, slot) => (slot.inFlight < best.inFlight || (slot.inFlight === best.inFlight && slot.lastUsed < best.lastUsed) ? slot : best));
  }

  private begin(slot: HostSlot): void {
    slot.inFlight += 1;
    slot.answered += 1;
    slot.lastUsed = ++this.uses;
  }

  private isHostFailure(error: unknown): boolean {
    return error instanceof PaperbotError && HOST_FAILURES.has(error.code);
  }

  private takeOut(slot: HostSlot, error: unknown): void {
    slot.downUntil = this.now() + this.cooldownMs;
    slot.reason = error instanceof Error ? error.message : String(error);
  }
}
