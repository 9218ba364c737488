import { randomUUID } from 'node:crypto';
import type { Exchange } from '../exchange.js';
import { LightError } from '../errors/light-error.js';
import type { LightConsumer } from '../kafka/consumer.js';
import type { LightProducer } from '../kafka/producer.js';
import type { Logger } from '../logger.js';
import { retryTransient } from '../kafka/transient.js';
import { replyChecker, type Command, type CommandReply, type ReplyChannel } from './envelope.js';

/**
 * Request/reply over Kafka: a command sent to another service's command topic with this instance's reply channel,
 * and its outcome (CommandReply) handed back to the caller that awaits it.
 *
 * Routing: every instance reads the whole reply topic in a consumer group of its own (`<serviceId>-replies-<instance
 * id>`, positioned at the topic's end before the first request) and takes the replies keyed with its instance id;
 * the others skip them. So a reply always reaches the instance that asked while it lives, and a reply for an
 * instance that has gone away is read and skipped by everyone else — nothing waits for it, nothing breaks. The
 * group is deleted when the instance stops (one a crash leaves behind expires with its offsets, the broker's
 * offsets.retention.minutes). Both hops — the command and its reply — run their topic's chains.
 */
export interface CommandRequestsOptions {
  /** The topic the replies come back on (created with the broker's defaults if missing). */
  replyTopic: string;
  /** This instance's id: the key its replies carry (default a new UUID per start). */
  instanceId?: string;
  /** How long request() waits unless a call says otherwise (default 30 s). */
  timeoutMs?: number;
}

export interface CommandRequestsParts {
  serviceId: string;
  producer: LightProducer;
  /** A consumer in group `groupId` over the service's consume chains (the reply topic's chain runs on every reply). */
  createConsumer(groupId: string): LightConsumer;
  admin: { ensureTopic(topic: string): Promise<void>; startGroupAtEnd(groupId: string, topic: string): Promise<void>; deleteGroup(groupId: string): Promise<void> };
  logger: Logger;
}

interface Waiter {
  resolve(reply: CommandReply): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** How long a start keeps trying on transient errors (as LightStreams' start). */
const START_RETRY_MS = 60_000;

export class CommandRequests {
  readonly instanceId: string;
  readonly groupId: string;
  private consumer: LightConsumer | undefined;
  private readonly waiting = new Map<string, Set<Waiter>>();
  private state: 'new' | 'starting' | 'started' | 'stopped' = 'new';
  private readonly replyProblem = replyChecker();

  constructor(
    private readonly parts: CommandRequestsParts,
    private readonly options: CommandRequestsOptions,
  ) {
    this.instanceId = options.instanceId ?? randomUUID();
    this.groupId = `${parts.serviceId}-replies-${this.instanceId}`;
  }

  /** Where this instance's replies come: the reply topic, keyed with the instance id. */
  get replyChannel(): ReplyChannel {
    return { topic: this.options.replyTopic, key: this.instanceId };
  }

  /** The number of requests waiting for their reply. */
  get pending(): number {
    let count = 0;
    for (const waiters of this.waiting.values()) count += waiters.size;
    return count;
  }

  /** Creates the reply topic if needed, positions this instance's group at its end and starts reading replies. */
  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'starting';
    const { replyTopic } = this.options;
    // A reply topic created moments ago may have no leader yet on every broker: transient, tried again.
    await retryTransient(
      async () => {
        await this.parts.admin.ensureTopic(replyTopic);
        await this.parts.admin.startGroupAtEnd(this.groupId, replyTopic);
      },
      START_RETRY_MS,
      (error, attempt, inMs) => this.parts.logger.warn('reply topic not ready yet (a transient Kafka error); trying again', { replyTopic, attempt, inMs, error: (error as Error).message }),
      { cancelled: () => this.state === 'stopped' },
    );
    const consumer = this.parts.createConsumer(this.groupId);
    consumer.handle(replyTopic, (exchange) => this.onReply(exchange));
    this.consumer = consumer;
    await consumer.start();
    this.state = 'started';
    this.parts.logger.info('command requests ready', { replyTopic, instanceId: this.instanceId, groupId: this.groupId });
  }

  /**
   * Sends `command` to `topic` (through its produce chain, in the current request context) with this instance's
   * reply channel, and resolves with its outcome: a CommandReply, accepted (its events' types and versions) or
   * rejected (code and reason). Rejects with ERR12016 when no reply came within `timeoutMs`: the command may still
   * be applied later; sending it again with the same id (commands are idempotent by id) learns its outcome.
   */
  async request(topic: string, command: Command, options: { timeoutMs?: number } = {}): Promise<CommandReply> {
    if (this.state !== 'started') throw new LightError('ERR12017', { replyTopic: this.options.replyTopic, reason: this.state === 'stopped' ? 'the service stopped' : 'the service has not started yet' });
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const reply = new Promise<CommandReply>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.forget(command.id, waiter);
          reject(new LightError('ERR12016', { commandId: command.id, commandType: command.type, topic, timeoutMs }));
        }, timeoutMs),
      };
      let waiters = this.waiting.get(command.id);
      if (!waiters) this.waiting.set(command.id, (waiters = new Set()));
      waiters.add(waiter);
    });
    // The timeout or a stop may reject it while the send is still under way: handled here, awaited below.
    reply.catch(() => undefined);
    try {
      // A command made outside any caller's context names this service as its caller.
      const metadata = command.metadata.callerId ? command.metadata : { ...command.metadata, callerId: this.parts.serviceId };
      await this.parts.producer.send(topic, { key: command.aggregateId, value: { ...command, metadata, replyTo: this.replyChannel } });
    } catch (error) {
      this.settle(command.id, (waiter) => waiter.reject(error as Error));
      throw error;
    }
    return reply;
  }

  /** Stops reading replies; requests still waiting are rejected (ERR12017), the instance's group deleted. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const started = this.state !== 'new';
    this.state = 'stopped';
    for (const id of [...this.waiting.keys()]) {
      this.settle(id, (waiter) => waiter.reject(new LightError('ERR12017', { replyTopic: this.options.replyTopic, reason: `the service stopped before the reply to command ${id} came` })));
    }
    if (!started) return;
    await this.consumer?.stop();
    await this.parts.admin.deleteGroup(this.groupId);
  }

  private onReply(exchange: Exchange): void {
    const key = Buffer.isBuffer(exchange.key) ? exchange.key.toString('utf8') : exchange.key;
    // Another instance's reply (or one for an instance that has gone away): not this instance's to take.
    if (key !== this.instanceId) return;
    const problem = this.replyProblem(exchange.value);
    if (problem) throw new LightError('ERR11019', { kind: 'reply', reason: problem });
    const reply = exchange.value as CommandReply;
    if (!this.settle(reply.commandId, (waiter) => waiter.resolve(reply))) {
      this.parts.logger.debug('a reply came for a request no longer waiting (timed out)', { commandId: reply.commandId, type: reply.type });
    }
  }

  /** Settles and forgets every waiter of a command id; false when none was waiting. */
  private settle(commandId: string, action: (waiter: Waiter) => void): boolean {
    const waiters = this.waiting.get(commandId);
    if (!waiters) return false;
    this.waiting.delete(commandId);
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      action(waiter);
    }
    return true;
  }

  private forget(commandId: string, waiter: Waiter): void {
    const waiters = this.waiting.get(commandId);
    waiters?.delete(waiter);
    if (waiters?.size === 0) this.waiting.delete(commandId);
  }
}
