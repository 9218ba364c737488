import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { typedKey } from '../../core/attachments.js';
import { defineHandler, phasedHandler } from '../../core/chain/handler.js';
import { folderOf } from '../../core/config/folder-of.js';
import { failureStatusOf } from '../../core/errors/light-error.js';
import type { Exchange } from '../../core/exchange.js';
import { AuditLayout } from './audit-record.js';
import { AUDIT_SCHEMA, type AuditYml } from './config.js';
import { formatTimestamp } from './timestamp-format.js';

/**
 * One JSON audit record per produced or consumed record, written after the rest of the chain ran (so it holds
 * the outcome and the time it took): to a JSON-lines file or the service log ("logfile"), or to an audit topic.
 */
export default defineHandler<AuditYml>({
  name: 'audit',
  configName: 'audit',
  configSchema: AUDIT_SCHEMA,
  defaultConfigDir: folderOf(import.meta.url),
  create(config, services) {
    const auditLogger = services.logger.child({ audit: true });
    const layout = new AuditLayout(config, services.serviceId);

    // Records of one millisecond share one formatted timestamp.
    let lastMs = -1;
    let lastTimestamp: string | number = '';
    function timestampNow(): string | number {
      const now = Date.now();
      if (now !== lastMs) {
        lastMs = now;
        lastTimestamp = formatTimestamp(new Date(now), config.timestampFormat);
      }
      return lastTimestamp;
    }

    // One append stream for the service's life. Lines are buffered in order and flushed when the service stops;
    // a record waits only when the buffer is full (backpressure), not for each line's write to the disk.
    let file: WriteStream | undefined;
    if (config.auditTarget === 'logfile' && config.auditFile) {
      // A buffer that holds a few batches' lines (a batch of 500 records is ~150 KB of them): a batch waits for the
      // disk only when the writes fall behind, not after every batch as with the default 16 KiB.
      const stream = createWriteStream(config.auditFile, { flags: 'a', highWaterMark: AUDIT_BUFFER_BYTES });
      stream.on('error', (error) => services.logger.error('audit file cannot be written', { file: config.auditFile, error }));
      services.addCloseHook(() => new Promise<void>((resolve) => stream.end(() => resolve())));
      file = stream;
    }

    // Every writer that meets a full buffer waits on one shared 'drain', not a listener each.
    let draining: Promise<void> | undefined;
    function drained(stream: WriteStream): Promise<void> {
      draining ??= once(stream, 'drain').then(
        () => void (draining = undefined),
        () => void (draining = undefined),
      );
      return draining;
    }

    // A file or the audit topic takes JSON lines, the log takes objects.
    const asLines = config.auditTarget === 'topic' || file !== undefined;

    /** Writes the records of a batch in one go: one append (waiting only on a full buffer), one send, or the log. */
    async function writeBatch(batch: AuditBatch): Promise<void> {
      const { lines, records, keys } = batch;
      if (lines.length === 0 && records.length === 0) return;
      batch.lines = [];
      batch.records = [];
      batch.keys = [];
      if (config.auditTarget === 'topic') {
        await services.rawProducer.send(config.auditTopic, lines.map((line, i) => ({ key: keys[i] ?? null, value: line })));
      } else if (file) {
        // The closing newline joined in, not appended: a string of the whole batch is made once, not twice.
        lines.push('');
        if (!file.write(lines.join('\n'))) await drained(file);
      } else {
        for (const record of records) auditLogger.info('audit', record);
      }
    }

    const STARTED = typedKey<number>('light-kafka.audit.started');

    return phasedHandler<AuditBatch>({
      name: 'audit',
      beginBatch: () => ({ lines: [], records: [], keys: [] }),
      before(exchange) {
        exchange.attachments.set(STARTED, performance.now());
      },
      after(exchange, failure, batch) {
        if (failure === undefined && config.auditOnError) return;
        const elapsedMs = performance.now() - exchange.attachments.get(STARTED)!;
        try {
          const outcome = { failure: failure === undefined ? undefined : failureStatusOf(failure.error), elapsedMs, timestamp: timestampNow() };
          if (asLines) batch.lines.push(layout.line(exchange, outcome));
          else batch.records.push(layout.record(exchange, outcome));
          if (config.auditTarget === 'topic') batch.keys.push(exchange.keyString);
        } catch (error) {
          // A lost audit line must not turn a processed record into a failed one; it is logged instead.
          services.logger.error('audit record could not be built', { record: exchange.describe(), error });
        }
      },
      async endBatch(exchanges, batch) {
        try {
          await writeBatch(batch);
        } catch (error) {
          services.logger.error('audit records could not be written', { records: exchanges.length, topic: exchanges[0]?.topic, error });
        }
      },
    });
  },
});

/** How many bytes of audit lines the file stream holds before a batch waits for the disk. */
const AUDIT_BUFFER_BYTES = 1024 * 1024;

/** The audit records of a batch, written together when its records are flushed. */
interface AuditBatch {
  /** As JSON lines, for a file or the audit topic. */
  lines: string[];
  /** As objects, for the service log. */
  records: Record<string, unknown>[];
  /** Each record's key, for the audit topic. */
  keys: (string | null)[];
}
