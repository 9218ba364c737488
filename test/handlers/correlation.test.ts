import { BUILTIN_CATALOG } from '../../handlers/index.js';
import { expect } from 'chai';
import { buildChains } from '../../core/chain/chain-builder.js';
import { compose } from '../../core/chain/compose.js';
import { ConfigLoader } from '../../core/config/loader.js';
import { Exchange } from '../../core/exchange.js';
import { RecordHeaders } from '../../core/headers.js';
import { contextFromRecord, currentContext, runWithContext } from '../../core/request-context.js';
import { Attachment } from '../../core/attachments.js';
import { configDir } from '../support/config-dir.js';
import { testServices } from '../support/services.js';

async function correlationChain(extraYml = ''): Promise<(exchange: Exchange) => Promise<void>> {
  const dir = configDir({ 'handler.yml': 'handlers: [correlation]\ndefaultHandlers:\n  consume: [correlation]\n', 'correlation.yml': extraYml });
  const loader = new ConfigLoader({ configDir: dir, env: {} });
  const { table } = await buildChains(loader, testServices(loader, { serviceId: 'svc-b' }), BUILTIN_CATALOG);
  const chain = compose(table.resolve('consume', 'any')!.handlers);
  return (exchange) => chain(exchange, async () => undefined);
}

const produced = (headers: Record<string, string> = {}): Exchange =>
  new Exchange({ direction: 'produce', topic: 't', headers: RecordHeaders.from(headers) });

describe('correlation handler', () => {
  it('copies the ids from the request context and writes its own caller_id', async () => {
    const run = await correlationChain();
    const incoming = RecordHeaders.from({ 'x-correlation-id': 'c-1', 'X-Traceability-Id': 't-1', caller_id: 'svc-a', Authorization: 'Bearer x' });
    const exchange = produced();
    await runWithContext(contextFromRecord(incoming), () => run(exchange));
    expect(exchange.headers.get('X-Correlation-Id')).to.equal('c-1');
    expect(exchange.headers.get('X-Traceability-Id')).to.equal('t-1');
    expect(exchange.headers.getAll('caller_id')).to.deep.equal(['svc-b']);
    expect(exchange.attachments.get(Attachment.identity)?.callerId).to.equal('svc-b');
  });

  it('generates a missing correlation id once per unit of work and keeps it', async () => {
    const run = await correlationChain();
    const first = produced();
    const second = produced();
    let contextId: string | undefined;
    await runWithContext(contextFromRecord(new RecordHeaders()), async () => {
      await run(first);
      await run(second);
      contextId = currentContext()!.headers.get('X-Correlation-Id');
    });
    const generated = first.headers.get('X-Correlation-Id');
    expect(generated).to.match(/^[0-9a-f-]{36}$/);
    expect(second.headers.get('X-Correlation-Id')).to.equal(generated);
    expect(contextId).to.equal(generated);
  });

  it('keeps an id the record already has, and generates nothing when autogen is off', async () => {
    const run = await correlationChain();
    const own = produced({ 'X-Correlation-Id': 'mine' });
    await run(own);
    expect(own.headers.getAll('x-correlation-id')).to.deep.equal(['mine']);

    const noAutogen = await correlationChain('autogenCorrelationID: false\n');
    const bare = produced();
    await noAutogen(bare);
    expect(bare.headers.has('X-Correlation-Id')).to.equal(false);
  });

  it('on consume: remembers the caller, generates a missing id into the context, binds a logger', async () => {
    const run = await correlationChain();
    const exchange = new Exchange({ direction: 'consume', topic: 't', headers: RecordHeaders.from({ caller_id: 'svc-a' }) });
    let contextId: string | undefined;
    await runWithContext(contextFromRecord(exchange.headers), async () => {
      await run(exchange);
      contextId = currentContext()!.headers.get('X-Correlation-Id');
    });
    expect(exchange.attachments.get(Attachment.identity)?.callerId).to.equal('svc-a');
    expect(contextId).to.equal(exchange.headers.get('X-Correlation-Id'));
    expect(exchange.attachments.get(Attachment.logger)).to.have.property('info');
  });
});
