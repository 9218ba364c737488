import { expect } from 'chai';
import { compose } from '../../core/chain/compose.js';
import type { Handler } from '../../core/chain/handler.js';
import { LightError } from '../../core/errors/light-error.js';
import { Exchange } from '../../core/exchange.js';

const exchange = (): Exchange => new Exchange({ direction: 'produce', topic: 't' });

describe('compose (conformance)', () => {
  it('runs handlers in order, each around the rest of the chain', async () => {
    const calls: string[] = [];
    const step = (name: string): Handler =>
      async function (_exchange, next) {
        calls.push(`${name}>`);
        await next();
        calls.push(`<${name}`);
      };
    await compose([step('a'), step('b'), step('c')])(exchange(), async () => undefined);
    expect(calls).to.deep.equal(['a>', 'b>', 'c>', '<c', '<b', '<a']);
  });

  it('an empty chain resolves and calls the final next', async () => {
    let reached = false;
    await compose([])(exchange(), async () => {
      reached = true;
    });
    expect(reached).to.equal(true);
  });

  it('a downstream error can be caught upstream', async () => {
    let caught: unknown;
    const guard: Handler = async (_exchange, next) => {
      try {
        await next();
      } catch (error) {
        caught = error;
      }
    };
    const boom: Handler = async () => {
      throw new Error('boom');
    };
    await compose([guard, boom])(exchange(), async () => undefined);
    expect((caught as Error).message).to.equal('boom');
  });

  it('rejects a second next() with ERR10011 naming the handler', async () => {
    const twice: Handler = async function twiceHandler(_exchange, next) {
      await next();
      await next();
    };
    const error = await compose([twice])(exchange(), async () => undefined).then(() => undefined, (e: unknown) => e);
    expect(error).to.be.instanceOf(LightError);
    expect((error as LightError).code).to.equal('ERR10011');
    expect((error as LightError).message).to.contain('twiceHandler');
  });

  it('turns a synchronous throw into a rejection', async () => {
    const syncThrow = ((_exchange: Exchange) => {
      throw new Error('sync');
    }) as unknown as Handler;
    const result = compose([syncThrow])(exchange(), async () => undefined);
    expect(result).to.be.instanceOf(Promise);
    const error = await result.then(() => undefined, (e: unknown) => e);
    expect((error as Error).message).to.equal('sync');
  });

  it('composes chains inside chains', async () => {
    const calls: string[] = [];
    const mark = (name: string): Handler => async (_exchange, next) => {
      calls.push(name);
      await next();
    };
    const inner = compose([mark('b'), mark('c')]);
    await compose([mark('a'), inner, mark('d')])(exchange(), async () => undefined);
    expect(calls).to.deep.equal(['a', 'b', 'c', 'd']);
  });

  it('validates its input once, at compose time', () => {
    expect(() => compose([42 as unknown as Handler])).to.throw(TypeError, /index 0/);
    expect(() => compose('x' as unknown as Handler[])).to.throw(TypeError);
  });

  it('leaves the exchange to the handlers: a value set upstream is seen downstream', async () => {
    const ex = exchange();
    await compose([
      async (e, next) => {
        e.attachments.set('who', 'first');
        await next();
      },
      async (e) => {
        e.value = e.attachments.get('who');
      },
    ])(ex, async () => undefined);
    expect(ex.value).to.equal('first');
  });
});
