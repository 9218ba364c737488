import kafkajs, { Kafka, type Admin, type KafkaConfig } from 'kafkajs';
import type { Logger } from '../logger.js';
import { withLogging } from './kafkajs-driver.js';

/** Topic administration the framework needs itself (dead-letter topics), on either transport. */
export interface TopicAdmin {
  /**
   * Creates `topic` unless it exists, with the partition count of `like` and its `max.message.bytes` when `like`
   * sets one, so that what `like` holds fits. An existing topic is left as it is.
   */
  ensureTopicLike(topic: string, like: string): Promise<void>;
  disconnect(): Promise<void>;
}

/** On a kafkajs admin client (kafkajs is always installed; the librdkafka transport uses it here too). */
export class KafkajsTopicAdmin implements TopicAdmin {
  private admin: Promise<Admin> | undefined;

  constructor(
    private readonly client: KafkaConfig,
    private readonly logger: Logger,
  ) {}

  private connected(): Promise<Admin> {
    this.admin ??= (async () => {
      const admin = new Kafka(withLogging(this.client, this.logger, 'admin')).admin();
      await admin.connect();
      return admin;
    })().catch((error: unknown) => {
      this.admin = undefined;
      throw error;
    });
    return this.admin;
  }

  async ensureTopicLike(topic: string, like: string): Promise<void> {
    const admin = await this.connected();
    const existing = await admin.listTopics();
    if (existing.includes(topic)) return;
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [like] })).topics;
    const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: like, configNames: ['max.message.bytes'] }] });
    const limit = described.resources[0]?.configEntries.find((entry) => entry.configName === 'max.message.bytes' && !entry.isDefault);
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: metadata?.partitions.length ?? 1, configEntries: limit ? [{ name: 'max.message.bytes', value: limit.configValue }] : [] }],
    });
    this.logger.info('dead-letter topic created', { topic, like, maxMessageBytes: limit?.configValue ?? '(broker default)' });
  }

  /** Creates `topic` with the broker's default partition count and replication unless it exists. */
  async ensureTopic(topic: string): Promise<void> {
    const admin = await this.connected();
    if ((await admin.listTopics()).includes(topic)) return;
    // Another instance may create it at the same moment: its TOPIC_ALREADY_EXISTS is success here.
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic }] }).catch((error: Error) => {
      if (!/already exists/i.test(error.message)) throw error;
    });
  }

  /** Commits, for a new consumer group, the end of every partition of `topic`: its consumer starts there. */
  async startGroupAtEnd(groupId: string, topic: string): Promise<void> {
    const admin = await this.connected();
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({ groupId, topic, partitions: offsets.map(({ partition, high }) => ({ partition, offset: high })) });
  }

  /** Deletes a consumer group that has no members any more (best effort: a group left behind expires with its offsets). */
  async deleteGroup(groupId: string): Promise<void> {
    const admin = await this.connected();
    await admin.deleteGroups([groupId]).catch((error: Error) => this.logger.warn('consumer group not deleted', { groupId, error: error.message }));
  }

  async disconnect(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await (await admin?.catch(() => undefined))?.disconnect();
  }
}
