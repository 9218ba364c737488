/** correlation.yml: how X-Correlation-Id, X-Traceability-Id and caller_id are handled. */
export interface CorrelationYml {
  enabled: boolean;
  autogenCorrelationID: boolean;
  correlationIdHeader: string;
  traceabilityIdHeader: string;
  callerIdHeader: string;
  setCallerId: boolean;
  callerId: string;
}

export const CORRELATION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean', default: true },
    autogenCorrelationID: { type: 'boolean', default: true },
    correlationIdHeader: { type: 'string', minLength: 1, default: 'X-Correlation-Id' },
    traceabilityIdHeader: { type: 'string', minLength: 1, default: 'X-Traceability-Id' },
    callerIdHeader: { type: 'string', minLength: 1, default: 'caller_id' },
    setCallerId: { type: 'boolean', default: true },
    callerId: { type: 'string', default: '' },
  },
} as const;
