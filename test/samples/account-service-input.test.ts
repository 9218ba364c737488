import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { startAccountService, type AccountService } from '../../samples/accounts/account-service.js';
import { uniqueName } from '../support/kafka.js';
import { DemoTraceCollector } from '../../samples/accounts/trace-collector.js';
import { useBroker } from '../support/broker.js';
import { JwksServer, makeKey, signToken } from '../support/jwt.js';

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

interface Answer {
  status: number;
  body: { code?: string; statusCode?: number; description?: string };
}

/** One HTTP request; the answer counts even when the server closes the connection before the body is all sent. */
function send(port: number, method: string, path: string, token: string, body?: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const outgoing = request({ host: '127.0.0.1', port, method, path, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-correlation-id': `input-${randomUUID()}` } }, (response) => {
      answered = true;
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Answer['body'] }));
      response.on('error', reject);
    });
    outgoing.on('error', (error) => {
      if (!answered) reject(error);
    });
    outgoing.end(body);
  });
}

describe('accounts sample: bad requests over HTTP are 4xx with a catalogue code, and produce nothing @broker', function () {
  this.timeout(180_000);
  let brokers: string;
  let account: AccountService;
  let jwks: JwksServer;
  let collector: DemoTraceCollector;
  let token: string;
  let work: string;
  let admin: ReturnType<Kafka['admin']>;
  // Topics of its own: the demo test writes to the sample's topics, maybe at the same time (parallel test files).
  const topics = { commands: uniqueName('input-commands'), events: uniqueName('input-events'), rejections: uniqueName('input-rejections') };

  before(async function () {
    this.timeout(600_000);
    brokers = await useBroker();
    admin = new Kafka({ brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 3 })), waitForLeaders: true });
    const key = await makeKey('accounts');
    jwks = await JwksServer.start([key]);
    token = await signToken(key, { scope: 'accounts.w' }, { issuer: 'urn:bank:auth', audience: 'urn:bank:accounts' });
    collector = await DemoTraceCollector.start();
    work = mkdtempSync(join(tmpdir(), 'light-kafka-accounts-input-'));
    account = await startAccountService({
      instance: 'input',
      queryServer: `127.0.0.1:${await freePort()}`,
      jwksUrl: jwks.url,
      stateDir: join(work, 'state'),
      auditFile: join(work, 'audit.log'),
      otlpEndpoint: collector.url,
      brokers,
      applicationId: `bank-input-${randomUUID().slice(0, 8)}`,
      topics,
    });
  });

  after(async () => {
    await account?.stop();
    await admin?.disconnect();
    await collector?.stop();
    await jwks?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const commandsEnd = async (): Promise<bigint> => (await admin.fetchTopicOffsets(topics.commands)).reduce((sum, { high }) => sum + BigInt(high), 0n);

  it('null body, malformed percent-encoding, 8 MiB body, 10,000-character id, unbounded or fractional amount', async () => {
    const id = `acc-${randomUUID().slice(0, 8)}`;
    const before = await commandsEnd();
    const cases: [string, string, string, Buffer | string | undefined, number, string][] = [
      ['JSON null body', 'POST', `/accounts/${id}/commands`, 'null', 400, 'ERR11020'],
      ['malformed percent-encoding (POST)', 'POST', '/accounts/%E0%A4%A/commands', '{"type":"OpenAccount","data":{"owner":"Ann"}}', 400, 'ERR11020'],
      ['malformed percent-encoding (GET)', 'GET', '/accounts/%E0%A4%A', undefined, 400, 'ERR11020'],
      ['8 MiB body', 'POST', `/accounts/${id}/commands`, Buffer.alloc(8 * 1024 * 1024, 0x20), 413, 'ERR11021'],
      ['10,000-character id (POST)', 'POST', `/accounts/${'a'.repeat(10_000)}/commands`, '{"type":"OpenAccount","data":{"owner":"Ann"}}', 400, 'ERR11020'],
      ['10,000-character id (GET)', 'GET', `/accounts/${'a'.repeat(10_000)}`, undefined, 400, 'ERR11020'],
      ['amount 1e308', 'POST', `/accounts/${id}/commands`, '{"type":"DepositMoney","data":{"amount":1e308}}', 400, 'ERR11020'],
      ['amount 1.5', 'POST', `/accounts/${id}/commands`, '{"type":"DepositMoney","data":{"amount":1.5}}', 400, 'ERR11020'],
    ];
    for (const [what, method, path, body, status, code] of cases) {
      const answer = await send(account.port, method, path, token, body);
      expect(answer.status, what).to.equal(status);
      expect(answer.body, what).to.deep.include({ code, statusCode: status });
    }
    // The 413 closed its connection: the service still answers, and a good command is produced.
    expect(await commandsEnd(), 'records on the commands topic after the bad requests').to.equal(before);
    const good = await send(account.port, 'POST', `/accounts/${id}/commands`, token, '{"type":"OpenAccount","data":{"owner":"Ann"}}');
    expect(good.status).to.equal(202);
    expect(await commandsEnd() > before, "the good command is on the commands topic").to.equal(true);
  });
});
