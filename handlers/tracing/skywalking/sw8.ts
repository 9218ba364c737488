/**
 * The `sw8` header: SkyWalking's cross-process propagation (format v3), the header the SkyWalking Java agent on
 * light-4j services reads and writes too.
 *
 *   <sample>-<b64 traceId>-<b64 parentSegmentId>-<parentSpanId>-<b64 parentService>-<b64 parentInstance>-<b64 parentEndpoint>-<b64 peer>
 *
 * Standard base64 never contains '-', so the 8 fields split on it. `sample` is 1 (record this trace) or 0 (the
 * context exists but was not sampled: downstream keeps that decision). skywalking-backend-js's ContextCarrier
 * always writes 1 and ignores the flag on the way in, hence this codec of our own.
 */
export const SW8_HEADER = 'sw8';

export interface Sw8Context {
  sampled: boolean;
  traceId: string;
  parentSegmentId: string;
  parentSpanId: number;
  parentService: string;
  parentInstance: string;
  parentEndpoint: string;
  /** The address the parent used to reach this process (a broker for Kafka, host:port for HTTP). */
  peer: string;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decode(field: string): string | undefined {
  if (!BASE64.test(field) || field.length % 4 !== 0) return undefined;
  return Buffer.from(field, 'base64').toString('utf8');
}

const encode = (value: string): string => Buffer.from(value, 'utf8').toString('base64');

/** The context a header carries; undefined when it is malformed (the caller then starts a new trace). */
export function parseSw8(value: string | undefined): Sw8Context | undefined {
  if (!value) return undefined;
  const parts = value.trim().split('-');
  if (parts.length !== 8 || (parts[0] !== '0' && parts[0] !== '1')) return undefined;
  const [traceId, parentSegmentId, parentService, parentInstance, parentEndpoint, peer] = [parts[1], parts[2], parts[4], parts[5], parts[6], parts[7]].map((field) => decode(field!));
  const parentSpanId = /^\d{1,9}$/.test(parts[3]!) ? Number(parts[3]) : NaN;
  if (!traceId || !parentSegmentId || !parentService || !parentEndpoint || Number.isNaN(parentSpanId)) return undefined;
  if (parentInstance === undefined || peer === undefined) return undefined;
  return { sampled: parts[0] === '1', traceId, parentSegmentId, parentSpanId, parentService, parentInstance, parentEndpoint, peer };
}

export function formatSw8(context: Sw8Context): string {
  return [
    context.sampled ? '1' : '0',
    encode(context.traceId),
    encode(context.parentSegmentId),
    String(context.parentSpanId),
    encode(context.parentService),
    encode(context.parentInstance),
    encode(context.parentEndpoint),
    encode(context.peer),
  ].join('-');
}
