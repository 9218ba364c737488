import { RecordHeaders } from '../headers.js';
import type { BatchWriter, RawSender } from '../transport.js';

/** Sends past every chain through `write` (dead letters, audit records). */
export function rawSenderOver(write: BatchWriter): RawSender {
  return {
    async send(topic, records) {
      await write([
        {
          topic,
          messages: records.map((record) => ({
            key: typeof record.key === 'string' ? Buffer.from(record.key) : (record.key ?? null),
            value: typeof record.value === 'string' ? Buffer.from(record.value) : record.value,
            headers: record.headers ?? new RecordHeaders(),
          })),
        },
      ]);
    },
  };
}
