import { expect } from 'chai';
import { VerifiedTokenCache } from '../../handlers/security/verified-token-cache.js';

describe('verified token cache', () => {
  it('is bounded: the least recently used token goes first', () => {
    const cache = new VerifiedTokenCache<string>(2);
    cache.set('a', 'A', 100);
    cache.set('b', 'B', 100);
    expect(cache.get('a', 0)).to.equal('A'); // a is now the most recent
    cache.set('c', 'C', 100);
    expect(cache.size).to.equal(2);
    expect(cache.get('b', 0)).to.equal(undefined);
    expect(cache.get('a', 0)).to.equal('A');
    expect(cache.get('c', 0)).to.equal('C');
  });

  it('never returns a token at or past the time it may be used until', () => {
    const cache = new VerifiedTokenCache<string>(10);
    cache.set('t', 'T', 50);
    expect(cache.get('t', 49.9)).to.equal('T');
    expect(cache.get('t', 50)).to.equal(undefined);
    expect(cache.size).to.equal(0);
  });

  it('with size 0 keeps nothing', () => {
    const cache = new VerifiedTokenCache<string>(0);
    cache.set('t', 'T', 50);
    expect(cache.get('t', 0)).to.equal(undefined);
  });
});
