import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { Attachment, typedKey } from '../../core/attachments.js';
import { defineHandler, phasedHandler } from '../../core/chain/handler.js';
import { folderOf } from '../../core/config/folder-of.js';
import { failureStatusOf } from '../../core/errors/light-error.js';
import type { Exchange } from '../../core/exchange.js';
import { DEFAULT_IDENTITY_HEADERS, type IdentityHeaderNames } from '../../core/identity.js';
import { AUDIT_SCHEMA, type AuditYml } from './config.js';
import { formatTimestamp } from './timestamp-format.js';


const MASK = '****';

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
    const masked = new Set(config.mask.map((name) => name.toLowerCase()));
    const auditLogger = services.logger.child({ audit: true });

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

    const maskedHeaders = config.headers.map((name) => masked.has(name.toLowerCase()));
    // Which identity field each configured header names, worked out once per set of identity header names.
    let identityFields: { names: IdentityHeaderNames; fields: (IdentityField | undefined)[] } | undefined;
    function identityFieldsFor(names: IdentityHeaderNames): (IdentityField | undefined)[] {
      if (identityFields?.names !== names) identityFields = { names, fields: config.headers.map((name) => identityFieldOf(names, name)) };
      return identityFields.fields;
    }

    function buildRecord(exchange: Exchange, error: unknown, elapsedMs: number): Record<string, unknown> {
      const claims = exchange.attachments.get(Attachment.claims);
      const failure = error === undefined ? undefined : failureStatusOf(error);
      const available: Record<string, unknown> = {
        client_id: claims?.clientId,
        user_id: claims?.userId,
        scope_client_id: claims?.scopeClientId,
        serviceId: services.serviceId,
        direction: exchange.direction,
        topic: exchange.topic,
        partition: exchange.partition,
        offset: exchange.offset,
        key: exchange.keyString ?? undefined,
        statusCode: failure?.statusCode ?? 200,
        errorCode: failure?.code,
        processingTime: Math.round(elapsedMs * 1000) / 1000,
        timestamp: timestampNow(),
      };
      const record: Record<string, unknown> = {};
      const identity = exchange.identity;
      const fields = identityFieldsFor(identity.headers);
      for (let i = 0; i < config.headers.length; i++) {
        const name = config.headers[i]!;
        const field = fields[i];
        const value = (field === undefined ? undefined : identity[field]) ?? exchange.headers.get(name);
        if (value !== undefined) record[name] = maskedHeaders[i] ? MASK : value;
      }
      for (const field of config.audit) {
        const value = available[field];
        if (value !== undefined) record[field] = masked.has(field.toLowerCase()) ? MASK : value;
      }
      return record;
    }

    // One append stream for the service's life. Lines are buffered in order and flushed when the service stops;
    // a record waits only when the buffer is full (backpressure), not for each line's write to the disk.
    let file: WriteStream | undefined;
    if (config.auditTarget === 'logfile' && config.auditFile) {
      const stream = createWriteStream(config.auditFile, { flags: 'a' });
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

    /** Writes the lines of a batch in one go: one append (waiting only on a full buffer), one send, or the log. */
    async function writeBatch(batch: AuditBatch): Promise<void> {
      if (batch.records.length === 0) return;
      const { records, keys } = batch;
      batch.records = [];
      batch.keys = [];
      if (config.auditTarget === 'topic') {
        await services.rawProducer.send(config.auditTopic, records.map((record, i) => ({ key: keys[i] ?? null, value: JSON.stringify(record) })));
      } else if (file) {
        let text = '';
        for (const record of records) text += JSON.stringify(record) + '\n';
        if (!file.write(text)) await drained(file);
      } else {
        for (const record of records) auditLogger.info('audit', record);
      }
    }

    const STARTED = typedKey<number>('light-kafka.audit.started');

    return phasedHandler<AuditBatch>({
      name: 'audit',
      beginBatch: () => ({ records: [], keys: [] }),
      before(exchange) {
        exchange.attachments.set(STARTED, performance.now());
      },
      after(exchange, failure, batch) {
        if (failure === undefined && config.auditOnError) return;
        const elapsedMs = performance.now() - exchange.attachments.get(STARTED)!;
        try {
          batch.records.push(buildRecord(exchange, failure?.error, elapsedMs));
          batch.keys.push(exchange.keyString);
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

/** The audit lines of a batch's records, written together when the batch's records are flushed. */
interface AuditBatch {
  records: Record<string, unknown>[];
  keys: (string | null)[];
}
type IdentityField = 'correlationId' | 'traceabilityId' | 'callerId';

/**
 * The correlation id, traceability id and caller come from the resolved identity, so an audit `headers` entry
 * that names one of them by its default name (X-Correlation-Id, ...) or by the name correlation.yml gives it
 * finds the value whatever header it travelled under.
 */
function identityFieldOf(names: IdentityHeaderNames, name: string): IdentityField | undefined {
  const lower = name.toLowerCase();
  const matches = (field: IdentityField): boolean => lower === DEFAULT_IDENTITY_HEADERS[field].toLowerCase() || lower === names[field].toLowerCase();
  return (['correlationId', 'traceabilityId', 'callerId'] as const).find(matches);
}
