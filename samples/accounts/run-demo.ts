/**
 * `npm run demo`: the event-sourced accounts service end to end on a local Kafka (started here unless one runs or
 * KAFKA_BROKERS is set). Two instances; commands over HTTP with a JWT (one breaks the balance invariant, one
 * carries an expired token); queries of the view on both instances; then the path of one request across the
 * hops — correlation id, trace id and caller on each, the audit lines, the resulting view — and a PNG waterfall
 * of its spans (DEMO_OUTPUT_DIR, default the working folder). Then an idempotent command (Idempotency-Key, Prefer:
 * wait) and the transfers service (samples/transfers): one transfer that completes and one that is compensated, each
 * with its saga's steps and its hops across both services, and a waterfall of the completed one's trace.
 * DEMO_SKYWALKING=1: the services trace to a SkyWalking OAP (started here unless one runs, or SKYWALKING_COLLECTOR and
 * SKYWALKING_GRAPHQL_URL name one) and the demo prints both traces as the OAP answers them.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { Kafka, logLevel } from 'kafkajs';
import { ensureKafka } from '../../scripts/kafka-local.js';
import { ensureSkyWalking } from '../../scripts/skywalking-local.js';
import { startTransferService, TRANSFER_TOPICS, type TransferService } from '../transfers/transfer-service.js';
import { runDemoTransfers } from '../transfers/demo-transfers.js';
import { ACCOUNT_REPLY_TOPIC, ACCOUNT_TOPICS, startAccountService, type AccountService } from './account-service.js';
import { showIdempotentCommands } from './demo-idempotency.js';
import { showSkyWalkingTrace } from './demo-skywalking.js';
import { readTopic, traceIdOf, waitUntil } from './demo-records.js';
import type { DemoSpan } from './trace-collector.js';
import { DemoTraceCollector } from './trace-collector.js';
import { writeWaterfall } from './waterfall.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
process.env.LOG_LEVEL ??= 'error';

const say = (line = ''): void => console.log(`[demo] ${line}`);

async function freePort(): Promise<number> {
  const server = createNetServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

/** The bank's token issuer: a key pair, a JWKS endpoint, and tokens for the accounts API (and the transfers API). */
async function startIssuer(): Promise<{ jwksUrl: string; token(expiresIn: string | number, audience?: string[]): Promise<string>; stop(): Promise<void> }> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'demo', alg: 'RS256', use: 'sig' };
  const server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
    token: (expiresIn, audience = ['urn:bank:accounts']) =>
      new SignJWT({ client_id: 'demo-web', scope: audience.map((name) => `${name.slice(name.lastIndexOf(':') + 1)}.w`).join(' ') })
        .setProtectedHeader({ alg: 'RS256', kid: 'demo' })
        .setIssuer('urn:bank:auth')
        .setAudience(audience)
        .setIssuedAt(typeof expiresIn === 'number' ? expiresIn - 60 : Math.floor(Date.now() / 1000))
        .setExpirationTime(expiresIn)
        .sign(privateKey),
    stop: () => new Promise<void>((done) => server.close(() => done())),
  };
}

async function main(): Promise<void> {
  const run = randomUUID().slice(0, 8);
  const outputDir = resolve(process.env.DEMO_OUTPUT_DIR ?? '.');
  mkdirSync(outputDir, { recursive: true });
  say('starting Kafka (the first run fetches the jars with Maven)');
  const kafka = await ensureKafka();
  say(`Kafka at ${kafka.brokers}${kafka.owned ? ' (started for this demo)' : ' (already running)'}`);
  const admin = new Kafka({ brokers: kafka.brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  // The transfer saga's start and reply topics must be co-partitioned: all topics get 3 partitions.
  const topics = [...Object.values(ACCOUNT_TOPICS), ACCOUNT_REPLY_TOPIC, TRANSFER_TOPICS.transfers, TRANSFER_TOPICS.replies, TRANSFER_TOPICS.outcomes];
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 3 })), waitForLeaders: true });
  await admin.disconnect();

  const skywalking = process.env.DEMO_SKYWALKING === '1' ? await ensureSkyWalking({ log: (line) => say(line) }) : undefined;
  if (skywalking) say(`tracing to the SkyWalking OAP at ${skywalking.collectorAddress}${skywalking.owned ? ' (started for this demo)' : ' (already running)'}`);
  const issuer = await startIssuer();
  const collector = await DemoTraceCollector.start();
  const work = mkdtempSync(join(tmpdir(), 'light-kafka-demo-'));
  const instances: { name: string; account: AccountService }[] = [];
  let transfers: TransferService | undefined;
  try {
    const queryServers = new Map<string, string>();
    for (const name of ['A', 'B']) {
      const queryServer = `127.0.0.1:${await freePort()}`;
      queryServers.set(queryServer, `accounts-${name}`);
      const account = await startAccountService({
        instance: name,
        queryServer,
        jwksUrl: issuer.jwksUrl,
        stateDir: join(work, `state-${name}`),
        auditFile: join(work, `audit-${name}.log`),
        otlpEndpoint: collector.url,
        ...(skywalking ? { skywalkingCollector: skywalking.collectorAddress } : {}),
        brokers: kafka.brokers,
        applicationId: `bank-${run}`,
      });
      instances.push({ name, account });
      say(`accounts-${name} listening on http://127.0.0.1:${account.port} (commands and queries)`);
    }
    const transfersQueryServer = `127.0.0.1:${await freePort()}`;
    queryServers.set(transfersQueryServer, 'transfers-A');
    transfers = await startTransferService({
      instance: 'A',
      queryServer: transfersQueryServer,
      jwksUrl: issuer.jwksUrl,
      stateDir: join(work, 'state-transfers-A'),
      auditFile: join(work, 'audit-transfers-A.log'),
      otlpEndpoint: collector.url,
      ...(skywalking ? { skywalkingCollector: skywalking.collectorAddress } : {}),
      brokers: kafka.brokers,
      applicationId: `transfers-${run}`,
    });
    say(`transfers-A listening on http://127.0.0.1:${transfers.port} (transfers and their sagas)`);
    const [a, b] = instances.map(({ account }) => account) as [AccountService, AccountService];
    const nameOf = (endpoint: unknown): string => queryServers.get(String(endpoint)) ?? '?';
    const token = await issuer.token('1h');
    const accountId = `acc-${run}`;
    const post = async (service: AccountService, correlationId: string, body: object, bearer = token): Promise<{ status: number; body: Record<string, unknown> }> => {
      const response = await fetch(`http://127.0.0.1:${service.port}/accounts/${accountId}/commands`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}`, 'X-Correlation-Id': correlationId },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const get = async (service: AccountService): Promise<{ status: number; body: Record<string, unknown> }> => {
      const response = await fetch(`http://127.0.0.1:${service.port}/accounts/${accountId}`, { headers: { authorization: `Bearer ${token}`, 'X-Correlation-Id': `query-${run}` } });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };

    say();
    say(`commands for account ${accountId}:`);
    const commands: [string, AccountService, object][] = [
      [`open-${run}`, a, { type: 'OpenAccount', data: { owner: 'Ann' } }],
      [`deposit-${run}`, a, { type: 'DepositMoney', data: { amount: 100 }, expectedVersion: 1 }],
      [`withdraw-${run}`, b, { type: 'WithdrawMoney', data: { amount: 30 } }],
      [`overdraw-${run}`, a, { type: 'WithdrawMoney', data: { amount: 500 } }],
    ];
    for (const [correlationId, service, body] of commands) {
      const result = await post(service, correlationId, body);
      say(`  POST accounts-${service === a ? 'A' : 'B'} ${JSON.stringify(body)} -> HTTP ${result.status} (X-Correlation-Id ${correlationId})`);
    }
    const expired = await post(a, `expired-${run}`, { type: 'DepositMoney', data: { amount: 1 } }, await issuer.token(Math.floor(Date.now() / 1000) - 3600));
    say(`  POST accounts-A DepositMoney with an expired token -> HTTP ${expired.status} ${String(expired.body.code)} ${String(expired.body.description)}`);

    const view = await waitUntil('the view at version 3', async () => {
      const result = await get(a);
      return result.status === 200 && result.body.version === 3 ? result.body : undefined;
    });
    say();
    say('queries of the view (either instance answers any account: from its own store, or forwarded to the owner):');
    for (const [name, service] of [['A', a], ['B', b]] as const) {
      const result = await get(service);
      say(`  GET accounts-${name} /accounts/${accountId} -> HTTP ${result.status} owner ${String(result.body.owner)}, balance ${String(result.body.balance)}, version ${String(result.body.version)} (answered by ${nameOf(result.body.answeredBy)}'s store)`);
    }

    const rejection = await waitUntil('the rejection', async () => {
      const records = await readTopic(kafka.brokers, ACCOUNT_TOPICS.rejections);
      return records.find((record) => record.headers['x-correlation-id'] === `overdraw-${run}`);
    });
    const rejected = JSON.parse(rejection.value) as { data: { code: string; reason: string } };
    say();
    say(`the withdrawal of 500 was refused: CommandRejected ${rejected.data.code} (${rejected.data.reason}) on ${ACCOUNT_TOPICS.rejections}`);

    // The path of one request: the deposit.
    const correlationId = `deposit-${run}`;
    const command = (await readTopic(kafka.brokers, ACCOUNT_TOPICS.commands)).find((record) => record.headers['x-correlation-id'] === correlationId)!;
    const event = (await readTopic(kafka.brokers, ACCOUNT_TOPICS.events)).find((record) => record.headers['x-correlation-id'] === correlationId)!;
    const traceId = traceIdOf(command.headers);
    say();
    say(`the path of one request: DepositMoney 100 (X-Correlation-Id ${correlationId}, trace ${traceId})`);
    say(`  1. HTTP POST /accounts/${accountId}/commands on accounts-A        correlation ${correlationId}`);
    say(`  2. ${command.topic} p${command.partition}@${command.offset}   correlation ${command.headers['x-correlation-id']}  trace ${traceIdOf(command.headers)}  caller ${command.headers.caller_id}`);
    say(`  3. the account aggregate (LightStreams, exactly once) appended MoneyDeposited version ${String((JSON.parse(event.value) as { version: number }).version)}`);
    say(`  4. ${event.topic} p${event.partition}@${event.offset}     correlation ${event.headers['x-correlation-id']}  trace ${traceIdOf(event.headers)}  caller ${event.headers.caller_id}`);
    say(`  5. the projection: account-view ${accountId} = owner ${String(view.owner)}, balance ${String(view.balance)}, version ${String(view.version)}`);

    // An idempotent command, then money moved between accounts by the transfers service's saga.
    const bob = `${accountId}-bob`;
    await showIdempotentCommands({ say, brokers: kafka.brokers, port: a.port, name: 'accounts-A', token, accountId: bob, key: `open-bob-${run}` });
    const demoTransfers = await runDemoTransfers({
      say,
      brokers: kafka.brokers,
      run,
      token: await issuer.token('1h', ['urn:bank:transfers', 'urn:bank:accounts']),
      transfers: { port: transfers.port, name: 'transfers-A' },
      accounts: { port: a.port },
      from: accountId,
      fromVersion: Number(view.version),
      to: bob,
      amounts: { completed: 25, compensated: 10 },
      nameOf,
    });

    await transfers.stop();
    transfers = undefined;
    for (const { account } of instances) await account.stop();
    instances.length = 0;

    say();
    say('audit lines of that request (both instances):');
    for (const name of ['A', 'B']) {
      const file = join(work, `audit-${name}.log`);
      if (!existsSync(file)) continue;
      for (const line of readFileSync(file, 'utf8').split('\n').filter((candidate) => candidate.includes(correlationId))) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        // A record LightStreams appends under exactly_once is written when its transaction commits, after its chain ran.
        const where = entry.partition === undefined ? '(written at the transaction commit)' : `p${String(entry.partition)}@${String(entry.offset)}`;
        say(`  accounts-${name}: ${String(entry.direction)} ${String(entry.topic)} ${where} status ${String(entry.statusCode)} correlation ${String(entry['X-Correlation-Id'])} caller ${String(entry.caller_id)} ${String(entry.processingTime)} ms`);
      }
    }
    const printSpans = (spans: DemoSpan[], trace: string): void => {
      say();
      say(`spans of trace ${trace}:`);
      for (const span of spans) say(`  ${span.service.padEnd(12)} ${span.name.padEnd(44)} ${(span.endMs - span.startMs).toFixed(1)} ms`);
    };
    const completed = demoTransfers.find(({ status }) => status === 200);
    if (skywalking) {
      // The services stopped above, which flushed their segments to the OAP.
      await showSkyWalkingTrace(say, skywalking.graphqlUrl, traceId, 'One DepositMoney request', join(outputDir, 'demo-skywalking-trace.png'));
      if (completed) await showSkyWalkingTrace(say, skywalking.graphqlUrl, completed.traceId, `Transfer ${completed.transferId}`, join(outputDir, 'demo-skywalking-transfer-trace.png'));
    }
    const spans = collector.trace(traceId);
    if (!skywalking) printSpans(spans, traceId);
    if (spans.length > 0) {
      const file = join(outputDir, 'demo-trace.png');
      writeWaterfall(spans, file, `One DepositMoney request across the accounts service (trace ${traceId})`);
      say(`waterfall of the trace written to ${file}`);
    }
    if (completed && !skywalking) {
      // The saga's hops: both services, one trace (the start's), every command and reply a child of its hop.
      const transferSpans = collector.trace(completed.traceId);
      printSpans(transferSpans, completed.traceId);
      if (transferSpans.length > 0) {
        const file = join(outputDir, 'demo-transfer-trace.png');
        writeWaterfall(transferSpans, file, `Transfer ${completed.transferId} across the transfers and accounts services (trace ${completed.traceId})`);
        say(`waterfall of the transfer's trace written to ${file}`);
      }
    }
  } finally {
    await transfers?.stop();
    for (const { account } of instances) await account.stop();
    await collector.stop();
    await issuer.stop();
    if (skywalking?.owned) {
      say('stopping the SkyWalking OAP');
      await skywalking.stop();
    }
    if (kafka.owned) {
      say('stopping Kafka');
      await kafka.stop();
    }
  }
  say('done: HTTP -> commands -> aggregate (exactly once) -> events -> projection -> queries on any instance; transfers across two services by a saga');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`[demo] failed: ${error instanceof Error ? error.stack : String(error)}`);
    process.exit(1);
  },
);
