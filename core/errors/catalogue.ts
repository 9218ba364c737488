/**
 * The one file of stable status codes (light-4j ranges):
 *   ERR10xxx framework and security, ERR11xxx validation, ERR12xxx transport and Kafka, ERR13xxx configuration.
 * `description` is a template: `{name}` is replaced by the argument of that name.
 * `retryable: false` means the consumer sends the record to the dead-letter topic at once.
 * The README's error table is checked against this file by test/core/error-catalogue.test.ts.
 */
export interface StatusDefinition {
  readonly statusCode: number;
  readonly message: string;
  readonly description: string;
  readonly retryable: boolean;
}

function status(statusCode: number, message: string, description: string, retryable = false): StatusDefinition {
  return { statusCode, message, description, retryable };
}

export const STATUS_CATALOGUE = {
  // Framework and security
  ERR10000: status(401, 'INVALID_AUTH_TOKEN', 'Invalid JWT token: {reason}'),
  ERR10001: status(401, 'AUTH_TOKEN_EXPIRED', 'JWT token expired at {expiredAt}'),
  ERR10002: status(401, 'MISSING_AUTH_TOKEN', 'No Authorization header with a Bearer token on {topic}'),
  ERR10003: status(401, 'INVALID_SCOPE_TOKEN', 'Invalid scope token: {reason}'),
  ERR10004: status(401, 'SCOPE_TOKEN_EXPIRED', 'Scope token expired at {expiredAt}'),
  ERR10005: status(403, 'AUTH_TOKEN_SCOPE_MISMATCH', 'Scopes {scopes} do not include any of {required} for {topic}'),
  ERR10006: status(403, 'CALLER_NOT_ALLOWED', 'Caller {callerId} is not allowed on {topic}'),
  ERR10007: status(401, 'JWK_NOT_FOUND', 'No key with kid {kid} is known'),
  ERR10008: status(503, 'JWKS_UNAVAILABLE', 'The JWKS endpoint cannot be read: {reason}', true),
  ERR10010: status(500, 'HANDLER_FAILED', 'Handler {handler} failed: {reason}', true),
  ERR10011: status(500, 'NEXT_CALLED_TWICE', 'next() called more than once in handler {handler}'),
  ERR10012: status(503, 'SERVICE_NOT_STARTED', '{component} is not started'),
  ERR10013: status(503, 'SERVICE_STOPPING', '{component} is stopping and accepts no more work'),
  // Validation
  ERR11000: status(400, 'VALIDATION_FAILED', 'Record on {topic} does not match its schema at {instancePath}: {reason}'),
  ERR11001: status(400, 'KEY_VALIDATION_FAILED', 'Record key on {topic} does not match its schema at {instancePath}: {reason}'),
  ERR11004: status(400, 'MALFORMED_JSON', 'Record {field} on {topic} is not valid JSON: {reason}'),
  ERR11005: status(400, 'MALFORMED_TEXT', 'Record {field} on {topic} is not valid UTF-8'),
  ERR11006: status(400, 'UNSERIALIZABLE_VALUE', 'Record {field} for {topic} cannot be serialized as {format}: {reason}'),
  ERR11010: status(400, 'AVRO_ENCODE_FAILED', 'Record {field} for {topic} does not match Avro schema {schema}: {reason}'),
  ERR11011: status(400, 'AVRO_WRONG_MAGIC_BYTE', 'Record {field} on {topic} is not in the Confluent wire format: first byte {magic}, expected 0'),
  ERR11012: status(400, 'AVRO_UNKNOWN_SCHEMA_ID', 'Record {field} on {topic} names schema id {id}, which the registry does not know'),
  ERR11013: status(503, 'SCHEMA_REGISTRY_UNAVAILABLE', 'Schema registry {url} cannot be reached: {reason}', true),
  ERR11014: status(400, 'AVRO_CORRUPT_PAYLOAD', 'Record {field} on {topic} cannot be decoded with schema id {id}: {reason}'),
  ERR11015: status(409, 'SCHEMA_INCOMPATIBLE', 'The registry refused schema {schema} for subject {subject}: {reason}'),
  ERR11016: status(404, 'SCHEMA_NOT_REGISTERED', 'Schema {schema} is not registered under subject {subject}, and autoRegister is off'),
  ERR11017: status(400, 'AVRO_READER_INCOMPATIBLE', 'Reader schema {schema} cannot read {field} records on {topic} written with schema id {id}: {reason}'),
  ERR11018: status(400, 'MESSAGE_TYPE_UNKNOWN', 'No handler for message type {type} (known: {known})'),
  ERR11019: status(400, 'MESSAGE_INVALID', 'The record is not a valid {kind} envelope: {reason}'),
  // An HTTP request an API refuses before anything is produced (the accounts sample's command and query API).
  ERR11020: status(400, 'REQUEST_INVALID', 'Request {part} is invalid: {reason}'),
  ERR11021: status(413, 'REQUEST_TOO_LARGE', 'Request body is larger than {limit} bytes'),
  // The IETF Idempotency-Key draft: a key already used for a different request is refused with 422.
  ERR11022: status(422, 'IDEMPOTENCY_KEY_REUSED', 'Idempotency key {key} was used before for a different command on {aggregate}'),
  // A windowed aggregation with lateRecords: 'dead-letter': the record came after every window it belongs to closed.
  ERR11023: status(422, 'RECORD_TOO_LATE', 'Record at {timestamp} is too late for {store}: its windows closed at stream time {streamTime} (grace {graceMs} ms)'),
  // Transport and Kafka
  ERR12000: status(500, 'KAFKA_SEND_FAILED', 'Sending to {topic} failed: {reason}', true),
  // Retryable: an aborted transaction left nothing visible to read_committed readers, so running it again is safe.
  ERR12001: status(500, 'KAFKA_TRANSACTION_FAILED', 'Transaction {transactionalId} failed and was aborted: {reason}', true),
  ERR12002: status(500, 'DEAD_LETTER_FAILED', 'Writing record {topic}-{partition}@{offset} to {deadLetterTopic} failed: {reason}', true),
  ERR12003: status(500, 'RECORD_NOT_SENT', 'Record for {topic} was not sent because another record of the same batch failed'),
  ERR12004: status(500, 'KAFKA_CONNECT_FAILED', 'Cannot connect to Kafka at {brokers}: {reason}', true),
  ERR12005: status(500, 'CONSUMER_STOPPED_ON_ERROR', 'Consumer stopped partition {topic}-{partition} at offset {offset} (failurePolicy: stop): {reason}'),
  ERR12006: status(400, 'PRODUCER_NOT_TRANSACTIONAL', 'kafka-producer.yml has no transactional.id: transactions are not available'),
  ERR12007: status(500, 'SUBSCRIBE_FAILED', 'Cannot subscribe to {topics} within {timeoutMs} ms: {reason}'),
  ERR12008: status(500, 'KAFKAJS_UNPATCHED', 'kafkajs at {path} lacks light-kafka\'s patch (patches/kafkajs@2.2.4), which its postinstall applies: a leader failover could lose or duplicate acknowledged records, and a transaction fail while its coordinator finishes the previous one; apply it with `npx light-kafka patch-kafkajs` (README: What send guarantees)'),
  ERR12009: status(500, 'LIBRDKAFKA_UNAVAILABLE', 'service.yml transport: librdkafka needs @confluentinc/kafka-javascript, which cannot be loaded: {reason} (README: Kafka clients; install it with CKJS_LINKING=dynamic npm install @confluentinc/kafka-javascript)'),
  ERR12010: status(400, 'TRANSACTION_OFFSETS_GROUP', 'sendOffsets for consumer group {groupId}: the librdkafka transport commits offsets in a transaction for this service\'s consumer group {serviceGroupId} only'),
  ERR12011: status(500, 'STREAMS_TASK_FAILED', 'Streams task {task} failed: {reason}', true),
  ERR12012: status(500, 'STREAMS_NOT_AVAILABLE', 'LightStreams: {reason}'),
  ERR12013: status(404, 'STREAMS_STORE_UNKNOWN', 'No state store {store} in the topology (stores: {stores})'),
  ERR12014: status(503, 'STREAMS_OWNER_UNAVAILABLE', 'No instance answers for key {key} of store {store} (partition {partition}) now: {reason}', true),
  ERR12015: status(400, 'STREAMS_KEY_TOO_LARGE', 'State store {store} cannot hold key {key}: {bytes} bytes of UTF-8, over the limit of {limit} (README: LightStreams, state stores)'),
  // Not an error of the command: it may still be applied, and a re-send with the same id learns its outcome.
  ERR12016: status(504, 'COMMAND_REPLY_TIMEOUT', 'No reply to command {commandId} ({commandType}) on {topic} within {timeoutMs} ms: it may still be applied later; send it again with the same id to learn its outcome'),
  ERR12017: status(503, 'COMMAND_REQUESTS_UNAVAILABLE', 'Command requests on reply topic {replyTopic}: {reason}'),
  ERR12018: status(400, 'TRANSACTION_OFFSETS_NO_CONSUMER', 'sendOffsets: the librdkafka transport sends a transaction\'s offsets with the group metadata of this service\'s consumer (group {serviceGroupId}), which is not running: give the consumer a handler and start the service first'),
  // Configuration
  ERR13000: status(500, 'CONFIG_NOT_FOUND', 'Config file {file} not found in {searched}'),
  ERR13001: status(500, 'CONFIG_INVALID', 'Config {file}: key {key} {reason}'),
  ERR13002: status(500, 'CONFIG_PARSE_FAILED', 'Config {file} is not valid YAML: {reason}'),
  ERR13003: status(500, 'CONFIG_VALUE_MISSING', 'Config {file}: key {key} needs {placeholder}: {reason}'),
  ERR13004: status(500, 'HANDLER_ALIAS_UNKNOWN', 'handler.yml {file}: {key} names unknown handler or chain {alias}'),
  ERR13005: status(500, 'HANDLER_EXEC_EMPTY', 'handler.yml {file}: {key} names no handler'),
  ERR13006: status(500, 'PRODUCE_CHAIN_WITHOUT_TRANSPORT', 'handler.yml {file}: {key} must end with a transport handler (kafka/producer); it ends with {alias}'),
  ERR13007: status(500, 'HANDLER_DUPLICATED', 'handler.yml {file}: {key} runs handler {alias} twice'),
  ERR13008: status(500, 'HANDLER_LOAD_FAILED', 'handler.yml {file}: {key} cannot load handler module {module}: {reason}'),
  ERR13009: status(500, 'HANDLER_MODULE_INVALID', 'handler.yml {file}: {key} module {module} {reason}'),
  ERR13010: status(500, 'NO_CHAIN_FOR_TOPIC', 'No {direction} chain for topic {topic}: list it under topics or defaultHandlers.{direction} in handler.yml'),
  ERR13011: status(500, 'KAFKA_PROPERTY_UNSUPPORTED', 'Config {file}: properties.{key} {reason}'),
  ERR13012: status(500, 'HANDLER_ALIAS_DUPLICATED', 'handler.yml {file}: {key} declares alias {alias} twice'),
  ERR13013: status(500, 'TOPOLOGY_INVALID', 'Streams topology: {what} {reason}'),
} as const satisfies Record<string, StatusDefinition>;

export type StatusCode = keyof typeof STATUS_CATALOGUE;

export const STATUS_CODES = Object.keys(STATUS_CATALOGUE) as StatusCode[];
