import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MockTracer } from 'opentracing';
import { Registry } from 'prom-client';
import { Attachment } from '../../core/attachments.js';
import { buildChains } from '../../core/chain/chain-builder.js';
import { compose } from '../../core/chain/compose.js';
import { ConfigLoader } from '../../core/config/loader.js';
import { LightError } from '../../core/errors/light-error.js';
import { Exchange } from '../../core/exchange.js';
import { RecordHeaders } from '../../core/headers.js';
import { contextFromRecord, runWithContext } from '../../core/request-context.js';
import { BUILTIN_CATALOG } from '../../handlers/index.js';
import { configDir } from '../support/config-dir.js';
import { AUDIENCE, ISSUER, makeKey, signToken } from '../support/jwt.js';
import { testServices } from '../support/services.js';

/** MockTracer cannot inject a context into headers; here nothing needs the injected headers. */
class RecordingTracer extends MockTracer {
  protected override _inject(): never {
    return undefined as never;
  }
}

interface MockSpanView {
  tags(): Record<string, unknown>;
}

/**
 * correlation.yml renames all three identity headers; the correlation handler publishes what it resolved and
 * tracing, security, metrics and audit read it from there — none of them looks at the default header names.
 */
describe('identity resolved by the correlation handler reaches every other handler', () => {
  it('renamed correlation, traceability and caller headers reach tracing tags, the caller check, metrics labels and audit', async () => {
    const key = await makeKey('signer');
    const dir = configDir({
      'handler.yml': `handlers: [correlation, tracing, security, metrics, audit]
defaultHandlers:
  consume: [correlation, tracing, metrics, audit, security]
`,
      'correlation.yml': 'correlationIdHeader: X-Request-Id\ntraceabilityIdHeader: X-Trace-Ref\ncallerIdHeader: X-Caller\n',
      'tracing.yml': 'tracer: provided\n',
      'security.yml': `jwt:
  keys:
    - kid: signer
      file: signer.pem
  issuer: [${ISSUER}]
  audience: [${AUDIENCE}]
topicCallers:
  orders: [svc-a]
`,
      'audit.yml': 'auditFile: AUDIT\nheaders: [X-Correlation-Id, X-Trace-Ref, caller_id]\naudit: [serviceId, topic, statusCode, errorCode]\n',
      'signer.pem': key.publicPem,
    });
    const { writeFileSync } = await import('node:fs');
    const auditFile = join(dir, 'audit.log');
    writeFileSync(join(dir, 'audit.yml'), readFileSync(join(dir, 'audit.yml'), 'utf8').replace('AUDIT', auditFile));
    const tracer = new RecordingTracer();
    const registry = new Registry();
    const loader = new ConfigLoader({ configDir: dir, env: {} });
    const services = testServices(loader, { serviceId: 'svc-b', extra: { tracer }, metricsRegistry: registry });
    const { table } = await buildChains(loader, services, BUILTIN_CATALOG);
    const chain = compose(table.resolve('consume', 'orders')!.handlers);
    const token = await signToken(key, { client_id: 'web' });
    const consume = async (headers: Record<string, string>): Promise<Exchange> => {
      const exchange = new Exchange({ direction: 'consume', topic: 'orders', partition: 0, offset: '1', headers: RecordHeaders.from({ Authorization: `Bearer ${token}`, ...headers }) });
      await runWithContext(contextFromRecord(exchange.headers, services.propagation.names), () => chain(exchange, async () => undefined));
      return exchange;
    };

    // The renamed names are propagated: a unit of work takes them from incoming records and requests.
    expect(services.propagation.names).to.include.members(['X-Request-Id', 'X-Trace-Ref']);

    // Accepted: the caller under X-Caller is allowed, whatever caller_id says.
    const accepted = await consume({ 'X-Request-Id': 'r-1', 'X-Trace-Ref': 't-1', 'X-Caller': 'svc-a', caller_id: 'svc-z' });
    expect(accepted.attachments.get(Attachment.identity)).to.deep.include({ correlationId: 'r-1', traceabilityId: 't-1', callerId: 'svc-a' });
    expect(accepted.attachments.get(Attachment.claims)).to.deep.include({ clientId: 'web', callerId: 'svc-a' });

    // Refused: the caller under X-Caller is not allowed, although caller_id names an allowed one.
    const refused = await consume({ 'X-Request-Id': 'r-2', 'X-Caller': 'svc-z', caller_id: 'svc-a' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect((refused as LightError).code).to.equal('ERR10006');
    expect(String(refused)).to.contain('svc-z');

    const spans = tracer.report().spans as unknown as MockSpanView[];
    expect(spans[0]!.tags()).to.include({ correlation_id: 'r-1', traceability_id: 't-1' });
    expect(spans[1]!.tags()).to.include({ correlation_id: 'r-2' });

    const records = await registry.getSingleMetric('light_kafka_records_total')!.get();
    const callers = records.values.map((value) => `${value.labels.callerId}:${value.labels.status}`);
    expect(callers).to.have.members(['svc-a:200', 'svc-z:403']);

    // Audit names the ids by their default names or by the renamed ones, and finds them either way.
    const deadline = Date.now() + 5_000;
    const read = (): string[] => (existsSync(auditFile) ? readFileSync(auditFile, 'utf8').split('\n').filter(Boolean) : []);
    while (read().length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    const lines = read().map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines[0]).to.deep.include({ 'X-Correlation-Id': 'r-1', 'X-Trace-Ref': 't-1', caller_id: 'svc-a', statusCode: 200 });
    expect(lines[1]).to.deep.include({ 'X-Correlation-Id': 'r-2', caller_id: 'svc-z', statusCode: 403, errorCode: 'ERR10006' });
  });

  it('produce: the renamed correlation id is copied from the unit of work and the caller header names this service', async () => {
    const dir = configDir({
      'handler.yml': 'handlers: [correlation]\ndefaultHandlers:\n  consume: [correlation]\n',
      'correlation.yml': 'correlationIdHeader: X-Request-Id\ncallerIdHeader: X-Caller\n',
    });
    const loader = new ConfigLoader({ configDir: dir, env: {} });
    const services = testServices(loader, { serviceId: 'svc-b' });
    const { table } = await buildChains(loader, services, BUILTIN_CATALOG);
    const chain = compose(table.resolve('consume', 'any')!.handlers.slice(1)); // without the consume transport
    const exchange = new Exchange({ direction: 'produce', topic: 'shipments' });
    const incoming = RecordHeaders.from({ 'x-request-id': 'r-9' });
    await runWithContext(contextFromRecord(incoming, services.propagation.names), () => chain(exchange, async () => undefined));
    expect(exchange.headers.get('X-Request-Id')).to.equal('r-9');
    expect(exchange.headers.has('X-Correlation-Id')).to.equal(false);
    expect(exchange.headers.get('X-Caller')).to.equal('svc-b');
    expect(exchange.identity).to.deep.include({ correlationId: 'r-9', callerId: 'svc-b' });
  });
});
