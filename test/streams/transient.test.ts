import { expect } from 'chai';
import kafkajs from 'kafkajs';
import { LightError } from '../../core/errors/light-error.js';
import { isPermanent, isTransient, retryTransient } from '../../core/kafka/transient.js';

// kafkajs's own error types, as its clients throw them (its protocol error for code 3 is UNKNOWN_TOPIC_OR_PARTITION).
const { KafkaJSProtocolError, KafkaJSNumberOfRetriesExceeded, KafkaJSNonRetriableError, KafkaJSTimeout } = kafkajs as unknown as {
  KafkaJSTimeout: new (message: string) => Error;
  KafkaJSProtocolError: new (e: { type: string; code: number; retriable: boolean; message: string }) => Error;
  KafkaJSNumberOfRetriesExceeded: new (e: Error, meta: { retryCount: number; retryTime: number }) => Error;
  KafkaJSNonRetriableError: new (e: Error | string, options?: { cause?: Error }) => Error;
};
const notHosted = (): Error => new KafkaJSProtocolError({ type: 'UNKNOWN_TOPIC_OR_PARTITION', code: 3, retriable: true, message: 'This server does not host this topic-partition' });

describe('streams start on a cluster whose metadata is not everywhere yet', () => {
  it('takes "does not host this topic-partition", no leader and leaders not seen in time as transient, also wrapped; a configuration error is not', () => {
    expect(isTransient(notHosted())).to.equal(true);
    expect(isTransient(new KafkaJSNumberOfRetriesExceeded(notHosted(), { retryCount: 5, retryTime: 100 }))).to.equal(true);
    expect(isTransient(new Error('ERR12004 Cannot connect to Kafka', { cause: notHosted() }))).to.equal(true);
    expect(isTransient(new Error('There is no leader for this topic-partition as we are in the middle of a leadership election'))).to.equal(true);
    // createTopics on a loaded cluster: the topics were created, their leaders not seen within the timeout.
    expect(isTransient(new KafkaJSTimeout('Timed out while waiting for topic leaders'))).to.equal(true);
    expect(isTransient(new KafkaJSNonRetriableError('Topic authorization failed'))).to.equal(false);
    expect(isTransient(new Error('ERR12012 LightStreams: source topic x does not exist'))).to.equal(false);
  });

  it('takes access refused, a refused transaction timeout and configuration errors as permanent, also wrapped; a transient error is not', () => {
    const timeout = new KafkaJSProtocolError({ type: 'INVALID_TRANSACTION_TIMEOUT', code: 50, retriable: false, message: 'The transaction timeout is larger than the maximum value allowed by the broker' });
    expect(isPermanent(timeout)).to.equal(true);
    // Wrapped as the streams wrap a task's failure (ERR12011, marked retriable) and as kafkajs' retrier gives up on it.
    expect(isPermanent(LightError.wrap(new KafkaJSNonRetriableError(timeout, { cause: timeout }), 'ERR12011', { task: 'count-0' }))).to.equal(true);
    // librdkafka's error objects: the protocol code, and its name in `type` only on the KafkaJS-compatible API.
    expect(isPermanent(Object.assign(new Error('Transactional Id authorization failed'), { code: 53 }))).to.equal(true);
    expect(isPermanent(Object.assign(new Error('Topic authorization failed'), { type: 'TOPIC_AUTHORIZATION_FAILED' }))).to.equal(true);
    expect(isPermanent(new LightError('ERR13001', { file: 'kafka-streams.yml', key: 'state.dir', reason: 'is not a folder' }))).to.equal(true);
    expect(isPermanent(notHosted())).to.equal(false);
    expect(isPermanent(new Error('ENOENT: no such file or directory'))).to.equal(false);
    expect(isPermanent(Object.assign(new Error('Local: Timed out'), { code: -185 }))).to.equal(false);
  });

  it('retries a transient failure until it passes, and gives up on any other at once', async () => {
    let calls = 0;
    const retries: number[] = [];
    const result = await retryTransient(
      async () => {
        calls++;
        if (calls < 3) throw notHosted();
        return 'started';
      },
      10_000,
      (_error, attempt) => retries.push(attempt),
    );
    expect(result).to.equal('started');
    expect(retries).to.deep.equal([1, 2]);

    let tries = 0;
    const failure = await retryTransient(async () => {
      tries++;
      throw new Error('ERR12012 LightStreams: source topic x does not exist');
    }, 10_000, () => undefined).catch((error: Error) => error);
    expect(failure).to.be.instanceOf(Error).with.property('message').that.matches(/ERR12012/);
    expect(tries).to.equal(1);
  });

  it('stops retrying once its time is up and throws the last error', async () => {
    let retries = 0;
    const failure = await retryTransient(async () => Promise.reject(notHosted()), 300, () => retries++).catch((error: Error) => error);
    expect(failure).to.have.property('message', 'This server does not host this topic-partition');
    // Retried (after 250 ms, maybe once more), then given up past the 300 ms instead of trying for ever.
    expect(retries).to.be.within(1, 2);
  });
});
