import { afterEach, describe, expect, it, vi } from 'vitest';
import { AnswerQueue, QueueClosedError, QueueFullError } from '../src/adapters/chat/answer-queue.ts';
import { PaperbotError } from '../src/errors.ts';

/** A promise settled from outside (Promise.withResolvers needs Node 22). */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets the queue's promise callbacks run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A job that records its start, then waits until the test releases it; it honours its signal. */
function gatedJob<T>(value: T, log: { started: T[] }) {
  const gate = deferred();
  let signal: AbortSignal | undefined;
  const job = async (s: AbortSignal): Promise<T> => {
    signal = s;
    log.started.push(value);
    await new Promise<void>((resolve, reject) => {
      gate.promise.then(resolve, reject);
      s.addEventListener('abort', () => reject(s.reason as Error), { once: true });
    });
    return value;
  };
  return { job, release: () => gate.resolve(), signal: () => signal };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('AnswerQueue', () => {
  it('never runs more than `concurrency` jobs at once, but does use them all', async () => {
    const queue = new AnswerQueue({ concurrency: 2 });
    let active = 0;
    let maxActive = 0;
    const job = (n: number) => async () => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      await new Promise((resolve) => setTimeout(resolve, 5 + (n % 3) * 5));
      active -= 1;
      return n;
    };
    const results = await Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => queue.enqueue(job(n))));
    expect(results).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(maxActive).toBe(2);
    expect(queue.running).toBe(0);
    expect(queue.waiting).toBe(0);
  });

  it('starts jobs in the order they were enqueued', async () => {
    const queue = new AnswerQueue({ concurrency: 1 });
    const order: string[] = [];
    const jobs = ['a', 'b', 'c', 'd'].map((name) =>
      queue.enqueue(async () => {
        order.push(name);
        await flush();
        return name;
      }),
    );
    expect(await Promise.all(jobs)).toEqual(['a', 'b', 'c', 'd']);
    expect(order).toEqual(['a', 'b', 'c', 'd']);
  });

  it('reports waiting positions and updates them as jobs move up', async () => {
    const queue = new AnswerQueue({ concurrency: 1 });
    const log = { started: [] as string[] };
    const a = gatedJob('a', log);
    const b = gatedJob('b', log);
    const c = gatedJob('c', log);
    const positions: Record<string, number[]> = { a: [], b: [], c: [] };
    const starts: string[] = [];
    const hooks = (name: 'a' | 'b' | 'c') => ({
      onPosition: (position: number) => positions[name]?.push(position),
      onStart: () => starts.push(name),
    });

    const pa = queue.enqueue(a.job, hooks('a'));
    const pb = queue.enqueue(b.job, hooks('b'));
    const pc = queue.enqueue(c.job, hooks('c'));
    expect(positions).toEqual({ a: [], b: [1], c: [2] });
    expect(starts).toEqual(['a']);
    expect(queue.running).toBe(1);
    expect(queue.waiting).toBe(2);

    a.release();
    await pa;
    await flush();
    expect(positions).toEqual({ a: [], b: [1], c: [2, 1] });
    expect(starts).toEqual(['a', 'b']);
    expect(queue.waiting).toBe(1);

    b.release();
    c.release();
    expect(await Promise.all([pb, pc])).toEqual(['b', 'c']);
    expect(positions.c).toEqual([2, 1]); // starting is reported by onStart, not as position 0
    expect(starts).toEqual(['a', 'b', 'c']);
  });

  it('a failing job rejects only its own promise and the next job still runs', async () => {
    const queue = new AnswerQueue({ concurrency: 1 });
    const boom = new Error('model crashed');
    const failing = queue.enqueue(async () => {
      throw boom;
    });
    const throwsSynchronously = queue.enqueue((() => {
      throw new Error('sync throw');
    }) as () => Promise<never>);
    const next = queue.enqueue(async () => 'still answering');
    await expect(failing).rejects.toBe(boom);
    await expect(throwsSynchronously).rejects.toThrow('sync throw');
    await expect(next).resolves.toBe('still answering');
    expect(queue.running).toBe(0);
  });

  it('an onStart hook that throws rejects only its own job and frees its slot', async () => {
    const queue = new AnswerQueue({ concurrency: 1 });
    const failingJob = vi.fn(async () => 'never');
    const failing = queue.enqueue(failingJob, {
      onStart: () => {
        throw new Error('could not post the typing indicator');
      },
    });
    const next = queue.enqueue(async () => 'next');
    await expect(failing).rejects.toThrow('typing indicator');
    await expect(next).resolves.toBe('next');
    expect(failingJob).not.toHaveBeenCalled();
    expect(queue.running).toBe(0);
  });

  it('an onPosition hook that throws removes its job from the line', async () => {
    const queue = new AnswerQueue({ concurrency: 1 });
    const log = { started: [] as string[] };
    const a = gatedJob('a', log);
    const pa = queue.enqueue(a.job);
    const bJob = vi.fn(async () => 'b');
    const pb = queue.enqueue(bJob, {
      onPosition: () => {
        throw new Error('channel deleted');
      },
    });
    const cPositions: number[] = [];
    const pc = queue.enqueue(async () => 'c', { onPosition: (p) => cPositions.push(p) });
    await expect(pb).rejects.toThrow('channel deleted');
    expect(cPositions).toEqual([1]);
    expect(queue.waiting).toBe(1);
    a.release();
    await expect(pa).resolves.toBe('a');
    await expect(pc).resolves.toBe('c');
    expect(bJob).not.toHaveBeenCalled();
  });

  it('refuses at once with QueueFullError when maxWaiting jobs already wait', async () => {
    const queue = new AnswerQueue({ concurrency: 1, maxWaiting: 2 });
    const log = { started: [] as string[] };
    const a = gatedJob('a', log);
    const pa = queue.enqueue(a.job);
    const pb = queue.enqueue(async () => 'b');
    const pc = queue.enqueue(async () => 'c');
    const overflowJob = vi.fn(async () => 'd');
    const onPosition = vi.fn();

    // Rejects while `a` is still running: nobody waits for a slot to learn the line is full.
    const error = await queue.enqueue(overflowJob, { onPosition }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    expect(error).toBeInstanceOf(PaperbotError);
    expect((error as PaperbotError).code).toBe('internal');
    expect((error as Error).message).toMatch(/try again in a minute/);
    expect(queue.running).toBe(1);
    expect(queue.waiting).toBe(2);
    expect(log.started).toEqual(['a']);

    a.release();
    expect(await Promise.all([pa, pb, pc])).toEqual(['a', 'b', 'c']);
    expect(overflowJob).not.toHaveBeenCalled();
    expect(onPosition).not.toHaveBeenCalled();
  });

  it('with maxWaiting 0 nothing waits: a job beyond the running ones is refused', async () => {
    const queue = new AnswerQueue({ concurrency: 1, maxWaiting: 0 });
    const log = { started: [] as string[] };
    const a = gatedJob('a', log);
    const pa = queue.enqueue(a.job);
    await expect(queue.enqueue(async () => 'b')).rejects.toBeInstanceOf(QueueFullError);
    a.release();
    await pa;
    await expect(queue.enqueue(async () => 'c')).resolves.toBe('c');
  });

  it('close({ cancelWaiting: true }) rejects waiting jobs now and aborts running ones after graceMs', async () => {
    vi.useFakeTimers();
    const queue = new AnswerQueue({ concurrency: 1 });
    const log = { started: [] as string[] };
    const a = gatedJob('a', log);
    const pa = queue.enqueue(a.job);
    const waitingJob = vi.fn(async () => 'b');
    const pb = queue.enqueue(waitingJob);
    let closed = false;

    const closing = queue.close({ cancelWaiting: true, graceMs: 1_000 }).then(() => (closed = true));
    await expect(pb).rejects.toBeInstanceOf(QueueClosedError);
    expect(queue.waiting).toBe(0);

    await vi.advanceTimersByTimeAsync(999);
    expect(a.signal()?.aborted).toBe(false);
    expect(closed).toBe(false);

    const outcomeA = pa.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1);
    expect(a.signal()?.aborted).toBe(true);
    expect(a.signal()?.reason).toBeInstanceOf(QueueClosedError);
    expect(await outcomeA).toBeInstanceOf(QueueClosedError);
    await closing;
    expect(closed).toBe(true);
    expect(queue.running).toBe(0);
    expect(waitingJob).not.toHaveBeenCalled();
  });

  it('close() waits for a running job that ignores its signal', async () => {
    vi.useFakeTimers();
    const queue = new AnswerQueue({ concurrency: 1 });
    const gate = deferred<string>();
    let signal: AbortSignal | undefined;
    const pa = queue.enqueue((s) => {
      signal = s;
      return gate.promise;
    });
    let closed = false;
    const closing = queue.close({ cancelWaiting: true, graceMs: 0 }).then(() => (closed = true));
    expect(signal?.aborted).toBe(true); // graceMs 0 aborts at once
    await vi.advanceTimersByTimeAsync(10_000);
    expect(closed).toBe(false);
    expect(queue.running).toBe(1);
    gate.resolve('done anyway');
    await expect(pa).resolves.toBe('done anyway');
    await closing;
    expect(closed).toBe(true);
  });

  it('close() lets jobs that finish within the grace period finish, and clears its timer', async () => {
    vi.useFakeTimers();
    const queue = new AnswerQueue({ concurrency: 1 });
    const log = { started: [] as string[] };
    const a = gatedJob('a', log);
    const pa = queue.enqueue(a.job);
    const pb = queue.enqueue(async () => 'b');
    const closing = queue.close({ cancelWaiting: false, graceMs: 5_000 });

    await vi.advanceTimersByTimeAsync(100);
    a.release();
    expect(await Promise.all([pa, pb])).toEqual(['a', 'b']); // the waiting job kept its turn
    await closing;
    expect(a.signal()?.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close({ cancelWaiting: false }) rejects jobs still waiting when the grace period ends', async () => {
    vi.useFakeTimers();
    const queue = new AnswerQueue({ concurrency: 1 });
    const log = { started: [] as string[] };
    const a = gatedJob('a', log);
    const pa = queue.enqueue(a.job);
    const pb = queue.enqueue(async () => 'b');
    // Both reject while the clock advances: catch them now so neither rejection goes unhandled.
    const outcomes = Promise.all([pa.catch((e: unknown) => e), pb.catch((e: unknown) => e)]);
    const closing = queue.close({ cancelWaiting: false, graceMs: 500 });
    await vi.advanceTimersByTimeAsync(499);
    expect(queue.waiting).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    const [errorA, errorB] = await outcomes;
    expect(errorA).toBeInstanceOf(QueueClosedError);
    expect(errorB).toBeInstanceOf(QueueClosedError);
    await closing;
    expect(log.started).toEqual(['a']);
  });

  it('enqueue after close rejects with QueueClosedError without running the job', async () => {
    const queue = new AnswerQueue({ concurrency: 2 });
    const first = queue.close({ cancelWaiting: true, graceMs: 0 });
    expect(queue.close({ cancelWaiting: false, graceMs: 10 })).toBe(first);
    await first;
    const job = vi.fn(async () => 'late');
    const error = await queue.enqueue(job).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueClosedError);
    expect((error as PaperbotError).code).toBe('internal');
    expect((error as Error).message).toMatch(/shutting down/);
    expect(job).not.toHaveBeenCalled();
  });

  it('never arms a timer for an unbounded grace period', async () => {
    vi.useFakeTimers();
    const queue = new AnswerQueue({ concurrency: 1 });
    const log = { started: [] as string[] };
    const a = gatedJob('a', log);
    const pa = queue.enqueue(a.job);
    const closing = queue.close({ cancelWaiting: true, graceMs: Infinity });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(a.signal()?.aborted).toBe(false);
    a.release();
    await expect(pa).resolves.toBe('a');
    await closing;
  });

  it('rejects impossible options', () => {
    for (const concurrency of [0, -1, 1.5, Number.NaN]) {
      expect(() => new AnswerQueue({ concurrency }), String(concurrency)).toThrow(PaperbotError);
    }
    expect(() => new AnswerQueue({ concurrency: 1, maxWaiting: -1 })).toThrow(/maxWaiting/);
    expect(new AnswerQueue({ concurrency: 3, maxWaiting: 0 }).running).toBe(0);
  });
});
