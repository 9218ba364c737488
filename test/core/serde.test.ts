import { expect } from 'chai';
import { LightError } from '../../core/errors/light-error.js';
import { deserialize, serialize } from '../../core/kafka/serde.js';

function codeOf(work: () => unknown): string | undefined {
  try {
    work();
  } catch (error) {
    return error instanceof LightError ? error.code : 'not a LightError';
  }
  return undefined;
}

describe('serde', () => {
  it('round-trips JSON, strings and buffers', () => {
    const value = { a: 1, b: ['x', null], c: 'é' };
    expect(deserialize(serialize(value, 'json', 't', 'value'), 'json', 't', 'value')).to.deep.equal(value);
    expect(deserialize(serialize('plain', 'string', 't', 'key'), 'string', 't', 'key')).to.equal('plain');
    const bytes = Buffer.from([1, 2, 3]);
    expect(serialize(bytes, 'json', 't', 'value')).to.equal(bytes);
    expect(deserialize(bytes, 'buffer', 't', 'value')).to.equal(bytes);
    expect(serialize(null, 'json', 't', 'value')).to.equal(null);
    expect(deserialize(null, 'json', 't', 'value')).to.equal(null);
  });

  it('reports malformed input with its own codes', () => {
    expect(codeOf(() => deserialize(Buffer.from('{oops'), 'json', 't', 'value'))).to.equal('ERR11004');
    expect(codeOf(() => deserialize(Buffer.from([0xff, 0xfe, 0x80]), 'string', 't', 'value'))).to.equal('ERR11005');
    expect(codeOf(() => deserialize(Buffer.from([0xc3]), 'json', 't', 'value'))).to.equal('ERR11005');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(codeOf(() => serialize(circular, 'json', 't', 'value'))).to.equal('ERR11006');
    expect(codeOf(() => serialize({ a: 1 }, 'string', 't', 'value'))).to.equal('ERR11006');
  });
});
