const { KafkaJSMetadataNotLoaded } = require('../errors')
const { staleMetadata } = require('../protocol/error')
const groupMessagesPerPartition = require('./groupMessagesPerPartition')
const createTopicData = require('./createTopicData')
const responseSerializer = require('./responseSerializer')

const { keys } = Object

/*
 * Patched by light-kafka (patches/kafkajs+2.2.4.patch) so that a retry after a failure, a leader change in
 * particular, neither loses nor duplicates records. kafkajs 2.2.4 remembered which *brokers* had answered and
 * skipped them on retry, so a partition whose leadership moved to a broker that had already answered for other
 * partitions was never re-sent while the call resolved; and it retried as soon as one request failed, while the
 * requests to other brokers were still in flight, re-sending those with new sequence numbers (duplicates the
 * broker cannot recognise). Here:
 *   - records are assigned to partitions once per call, so a retry re-sends the same records to the same
 *     partitions (a keyless record does not move to another partition on retry);
 *   - acknowledgements are kept per topic-partition; each retry sends exactly the partitions not yet acknowledged,
 *     grouped by their leader in fresh metadata, whichever broker that is;
 *   - a retry starts only once every request of the attempt before it has settled, so nothing is in flight;
 *   - a failed request gives its sequence numbers back, and with an idempotent producer the calls of one producer
 *     run one at a time, so the re-sent batch carries the same sequence numbers as the first try and the broker
 *     drops it if the first try was written after all; anything else the broker rejects (out of order sequence,
 *     unknown producer) is not retriable and fails the call.
 */
const PATCH_MARKER = Symbol.for('light-kafka.kafkajs-send-retry-patch')

/**
 * @param {Object} options
 * @param {import("../../types").Logger} options.logger
 * @param {import("../../types").Cluster} options.cluster
 * @param {ReturnType<import("../../types").ICustomPartitioner>} options.partitioner
 * @param {import("./eosManager").EosManager} options.eosManager
 * @param {import("../retry").Retrier} options.retrier
 */
module.exports = ({ logger, cluster, partitioner, eosManager, retrier }) => {
  // Calls of an idempotent producer run one at a time: a failed request hands its sequence numbers back, which
  // is only safe when no other call took the following ones meanwhile.
  let previousCall = Promise.resolve()

  const sendMessages = async ({ acks, timeout, compression, topicMessages }) => {
    /** topic -> { [partition]: messages }, fixed at the first attempt that has metadata */
    const messagesPerTopic = new Map()
    /** `${topic}|${partition}` -> serialized response entries (empty with acks 0) */
    const acknowledged = new Map()
    const partitionKey = (topic, partition) => `${topic}|${partition}`

    const assignPartitions = async () => {
      await cluster.refreshMetadataIfNecessary()
      for (const { topic, messages } of topicMessages) {
        if (messagesPerTopic.has(topic)) continue
        const partitionMetadata = cluster.findTopicPartitionMetadata(topic)
        if (partitionMetadata.length === 0) {
          logger.debug('Producing to topic without metadata', {
            topic,
            targetTopics: Array.from(cluster.targetTopics),
          })
          throw new KafkaJSMetadataNotLoaded('Producing to topic without metadata')
        }
        messagesPerTopic.set(
          topic,
          groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner })
        )
      }
    }

    /** nodeId -> [{ topic, partitions, messagesPerPartition }] for the partitions not yet acknowledged */
    const pendingPerLeader = () => {
      const perLeader = new Map()
      for (const [topic, messagesPerPartition] of messagesPerTopic) {
        const pending = keys(messagesPerPartition).filter(
          partition => !acknowledged.has(partitionKey(topic, partition))
        )
        if (pending.length === 0) continue
        const partitionsPerLeader = cluster.findLeaderForPartitions(topic, pending)
        const led = new Set(Object.values(partitionsPerLeader).flat().map(String))
        const leaderless = pending.filter(partition => !led.has(String(partition)))
        if (leaderless.length > 0) {
          // Never resolve with records left unsent: a partition missing from the metadata is retried.
          throw new KafkaJSMetadataNotLoaded(
            `No leader known for ${topic} partition(s) ${leaderless.join(', ')}`
          )
        }
        for (const nodeId of keys(partitionsPerLeader)) {
          if (!perLeader.has(nodeId)) perLeader.set(nodeId, [])
          perLeader.get(nodeId).push({
            topic,
            partitions: partitionsPerLeader[nodeId],
            messagesPerPartition,
          })
        }
      }
      return perLeader
    }

    const produceTo = async (nodeId, topicDataForBroker) => {
      const broker = await cluster.findBroker({ nodeId })
      const topicData = createTopicData(topicDataForBroker)
      await eosManager.acquireBrokerLock(broker)
      try {
        if (eosManager.isTransactional()) {
          await eosManager.addPartitionsToTransaction(topicData)
        }
        topicData.forEach(({ topic, partitions }) => {
          partitions.forEach(entry => {
            entry['firstSequence'] = eosManager.getSequence(topic, entry.partition)
            eosManager.updateSequence(topic, entry.partition, entry.messages.length)
          })
        })
        let response
        try {
          response = await broker.produce({
            transactionalId: eosManager.isTransactional()
              ? eosManager.getTransactionalId()
              : undefined,
            producerId: eosManager.getProducerId(),
            producerEpoch: eosManager.getProducerEpoch(),
            acks,
            timeout,
            compression,
            topicData,
          })
        } catch (e) {
          // The batch may or may not have been written: give its sequence numbers back so that the retry
          // re-sends it under the same ones and the broker recognises a duplicate.
          topicData.forEach(({ topic, partitions }) => {
            partitions.forEach(entry => {
              eosManager.updateSequence(topic, entry.partition, -entry.messages.length)
            })
          })
          throw e
        }
        const entries = acks !== 0 ? responseSerializer(response) : []
        topicData.forEach(({ topic, partitions }) => {
          partitions.forEach(({ partition }) => {
            acknowledged.set(
              partitionKey(topic, partition),
              entries.filter(
                entry => entry.topicName === topic && String(entry.partition) === String(partition)
              )
            )
          })
        })
      } finally {
        await eosManager.releaseBrokerLock(broker)
      }
    }

    return retrier(async (bail, retryCount, retryTime) => {
      const topics = topicMessages.map(({ topic }) => topic)
      await cluster.addMultipleTargetTopics(topics)

      try {
        await assignPartitions()
        const perLeader = pendingPerLeader()
        const results = await Promise.allSettled(
          Array.from(perLeader.entries()).map(([nodeId, data]) => produceTo(nodeId, data))
        )
        const failed = results.find(result => result.status === 'rejected')
        if (failed) throw failed.reason
        return Array.from(acknowledged.values()).flat()
      } catch (e) {
        if (e.name === 'KafkaJSConnectionClosedError') {
          cluster.removeBroker({ host: e.host, port: e.port })
        }

        if (!cluster.isConnected()) {
          logger.debug(`Cluster has disconnected, reconnecting: ${e.message}`, {
            retryCount,
            retryTime,
          })
          await cluster.connect()
          await cluster.refreshMetadata()
          throw e
        }

        // This is necessary in case the metadata is stale and the number of partitions
        // for this topic has increased in the meantime
        if (
          staleMetadata(e) ||
          e.name === 'KafkaJSMetadataNotLoaded' ||
          e.name === 'KafkaJSConnectionError' ||
          e.name === 'KafkaJSConnectionClosedError' ||
          e.name === 'KafkaJSBrokerNotFound' ||
          (e.name === 'KafkaJSError' && /Invalid partition metadata/.test(e.message)) ||
          (e.name === 'KafkaJSProtocolError' && e.retriable)
        ) {
          logger.error(`Failed to send messages: ${e.message}`, { retryCount, retryTime })
          await cluster.refreshMetadata()
          throw e
        }

        logger.error(`${e.message}`, { retryCount, retryTime })
        if (e.retriable) throw e
        bail(e)
      }
    })
  }

  const serialized = async args => {
    if (!eosManager.isInitialized()) return sendMessages(args)
    const call = previousCall.then(() => sendMessages(args))
    previousCall = call.then(
      () => undefined,
      () => undefined
    )
    return call
  }
  serialized[PATCH_MARKER] = true
  return serialized
}

module.exports[PATCH_MARKER] = true
