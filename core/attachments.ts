/** Keys of the exchange attachments the built-in handlers share. */
export const Attachment = {
  /** Logger with correlationId / traceabilityId bound (correlation handler). */
  logger: 'logger',
  /** VerifiedClaims of the record's token (security handler). */
  claims: 'claims',
  /** The caller_id the record arrived with (consume) or was sent with (produce). */
  callerId: 'callerId',
  /** The failure a later handler threw, as seen by the audit and metrics handlers. */
  error: 'error',
  /** Consume: the consumer group the record is processed in. */
  consumerGroup: 'consumerGroup',
  /** The record's span (tracing handler). */
  span: 'span',
} as const;

/** Keys of the request context's values the built-in handlers share. */
export const ContextValue = {
  /** The active span of the unit of work: records produced and calls made in it are its children. */
  span: 'span',
} as const;
