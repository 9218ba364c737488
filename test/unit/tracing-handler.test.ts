import { BUILTIN_CATALOG } from '../../handlers/index.js';
import { expect } from 'chai';
import { MockTracer } from 'opentracing';
import { buildChains } from '../../core/chain/chain-builder.js';
import { compose } from '../../core/chain/compose.js';
import { ConfigLoader } from '../../core/config/loader.js';
import { LightError } from '../../core/errors/light-error.js';
import { Exchange } from '../../core/exchange.js';
import { RecordHeaders } from '../../core/headers.js';
import { configDir } from '../support/config-dir.js';
import { testServices } from '../support/services.js';

interface MockSpanView {
  operationName(): string;
  tags(): Record<string, unknown>;
}

describe('tracing handler with a provided tracer', () => {
  it('uses the tracer passed in, marks failures on the span, and honours renamed tags', async () => {
    const tracer = new MockTracer();
    const dir = configDir({
      'handler.yml': 'handlers: [tracing]\ndefaultHandlers:\n  consume: [tracing]\n',
      'tracing.yml': 'tracer: provided\ntagNames:\n  destination: kafka.topic\n',
    });
    const loader = new ConfigLoader({ configDir: dir, env: {} });
    const { table } = await buildChains(loader, testServices(loader, { extra: { tracer } }), BUILTIN_CATALOG);
    const failing = compose([
      ...table.resolve('consume', 'orders')!.handlers,
      async () => {
        throw new LightError('ERR11000', { topic: 'orders', instancePath: '/n', reason: 'bad' });
      },
    ]);
    const exchange = new Exchange({ direction: 'consume', topic: 'orders', partition: 1, offset: '7', headers: RecordHeaders.from({ 'X-Correlation-Id': 'c-1' }) });
    await failing(exchange, async () => undefined).catch(() => undefined);

    const [span] = tracer.report().spans as unknown as MockSpanView[];
    expect(span!.operationName()).to.equal('orders process');
    expect(span!.tags()).to.include({
      'kafka.topic': 'orders',
      'messaging.system': 'kafka',
      'messaging.kafka.destination.partition': 1,
      'messaging.kafka.message.offset': '7',
      correlation_id: 'c-1',
      error: true,
      status_code: 400,
      error_code: 'ERR11000',
    });
  });

  it('refuses tracer: provided without a tracer', async () => {
    const dir = configDir({ 'handler.yml': 'handlers: [tracing]\n', 'tracing.yml': 'tracer: provided\n' });
    const loader = new ConfigLoader({ configDir: dir, env: {} });
    const error = await buildChains(loader, testServices(loader), BUILTIN_CATALOG).then(() => undefined, (e: unknown) => e);
    expect(String(error)).to.contain('ERR13001').and.contain('tracing.yml').and.contain('tracer');
  });
});
