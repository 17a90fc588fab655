/**
 * A bounded FIFO queue in front of the chat model. A local Ollama answers one question at a time
 * well and several badly, so every chat platform (Discord, Slack) sends its questions through one
 * `AnswerQueue`: it caps how many run at once, tells waiting askers where they stand, refuses
 * new work when the line is already long, and lets shutdown stop the intake and cancel what is
 * left. It knows nothing of any platform; adapters turn its hooks and errors into messages.
 */
import { PaperbotError } from '../../errors.ts';

/**
 * Rejects a question because too many already wait. The error codes have no "busy"; `internal`
 * is the closest, and the class (not the code) is what adapters switch on.
 */
export class QueueFullError extends PaperbotError {
  constructor() {
    super('internal', 'paperbot is busy: too many questions are already waiting. Please try again in a minute.');
  }
}

/**
 * Rejects a question because paperbot is shutting down: it was asked after `close()`, or it was
 * still waiting when `close({ cancelWaiting: true })` ran or when the grace period ran out. It is
 * also the abort reason that running jobs see on their signal.
 */
export class QueueClosedError extends PaperbotError {
  constructor(message = 'paperbot is shutting down and cannot answer this question. Please ask again once it is back.') {
    super('internal', message);
  }
}

export interface AnswerQueueOptions {
  /** Jobs that may run at once; a positive integer (1 for a local Ollama). */
  concurrency: number;
  /** Jobs that may wait for a free slot; further ones are refused with `QueueFullError`. Default 50. */
  maxWaiting?: number;
}

export interface EnqueueHooks {
  /**
   * Called with the job's 1-based place in the waiting line when it has to wait, and again each
   * time it moves up. Not called for a job that starts at once.
   */
  onPosition?(position: number): void;
  /** Called once, just before the job runs. */
  onStart?(): void;
}

export interface CloseOptions {
  /** Reject the jobs still waiting with `QueueClosedError` at once, instead of running them. */
  cancelWaiting: boolean;
  /**
   * Milliseconds the running (and, without `cancelWaiting`, waiting) jobs get to finish before
   * the running ones are aborted and the waiting ones rejected. 0 aborts at once; `Infinity`
   * never aborts.
   */
  graceMs: number;
}

interface Waiter {
  start(): void;
  fail(error: unknown): void;
  hooks: EnqueueHooks | undefined;
  /** The position last reported through `onPosition`; 0 before the first report. */
  reportedPosition: number;
}

const DEFAULTS = { maxWaiting: 50 } as const satisfies Required<Pick<AnswerQueueOptions, 'maxWaiting'>>;

export class AnswerQueue {
  readonly #concurrency: number;
  readonly #maxWaiting: number;
  readonly #waiting: Waiter[] = [];
  /** Abort controllers of the running jobs, so `close()` can abort them. */
  readonly #running = new Set<AbortController>();
  #closing: Promise<void> | undefined;
  /** Called whenever a job settles or a waiter leaves, while `close()` is waiting for the queue to drain. */
  #onDrainProgress: (() => void) | undefined;

  /** @throws PaperbotError (`config`) when `concurrency` is not a positive integer or `maxWaiting` not a non-negative integer. */
  constructor(options: AnswerQueueOptions) {
    const maxWaiting = options.maxWaiting ?? DEFAULTS.maxWaiting;
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new PaperbotError('config', `ANSWER_CONCURRENCY must be a whole number of at least 1, not ${options.concurrency}.`);
    }
    if (!Number.isInteger(maxWaiting) || maxWaiting < 0) {
      throw new PaperbotError('config', `The answer queue's maxWaiting must be a whole number of at least 0, not ${maxWaiting}.`);
    }
    this.#concurrency = options.concurrency;
    this.#maxWaiting = maxWaiting;
  }

  /** Jobs running now. */
  get running(): number {
    return this.#running.size;
  }

  /** Jobs waiting for a free slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Runs `job` when a slot is free, in the order jobs were enqueued, and settles as it does. The
   * job gets a signal that aborts (with a `QueueClosedError` as reason) when `close()`'s grace
   * period ends; a job that ignores it keeps its slot until it settles.
   *
   * A job that throws or rejects (or whose hook throws) rejects only its own promise; the queue
   * goes on with the next. Rejects at once, without calling `job`, with `QueueFullError` when
   * `maxWaiting` jobs already wait, and with `QueueClosedError` once `close()` has been called.
   */
  enqueue<T>(job: (signal: AbortSignal) => Promise<T>, hooks?: EnqueueHooks): Promise<T> {
    if (this.#closing) return Promise.reject(new QueueClosedError());
    if (this.#waiting.length === 0 && this.#running.size < this.#concurrency) {
      return this.#run(job, hooks);
    }
    if (this.#waiting.length >= this.#maxWaiting) return Promise.reject(new QueueFullError());
    return new Promise<T>((resolve, reject) => {
      this.#waiting.push({
        start: () => this.#run(job, hooks).then(resolve, reject),
        fail: reject,
        hooks,
        reportedPosition: 0,
      });
      this.#reportPositions();
    });
  }

  /**
   * Stops taking jobs: every later `enqueue` rejects with `QueueClosedError`. With
   * `cancelWaiting`, the waiting jobs are rejected with it now; otherwise they keep their turn.
   * After `graceMs` the running jobs' signals abort and any job still waiting is rejected.
   * Resolves once no job runs or waits; never rejects. Calling it again returns the first call's
   * promise (its options win).
   */
  close(options: CloseOptions): Promise<void> {
    this.#closing ??= this.#drain(options);
    return this.#closing;
  }

  async #drain({ cancelWaiting, graceMs }: CloseOptions): Promise<void> {
    const cancelAll = () => {
      this.#rejectWaiting();
      for (const controller of this.#running) controller.abort(new QueueClosedError());
    };
    if (cancelWaiting) this.#rejectWaiting();
    let timer: NodeJS.Timeout | undefined;
    if (graceMs <= 0) cancelAll();
    // setTimeout fires at once for delays it cannot hold (Infinity, > 2^31 - 1 ms): never arm those.
    else if (graceMs <= 2 ** 31 - 1) timer = setTimeout(cancelAll, graceMs);
    try {
      while (this.#running.size > 0 || this.#waiting.length > 0) {
        await new Promise<void>((resolve) => (this.#onDrainProgress = resolve));
      }
    } finally {
      this.#onDrainProgress = undefined;
      clearTimeout(timer);
    }
  }

  #run<T>(job: (signal: AbortSignal) => Promise<T>, hooks: EnqueueHooks | undefined): Promise<T> {
    const controller = new AbortController();
    this.#running.add(controller);
    // An async wrapper turns a hook's or job's synchronous throw into this job's rejection.
    const settled = (async () => {
      hooks?.onStart?.();
      return await job(controller.signal);
    })();
    const next = () => {
      this.#running.delete(controller);
      this.#startWaiting();
      this.#onDrainProgress?.();
    };
    settled.then(next, next);
    return settled;
  }

  #startWaiting(): void {
    let started = false;
    while (this.#running.size < this.#concurrency) {
      const waiter = this.#waiting.shift();
      if (!waiter) break;
      waiter.start();
      started = true;
    }
    if (started) this.#reportPositions();
  }

  #rejectWaiting(): void {
    for (const waiter of this.#waiting.splice(0)) waiter.fail(new QueueClosedError());
    this.#onDrainProgress?.();
  }

  /**
   * Tells each waiter whose place changed where it now stands. A hook that throws rejects its own
   * job, which leaves the line; those behind it move up and are told again.
   */
  #reportPositions(): void {
    for (;;) {
      const failed: { waiter: Waiter; error: unknown }[] = [];
      this.#waiting.forEach((waiter, index) => {
        const position = index + 1;
        if (position === waiter.reportedPosition) return;
        waiter.reportedPosition = position;
        try {
          waiter.hooks?.onPosition?.(position);
        } catch (error) {
          failed.push({ waiter, error });
        }
      });
      if (failed.length === 0) return;
      for (const { waiter, error } of failed) {
        this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
        waiter.fail(error);
      }
      this.#onDrainProgress?.();
    }
  }
}
