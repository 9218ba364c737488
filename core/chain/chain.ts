import { LightError } from '../errors/light-error.js';
import type { Exchange } from '../exchange.js';
import { isPhasedHandler, type ChainHandler, type Handler, type PhasedHandler, type RecordFailure } from './handler.js';

/** The end of a chain for one record: the business handler on consume, the wait for the broker's ack on produce. */
export type Terminal = (exchange: Exchange) => void | Promise<void>;

/** What each handler's `beginBatch` returned for one batch, by position in the chain. */
export type BatchScope = readonly unknown[];

type MaybePromise = void | Promise<void>;

interface Stage {
  name: string;
  phased: PhasedHandler | undefined;
  around: Handler | undefined;
}

const NO_SCOPE: BatchScope = [];

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * A composed chain of around and phased handlers. `run` takes a record through every handler to a terminal and
 * back, synchronously for as long as each part returns synchronously: a chain of synchronous phases costs no
 * promise and no microtask per record. Around handlers are supported anywhere; from one on, the record is async.
 */
export class Chain {
  private readonly stages: readonly Stage[];
  /** Positions of the handlers with batch phases, so a batch costs nothing for chains without them. */
  private readonly beginners: readonly number[];
  private readonly enders: readonly number[];
  /** True when every handler is phased (no around handler): the produce side then runs a send call in stages. */
  readonly allPhased: boolean;

  constructor(handlers: readonly ChainHandler[]) {
    if (!Array.isArray(handlers)) throw new TypeError('a chain takes an array of handlers');
    this.stages = handlers.map((handler, index) => {
      if (typeof handler === 'function') return { name: handler.name || `#${index}`, phased: undefined, around: handler };
      if (isPhasedHandler(handler)) return { name: handler.name || `#${index}`, phased: handler, around: undefined };
      throw new TypeError(`chain: handler at index ${index} is neither a function nor an object of phases`);
    });
    this.beginners = this.positions((phased) => phased.beginBatch !== undefined);
    this.enders = this.positions((phased) => phased.endBatch !== undefined);
    this.allPhased = this.stages.every((stage) => stage.phased !== undefined);
  }

  get size(): number {
    return this.stages.length;
  }

  /** Runs every handler's beginBatch in chain order; the scope it gives is passed to run, runBefores, runAfters and endBatch. */
  beginBatch(exchanges: readonly Exchange[]): BatchScope | Promise<BatchScope> {
    if (this.beginners.length === 0) return NO_SCOPE;
    const scope: unknown[] = new Array(this.stages.length);
    for (let k = 0; k < this.beginners.length; k++) {
      const index = this.beginners[k]!;
      const state = this.stages[index]!.phased!.beginBatch!(exchanges);
      if (isThenable(state)) return this.beginBatchAsync(exchanges, scope, k, state);
      scope[index] = state;
    }
    return scope;
  }

  /** Runs every handler's endBatch, in chain order. */
  endBatch(exchanges: readonly Exchange[], scope: BatchScope): MaybePromise {
    for (let k = 0; k < this.enders.length; k++) {
      const index = this.enders[k]!;
      const result = this.stages[index]!.phased!.endBatch!(exchanges, scope[index]);
      if (isThenable(result)) return this.endBatchAsync(exchanges, scope, k, result);
    }
  }

  /** One record through the chain to `terminal` and back. Returns a promise only when some part was async. */
  run(exchange: Exchange, terminal: Terminal, scope: BatchScope = NO_SCOPE): MaybePromise {
    return this.runFrom(exchange, terminal, scope, 0);
  }

  /**
   * Staged running (all-phased chains): every `before` of a record, without its terminal or `after`s; the
   * caller runs one terminal for the batch, then `runAfters` for each record. A failing `before` runs the
   * `after`s of the handlers before it and throws.
   */
  runBefores(exchange: Exchange, scope: BatchScope): MaybePromise {
    const stages = this.stages;
    let i = 0;
    try {
      for (; i < stages.length; i++) {
        const before = stages[i]!.phased!.before;
        if (before === undefined) continue;
        const result = before.call(stages[i]!.phased, exchange, scope[i]);
        if (isThenable(result)) return this.runBeforesAsync(exchange, scope, i, result);
      }
    } catch (error) {
      return this.unwind(exchange, scope, 0, i, { error });
    }
  }

  /** Staged running: every `after` of a record whose befores all ran, with the terminal's failure if it had one. */
  runAfters(exchange: Exchange, scope: BatchScope, failure: RecordFailure | undefined): MaybePromise {
    return this.unwind(exchange, scope, 0, this.stages.length, failure);
  }

  private runFrom(exchange: Exchange, terminal: Terminal, scope: BatchScope, start: number): MaybePromise {
    const stages = this.stages;
    let i = start;
    let result: unknown;
    try {
      for (; i < stages.length; i++) {
        const stage = stages[i]!;
        if (stage.around !== undefined) {
          result = this.callAround(stage, exchange, terminal, scope, i);
          break;
        }
        const before = stage.phased!.before;
        if (before === undefined) continue;
        result = before.call(stage.phased, exchange, scope[i]);
        if (isThenable(result)) return this.continueAfterBefore(exchange, terminal, scope, start, i, result);
      }
      if (i === stages.length) result = terminal(exchange);
    } catch (error) {
      return this.unwind(exchange, scope, start, i, { error });
    }
    // The afters of the phased handlers from `start` up to the around handler (or the end) run once it settled.
    if (isThenable(result)) return this.unwindWhenSettled(exchange, scope, start, i, result);
    return this.unwind(exchange, scope, start, i, undefined);
  }

  private callAround(stage: Stage, exchange: Exchange, terminal: Terminal, scope: BatchScope, index: number): unknown {
    let called = false;
    const next = (): Promise<void> => {
      if (called) return Promise.reject(new LightError('ERR10011', { handler: stage.name }));
      called = true;
      try {
        return Promise.resolve(this.runFrom(exchange, terminal, scope, index + 1));
      } catch (error) {
        return Promise.reject(error);
      }
    };
    return stage.around!(exchange, next);
  }

  private async continueAfterBefore(exchange: Exchange, terminal: Terminal, scope: BatchScope, start: number, index: number, pending: PromiseLike<unknown>): Promise<void> {
    try {
      await pending;
    } catch (error) {
      return this.unwind(exchange, scope, start, index, { error });
    }
    let failure: RecordFailure | undefined;
    try {
      await this.runFrom(exchange, terminal, scope, index + 1);
    } catch (error) {
      failure = { error };
    }
    return this.unwind(exchange, scope, start, index + 1, failure);
  }

  private async runBeforesAsync(exchange: Exchange, scope: BatchScope, index: number, pending: PromiseLike<unknown>): Promise<void> {
    try {
      await pending;
    } catch (error) {
      return this.unwind(exchange, scope, 0, index, { error });
    }
    const stages = this.stages;
    let i = index + 1;
    try {
      for (; i < stages.length; i++) {
        const before = stages[i]!.phased!.before;
        if (before !== undefined) await before.call(stages[i]!.phased, exchange, scope[i]);
      }
    } catch (error) {
      return this.unwind(exchange, scope, 0, i, { error });
    }
  }

  private async unwindWhenSettled(exchange: Exchange, scope: BatchScope, start: number, end: number, pending: PromiseLike<unknown>): Promise<void> {
    let failure: RecordFailure | undefined;
    try {
      await pending;
    } catch (error) {
      failure = { error };
    }
    return this.unwind(exchange, scope, start, end, failure);
  }

  /** The afters of stages [start, end) in reverse order, then the failure (if any) is thrown. */
  private unwind(exchange: Exchange, scope: BatchScope, start: number, end: number, failure: RecordFailure | undefined): MaybePromise {
    const stages = this.stages;
    for (let j = end - 1; j >= start; j--) {
      const after = stages[j]!.phased?.after;
      if (after === undefined) continue;
      let result: unknown;
      try {
        result = after.call(stages[j]!.phased, exchange, failure, scope[j]);
      } catch (error) {
        failure = { error };
        continue;
      }
      if (isThenable(result)) return this.unwindAsync(exchange, scope, start, j, failure, result);
    }
    if (failure !== undefined) throw failure.error;
  }

  private async unwindAsync(exchange: Exchange, scope: BatchScope, start: number, end: number, failure: RecordFailure | undefined, pending: PromiseLike<unknown>): Promise<void> {
    try {
      await pending;
    } catch (error) {
      failure = { error };
    }
    return this.unwind(exchange, scope, start, end, failure);
  }

  private async beginBatchAsync(exchanges: readonly Exchange[], scope: unknown[], from: number, pending: PromiseLike<unknown>): Promise<BatchScope> {
    scope[this.beginners[from]!] = await pending;
    for (let k = from + 1; k < this.beginners.length; k++) {
      const index = this.beginners[k]!;
      scope[index] = await this.stages[index]!.phased!.beginBatch!(exchanges);
    }
    return scope;
  }

  private async endBatchAsync(exchanges: readonly Exchange[], scope: BatchScope, from: number, pending: PromiseLike<unknown>): Promise<void> {
    await pending;
    for (let k = from + 1; k < this.enders.length; k++) {
      const index = this.enders[k]!;
      await this.stages[index]!.phased!.endBatch!(exchanges, scope[index]);
    }
  }

  private positions(has: (phased: PhasedHandler) => boolean): number[] {
    const found: number[] = [];
    this.stages.forEach((stage, index) => {
      if (stage.phased !== undefined && has(stage.phased)) found.push(index);
    });
    return found;
  }
}

/** Runs what may return a promise and waits for it, ignoring a failure (afters rethrow the failure they were given). */
export async function runIgnoringFailure(run: () => void | Promise<void>): Promise<void> {
  try {
    await run();
  } catch {
    // the caller already knows the record failed
  }
}
