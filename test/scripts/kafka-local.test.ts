import { expect } from 'chai';
import { newClusterId } from '../../scripts/kafka-local.js';

describe('local Kafka launcher', () => {
  it('makes cluster ids Kafka accepts: 16 bytes base64url, never starting with "-"', () => {
    for (let i = 0; i < 20_000; i++) {
      const id = newClusterId();
      expect(id).to.match(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      expect(Buffer.from(id, 'base64url')).to.have.length(16);
    }
  });
});
