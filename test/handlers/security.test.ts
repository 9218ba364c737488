import { BUILTIN_CATALOG } from '../../handlers/index.js';
import { expect } from 'chai';
import { buildChains } from '../../core/chain/chain-builder.js';
import { compose } from '../../core/chain/compose.js';
import { ConfigLoader } from '../../core/config/loader.js';
import { LightError } from '../../core/errors/light-error.js';
import { Exchange } from '../../core/exchange.js';
import { RecordHeaders, DeadLetterHeaderNames as DLQ } from '../../core/headers.js';
import { Attachment, Shared } from '../../core/attachments.js';
import { contextFromRecord, runWithContext } from '../../core/request-context.js';
import { configDir, consumerYml, producerYml, serviceYml } from '../support/config-dir.js';
import { AUDIENCE, ISSUER, makeKey, signToken, type TestKey, hmacWithPublicKey, JwksServer, unsecuredToken } from '../support/jwt.js';
import { testServices } from '../support/services.js';
import { VerifiedTokenCache } from '../../handlers/security/verified-token-cache.js';
import { LightService } from '../../index.js';
import type { RecordClaims } from '../../core/identity.js';
import { createTopics, headerText, produceRaw, readTopic, uniqueName, waitFor } from '../support/kafka.js';

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

  it('on produce with verifyToken verifies the token, applies produce scopes per topic, and names client and caller in the claims', async () => {
    const config = `jwt:\n  keys:\n    - kid: signer\n      file: keys/signer.pem\n      alg: RS256\n  issuer: [${ISSUER}]\n  audience: [${AUDIENCE}]\nproduce:\n  verifyToken: true\n  topicScopes:\n    payments: [payment.w]\n`;
    const run = await securityChain(config, key);
    const token = await signToken(key, { client_id: 'web-client', scope: 'order.w' });
    const produced = record('orders', { caller_id: 'svc-self' }, 'produce');
    await runWithContext(contextFromRecord(RecordHeaders.from({ Authorization: `Bearer ${token}` })), () => run(produced));
    expect(produced.attachments.get(Attachment.claims)).to.deep.include({ clientId: 'web-client', callerId: 'svc-self' });
    // A scope the topic needs on produce is missing; a forged or missing token is refused before anything is sent.
    const payment = record('payments', {}, 'produce');
    expect(await codeOf(runWithContext(contextFromRecord(RecordHeaders.from({ Authorization: `Bearer ${token}` })), () => run(payment)))).to.equal('ERR10005');
    expect(await codeOf(runWithContext(contextFromRecord(RecordHeaders.from({ Authorization: 'Bearer not-a-jwt' })), () => run(record('orders', {}, 'produce'))))).to.equal('ERR10000');
    expect(await codeOf(run(record('orders', {}, 'produce')))).to.equal('ERR10002');
  });

  it('refuses configurations that could accept forged tokens', async () => {
    const error = await securityChain('jwt:\n  keys:\n    - kid: signer\n      file: keys/signer.pem\n  algorithms: [none]\n', key).then(() => undefined, (e: unknown) => e);
    expect(String(error)).to.contain('ERR13001').and.contain('jwt.algorithms').and.contain('none');
    const noKeys = await securityChain('jwt: {}\n', key).then(() => undefined, (e: unknown) => e);
    expect(String(noKeys)).to.contain('needs jwksUrl, keys or hmacSecret');
  });
});

describe('JWKS endpoint trouble', function () {
  this.timeout(30_000);
  const jwksConfig = (url: string, extra: string): string => `jwt:\n  jwksUrl: ${url}\n  issuer: [${ISSUER}]\n  audience: [${AUDIENCE}]\n${extra}verificationCacheSize: 0\n`;

  it('keeps verifying with the last key set while the endpoint is down, up to jwksMaxStaleMs; then ERR10008', async () => {
    const key = await makeKey('rotating');
    const jwks = await JwksServer.start([key]);
    const url = jwks.url;
    const tolerant = await securityChain(jwksConfig(url, '  jwksCacheMaxAgeMs: 50\n  jwksCooldownMs: 0\n  jwksTimeoutMs: 500\n  jwksMaxStaleMs: 600000\n'), key);
    const strict = await securityChain(jwksConfig(url, '  jwksCacheMaxAgeMs: 50\n  jwksCooldownMs: 0\n  jwksTimeoutMs: 500\n  jwksMaxStaleMs: 0\n'), key);
    const token = await signToken(key);
    expect(await codeOf(tolerant(record('any', { Authorization: `Bearer ${token}` })))).to.equal(undefined);
    expect(await codeOf(strict(record('any', { Authorization: `Bearer ${token}` })))).to.equal(undefined);
    await jwks.stop();
    await new Promise((resolve) => setTimeout(resolve, 100)); // the cached set is older than jwksCacheMaxAgeMs now
    expect(await codeOf(tolerant(record('any', { Authorization: `Bearer ${await signToken(key)}` }))), 'within jwksMaxStaleMs').to.equal(undefined);
    expect(await codeOf(strict(record('any', { Authorization: `Bearer ${await signToken(key)}` }))), 'past jwksMaxStaleMs').to.equal('ERR10008');
  });

  it('refetches the key set for unknown kids at most once per jwksCooldownMs', async () => {
    const known = await makeKey('known');
    const jwks = await JwksServer.start([known]);
    try {
      const run = await securityChain(jwksConfig(jwks.url, '  jwksCooldownMs: 60000\n'), known);
      expect(await codeOf(run(record('any', { Authorization: `Bearer ${await signToken(known)}` })))).to.equal(undefined);
      const before = jwks.requests;
      for (let i = 0; i < 20; i++) {
        const stranger = await makeKey(`unknown-${i}`);
        expect(await codeOf(run(record('any', { Authorization: `Bearer ${await signToken(stranger)}` })))).to.equal('ERR10007');
      }
      expect(jwks.requests - before, 'JWKS requests for 20 unknown kids within one cooldown').to.be.at.most(1);
    } finally {
      await jwks.stop();
    }
  });
});

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

const HANDLER_YML = `handlers: [correlation, security, kafka/producer@producer]
defaultHandlers:
  produce: [correlation, security, producer]
  consume: [correlation, security]
`;

function securityYml(jwksUrl: string, topic: string, extra = ''): string {
  const grace = /expiryGracePeriodSeconds/.test(extra) ? '' : 'expiryGracePeriodSeconds: 3600\n';
  return `jwt:
  jwksUrl: ${jwksUrl}
  jwksCooldownMs: 0
  issuer: [${ISSUER}]
  audience: [${AUDIENCE}]
  clockSkewInSeconds: 0
${grace}topicScopes:
  ${topic}: [order.r]
${extra}`;
}

interface Seen {
  label: string;
  claims: RecordClaims;
}

async function startSecured(topic: string, jwksUrl: string, extraSecurity = ''): Promise<{ service: LightService; seen: Seen[] }> {
  const dir = configDir({
    'handler.yml': HANDLER_YML,
    'security.yml': securityYml(jwksUrl, topic, extraSecurity),
    'kafka-consumer.yml': consumerYml(uniqueName('sec')),
    'kafka-producer.yml': producerYml(),
    'service.yml': serviceYml('secured-consumer'),
  });
  const service = await LightService.create({ configDir: dir });
  const seen: Seen[] = [];
  service.consumer.handle(topic, (exchange) => {
    seen.push({ label: (exchange.value as { label: string }).label, claims: exchange.attachments.get(Attachment.claims)! });
  });
  await service.start();
  return { service, seen };
}

describe('security handler on a real broker @broker', function () {
  this.timeout(120_000);
  let signer: TestKey;
  let stranger: TestKey;
  let jwks: JwksServer;
  const services: LightService[] = [];

  before(async () => {
    signer = await makeKey('key-1');
    stranger = await makeKey('key-1'); // same kid, different key: a forged signature
    jwks = await JwksServer.start([signer]);
  });
  after(async () => {
    await jwks.stop();
  });
  afterEach(async () => {
    await Promise.all(services.splice(0).map((service) => service.stop()));
  });

  it('lets valid tokens through with their claims and dead-letters every bad one with its code', async () => {
    const topic = uniqueName('secure');
    await createTopics([topic, `${topic}.dlq`]);
    const { service, seen } = await startSecured(topic, jwks.url);
    services.push(service);

    const rotated = await makeKey('key-2');
    const cases: { label: string; authorization?: string; expect: string }[] = [
      { label: 'valid', authorization: `Bearer ${await signToken(signer)}`, expect: 'ok' },
      { label: 'expired-within-grace', authorization: `Bearer ${await signToken(signer, {}, { expiresInSeconds: -1800 })}`, expect: 'ok' },
      { label: 'expired-beyond-grace', authorization: `Bearer ${await signToken(signer, {}, { expiresInSeconds: -7200 })}`, expect: 'ERR10001' },
      { label: 'wrong-signature', authorization: `Bearer ${await signToken(stranger)}`, expect: 'ERR10000' },
      { label: 'alg-none', authorization: `Bearer ${unsecuredToken({ client_id: 'client-a', scope: 'order.r' })}`, expect: 'ERR10000' },
      { label: 'hmac-with-rsa-public-key', authorization: `Bearer ${await hmacWithPublicKey(signer)}`, expect: 'ERR10000' },
      { label: 'wrong-audience', authorization: `Bearer ${await signToken(signer, {}, { audience: 'urn:other' })}`, expect: 'ERR10000' },
      { label: 'wrong-issuer', authorization: `Bearer ${await signToken(signer, {}, { issuer: 'urn:evil' })}`, expect: 'ERR10000' },
      { label: 'missing-scope', authorization: `Bearer ${await signToken(signer, { scope: 'payment.r' })}`, expect: 'ERR10005' },
      { label: 'scp-array-scope', authorization: `Bearer ${await signToken(signer, { scope: undefined, scp: ['order.r'] })}`, expect: 'ok' },
      { label: 'missing-token', expect: 'ERR10002' },
      { label: 'not-bearer', authorization: 'Basic dXNlcjpwYXNz', expect: 'ERR10000' },
      { label: 'unknown-kid-before-rotation', authorization: `Bearer ${await signToken(rotated)}`, expect: 'ERR10007' },
    ];
    await produceRaw(
      topic,
      cases.map((c) => ({ value: JSON.stringify({ label: c.label }), headers: c.authorization ? { Authorization: c.authorization } : {} })),
    );
    const bad = cases.filter((c) => c.expect !== 'ok');
    const dead = await readTopic(`${topic}.dlq`, { count: bad.length, timeoutMs: 30_000 });
    await waitFor(() => seen.length === cases.length - bad.length, 20_000, 'the valid records');

    expect(seen.map((s) => s.label)).to.deep.equal(['valid', 'expired-within-grace', 'scp-array-scope']);
    expect(seen[0]!.claims).to.deep.include({ clientId: 'client-a', userId: 'user-1', issuer: ISSUER });
    expect(seen[0]!.claims.scopes).to.deep.equal(['order.r', 'order.w']);
    const codes = Object.fromEntries(dead.map((record) => [JSON.parse(record.value!).label, headerText(record.headers, DLQ.errorCode)]));
    expect(codes).to.deep.equal(Object.fromEntries(bad.map((c) => [c.label, c.expect])));
    for (const record of dead) expect(headerText(record.headers, DLQ.attempts), 'security failures are not retried').to.equal('1');

    // Key rotation: the JWKS now also publishes key-2; a token signed with it is accepted without a restart.
    jwks.setKeys([signer, rotated]);
    await produceRaw(topic, [{ value: JSON.stringify({ label: 'rotated' }), headers: { Authorization: `Bearer ${await signToken(rotated)}` } }]);
    await waitFor(() => seen.length === 4, 20_000, 'the record signed with the rotated key');
    expect(seen[3]!.label).to.equal('rotated');
  });

  it('with ignoreJwtExpiry accepts a long-expired token; with expiryReference recordTimestamp judges expiry at production time', async () => {
    const topic = uniqueName('secure');
    await createTopics([topic, `${topic}.dlq`]);
    const ignoring = await startSecured(topic, jwks.url, 'ignoreJwtExpiry: true\n');
    services.push(ignoring.service);
    await produceRaw(topic, [{ value: JSON.stringify({ label: 'old' }), headers: { Authorization: `Bearer ${await signToken(signer, {}, { expiresInSeconds: -86400 })}` } }]);
    await waitFor(() => ignoring.seen.length === 1, 20_000, 'the expired-but-ignored record');

    const other = uniqueName('secure');
    await createTopics([other, `${other}.dlq`]);
    const byRecordTime = await startSecured(other, jwks.url, 'expiryGracePeriodSeconds: 0\nexpiryReference: recordTimestamp\n');
    services.push(byRecordTime.service);
    // The token expired 2 hours ago; the record says it was produced 3 hours ago, when the token was valid.
    const token = await signToken(signer, {}, { expiresInSeconds: -7200 });
    const { Kafka, logLevel } = await import('kafkajs');
    const producer = new Kafka({ brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING }).producer({ idempotent: true });
    await producer.connect();
    await producer.send({
      topic: other,
      messages: [
        { value: JSON.stringify({ label: 'produced-in-time' }), timestamp: String(Date.now() - 3 * 3600_000), headers: { Authorization: `Bearer ${token}` } },
        { value: JSON.stringify({ label: 'produced-too-late' }), headers: { Authorization: `Bearer ${token}` } },
      ],
    });
    await producer.disconnect();
    const [dead] = await readTopic(`${other}.dlq`, { count: 1 });
    expect(JSON.parse(dead!.value!).label).to.equal('produced-too-late');
    expect(headerText(dead!.headers, DLQ.errorCode)).to.equal('ERR10001');
    await waitFor(() => byRecordTime.seen.length === 1, 20_000, 'the record produced in time');
    expect(byRecordTime.seen[0]!.label).to.equal('produced-in-time');
  });

  it('verifies a token shared by 1,000 records once, looks it up once per batch, and verifies a changed token anew', async () => {
    const topic = uniqueName('secure');
    await createTopics([topic, `${topic}.dlq`]);
    const { service, seen } = await startSecured(topic, jwks.url);
    services.push(service);
    const token = await signToken(signer);
    const records = Array.from({ length: 1000 }, (_, n) => ({ value: JSON.stringify({ label: `r${n}` }), headers: { Authorization: `Bearer ${token}` } }));
    await produceRaw(topic, records);
    await waitFor(() => seen.length === 1000, 60_000, '1,000 records');
    const stats = service.services.shared.get(Shared.verificationStats)!;
    // Once per batch, not per record: one real verification, then one cache look-up per later batch.
    expect(stats.verifications).to.equal(1);
    expect(stats.cacheHits).to.be.below(100);

    await produceRaw(topic, [{ value: JSON.stringify({ label: 'new-token' }), headers: { Authorization: `Bearer ${await signToken(signer, { user_id: 'user-2' })}` } }]);
    await waitFor(() => seen.length === 1001, 20_000, 'the record with a new token');
    expect(stats.verifications).to.equal(2);
    expect(seen[1000]!.claims.userId).to.equal('user-2');
  });

  it('verifies with local key files keyed by kid, and refuses bad security.yml at startup', async () => {
    const topic = uniqueName('secure');
    await createTopics([topic, `${topic}.dlq`]);
    const dir = configDir({
      'handler.yml': HANDLER_YML,
      'kafka-consumer.yml': consumerYml(uniqueName('sec')),
      'kafka-producer.yml': producerYml(),
      'security.yml': `jwt:\n  keys:\n    - kid: key-1\n      file: keys/key-1.jwk\n  issuer: [${ISSUER}]\n`,
      'keys/key-1.jwk': JSON.stringify(signer.publicJwk),
    });
    const service = await LightService.create({ configDir: dir });
    services.push(service);
    const seen: string[] = [];
    service.consumer.handle(topic, (exchange) => void seen.push((exchange.value as { label: string }).label));
    await service.start();
    await produceRaw(topic, [{ value: JSON.stringify({ label: 'local' }), headers: { Authorization: `Bearer ${await signToken(signer)}` } }]);
    await waitFor(() => seen.length === 1, 20_000, 'the record verified with a local key');

    const mixed = configDir({
      'handler.yml': HANDLER_YML,
      'security.yml': `jwt:\n  jwksUrl: ${jwks.url}\n  algorithms: [RS256, HS256]\n`,
    });
    const error = await LightService.create({ configDir: mixed }).then(() => undefined, (e: unknown) => e);
    expect(String(error)).to.contain('ERR13001').and.contain('security.yml').and.contain('jwt.algorithms').and.contain('HS256');
  });
});
