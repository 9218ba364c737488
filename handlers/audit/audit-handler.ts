import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { Attachment } from '../../core/attachments.js';
import { defineHandler } from '../../core/chain/handler.js';
import { failureStatusOf } from '../../core/errors/light-error.js';
import type { Exchange } from '../../core/exchange.js';
import type { RecordClaims } from '../security/security-handler.js';
import { formatTimestamp } from './timestamp-format.js';

export interface AuditYml {
  enabled: boolean;
  headers: string[];
  audit: string[];
  mask: string[];
  auditOnError: boolean;
  timestampFormat: string;
  auditTarget: 'logfile' | 'topic';
  auditFile: string;
  auditTopic: string;
}

const AUDIT_FIELDS = ['client_id', 'user_id', 'scope_client_id', 'serviceId', 'direction', 'topic', 'partition', 'offset', 'key', 'statusCode', 'errorCode', 'processingTime', 'timestamp'];

export const AUDIT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean', default: true },
    headers: { type: 'array', items: { type: 'string' }, default: ['X-Correlation-Id', 'X-Traceability-Id', 'caller_id'] },
    audit: {
      type: 'array',
      items: { enum: AUDIT_FIELDS },
      default: ['client_id', 'user_id', 'scope_client_id', 'serviceId', 'direction', 'topic', 'partition', 'offset', 'key', 'statusCode', 'errorCode', 'processingTime', 'timestamp'],
    },
    mask: { type: 'array', items: { type: 'string' }, default: [] },
    auditOnError: { type: 'boolean', default: false },
    timestampFormat: { type: 'string', minLength: 1, default: 'iso' },
    auditTarget: { enum: ['logfile', 'topic'], default: 'logfile' },
    auditFile: { type: 'string', default: '' },
    auditTopic: { type: 'string', default: 'light-kafka-audit' },
  },
} as const;

const MASK = '****';

/**
 * One JSON audit record per produced or consumed record, written after the rest of the chain ran (so it holds
 * the outcome and the time it took): to a JSON-lines file or the service log ("logfile"), or to an audit topic.
 */
export default defineHandler<AuditYml>({
  name: 'audit',
  configName: 'audit',
  configSchema: AUDIT_SCHEMA,
  create(config, services) {
    const masked = new Set(config.mask.map((name) => name.toLowerCase()));
    const auditLogger = services.logger.child({ audit: true });

    function buildRecord(exchange: Exchange, error: unknown, elapsedMs: number): Record<string, unknown> {
      const claims = exchange.attachments.get(Attachment.claims) as RecordClaims | undefined;
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
        timestamp: formatTimestamp(new Date(), config.timestampFormat),
      };
      const record: Record<string, unknown> = {};
      for (const name of config.headers) {
        const value = exchange.headers.get(name);
        if (value !== undefined) record[name] = masked.has(name.toLowerCase()) ? MASK : value;
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

    async function write(record: Record<string, unknown>, exchange: Exchange): Promise<void> {
      if (config.auditTarget === 'topic') {
        await services.rawProducer.send(config.auditTopic, [{ key: exchange.keyString, value: JSON.stringify(record) }]);
      } else if (file) {
        if (!file.write(JSON.stringify(record) + '\n')) await once(file, 'drain');
      } else {
        auditLogger.info('audit', record);
      }
    }

    return async function audit(exchange, next) {
      const started = process.hrtime.bigint();
      let failure: unknown;
      try {
        await next();
      } catch (error) {
        failure = error;
      }
      const failed = failure !== undefined;
      if (failed || !config.auditOnError) {
        const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
        try {
          await write(buildRecord(exchange, failure, elapsedMs), exchange);
        } catch (error) {
          // A lost audit line must not turn a processed record into a failed one; it is logged instead.
          services.logger.error('audit record could not be written', { record: exchange.describe(), error });
        }
      }
      if (failed) throw failure;
    };
  },
});
