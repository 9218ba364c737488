// An example test a service copies: its own config folder, its own handler.yml, no broker.
import { expect } from 'chai';
import { Attachment } from '../../core/attachments.js';
import { ChainTestKit } from '../../testing/index.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { AUDIENCE, ISSUER, makeKey, signToken, type TestKey } from '../support/jwt.js';

async function ordersService(key: TestKey): Promise<string> {
  return configDir({
    'service.yml': serviceYml('orders-service'),
    'kafka-producer.yml': producerYml(),
    'kafka-consumer.yml': consumerYml('orders-group', '', 2),
    'handler.yml': `handlers: [correlation, security, validation/json-schema@json, kafka/producer@producer]
defaultHandlers:
  produce: [correlation, security, json, producer]
  consume: [correlation, security, json]
`,
    'security.yml': `jwt:\n  keys:\n    - kid: signer\n      file: signer.pem\n      alg: RS256\n  issuer: [${ISSUER}]\n  audience: [${AUDIENCE}]\n`,
    'signer.pem': key.publicPem,
    'json-schema.yml': 'topics:\n  orders:\n    value: order.schema.json\n',
    'order.schema.json': JSON.stringify({ type: 'object', required: ['id', 'quantity'], properties: { id: { type: 'string' }, quantity: { type: 'integer', minimum: 1 } } }),
  });
}

describe('light-kafka/testing: a service chains without a broker', () => {
  let key: TestKey;
  let kit: ChainTestKit;
  let token: string;
  before(async () => {
    key = await makeKey('signer');
    token = await signToken(key, { client_id: 'web' });
    kit = await ChainTestKit.create({ configDir: await ordersService(key) });
  });
  after(() => kit.close());

  it('produce: what reaches the transport carries the caller token, the correlation id and caller_id; an invalid record is not written', async () => {
    await kit.produce('orders', { key: 'o1', value: { id: 'o1', quantity: 2 } }, { headers: { Authorization: `Bearer ${token}`, 'X-Correlation-Id': 'corr-1' } });
    const [written] = kit.written('orders');
    expect(written).to.deep.include({ key: 'o1', value: { id: 'o1', quantity: 2 } });
    expect(written!.headers).to.deep.include({ Authorization: `Bearer ${token}`, 'X-Correlation-Id': 'corr-1', caller_id: 'orders-service' });
    const refused = await kit.produce('orders', { key: 'o2', value: { id: 'o2', quantity: 0 } }).then(() => undefined, (error: { code?: string }) => error.code);
    expect(refused).to.equal('ERR11000');
    expect(kit.written('orders')).to.have.length(1);
  });

  it('consume: valid records reach the handler with their claims; bad ones go to the dead-letter path with their codes', async () => {
    const headers = { Authorization: `Bearer ${token}`, 'X-Correlation-Id': 'corr-2' };
    let failures = 0;
    const result = await kit.consume(
      'orders',
      [
        { key: 'o1', value: { id: 'o1', quantity: 1 }, headers },
        { key: 'o2', value: '{not json', headers },
        { key: 'o3', value: { id: 'o3', quantity: 1 }, headers: { Authorization: 'Bearer forged' } },
        { key: 'o4', value: { id: 'o4', quantity: 3 }, headers },
      ],
      (exchange) => {
        if (exchange.keyString === 'o4') {
          failures += 1;
          throw new Error('the database is down');
        }
      },
    );
    const handled = result.processed.filter((exchange) => exchange.keyString === 'o1');
    expect(handled).to.have.length(1);
    expect(handled[0]!.attachments.get(Attachment.claims)?.clientId).to.equal('web');
    expect(result.deadLetters.map((letter) => [letter.key, letter.code, letter.attempts])).to.deep.equal([
      ['o2', 'ERR11004', 1],
      ['o3', 'ERR10000', 1],
      ['o4', 'ERR10010', 3],
    ]);
    expect(failures, 'the failing handler ran once and was retried maxRetries (2) times').to.equal(3);
    expect(result.deadLetters[0]!.headers['X-Correlation-Id']).to.equal('corr-2');
  });
});
