import { expect } from 'chai';
import { DemoTraceCollector } from '../../samples/accounts/trace-collector.js';

describe("the accounts demo's OTLP collector", () => {
  it('keeps the spans of an OTLP/JSON export, links included, and refuses a body it cannot read with 400 instead of crashing', async () => {
    const collector = await DemoTraceCollector.start();
    try {
      const span = { name: 'orders process', traceId: 'aa'.repeat(16), spanId: 'bb'.repeat(8), startTimeUnixNano: '1000000', endTimeUnixNano: '3000000', links: [{ spanId: 'cc'.repeat(8) }] };
      const body = { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] }, scopeSpans: [{ spans: [span] }] }] };
      const ok = await fetch(collector.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(ok.status).to.equal(200);
      expect(collector.spans).to.have.length(1);
      expect(collector.spans[0]).to.include({ service: 'svc', name: 'orders process', startMs: 1, endMs: 3 });
      expect(collector.spans[0]!.links).to.deep.equal(['cc'.repeat(8)]);
      const refused = await fetch(collector.url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: new Uint8Array([0x0a, 0x01, 0xff]) });
      expect(refused.status).to.equal(400);
      expect(collector.spans).to.have.length(1);
    } finally {
      await collector.stop();
    }
  });
});
