import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { brokers, uniqueName } from '../support/kafka.js';

/**
 * The package on its own: packed as npm would publish it, installed into an empty folder with a handler package
 * of the service's own, it runs a service on the broker and its command, with nothing from this repository.
 */

interface Run {
  code: number | null;
  out: string;
}

/** The environment of a fresh shell: no npm_* variables of the `npm test` that runs this file. */
function shellEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/^npm_/i.test(name) && name !== 'INIT_CWD') env[name] = value;
  delete env.SERVICE_TRANSPORT;
  return { ...env, LOG_LEVEL: 'error', ...extra };
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = shellEnv(), stdin = ''): Promise<Run> {
  const child = spawn(command, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(stdin);
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out }));
  });
}

async function npm(args: string[], cwd: string): Promise<string> {
  const result = await run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], cwd);
  if (result.code !== 0) throw new Error(`npm ${args.join(' ')} in ${cwd} failed (${result.code}):\n${result.out}`);
  return result.out;
}

function write(root: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), text);
  }
}

/** A drop-in handler package: stamps produced records, refuses consumed ones without its stamp. */
const STAMP_PACKAGE = {
  'package.json': JSON.stringify({ name: 'light-kafka-stamp', version: '1.0.0', type: 'module', exports: './index.js', peerDependencies: { 'light-kafka': '*' } }),
  'index.js': `import { defineHandler, phasedHandler, LightError } from 'light-kafka';

export default defineHandler({
  name: 'stamp',
  configName: 'stamp',
  configSchema: { type: 'object', properties: { label: { type: 'string', default: 'stamped' } }, additionalProperties: false },
  create(config) {
    return phasedHandler({
      name: 'stamp',
      before(exchange) {
        if (exchange.direction === 'produce') exchange.headers.set('x-stamp', config.label);
        else if (exchange.headers.get('x-stamp') !== config.label) {
          throw new LightError('ERR11000', { topic: exchange.topic, instancePath: '', reason: 'not stamped' });
        }
      },
    });
  },
});
`,
};

/** The service: its config folder (built-in correlation and JSON Schema handlers, the drop-in stamp) and code. */
function serviceFiles(topic: string, groupId: string): Record<string, string> {
  return {
    'package.json': JSON.stringify({ name: 'packaged-service', version: '1.0.0', private: true, type: 'module' }),
    'config/service.yml': 'serviceId: packaged-service\ntransport: kafkajs\n',
    'config/kafka-producer.yml': 'properties:\n  bootstrap.servers: ${kafka.brokers}\n',
    'config/kafka-consumer.yml': `properties:\n  bootstrap.servers: \${kafka.brokers}\n  group.id: ${groupId}\n  auto.offset.reset: earliest\nmaxRetries: 0\n`,
    'config/handler.yml': `handlers:
  - correlation
  - validation/json-schema@schema
  - light-kafka-stamp@stamp
  - kafka/producer@producer
chains:
  out: [correlation, stamp, schema, producer]
  in: [correlation, schema, stamp]
topics:
  - topic: ${topic}
    direction: produce
    exec: [out]
  - topic: ${topic}
    direction: consume
    exec: [in]
defaultHandlers:
  produce: [producer]
  consume: []
`,
    'config/stamp.yml': 'label: packaged\n',
    'config/json-schema.yml': `topics:\n  ${topic}:\n    value: order.schema.json\n`,
    'config/order.schema.json': JSON.stringify({ type: 'object', required: ['id', 'amount'], properties: { id: { type: 'string' }, amount: { type: 'number' } } }),
    'service.mjs': `import { LightService } from 'light-kafka';

const topic = process.argv[2];
const service = await LightService.create({ configDir: new URL('./config/', import.meta.url).pathname });
const received = new Promise((resolve) => {
  service.consumer.handle(topic, (exchange) => {
    if (String(exchange.key) !== 'order-1') return;
    resolve({ value: exchange.value, stamp: exchange.headers.get('x-stamp'), correlationId: exchange.headers.get('X-Correlation-Id'), callerId: exchange.headers.get('caller_id') });
  });
});
await service.start();
let refused;
try {
  await service.producer.send(topic, { key: 'order-0', value: { id: 'order-0' } });
} catch (error) {
  refused = error.code;
}
await service.producer.send(topic, { key: 'order-1', value: { id: 'order-1', amount: 5 }, headers: { 'X-Correlation-Id': 'c-packaged-1' } });
const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('no record consumed within 30 s')), 30_000).unref());
const record = await Promise.race([received, timeout]);
await service.stop();
console.log(JSON.stringify({ refused, ...record }));
`,
  };
}

describe('the packed package, installed on its own @broker', function () {
  this.timeout(300_000);
  let root: string;
  let stopLocalKafka: (() => Promise<unknown>) | undefined;

  before(function () {
    if (process.env.SERVICE_TRANSPORT === 'librdkafka') this.skip(); // the installed service runs on kafkajs: the optional client is not installed
    root = mkdtempSync(join(tmpdir(), 'light-kafka-package-'));
  });

  after(async () => {
    await stopLocalKafka?.();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('installs into an empty folder with a handler package of its own, round-trips a record through built-in and drop-in handlers, and runs its command', async () => {
    // npm pack, as a publish would, from the dist the test run built (--ignore-scripts: no rebuild under the running tests).
    const packs = join(root, 'packs');
    mkdirSync(packs);
    await npm(['pack', '--ignore-scripts', '--pack-destination', packs], PACKAGE_ROOT);
    write(join(root, 'stamp'), STAMP_PACKAGE);
    await npm(['pack', '--pack-destination', packs], join(root, 'stamp'));
    const tarballs = readdirSync(packs).map((name) => join(packs, name));
    const lightKafka = tarballs.find((path) => /light-kafka-\d/.test(path))!;
    const stamp = tarballs.find((path) => /light-kafka-stamp-/.test(path))!;

    // Only what the package declares: the package's own files and dependencies from the registry (or npm's cache).
    const app = join(root, 'app');
    const topic = uniqueName('packaged-orders');
    write(app, serviceFiles(topic, uniqueName('packaged-group')));
    await npm(['install', '--prefer-offline', '--omit=optional', lightKafka, stamp], app);
    const installed = join(app, 'node_modules', 'light-kafka');
    expect(readdirSync(installed).sort()).to.deep.equal(['LICENSE', 'README.md', 'config', 'dashboards', 'dist', 'package.json', 'patches', 'scripts']);
    expect(readdirSync(join(installed, 'dist')).sort()).to.deep.equal(['core', 'handlers', 'index.d.ts', 'index.js', 'scripts', 'testing']);

    // The package's postinstall patched the kafkajs it resolves, fresh from the registry.
    for (const file of ['sendMessages.js', join('eosManager', 'index.js'), 'index.js']) {
      const patched = readFileSync(join(PACKAGE_ROOT, 'patches', 'kafkajs@2.2.4', 'src', 'producer', file), 'utf8');
      expect(readFileSync(join(app, 'node_modules', 'kafkajs', 'src', 'producer', file), 'utf8'), file).to.equal(patched);
    }

    const env = shellEnv({ KAFKA_BROKERS: brokers().join(',') });
    const service = await run(process.execPath, ['service.mjs', topic], app, env);
    expect(service.code, service.out).to.equal(0);
    const result = JSON.parse(service.out.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(result).to.deep.equal({
      refused: 'ERR11000', // the built-in JSON Schema handler, from the package's own default config
      value: { id: 'order-1', amount: 5 },
      stamp: 'packaged', // the drop-in handler, its config from the service's stamp.yml
      correlationId: 'c-packaged-1',
      callerId: 'packaged-service',
    });

    // The command, installed as the package's bin.
    const cli = join(app, 'node_modules', '.bin', 'light-kafka');
    const help = await run(cli, ['--help'], app, env);
    expect(help.code, help.out).to.equal(0);
    expect(help.out).to.contain('dlq replay <topic>');
    const check = await run(cli, ['config', 'check'], app, env);
    expect(check.code, check.out).to.equal(0);
    expect(check.out).to.contain('config OK').and.contain('service packaged-service');
    const chains = await run(cli, ['chains'], app, env);
    expect(chains.code, chains.out).to.equal(0);
    expect(chains.out).to.match(new RegExp(`produce\\s+${topic}\\s+correlation -> stamp -> jsonSchemaValidation -> kafkaProducerTransport`));
    expect(chains.out).to.match(new RegExp(`consume\\s+${topic}\\s+kafkaConsumerTransport -> correlation -> jsonSchemaValidation -> stamp`));
    // Per handler: where it came from — the drop-in package with the service's file, a built-in with the package's.
    expect(chains.out).to.match(/2\. stamp\s+light-kafka-stamp@stamp \(package\)\s+config\/stamp\.yml/);
    expect(chains.out).to.match(/1\. correlation\s+correlation \(built-in\)\s+node_modules\/light-kafka\/dist\/handlers\/correlation\/correlation\.yml/);
    const consumed = await run(cli, ['consume', topic, '--count', '1'], app, env);
    expect(consumed.code, consumed.out).to.equal(0);
    const line = JSON.parse(consumed.out.trim().split('\n')[0]!) as { key: string; headers: Record<string, string>; outcome: string };
    expect(line).to.include({ key: 'order-1', outcome: 'processed' });
    expect(line.headers['x-stamp']).to.equal('packaged');

    // The quick start's first command: a local broker of the service's own, its jars and data in the service's folder.
    const port = Number(process.env.LIGHT_KAFKA_LOCAL_PORT ?? 9092) + 22_000;
    const localEnv = shellEnv({ LIGHT_KAFKA_LOCAL_PORT: String(port), LIGHT_KAFKA_LOCAL_HEAP: '512m' });
    stopLocalKafka = () => run(cli, ['kafka', 'stop'], app, localEnv);
    const started = await run(cli, ['kafka', 'start'], app, localEnv);
    expect(started.code, started.out).to.equal(0);
    expect(started.out).to.contain(`Kafka started at 127.0.0.1:${port}`);
    expect(started.out).to.match(/fetching Apache Kafka 4\.4\.0 jars with Maven into .*\.kafka-local\/libs-4\.4\.0 \(once/).and.match(/Kafka jars in place: \d+ jars/);
    expect(readdirSync(join(app, '.kafka-local'))).to.include('libs-4.4.0');
    expect((await run(cli, ['kafka', 'status'], app, localEnv)).out).to.match(new RegExp(`^up 127.0.0.1:${port} \\(1 broker\\)`));
    const stopped = await run(cli, ['kafka', 'stop'], app, localEnv);
    expect(stopped.out).to.contain('stopped 1 local Kafka node(s)');
    stopLocalKafka = undefined;
    expect((await run(cli, ['kafka', 'status'], app, localEnv)).code).to.equal(1);
  });
});
