import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A Kafka error that passes with time (metadata not yet on every broker, a leader being elected): kafkajs and
 * librdkafka mark them retriable, here or in a cause; the few kafkajs gives up on are known by their message.
 */
export function isTransient(error: unknown): boolean {
  for (const candidate of causeChain(error) as Iterable<{ retriable?: boolean; message?: string }>) {
    if (candidate.retriable === true) return true;
    // kafkajs's createTopics times out waiting for leaders on a loaded cluster (KafkaJSTimeout, not retriable)
    // although the topics were created: the next attempt finds them and goes on.
    if (/does not host this topic-partition|leader not available|not the leader|There is no leader|waiting for topic leaders/i.test(candidate.message ?? '')) return true;
  }
  return false;
}

/** An error and its causes (`cause`, or kafkajs' `originalError`), at most five deep. */
function* causeChain(error: unknown): Generator<object> {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    yield current;
    const { cause, originalError } = current as { cause?: unknown; originalError?: unknown };
    current = cause ?? originalError;
  }
}

/**
 * Runs `attempt` until it succeeds; a transient error is tried again after 250 ms, 500 ms, ... (at most 2 s) until
 * `forMs` have passed, then thrown; any other error is thrown at once. `options.wait` waits between attempts (a wait
 * a stop can cut short), `options.cancelled` ends the retries (the last error is thrown).
 */
export async function retryTransient<T>(
  attempt: () => Promise<T>,
  forMs: number,
  onRetry: (error: unknown, attempt: number, inMs: number) => void,
  options: { wait?: (ms: number) => Promise<void>; cancelled?: () => boolean } = {},
): Promise<T> {
  const deadline = Date.now() + forMs;
  const wait = options.wait ?? ((ms: number) => sleep(ms));
  for (let count = 1; ; count++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isTransient(error) || Date.now() >= deadline || options.cancelled?.()) throw error;
      const waitMs = Math.min(2000, 250 * count);
      onRetry(error, count, waitMs);
      await wait(waitMs);
      if (options.cancelled?.()) throw error;
    }
  }
}

/**
 * Kafka errors no retry heals — access refused, a setting the broker refuses, a request it does not support — by
 * protocol code (kafkajs' `code`; librdkafka's positive codes are the same) or kafkajs' `type`.
 */
const PERMANENT_KAFKA_ERRORS = new Map<number, string>([
  [29, 'TOPIC_AUTHORIZATION_FAILED'],
  [30, 'GROUP_AUTHORIZATION_FAILED'],
  [31, 'CLUSTER_AUTHORIZATION_FAILED'],
  [35, 'UNSUPPORTED_VERSION'],
  [50, 'INVALID_TRANSACTION_TIMEOUT'],
  [53, 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'],
  [58, 'SASL_AUTHENTICATION_FAILED'],
]);
const PERMANENT_KAFKA_TYPES = new Set(PERMANENT_KAFKA_ERRORS.values());

/**
 * An error that trying again cannot heal: one of the Kafka errors above, or a configuration error (ERR13xxx), here or
 * in a cause. A wrapper marked retriable does not hide a permanent cause.
 */
export function isPermanent(error: unknown): boolean {
  for (const candidate of causeChain(error) as Iterable<{ code?: unknown; type?: unknown }>) {
    if (typeof candidate.code === 'number' && PERMANENT_KAFKA_ERRORS.has(candidate.code)) return true;
    if (typeof candidate.type === 'string' && PERMANENT_KAFKA_TYPES.has(candidate.type)) return true;
    if (typeof candidate.code === 'string' && /^ERR13\d{3}$/.test(candidate.code)) return true;
  }
  return false;
}
