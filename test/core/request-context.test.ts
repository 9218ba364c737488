import { expect } from 'chai';
import express from 'express';
import Fastify from 'fastify';
import { createServer } from 'node:http';
import { HttpInterceptors } from '../../core/http/http-interceptors.js';
import { createPropagatingFetch } from '../../core/http/propagating-fetch.js';
import { expressRequestContext, fastifyRequestContext, withRequestContext } from '../../core/http/server-context.js';
import { currentContext } from '../../core/request-context.js';
import { close, listen, startRecorder } from '../support/http.js';

const INCOMING = {
  Authorization: 'Bearer token-of-the-caller',
  'X-Correlation-Id': 'corr-42',
  'X-Traceability-Id': 'trace-7',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  'X-Unrelated': 'stays-here',
};

describe('request context across HTTP', () => {
  let downstream: Awaited<ReturnType<typeof startRecorder>>;
  const propagatingFetch = createPropagatingFetch({ callerId: 'service-a' });

  beforeEach(async () => {
    downstream = await startRecorder();
  });
  afterEach(async () => {
    await downstream.stop();
  });

  function expectPropagated(): void {
    const [headers] = downstream.seen;
    expect(headers).to.include({
      authorization: 'Bearer token-of-the-caller',
      'x-correlation-id': 'corr-42',
      'x-traceability-id': 'trace-7',
      traceparent: INCOMING.traceparent,
      caller_id: 'service-a',
    });
    expect(headers).to.not.have.property('x-unrelated');
  }

  it('node:http: withRequestContext fills the context; the propagating fetch carries it downstream', async () => {
    const server = createServer(
      withRequestContext((_req, res) => {
        // An await before the call: the context survives asynchronous steps.
        setTimeout(() => {
          propagatingFetch(downstream.url).then(() => res.end('done'));
        }, 5);
      }),
    );
    const url = await listen(server);
    await fetch(url, { headers: INCOMING });
    await close(server);
    expectPropagated();
  });

  it('Express: expressRequestContext middleware', async () => {
    const app = express();
    app.use(expressRequestContext());
    app.get('/', async (_req, res) => {
      await new Promise((resolve) => setImmediate(resolve));
      await propagatingFetch(downstream.url);
      res.send('done');
    });
    const server = createServer(app);
    const url = await listen(server);
    await fetch(url, { headers: INCOMING });
    await close(server);
    expectPropagated();
  });

  it('Fastify: fastifyRequestContext hook', async () => {
    const app = Fastify();
    fastifyRequestContext(app);
    app.get('/', async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await propagatingFetch(downstream.url);
      return { done: true };
    });
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    await fetch(address, { headers: INCOMING });
    await app.close();
    expectPropagated();
  });

  it('explicit headers win, and nothing is added outside a request context', async () => {
    const server = createServer(
      withRequestContext((_req, res) => {
        propagatingFetch(downstream.url, { headers: { 'X-Correlation-Id': 'explicit' } }).then(() => res.end());
      }),
    );
    const url = await listen(server);
    await fetch(url, { headers: INCOMING });
    await close(server);
    expect(downstream.seen[0]!['x-correlation-id']).to.equal('explicit');

    expect(currentContext()).to.equal(undefined);
    await propagatingFetch(downstream.url);
    expect(downstream.seen[1]).to.not.have.property('authorization');
    expect(downstream.seen[1]!.caller_id).to.equal('service-a');
  });

  it('keeps concurrent requests apart', async () => {
    const server = createServer(
      withRequestContext((_req, res) => {
        setTimeout(() => propagatingFetch(downstream.url).then(() => res.end()), Math.random() * 20);
      }),
    );
    const url = await listen(server);
    await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(url, { headers: { 'X-Correlation-Id': `c-${i}` } })));
    await close(server);
    expect(downstream.seen.map((h) => h['x-correlation-id']).sort()).to.deep.equal(Array.from({ length: 20 }, (_, i) => `c-${i}`).sort());
  });

  it('a URL fetch cannot parse rejects, as fetch does, with or without interceptors, instead of throwing at the call', async () => {
    const intercepted = createPropagatingFetch({ callerId: 'service-a', interceptors: new HttpInterceptors() });
    for (const candidate of [propagatingFetch, intercepted]) {
      let thrown: unknown;
      const call = (() => {
        try {
          return candidate('/relative-path');
        } catch (error) {
          thrown = error;
          return undefined;
        }
      })();
      expect(thrown, 'thrown at the call').to.equal(undefined);
      expect(await call!.then(() => 'resolved', (error: unknown) => error)).to.be.instanceOf(TypeError);
    }
  });

  it('client interceptors run around each call, the first added outermost, with the headers about to be sent', async () => {
    const interceptors = new HttpInterceptors();
    const order: string[] = [];
    interceptors.addClient(async (call, send) => {
      order.push(`outer ${call.method} ${call.url.pathname}`);
      call.headers.set('x-added', 'by-outer');
      const response = await send();
      order.push('outer done');
      return response;
    });
    interceptors.addClient(async (_call, send) => {
      order.push('inner');
      return send();
    });
    const intercepted = createPropagatingFetch({ callerId: 'service-a', interceptors });
    expect((await intercepted(`${downstream.url}/x/y`, { method: 'post' })).status).to.equal(200);
    expect(order).to.deep.equal(['outer POST /x/y', 'inner', 'outer done']);
    expect(downstream.seen[0]).to.include({ 'x-added': 'by-outer', caller_id: 'service-a' });
    expect(() => interceptors.addClient(async (_call, send) => send())).to.throw(/calls were made already/);
  });
});
