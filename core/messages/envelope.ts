import { Ajv } from 'ajv';
import { randomUUID } from 'node:crypto';
import { schemaErrorText } from '../config/schema-validator.js';
import { LightError } from '../errors/light-error.js';
import { HeaderNames } from '../headers.js';
import { currentContext } from '../request-context.js';

/**
 * The kafka-common message types: every command and event travels in an envelope that names it (type), says
 * which aggregate it concerns and carries the ids that link one request's logs, traces and audit (metadata).
 * Several types share a topic; consumers route them by `type`.
 */

/** The ids of the unit of work a message was made in (the X-Correlation-Id, X-Traceability-Id and caller_id of its request). */
export interface MessageMetadata {
  correlationId?: string;
  traceabilityId?: string;
  callerId?: string;
  [name: string]: string | undefined;
}

export interface Message<T = unknown> {
  /** Unique per message (a UUID unless given). */
  id: string;
  type: string;
  /** ISO-8601, when the message was made. */
  timestamp: string;
  metadata: MessageMetadata;
  data: T;
}

/**
 * Where the outcome of a command goes: a topic and the key its reply is written with (the key routes it, e.g. to
 * the requesting instance or to the saga that sent the command).
 */
export interface ReplyChannel {
  topic: string;
  key: string;
}

/**
 * A request to change one aggregate; `expectedVersion`, when set, must be the aggregate's current version. `id` is
 * the command's identity: the command processor applies one id once (a re-sent command gets its first outcome).
 * `replyTo`, when set, is where the processor writes the outcome (CommandReply), in the transaction of the events.
 */
export interface Command<T = unknown> extends Message<T> {
  kind: 'command';
  aggregateType: string;
  aggregateId: string;
  expectedVersion?: number;
  replyTo?: ReplyChannel;
}

/** What a command came to: its events (types and versions), or a rejection (code and reason) at a version. */
export type CommandOutcome =
  | { status: 'accepted'; version: number; events: { id: string; type: string; version: number }[] }
  | { status: 'rejected'; version: number; code: string; reason: string };

/**
 * The outcome of a command, written to the command's reply channel: `type` CommandAccepted or CommandRejected,
 * `data` the outcome. `metadata` is the command's (correlation id, traceability id, caller).
 */
export interface CommandReply extends Message<CommandOutcome> {
  kind: 'reply';
  type: 'CommandAccepted' | 'CommandRejected';
  commandId: string;
  commandType: string;
  aggregateType: string;
  aggregateId: string;
}

/** A fact about one aggregate: `version` is the aggregate's version after it (1 for its first event; a CommandRejected: the version refused at, 0 when none). */
export interface Event<T = unknown> extends Message<T> {
  kind: 'event';
  aggregateType: string;
  aggregateId: string;
  version: number;
}

/** The metadata of the current request context (and this service as the caller when the context names none). */
export function metadataFromContext(callerId?: string): MessageMetadata {
  const headers = currentContext()?.headers;
  const text = (name: string): string | undefined => headers?.getBuffer(name)?.toString('utf8');
  const metadata: MessageMetadata = {};
  const correlationId = text(HeaderNames.correlationId);
  const traceabilityId = text(HeaderNames.traceabilityId);
  const caller = text(HeaderNames.callerId) ?? callerId;
  if (correlationId) metadata.correlationId = correlationId;
  if (traceabilityId) metadata.traceabilityId = traceabilityId;
  if (caller) metadata.callerId = caller;
  return metadata;
}

interface MessageOptions {
  id?: string;
  timestamp?: string;
  metadata?: MessageMetadata;
}

export function command<T>(type: string, aggregate: { type: string; id: string }, data: T, options: MessageOptions & { expectedVersion?: number; replyTo?: ReplyChannel } = {}): Command<T> {
  return {
    kind: 'command',
    id: options.id ?? randomUUID(),
    type,
    aggregateType: aggregate.type,
    aggregateId: aggregate.id,
    ...(options.expectedVersion !== undefined ? { expectedVersion: options.expectedVersion } : {}),
    ...(options.replyTo ? { replyTo: options.replyTo } : {}),
    timestamp: options.timestamp ?? new Date().toISOString(),
    metadata: options.metadata ?? metadataFromContext(),
    data,
  };
}

export function event<T>(type: string, aggregate: { type: string; id: string; version: number }, data: T, options: MessageOptions = {}): Event<T> {
  return {
    kind: 'event',
    id: options.id ?? randomUUID(),
    type,
    aggregateType: aggregate.type,
    aggregateId: aggregate.id,
    version: aggregate.version,
    timestamp: options.timestamp ?? new Date().toISOString(),
    metadata: options.metadata ?? metadataFromContext(),
    data,
  };
}

/** JSON Schemas of the envelopes (the `data` of each type is the service's to validate). */
const METADATA_SCHEMA = { type: 'object', additionalProperties: { type: 'string' } } as const;
const BASE = {
  id: { type: 'string', minLength: 1 },
  type: { type: 'string', minLength: 1 },
  timestamp: { type: 'string', minLength: 1 },
  metadata: METADATA_SCHEMA,
  aggregateType: { type: 'string', minLength: 1 },
  aggregateId: { type: 'string', minLength: 1 },
  data: {},
} as const;

export const COMMAND_SCHEMA = {
  type: 'object',
  required: ['kind', 'id', 'type', 'timestamp', 'metadata', 'aggregateType', 'aggregateId', 'data'],
  properties: {
    ...BASE,
    kind: { const: 'command' },
    expectedVersion: { type: 'integer', minimum: 0 },
    replyTo: { type: 'object', required: ['topic', 'key'], additionalProperties: false, properties: { topic: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } } },
  },
} as const;

/** The reply envelope (CommandReply): accepted with its events, or rejected with a code and a reason. */
export const REPLY_SCHEMA = {
  type: 'object',
  required: ['kind', 'id', 'type', 'timestamp', 'metadata', 'commandId', 'commandType', 'aggregateType', 'aggregateId', 'data'],
  properties: {
    ...BASE,
    kind: { const: 'reply' },
    type: { enum: ['CommandAccepted', 'CommandRejected'] },
    commandId: { type: 'string', minLength: 1 },
    commandType: { type: 'string', minLength: 1 },
    data: {
      type: 'object',
      required: ['status', 'version'],
      properties: {
        status: { enum: ['accepted', 'rejected'] },
        version: { type: 'integer', minimum: 0 },
        events: { type: 'array', items: { type: 'object', required: ['id', 'type', 'version'] } },
        code: { type: 'string' },
        reason: { type: 'string' },
      },
    },
  },
} as const;

/**
 * `version` is at least 1 (the aggregate's version after the event), except for a CommandRejected: it carries the
 * version the command was refused at, 0 for an aggregate that has no events yet (a command to an account never opened).
 */
export const EVENT_SCHEMA = {
  type: 'object',
  required: ['kind', 'id', 'type', 'timestamp', 'metadata', 'aggregateType', 'aggregateId', 'version', 'data'],
  properties: { ...BASE, kind: { const: 'event' }, version: { type: 'integer', minimum: 0 } },
  if: { properties: { type: { const: 'CommandRejected' } } },
  else: { properties: { version: { minimum: 1 } } },
} as const;

/**
 * Dispatches messages of several types on one topic to the handler of their type. A type with no handler is an
 * error (ERR11018) unless `otherwise` takes it: a consumer that ignores a new type says so explicitly.
 */
export class TypeRouter<M extends { type: string }, R = void> {
  private readonly handlers = new Map<string, (message: M) => R>();

  constructor(private readonly otherwise?: (message: M) => R) {}

  on<T extends M>(type: string, handler: (message: T) => R): this {
    if (this.handlers.has(type)) throw new LightError('ERR13013', { what: `message type ${type}`, reason: 'has two handlers' });
    this.handlers.set(type, handler as (message: M) => R);
    return this;
  }

  route(message: M): R {
    const handler = this.handlers.get(message.type) ?? this.otherwise;
    if (!handler) throw new LightError('ERR11018', { type: String(message.type), known: [...this.handlers.keys()].join(', ') });
    return handler(message);
  }

  get types(): string[] {
    return [...this.handlers.keys()];
  }
}

/**
 * A check of the command envelope against COMMAND_SCHEMA, compiled once per call of this function: it returns why
 * a value is not a command (the first schema error, naming the field, as config errors do), or undefined.
 */
export function commandChecker(): (value: unknown) => string | undefined {
  return envelopeChecker(COMMAND_SCHEMA);
}

/** As commandChecker, for the reply envelope (REPLY_SCHEMA). */
export function replyChecker(): (value: unknown) => string | undefined {
  return envelopeChecker(REPLY_SCHEMA);
}

function envelopeChecker(schema: object): (value: unknown) => string | undefined {
  const validate = new Ajv({ strict: false }).compile(schema);
  return (value) => (validate(value) ? undefined : schemaErrorText(validate.errors![0]!));
}
