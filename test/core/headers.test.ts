import { expect } from 'chai';
import { RecordHeaders } from '../../core/headers.js';

describe('RecordHeaders', () => {
  it('looks names up case-insensitively and keeps the written name', () => {
    const headers = new RecordHeaders().add('X-Correlation-Id', 'c1');
    expect(headers.get('x-correlation-id')).to.equal('c1');
    expect(headers.toKafka()).to.have.property('X-Correlation-Id');
  });

  it('keeps repeated headers as separate values, in order', () => {
    const headers = RecordHeaders.from({ tag: ['a', 'b'] }).add('TAG', 'c');
    expect(headers.getAll('tag')).to.deep.equal(['a', 'b', 'c']);
    const kafka = headers.toKafka();
    expect((kafka.tag as Buffer[]).map(String)).to.deep.equal(['a', 'b']);
    expect(String(kafka.TAG)).to.equal('c');
  });

  it('keeps binary values byte for byte', () => {
    const bytes = Buffer.from([0, 255, 128, 10]);
    const headers = RecordHeaders.from({ bin: bytes });
    expect(headers.getBuffer('BIN')!.equals(bytes)).to.equal(true);
  });

  it('set replaces every value of a name in any case', () => {
    const headers = RecordHeaders.from({ 'x-a': ['1', '2'] }).set('X-A', '3');
    expect(headers.getAll('x-a')).to.deep.equal(['3']);
    expect(headers.names()).to.deep.equal(['X-A']);
  });

  it('reads kafkajs headers with arrays and skips undefined', () => {
    const headers = RecordHeaders.from({ a: [Buffer.from('1'), Buffer.from('2')], b: undefined });
    expect(headers.size).to.equal(2);
    expect(headers.has('b')).to.equal(false);
  });

  it('pick copies the first value of each name, under the name given, as set of each would', () => {
    const source = RecordHeaders.fromKafka({ authorization: ['a1', 'a2'], 'X-Other': 'o', 'x-correlation-id': 'c' });
    const names = ['X-Correlation-Id', 'Authorization', 'Missing', 'AUTHORIZATION'];
    const bySet = new RecordHeaders();
    for (const name of names) {
      const value = source.getBuffer(name);
      if (value) bySet.set(name, value);
    }
    const picked = source.pick(names);
    expect(picked.toJSON()).to.deep.equal(bySet.toJSON());
    expect(picked.toJSON()).to.deep.equal({ 'X-Correlation-Id': 'c', AUTHORIZATION: 'a1' });
    expect(picked.get('authorization')).to.equal('a1');
  });
});
