/** audit.yml: what each audit record holds and where it goes. */
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
