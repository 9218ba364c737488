import { BUILTIN_CATALOG } from '../../handlers/index.js';
import { expect } from 'chai';
import { buildChains } from '../../core/chain/chain-builder.js';
import { compose } from '../../core/chain/compose.js';
import { ConfigLoader } from '../../core/config/loader.js';
import { LightError } from '../../core/errors/light-error.js';
import { Exchange } from '../../core/exchange.js';
import { RecordHeaders } from '../../core/headers.js';
import { Attachment } from '../../core/attachments.js';
import { contextFromRecord, runWithContext } from '../../core/request-context.js';
import { configDir } from '../support/config-dir.js';
import { AUDIENCE, ISSUER, makeKey, signToken, type TestKey } from '../support/jwt.js';
import { testServices } from '../support/services.js';

async function securityChain(securityYml: string, key: TestKey): Promise<(exchange: Exchange) => Promise<void>> {
  const dir = configDir({
    'handler.yml': 'handlers: [security]\ndefaultHandlers:\n  consume: [security]\n',
    'security.yml': securityYml,
    'keys/signer.pem': key.publicPem,
  });
  const loader = new ConfigLoader({ configDir: dir, env: {} });
  const { table } = await buildChains(loader, testServices(loader), BUILTIN_CATALOG);
  const chain = compose(table.resolve('consume', 'any')!.handlers);
  return (exchange) => chain(exchange, async () => undefined);
}

const PEM_CONFIG = `jwt:
  keys:
    - kid: signer
      file: keys/signer.pem
      alg: RS256
  issuer: [${ISSUER}]
  audience: [${AUDIENCE}]
enableVerifyScopeToken: true
skipTopics: [public-events]
topicScopes:
  orders: [order.w]
topicCallers:
  orders: [svc-a]
produce:
  requireToken: true
`;

function record(topic: string, headers: Record<string, string>, direction: 'consume' | 'produce' = 'consume'): Exchange {
  return new Exchange({ direction, topic, headers: RecordHeaders.from(headers) });
}

async function codeOf(work: Promise<void>): Promise<string | undefined> {
  return work.then(
    () => undefined,
    (error: unknown) => (error instanceof LightError ? error.code : String(error)),
  );
}

describe('security handler options', () => {
  let key: TestKey;
  before(async () => {
    key = await makeKey('signer');
  });

  it('verifies with a PEM key; the scopes of X-Scope-Token count; claims name both clients', async () => {
    const run = await securityChain(PEM_CONFIG, key);
    const user = await signToken(key, { scope: 'order.r', client_id: 'web' });
    const scopeToken = await signToken(key, { scope: 'order.w', client_id: 'svc-a-client' });
    const exchange = record('orders', { Authorization: `Bearer ${user}`, 'X-Scope-Token': `Bearer ${scopeToken}`, caller_id: 'svc-a' });
    await run(exchange);
    const claims = exchange.attachments.get(Attachment.claims)!;
    expect(claims).to.deep.include({ clientId: 'web', scopeClientId: 'svc-a-client', callerId: 'svc-a' });
    expect(claims.scopes).to.deep.equal(['order.w']);
    // Without the scope token the user's own scopes do not reach order.w.
    expect(await codeOf(run(record('orders', { Authorization: `Bearer ${user}`, caller_id: 'svc-a' })))).to.equal('ERR10005');
  });

  it('refuses a caller not allowed on the topic, and skips listed topics', async () => {
    const run = await securityChain(PEM_CONFIG, key);
    const token = await signToken(key, { scope: 'order.w' });
    expect(await codeOf(run(record('orders', { Authorization: `Bearer ${token}`, caller_id: 'svc-x' })))).to.equal('ERR10006');
    expect(await codeOf(run(record('orders', { Authorization: `Bearer ${token}` })))).to.equal('ERR10006');
    expect(await codeOf(run(record('public-events', {})))).to.equal(undefined);
    expect(await codeOf(run(record('other', {})))).to.equal('ERR10002');
  });

  it('on produce attaches the token of the request context, and refuses a record without one when required', async () => {
    const run = await securityChain(PEM_CONFIG, key);
    const context = contextFromRecord(RecordHeaders.from({ Authorization: 'Bearer from-the-caller', 'X-Scope-Token': 'Bearer scope' }));
    const produced = record('orders', {}, 'produce');
    await runWithContext(context, () => run(produced));
    expect(produced.headers.get('Authorization')).to.equal('Bearer from-the-caller');
    expect(produced.headers.get('X-Scope-Token')).to.equal('Bearer scope');
    expect(await codeOf(run(record('orders', {}, 'produce')))).to.equal('ERR10002');
  });

  it('refuses configurations that could accept forged tokens', async () => {
    const error = await securityChain('jwt:\n  keys:\n    - kid: signer\n      file: keys/signer.pem\n  algorithms: [none]\n', key).then(() => undefined, (e: unknown) => e);
    expect(String(error)).to.contain('ERR13001').and.contain('jwt.algorithms').and.contain('none');
    const noKeys = await securityChain('jwt: {}\n', key).then(() => undefined, (e: unknown) => e);
    expect(String(noKeys)).to.contain('needs jwksUrl, keys or hmacSecret');
  });
});
