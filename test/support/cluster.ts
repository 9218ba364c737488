import { ensureKafka, type KafkaHandle } from '../../scripts/kafka-local.js';

/** The fault tests' 3-broker cluster listens from LIGHT_KAFKA_LOCAL_PORT (default 9092) + this. */
export const CLUSTER_PORT_OFFSET = 21_000;

/**
 * The 3-broker cluster (replication factor 3, min.insync.replicas 2) of the fault tests, shared by every @cluster
 * test of the run: the one the suite runner started in the background, or one started here on first use (from
 * empty log folders) and stopped after the run. A test that kills a node restarts it before it ends.
 */
let cluster: Promise<KafkaHandle> | undefined;

export function useCluster(): Promise<KafkaHandle> {
  if (process.env.LIGHT_KAFKA_UNIT) return Promise.reject(new Error('this test needs the 3-broker cluster: tag it @cluster'));
  const port = Number(process.env.LIGHT_KAFKA_LOCAL_PORT ?? 9092) + CLUSTER_PORT_OFFSET;
  cluster ??= ensureKafka({ port, brokers: 3, fresh: true, useKafkaBrokersEnv: false });
  return cluster;
}

/** Stops the cluster if this process started it (and LIGHT_KAFKA_KEEP_BROKER is not set). */
export async function releaseCluster(): Promise<void> {
  if (!cluster) return;
  const handle = await cluster.catch(() => undefined);
  cluster = undefined;
  if (handle?.owned && !process.env.LIGHT_KAFKA_KEEP_BROKER) await handle.stop();
}
