import { expect } from 'chai';
import { Chain } from '../../core/chain/chain.js';
import type { ConsumeRoute } from '../../core/chain/consume-chains.js';
import type { Handler } from '../../core/chain/handler.js';
import { LightError } from '../../core/errors/light-error.js';
import { PROPAGATED_HEADERS, RecordHeaders } from '../../core/headers.js';
import type { ConsumedRecord, DeadLetterInput, DeadLetterWriter } from '../../core/kafka/dead-letter.js';
import { RecordProcessor, type FailurePolicy } from '../../core/kafka/record-processor.js';
import { createLogger } from '../../core/logger.js';
import { currentContext } from '../../core/request-context.js';

/** Retry, dead letter and stop policy on fakes: a chain that fails as told, a dead-letter writer that records. */
class RecordingDeadLetters implements DeadLetterWriter {
  readonly written: DeadLetterInput[] = [];
  failWith: Error | undefined;
  async write(input: DeadLetterInput): Promise<string> {
    if (this.failWith) throw this.failWith;
    this.written.push(input);
    return `${input.record.topic}.dlq`;
  }
}

const POLICY: FailurePolicy = { failurePolicy: 'deadLetter', deadLetterEnabled: true, maxRetries: 2, retryDelayMs: 1, retryBackoffMultiplier: 2, maxRetryDelayMs: 5 };

function record(): ConsumedRecord {
  return {
    topic: 'orders',
    partition: 3,
    offset: '17',
    timestamp: '1700000000000',
    key: Buffer.from('k1'),
    value: Buffer.from('{"n":1}'),
    headers: RecordHeaders.from({ 'X-Correlation-Id': 'c-1', 'x-extra': 'e', 'x-tag': ['a', 'b'] }),
  };
}

function processor(policy: Partial<FailurePolicy> = {}, deadLetters = new RecordingDeadLetters(), propagated: readonly string[] = PROPAGATED_HEADERS, waits: number[] = []) {
  const instance = new RecordProcessor({
    sleep: async (ms: number) => void waits.push(ms),
    policy: { ...POLICY, ...policy },
    deadLetters,
    groupId: 'group-a',
    propagatedHeaders: propagated,
    logger: createLogger({ level: 'silent' }),
  });
  return { instance, deadLetters };
}

/** The fake chain as a route whose business handler does nothing. */
const route = (handler: Handler): ConsumeRoute => ({ chain: new Chain([handler]), terminal: () => undefined });

const running = { isRunning: () => true, heartbeat: async () => undefined };

/** A chain that throws `errors[n]` on attempt n (undefined: succeeds), counting attempts. */
function failing(...errors: (unknown | undefined)[]): Handler & { attempts: number } {
  const chain = Object.assign(
    async function fakeChain(): Promise<void> {
      const error = errors[chain.attempts];
      chain.attempts += 1;
      if (error !== undefined) throw error;
    },
    { attempts: 0 },
  );
  return chain;
}

describe('record processor (retry, dead letter, stop policy)', () => {
  it('processes a record whose chain succeeds, once, inside a request context holding the propagated headers only', async () => {
    const { instance, deadLetters } = processor({}, undefined, [...PROPAGATED_HEADERS, 'x-extra']);
    let seen: string[] = [];
    let group: string | undefined;
    const outcome = await instance.process(record(), route(async (exchange) => {
      seen = currentContext()!.headers.names();
      group = exchange.consumerGroup;
    }), running);
    expect(outcome).to.deep.equal({ kind: 'processed', attempts: 1 });
    expect(seen).to.have.members(['X-Correlation-Id', 'x-extra']);
    expect(group).to.equal('group-a');
    expect(deadLetters.written).to.have.length(0);
  });

  it('retries a retryable failure and succeeds without a dead letter', async () => {
    const chain = failing(new Error('flaky'), undefined);
    const { instance, deadLetters } = processor();
    const outcome = await instance.process(record(), route(chain), running);
    expect(outcome).to.deep.equal({ kind: 'processed', attempts: 2 });
    expect(chain.attempts).to.equal(2);
    expect(deadLetters.written).to.have.length(0);
  });

  it('gives each attempt a fresh exchange: what a failed attempt changed is gone', async () => {
    const { instance } = processor();
    const tags: string[][] = [];
    let attempt = 0;
    await instance.process(record(), route(async (exchange) => {
      tags.push(exchange.headers.getAll('x-tag'));
      exchange.headers.add('x-tag', 'changed');
      attempt += 1;
      if (attempt === 1) throw new Error('once');
    }), running);
    expect(tags).to.deep.equal([['a', 'b'], ['a', 'b']]);
  });

  it('dead-letters after maxRetries + 1 attempts with the original record, the error and the attempt count', async () => {
    const error = new Error('always');
    const chain = failing(error, error, error, error);
    const { instance, deadLetters } = processor();
    const outcome = await instance.process(record(), route(chain), running);
    expect(chain.attempts).to.equal(3);
    expect(outcome).to.include({ kind: 'deadLettered', attempts: 3, deadLetterTopic: 'orders.dlq' });
    expect(deadLetters.written).to.have.length(1);
    const [written] = deadLetters.written;
    expect(written!.error).to.equal(error);
    expect(written!.attempts).to.equal(3);
    expect(written!.groupId).to.equal('group-a');
    expect(written!.record.offset).to.equal('17');
    expect(written!.record.headers.getAll('x-tag')).to.deep.equal(['a', 'b']);
  });

  it('does not retry a non-retryable LightError (security, validation): one attempt, then the dead letter', async () => {
    const chain = failing(new LightError('ERR11004', { field: 'value', topic: 'orders', reason: 'bad' }));
    const { instance, deadLetters } = processor();
    const outcome = await instance.process(record(), route(chain), running);
    expect(chain.attempts).to.equal(1);
    expect(outcome).to.include({ kind: 'deadLettered', attempts: 1 });
    expect((deadLetters.written[0]!.error as LightError).code).to.equal('ERR11004');
  });

  it('retries a retryable LightError (registry unreachable) like any other failure', async () => {
    const unavailable = new LightError('ERR11013', { url: 'http://registry', reason: 'down' });
    const chain = failing(unavailable, unavailable, undefined);
    const { instance } = processor();
    expect(await instance.process(record(), route(chain), running)).to.deep.equal({ kind: 'processed', attempts: 3 });
  });

  it('with failurePolicy stop, or the dead letter disabled, stops instead of writing', async () => {
    for (const policy of [{ failurePolicy: 'stop' as const }, { deadLetterEnabled: false }]) {
      const error = new Error('poison');
      const { instance, deadLetters } = processor({ ...policy, maxRetries: 0 });
      const outcome = await instance.process(record(), route(failing(error)), running);
      expect(outcome).to.deep.equal({ kind: 'stopped', attempts: 1, error });
      expect(deadLetters.written).to.have.length(0);
    }
  });

  it('a dead-letter write that fails propagates, so the offset is not committed and the record comes again', async () => {
    const deadLetters = new RecordingDeadLetters();
    deadLetters.failWith = new LightError('ERR12002', { topic: 'orders', partition: 3, offset: '17', deadLetterTopic: 'orders.dlq', reason: 'too large' });
    const { instance } = processor({ maxRetries: 0 }, deadLetters);
    const result = await instance.process(record(), route(failing(new Error('x'))), running).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect((result as LightError).code).to.equal('ERR12002');
  });

  it('is interrupted, writing nothing, when the consumer stops between attempts', async () => {
    let runningNow = true;
    const control = { isRunning: () => runningNow, heartbeat: async () => undefined };
    const chain = failing(new Error('first'), new Error('second'));
    const { instance, deadLetters } = processor({ retryDelayMs: 1 });
    const pending = instance.process(record(), route(async (exchange, next) => {
      runningNow = false; // the stop arrives while the first attempt runs
      await chain(exchange, next);
    }), control);
    expect(await pending).to.deep.equal({ kind: 'interrupted' });
    expect(deadLetters.written).to.have.length(0);
  });

  it('backs off retryDelayMs * multiplier^(n-1), capped at maxRetryDelayMs, heartbeating while it waits', async () => {
    let heartbeats = 0;
    const control = { isRunning: () => true, heartbeat: async () => void (heartbeats += 1) };
    const waits: number[] = [];
    const { instance } = processor({ maxRetries: 4, retryDelayMs: 10, retryBackoffMultiplier: 3, maxRetryDelayMs: 2500 }, undefined, PROPAGATED_HEADERS, waits);
    await instance.process(record(), route(failing(new Error('a'), new Error('b'), new Error('c'), new Error('d'), undefined)), control);
    // 10, 30, 90, 270 ms; a wait over a second would be cut in slices of 1000 ms, each followed by a heartbeat.
    expect(waits).to.deep.equal([10, 30, 90, 270]);
    expect(heartbeats).to.equal(4);
  });

  it('cuts a long backoff in slices of at most a second and caps it at maxRetryDelayMs', async () => {
    let heartbeats = 0;
    const control = { isRunning: () => true, heartbeat: async () => void (heartbeats += 1) };
    const waits: number[] = [];
    const { instance } = processor({ maxRetries: 2, retryDelayMs: 1500, retryBackoffMultiplier: 2, maxRetryDelayMs: 2500 }, undefined, PROPAGATED_HEADERS, waits);
    await instance.process(record(), route(failing(new Error('a'), new Error('b'), undefined)), control);
    expect(waits).to.deep.equal([1000, 500, 1000, 1000, 500]);
    expect(heartbeats).to.equal(5);
  });
});
