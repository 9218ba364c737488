import { expect } from 'chai';
import { Attachment } from '../../core/attachments.js';
import { LightError, failureStatusOf } from '../../core/errors/light-error.js';
import { Exchange } from '../../core/exchange.js';
import { RecordHeaders } from '../../core/headers.js';
import type { RecordClaims } from '../../core/identity.js';
import { AuditLayout, type AuditOutcome } from '../../handlers/audit/audit-record.js';

const FIELDS = ['client_id', 'user_id', 'scope_client_id', 'serviceId', 'direction', 'topic', 'partition', 'offset', 'key', 'statusCode', 'errorCode', 'processingTime', 'timestamp'];
const HEADERS = ['X-Correlation-Id', 'X-Traceability-Id', 'caller_id'];
const NO_CLAIMS: RecordClaims = { clientId: undefined, userId: undefined, scopeClientId: undefined, scopes: [], callerId: undefined, subject: undefined, issuer: undefined, expiresAt: undefined, payload: {} };

function exchangeOf(n: number, correlationId: string, clientId: string | undefined): Exchange {
  const exchange = new Exchange({
    direction: 'consume',
    topic: 'orders',
    partition: n % 3,
    offset: String(n),
    key: n % 2 === 0 ? `k"${n}` : null,
    headers: RecordHeaders.from({ 'X-Correlation-Id': correlationId, caller_id: 'svc-a', 'x-extra': 'e\u2028\ud800' }),
  });
  if (clientId !== undefined) exchange.attachments.set(Attachment.claims, { ...NO_CLAIMS, clientId, userId: 'user-1', callerId: 'svc-a' });
  return exchange;
}

const outcomes: AuditOutcome[] = [
  { failure: undefined, elapsedMs: 0.12345, timestamp: '2026-01-02T03:04:05.006Z' },
  { failure: undefined, elapsedMs: 3, timestamp: 1767323045006 },
  { failure: failureStatusOf(new LightError('ERR10005', { scopes: [], required: ['x'], topic: 'orders' })), elapsedMs: 1.5, timestamp: '2026-01-02T03:04:05.007Z' },
  { failure: failureStatusOf(new Error('boom')), elapsedMs: Number.NaN, timestamp: '2026-01-02T03:04:05.007Z' },
];

describe('audit record layout', () => {
  const layouts: [string, ConstructorParameters<typeof AuditLayout>[0]][] = [
    ['the default fields', { headers: HEADERS, audit: FIELDS, mask: [] }],
    ['masked fields and headers', { headers: HEADERS, audit: FIELDS, mask: ['USER_ID', 'key', 'x-correlation-id'] }],
    ['a header named like a field, repeated fields', { headers: ['topic', 'x-extra'], audit: ['topic', 'key', 'key', 'offset'], mask: [] }],
    ['names JSON.stringify orders or treats apart', { headers: ['7', '__proto__', 'x-extra'], audit: ['statusCode'], mask: [] }],
    ['nothing', { headers: [], audit: [], mask: [] }],
  ];
  for (const [what, config] of layouts) {
    it(`writes each record as the JSON text of its object: ${what}`, () => {
      const layout = new AuditLayout(config, 'svc "audit"');
      for (let n = 0; n < 12; n++) {
        // Values repeat and change from record to record, as the layout caches the text of repeated ones.
        const exchange = exchangeOf(n, n % 4 < 2 ? 'c-1' : `c-${n}\n`, n % 5 === 0 ? undefined : `client-${n % 2}`);
        const outcome = outcomes[n % outcomes.length]!;
        expect(layout.line(exchange, outcome)).to.equal(JSON.stringify(layout.record(exchange, outcome)));
      }
    });
  }
});
