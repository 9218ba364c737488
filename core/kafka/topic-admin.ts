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

  async disconnect(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await (await admin?.catch(() => undefined))?.disconnect();
  }
}
