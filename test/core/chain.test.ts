import { expect } from 'chai';
import { Chain } from '../../core/chain/chain.js';
import { compose } from '../../core/chain/compose.js';
import type { Handler, PhasedHandler, RecordFailure } from '../../core/chain/handler.js';
import { LightError } from '../../core/errors/light-error.js';
import { Exchange } from '../../core/exchange.js';

const exchange = (offset = '0'): Exchange => new Exchange({ direction: 'consume', topic: 't', partition: 0, offset });

/** A phased handler that logs its phases; `asyncBefore` makes its before return a promise. */
function logging(name: string, calls: string[], options: { asyncBefore?: boolean; failBefore?: boolean; failAfter?: boolean } = {}): PhasedHandler {
  return {
    name,
    before(record) {
      calls.push(`${name}>${record.offset}`);
      if (options.failBefore) throw new Error(`${name} refused`);
      if (options.asyncBefore) return Promise.resolve();
    },
    after(record, failure: RecordFailure | undefined) {
      calls.push(`<${name}${record.offset}${failure ? `!${(failure.error as Error).message}` : ''}`);
      if (options.failAfter) throw new Error(`${name} after failed`);
    },
  };
}

describe('Chain (phased and around handlers)', () => {
  it('runs a chain of synchronous phases without a promise, in onion order', () => {
    const calls: string[] = [];
    const chain = new Chain([logging('a', calls), logging('b', calls)]);
    const result = chain.run(exchange(), () => void calls.push('terminal'));
    expect(result).to.equal(undefined);
    expect(calls).to.deep.equal(['a>0', 'b>0', 'terminal', '<b0', '<a0']);
  });

  it('goes on asynchronously after an async before, keeping the order', async () => {
    const calls: string[] = [];
    const chain = new Chain([logging('a', calls), logging('b', calls, { asyncBefore: true }), logging('c', calls)]);
    const result = chain.run(exchange(), async () => void calls.push('terminal'));
    expect(result).to.be.instanceOf(Promise);
    await result;
    expect(calls).to.deep.equal(['a>0', 'b>0', 'c>0', 'terminal', '<c0', '<b0', '<a0']);
  });

  it('a failing before skips the rest and its own after; earlier afters see the failure, then it is thrown', () => {
    const calls: string[] = [];
    const chain = new Chain([logging('a', calls), logging('b', calls, { failBefore: true }), logging('c', calls)]);
    expect(() => chain.run(exchange(), () => void calls.push('terminal'))).to.throw('b refused');
    expect(calls).to.deep.equal(['a>0', 'b>0', '<a0!b refused']);
  });

  it('a failing terminal reaches every after; an after that throws replaces the failure', async () => {
    const calls: string[] = [];
    const chain = new Chain([logging('a', calls), logging('b', calls, { failAfter: true })]);
    const error = await Promise.resolve()
      .then(() => chain.run(exchange(), async () => Promise.reject(new Error('business failed'))))
      .then(() => undefined, (e: unknown) => e);
    expect((error as Error).message).to.equal('b after failed');
    expect(calls).to.deep.equal(['a>0', 'b>0', '<b0!business failed', '<a0!b after failed']);
  });

  it('mixes around handlers with phased ones', async () => {
    const calls: string[] = [];
    const around: Handler = async function aroundHandler(record, next) {
      calls.push(`around>${record.offset}`);
      await next();
      calls.push('<around');
    };
    const chain = new Chain([logging('a', calls), around, logging('b', calls)]);
    await chain.run(exchange(), () => void calls.push('terminal'));
    expect(calls).to.deep.equal(['a>0', 'around>0', 'b>0', 'terminal', '<b0', '<around', '<a0']);
  });

  it('an around handler calling next twice fails with ERR10011 naming it', async () => {
    const twice: Handler = async function twiceHandler(_record, next) {
      await next();
      await next();
    };
    const error = await Promise.resolve(new Chain([twice]).run(exchange(), () => undefined)).then(() => undefined, (e: unknown) => e);
    expect((error as LightError).code).to.equal('ERR10011');
    expect((error as LightError).message).to.contain('twiceHandler');
  });

  it('hands each phase the state its beginBatch returned for the batch, and endBatch the records', async () => {
    const seen: string[] = [];
    const counting: PhasedHandler<{ tokens: Set<string> }> = {
      name: 'counting',
      beginBatch: async (records) => ({ tokens: new Set(records.map((record) => String(record.offset))) }),
      before: (record, batch) => void seen.push(`${record.offset}:${batch.tokens.size}`),
      endBatch: (records, batch) => void seen.push(`end ${records.length} ${batch.tokens.size}`),
    };
    const chain = new Chain([counting]);
    const records = [exchange('1'), exchange('2'), exchange('3')];
    const scope = await chain.beginBatch(records);
    for (const record of records) expect(chain.run(record, () => undefined, scope)).to.equal(undefined);
    await chain.endBatch(records, scope);
    expect(seen).to.deep.equal(['1:3', '2:3', '3:3', 'end 3 3']);
  });

  it('stages: runBefores, one terminal for all, runAfters with each outcome', async () => {
    const calls: string[] = [];
    const chain = new Chain([logging('a', calls), logging('b', calls)]);
    expect(chain.allPhased).to.equal(true);
    const records = [exchange('1'), exchange('2')];
    for (const record of records) chain.runBefores(record, []);
    calls.push('send');
    chain.runAfters(records[0]!, [], undefined);
    expect(() => chain.runAfters(records[1]!, [], { error: new Error('nack') })).to.throw('nack');
    expect(calls).to.deep.equal(['a>1', 'b>1', 'a>2', 'b>2', 'send', '<b1', '<a1', '<b2!nack', '<a2!nack']);
    expect(new Chain([async (_e, next) => next()]).allPhased).to.equal(false);
  });

  it('compose runs phased handlers as a batch of one, endBatch included', async () => {
    const calls: string[] = [];
    const flushing: PhasedHandler = { name: 'flushing', after: () => void calls.push('after'), endBatch: () => void calls.push('flush') };
    await compose([flushing])(exchange(), async () => void calls.push('next'));
    expect(calls).to.deep.equal(['next', 'after', 'flush']);
  });
});
