import { Attachment } from '../../core/attachments.js';
import type { failureStatusOf } from '../../core/errors/light-error.js';
import type { Exchange } from '../../core/exchange.js';
import { DEFAULT_IDENTITY_HEADERS, type Identity, type IdentityHeaderNames } from '../../core/identity.js';
import type { AuditYml } from './config.js';

const MASK = '****';

/** What an audit record is made of besides the exchange: the outcome, the time it took, when. */
export interface AuditOutcome {
  failure: ReturnType<typeof failureStatusOf> | undefined;
  elapsedMs: number;
  timestamp: string | number;
}

type IdentityField = 'correlationId' | 'traceabilityId' | 'callerId';
type FieldReader = (exchange: Exchange, outcome: AuditOutcome) => unknown;

/** The audit.yml `audit` fields, each read from the exchange and the outcome. */
function fieldReaders(serviceId: string): Record<string, FieldReader> {
  return {
    client_id: (exchange) => exchange.attachments.get(Attachment.claims)?.clientId,
    user_id: (exchange) => exchange.attachments.get(Attachment.claims)?.userId,
    scope_client_id: (exchange) => exchange.attachments.get(Attachment.claims)?.scopeClientId,
    serviceId: () => serviceId,
    direction: (exchange) => exchange.direction,
    topic: (exchange) => exchange.topic,
    partition: (exchange) => exchange.partition,
    offset: (exchange) => exchange.offset,
    key: (exchange) => exchange.keyString ?? undefined,
    statusCode: (_exchange, outcome) => outcome.failure?.statusCode ?? 200,
    errorCode: (_exchange, outcome) => outcome.failure?.code,
    processingTime: (_exchange, outcome) => Math.round(outcome.elapsedMs * 1000) / 1000,
    timestamp: (_exchange, outcome) => outcome.timestamp,
  };
}

/** One entry of the record: a configured header, then the configured fields, in audit.yml's order. */
interface Slot {
  name: string;
  /** `{"name":` and `,"name":`: the slot's key in a JSON line, as the first entry and after another. */
  firstKey: string;
  nextKey: string;
  masked: boolean;
  read: (exchange: Exchange, outcome: AuditOutcome, identity: Identity, identityFields: readonly (IdentityField | undefined)[]) => unknown;
}

/**
 * The layout of an audit record as audit.yml configures it, worked out once: `record` builds it as an object (for
 * the service log), `line` writes the same record straight as its JSON text — the text JSON.stringify gives of
 * `record` — without the two objects per record that building and then serializing it took.
 */
export class AuditLayout {
  private readonly slots: readonly Slot[];
  /** False when a name repeats or is one JSON.stringify would place or treat differently: lines then go through `record`. */
  private readonly direct: boolean;
  private readonly identityFields: IdentityFieldsCache;
  /**
   * Each slot's last value and its piece of a line: most values repeat from record to record (topic, client,
   * timestamp), and a repeated piece costs neither its JSON text nor a string of its own.
   */
  private readonly lastValues: unknown[];
  private readonly lastFirsts: boolean[];
  private readonly lastPieces: string[];

  constructor(config: Pick<AuditYml, 'headers' | 'audit' | 'mask'>, serviceId: string) {
    const masked = new Set(config.mask.map((name) => name.toLowerCase()));
    const readers = fieldReaders(serviceId);
    this.identityFields = new IdentityFieldsCache(config.headers);
    const headerSlots = config.headers.map((name, index): Slot => ({
      name,
      ...keysOf(name),
      masked: masked.has(name.toLowerCase()),
      read: (exchange, _outcome, identity, identityFields) => {
        const field = identityFields[index];
        return (field === undefined ? undefined : identity[field]) ?? exchange.headers.get(name);
      },
    }));
    const fieldSlots = config.audit.map((name): Slot => {
      const reader = readers[name]!;
      return { name, ...keysOf(name), masked: masked.has(name.toLowerCase()), read: (exchange, outcome) => reader(exchange, outcome) };
    });
    this.slots = [...headerSlots, ...fieldSlots];
    const names = this.slots.map((slot) => slot.name);
    this.direct = new Set(names).size === names.length && names.every((name) => name !== '__proto__' && !/^(0|[1-9]\d*)$/.test(name));
    this.lastValues = this.slots.map(() => undefined);
    this.lastFirsts = this.slots.map(() => false);
    this.lastPieces = this.slots.map(() => '');
  }

  /** The audit record as an object, its keys in audit.yml's order; masked values replaced, absent ones left out. */
  record(exchange: Exchange, outcome: AuditOutcome): Record<string, unknown> {
    const record: Record<string, unknown> = {};
    const identity = exchange.identity;
    const identityFields = this.identityFields.fieldsFor(identity.headers);
    for (const slot of this.slots) {
      const value = slot.read(exchange, outcome, identity, identityFields);
      if (value !== undefined) record[slot.name] = slot.masked ? MASK : value;
    }
    return record;
  }

  /** `JSON.stringify(this.record(exchange, outcome))`, written directly. */
  line(exchange: Exchange, outcome: AuditOutcome): string {
    if (!this.direct) return JSON.stringify(this.record(exchange, outcome));
    const identity = exchange.identity;
    const identityFields = this.identityFields.fieldsFor(identity.headers);
    let text = '';
    for (let i = 0; i < this.slots.length; i++) {
      const value = this.slots[i]!.read(exchange, outcome, identity, identityFields);
      if (value === undefined) continue;
      const piece = this.pieceOf(i, value, text === '');
      if (piece !== undefined) text += piece;
    }
    return text === '' ? '{}' : `${text}}`;
  }

  /** A slot's key and value as they go into a line (undefined for a value JSON leaves out). */
  private pieceOf(index: number, value: unknown, first: boolean): string | undefined {
    const slot = this.slots[index]!;
    const cacheable = slot.masked || typeof value === 'string' || typeof value === 'number';
    const key = slot.masked ? MASKED : value;
    if (cacheable && key === this.lastValues[index] && first === this.lastFirsts[index]) return this.lastPieces[index];
    const json = slot.masked ? JSON_MASK : JSON.stringify(value);
    if (json === undefined) return undefined;
    const piece = (first ? slot.firstKey : slot.nextKey) + json;
    if (cacheable) {
      this.lastValues[index] = key;
      this.lastFirsts[index] = first;
      this.lastPieces[index] = piece;
    }
    return piece;
  }
}

const JSON_MASK = JSON.stringify(MASK);
/** What a masked slot's cache holds as its value: any value a masked slot has gives the same piece. */
const MASKED = Symbol('masked');

function keysOf(name: string): Pick<Slot, 'firstKey' | 'nextKey'> {
  const key = `${JSON.stringify(name)}:`;
  return { firstKey: `{${key}`, nextKey: `,${key}` };
}

/**
 * Which identity field each configured header names, worked out once per set of identity header names. The
 * correlation id, traceability id and caller come from the resolved identity, so an audit `headers` entry that
 * names one of them by its default name (X-Correlation-Id, ...) or by the name correlation.yml gives it finds the
 * value whatever header it travelled under.
 */
class IdentityFieldsCache {
  private names: IdentityHeaderNames | undefined;
  private fields: readonly (IdentityField | undefined)[] = [];

  constructor(private readonly headers: readonly string[]) {}

  fieldsFor(names: IdentityHeaderNames): readonly (IdentityField | undefined)[] {
    if (this.names !== names) {
      this.names = names;
      this.fields = this.headers.map((name) => identityFieldOf(names, name));
    }
    return this.fields;
  }
}

function identityFieldOf(names: IdentityHeaderNames, name: string): IdentityField | undefined {
  const lower = name.toLowerCase();
  const matches = (field: IdentityField): boolean => lower === DEFAULT_IDENTITY_HEADERS[field].toLowerCase() || lower === names[field].toLowerCase();
  return (['correlationId', 'traceabilityId', 'callerId'] as const).find(matches);
}
