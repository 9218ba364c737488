/**
 * The consumer group protocol of a test run: TEST_GROUP_PROTOCOL=consumer runs the tests' LightConsumer and
 * LightStreams groups on KIP-848's consumer protocol (librdkafka and a Kafka 4 broker; `npm run test:kip848` runs the
 * fault tests so), anything else on the classic protocol.
 */
export type GroupProtocol = 'classic' | 'consumer';

export function testGroupProtocol(): GroupProtocol {
  if (process.env.TEST_GROUP_PROTOCOL !== 'consumer') return 'classic';
  if (process.env.SERVICE_TRANSPORT !== 'librdkafka') throw new Error('TEST_GROUP_PROTOCOL=consumer needs SERVICE_TRANSPORT=librdkafka: kafkajs speaks the classic group protocol only');
  return 'consumer';
}

/**
 * A group's timing lines for kafka-consumer.yml (prefix '') or kafka-streams.yml (prefix 'consumer.'), two spaces in:
 * session timeout and heartbeat on the classic protocol; on the consumer protocol the broker sets both (the local
 * launcher: 10 s and 1 s), so the line that selects the protocol instead.
 */
export function groupTimingLines(sessionTimeoutMs: number, heartbeatMs: number, prefix = '', protocol: GroupProtocol = testGroupProtocol()): string {
  if (protocol === 'consumer') return `  ${prefix}group.protocol: consumer\n`;
  return `  ${prefix}session.timeout.ms: ${sessionTimeoutMs}\n  ${prefix}heartbeat.interval.ms: ${heartbeatMs}\n`;
}

/** How long a silent member stays in its group: its session timeout, or the launcher broker's 10 s on the consumer protocol. */
export function effectiveSessionTimeoutMs(sessionTimeoutMs: number, protocol: GroupProtocol = testGroupProtocol()): number {
  return protocol === 'consumer' ? 10_000 : sessionTimeoutMs;
}

/** A group as librdkafka's admin describes it (it reads groups of both protocols; kafkajs only classic ones). */
export interface GroupView {
  /** 'classic', 'consumer' or 'unknown'. */
  protocol: string;
  /** As the classic protocol names states: Stable, PreparingRebalance, CompletingRebalance, Empty, Dead, Unknown. */
  state: string;
  /** Partitions assigned to each member. */
  partitions: number[];
}

const STATES = ['Unknown', 'PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead', 'Empty'];

interface RdkafkaAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  describeGroups(groupIds: string[]): Promise<{ groups: { type?: number; state?: number; members?: { assignment?: { topicPartitions?: unknown[] } }[] }[] }>;
}

export async function describeGroup(brokers: string, groupId: string): Promise<GroupView> {
  // Loaded on use: a run without the librdkafka client never calls this.
  const { loadLibrdkafkaClient } = await import('../../core/kafka/librdkafka-driver.js');
  const { KafkaJS } = loadLibrdkafkaClient() as unknown as { KafkaJS: { Kafka: new (config: object) => { admin(config: object): RdkafkaAdmin } } };
  const admin = new KafkaJS.Kafka({}).admin({ 'bootstrap.servers': brokers, kafkaJS: { logLevel: 0 } });
  await admin.connect();
  try {
    const [group] = (await admin.describeGroups([groupId])).groups;
    return {
      protocol: ({ 1: 'consumer', 2: 'classic' } as Record<number, string>)[group?.type ?? 0] ?? 'unknown',
      state: STATES[group?.state ?? 0] ?? 'Unknown',
      partitions: (group?.members ?? []).map((member) => member.assignment?.topicPartitions?.length ?? 0),
    };
  } finally {
    await admin.disconnect();
  }
}
