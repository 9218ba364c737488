#!/usr/bin/env node
/**
 * The light-kafka command (package.json `bin`): the local broker, the chains handler.yml resolves to, a config
 * check, dead-letter listing and replay, and the sagas in progress. `light-kafka <command> --help` describes each command.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join, relative, resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { LightError } from '../core/errors/light-error.js';
import { DeadLetterHeaderNames as DLQ, RecordHeaders } from '../core/headers.js';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { LightService, type SagaInstance } from '../index.js';
import { clusterSize, ensureKafka, stopAll } from './kafka-local.js';
import { readTopicToEnd } from './read-topic.js';
import { isMain } from './is-main.js';

// The commands print their own output on stdout; the service's log lines only when asked for (LOG_LEVEL).
process.env.LOG_LEVEL ??= 'error';

const HELP: Record<string, string> = {
  main: `light-kafka <command> [options]

Commands:
  kafka start|stop|status   the local Kafka broker(s), data under ./.kafka-local
  chains                    the chain handler.yml resolves to, per topic and direction
  config check              load and validate every config file the service needs
  dlq list <topic>          the dead letters of a topic
  dlq replay <topic>        write dead letters back to their original topic
  produce <topic>           send JSON lines from stdin through the topic's produce chain
  consume <topic>           read a topic and run its records through the consume chain, as JSON lines
  sagas <saga>              the saga instances in progress (stuck ones first), or one saga's history
  patch-kafkajs             apply light-kafka's kafkajs patch (done by the install; for --ignore-scripts)

Run light-kafka <command> --help for the options of each.`,
  kafka: `light-kafka kafka start [--brokers 1|3] [--fresh]   start the local broker(s) (first run fetches the jars with Maven)
light-kafka kafka stop                              stop every local node started from this folder
light-kafka kafka status                            up or down (exit status 0 / 1)

Data and jars live in ./.kafka-local (LIGHT_KAFKA_LOCAL_DIR changes it); port LIGHT_KAFKA_LOCAL_PORT (default 9092).`,
  chains: `light-kafka chains [--config DIR]

For every topic (or pattern) and direction declared in handler.yml, and for the defaults, the handlers of the
resolved chain in order and where the entry is declared; under it, per handler, its handler.yml entry (built-in,
path or package) and the config file it was created from. DIR: the service's config folder (default ./config).`,
  config: `light-kafka config check [--config DIR]

Loads service.yml, handler.yml, every handler's config, kafka-producer.yml, kafka-consumer.yml and
kafka-streams.yml, as the service does at start. Errors name the file and the key. Exit status 0 when all is
valid, 1 otherwise.`,
  dlq: `light-kafka dlq list <topic> [--code ERR…] [--config DIR]
light-kafka dlq replay <topic> [--code ERR…] [--to TOPIC] [--dry-run] [--config DIR]

<topic> is the source topic (its dead letters are in <topic> + deadLetterTopicExt, default .dlq) or the
dead-letter topic itself. --code keeps the dead letters of one error code (repeatable). replay writes each to
its original topic (or --to) with its original key, value and headers, without the x-dlq-* headers, plus
x-dlq-replayed-from naming the dead letter; --dry-run only says what it would write. The brokers are the
service's (--config), or KAFKA_BROKERS.`,
  produce: `light-kafka produce <topic> [--config DIR]

Reads JSON lines from stdin and sends each through the topic's produce chain: a line {"key": ..., "value": ...,
"headers": {...}} is that record, any other JSON is the value. Prints where each record landed.`,
  consume: `light-kafka consume <topic> [--config DIR] [--count N] [--idle-ms MS]

Reads the topic from its beginning (with a group of its own: the service's group and offsets are not touched),
runs each record through the topic's consume chain, and prints a JSON line per record: where it was, its key,
value and headers after the chain, and its outcome (processed, or the code it would be dead-lettered with; nothing
is written to a dead-letter topic). Stops after N records, or after MS ms without a record (default 5000).`,
  sagas: `light-kafka sagas <saga> [--all] [--id SAGA_ID] [--config DIR]

Reads the saga's store from its changelog topic (<application.id>-<saga>-changelog; application.id from the
service's kafka-streams.yml, --config) — no service instance needs to run — and prints the sagas in progress, the
stuck ones first (a compensation that failed retry.stuckAfterAttempts times and is still retried): id, status, the
step or compensation it waits for, sends so far, age and failure. --all lists ended sagas too; --id prints one
saga with its history as JSON. The last line counts them by status. Exit status 0, or 3 when a saga is stuck.`,
  'patch-kafkajs': `light-kafka patch-kafkajs

Applies light-kafka's fixes of kafkajs 2.2.4 (its produce retry, and a transaction's requests retried while the
coordinator is not ready; README: What send guarantees) to the kafkajs this package loads. The package's
postinstall does it; run this after an install that skipped scripts (npm --ignore-scripts), which leaves
LightService refusing to start with ERR12008. Running it again changes nothing.`,
};

interface Options {
  config: string;
  codes: string[];
  to: string | undefined;
  dryRun: boolean;
  brokers: number | undefined;
  fresh: boolean;
  count: number | undefined;
  idleMs: number;
  all: boolean;
  id: string | undefined;
  help: boolean;
  positional: string[];
}

function parse(args: string[]): Options {
  const options: Options = { config: resolve('config'), codes: [], to: undefined, dryRun: false, brokers: undefined, fresh: false, count: undefined, idleMs: 5000, all: false, id: undefined, help: false, positional: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = (): string => {
      const next = args[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--help' || arg === '-h') options.help = true;
    else if (arg === '--config') options.config = resolve(value());
    else if (arg === '--code') options.codes.push(value());
    else if (arg === '--to') options.to = value();
    else if (arg === '--dry-run') options.dryRun = true;
    else if (arg === '--brokers') options.brokers = Number(value());
    else if (arg === '--fresh') options.fresh = true;
    else if (arg === '--count') options.count = Number(value());
    else if (arg === '--idle-ms') options.idleMs = Number(value());
    else if (arg === '--all') options.all = true;
    else if (arg === '--id') options.id = value();
    else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`);
    else options.positional.push(arg);
  }
  return options;
}

async function kafkaCommand(action: string | undefined, options: Options): Promise<number> {
  const dir = process.env.LIGHT_KAFKA_LOCAL_DIR ?? join(process.cwd(), '.kafka-local');
  if (action === 'start') {
    const handle = await ensureKafka({ dir, ...(options.brokers ? { brokers: options.brokers } : {}), fresh: options.fresh, useKafkaBrokersEnv: false });
    console.log(`Kafka ${handle.owned ? 'started' : 'already running'} at ${handle.brokers}`);
    return 0;
  }
  if (action === 'stop') {
    console.log(`stopped ${await stopAll(dir)} local Kafka node(s)`);
    return 0;
  }
  if (action === 'status') {
    // The local node start would start (KAFKA_BROKERS, which names the service's cluster, plays no part here).
    const brokers = `127.0.0.1:${process.env.LIGHT_KAFKA_LOCAL_PORT ?? 9092}`;
    const size = await clusterSize(brokers, 5_000);
    console.log(size ? `up ${brokers} (${size} broker${size === 1 ? '' : 's'})` : `down ${brokers}`);
    return size ? 0 : 1;
  }
  console.error(HELP.kafka);
  return 2;
}

async function chainsCommand(options: Options): Promise<number> {
  const service = await LightService.create({ configDir: options.config });
  const rows = service.describeChains();
  // A config file relative to the working folder when it is inside it (the service's own), else as found.
  const shown = (file: string | undefined): string => {
    if (!file) return 'defaults (no file)';
    const inside = relative(process.cwd(), file);
    return inside.startsWith('..') ? file : inside;
  };
  for (const row of rows) {
    const topic = row.isDefault ? '(default)' : row.pattern ? `/${row.topic}/` : row.topic;
    console.log(`${row.direction.padEnd(8)} ${topic.padEnd(40)} ${row.handlers.join(' -> ')}    [${row.source}]`);
    // Then one line per handler, as light-4j lists its chains: the handler, the handler.yml entry, its config.
    const width = Math.max(...row.handlers.map((name) => name.length));
    row.origins.forEach((origin, index) => {
      const entry = `${origin.entry} (${origin.kind === 'builtin' ? 'built-in' : origin.kind})`;
      console.log(`    ${String(index + 1).padStart(2)}. ${row.handlers[index]!.padEnd(width)}  ${entry.padEnd(48)} ${shown(origin.configFile)}`);
    });
  }
  if (rows.length === 0) console.log('handler.yml declares no chain');
  return 0;
}

async function configCheckCommand(options: Options): Promise<number> {
  try {
    const service = await LightService.create({ configDir: options.config });
    console.log(`config OK: ${options.config} (service ${service.serviceId}, ${service.describeChains().length} chain entries, transport ${service.transport})`);
    return 0;
  } catch (error) {
    console.error(`config invalid: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

function progress(done: number, total: number): void {
  if (!process.stdout.isTTY) return;
  const width = 30;
  const filled = Math.round((done / Math.max(total, 1)) * width);
  process.stdout.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
  if (done === total) process.stdout.write('\n');
}

async function dlqCommand(action: string | undefined, options: Options): Promise<number> {
  const topic = options.positional[0];
  if ((action !== 'list' && action !== 'replay') || !topic) {
    console.error(HELP.dlq);
    return 2;
  }
  const service = await LightService.create({ configDir: options.config });
  const brokers = process.env.KAFKA_BROKERS?.split(',') ?? service.brokers;
  const ext = (service.config.load<{ deadLetterTopicExt?: string }>('kafka-consumer').config.deadLetterTopicExt ?? '.dlq') || '.dlq';
  const dlqTopic = topic.endsWith(ext) ? topic : `${topic}${ext}`;
  const kafka = new Kafka({ brokers, clientId: 'light-kafka-cli', logLevel: logLevel.NOTHING });
  const letters = (await readTopicToEnd(kafka, dlqTopic, { groupPrefix: 'light-kafka-cli', timeoutMs: 60_000 })).filter((letter) => options.codes.length === 0 || options.codes.includes(letter.headers.get(DLQ.errorCode) ?? ''));
  if (action === 'list') {
    for (const letter of letters) {
      const h = letter.headers;
      console.log(
        `${dlqTopic}-${letter.partition}@${letter.offset}  ${h.get(DLQ.errorCode) ?? '?'}  from ${h.get(DLQ.originalTopic) ?? '?'}-${h.get(DLQ.originalPartition) ?? '?'}@${h.get(DLQ.originalOffset) ?? '?'}  key ${letter.key?.toString('utf8') ?? '(null)'}  ${h.get(DLQ.failedAt) ?? ''}  ${h.get(DLQ.errorMessage) ?? ''}`,
      );
    }
    console.log(`${letters.length} dead letter(s) in ${dlqTopic}${options.codes.length ? ` with code ${options.codes.join(' or ')}` : ''}`);
    return 0;
  }
  const producer = kafka.producer({ idempotent: true });
  if (!options.dryRun) await producer.connect();
  const written = new Map<string, number>();
  let skipped = 0;
  try {
    for (const [index, letter] of letters.entries()) {
      const target = options.to ?? letter.headers.get(DLQ.originalTopic);
      if (!target || letter.headers.get(DLQ.truncated) === 'true') {
        // A copy without its value cannot be replayed: the original is still in its topic (x-dlq-original-*).
        skipped += 1;
        continue;
      }
      const headers = new RecordHeaders();
      for (const [name, value] of letter.headers) if (!name.toLowerCase().startsWith('x-dlq-')) headers.add(name, value);
      headers.set(DLQ.replayedFrom, `${dlqTopic}-${letter.partition}@${letter.offset}`);
      if (options.dryRun) console.log(`would write ${dlqTopic}-${letter.partition}@${letter.offset} to ${target} (key ${letter.key?.toString('utf8') ?? '(null)'})`);
      else await producer.send({ topic: target, acks: -1, messages: [{ key: letter.key, value: letter.value, headers: headers.toKafka() }] });
      written.set(target, (written.get(target) ?? 0) + 1);
      progress(index + 1, letters.length);
    }
  } finally {
    if (!options.dryRun) await producer.disconnect();
  }
  const summary = [...written].map(([target, count]) => `${count} to ${target}`).join(', ') || 'nothing';
  console.log(`${options.dryRun ? 'dry run: would replay' : 'replayed'} ${summary}${skipped ? `; skipped ${skipped} (no original topic, or a copy without its value)` : ''}`);
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function produceCommand(topic: string | undefined, options: Options): Promise<number> {
  if (!topic) {
    console.error(HELP.produce);
    return 2;
  }
  const lines = (await readStdin()).split('\n').map((line) => line.trim()).filter(Boolean);
  const service = await LightService.create({ configDir: options.config });
  await service.start();
  try {
    for (const [index, line] of lines.entries()) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        console.error(`line ${index + 1} is not JSON: ${line}`);
        return 1;
      }
      const isRecord = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && 'value' in parsed;
      const record = isRecord ? (parsed as { key?: string; value: unknown; headers?: Record<string, string> }) : { value: parsed };
      const metadata = await service.producer.send(topic, { key: record.key ?? null, value: record.value, ...(record.headers ? { headers: record.headers } : {}) });
      console.log(`${metadata.topic}-${metadata.partition}@${metadata.offset ?? metadata.baseOffset ?? '?'}`);
    }
  } finally {
    await service.stop();
  }
  return 0;
}

async function consumeCommand(topic: string | undefined, options: Options): Promise<number> {
  if (!topic) {
    console.error(HELP.consume);
    return 2;
  }
  const { ChainTestKit } = await import('../testing/index.js');
  const kit = await ChainTestKit.create({ configDir: options.config, env: process.env });
  const brokers = process.env.KAFKA_BROKERS?.split(',') ?? kit.service.brokers;
  const kafka = new Kafka({ brokers, clientId: 'light-kafka-cli', logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `light-kafka-cli-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  let last = Date.now();
  let queue: Promise<unknown> = Promise.resolve();
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      if (options.count !== undefined && seen >= options.count) return;
      seen += 1;
      last = Date.now();
      const input = { key: message.key, value: message.value, headers: (message.headers ?? {}) as Record<string, Buffer>, partition, ...(message.timestamp ? { timestamp: message.timestamp } : {}) };
      queue = queue.then(async () => {
        const result = await kit.consume(topic, [input], () => undefined);
        const exchange = result.processed[0];
        const dead = result.deadLetters[0];
        console.log(
          JSON.stringify({
            partition,
            offset: message.offset,
            key: message.key?.toString('utf8') ?? null,
            value: exchange ? exchange.value : (dead?.value ?? null),
            headers: exchange ? exchange.headers.toJSON() : (dead?.headers ?? {}),
            outcome: dead ? `dead letter ${dead.code}` : 'processed',
          }),
        );
      });
    },
  });
  while ((options.count === undefined || seen < options.count) && Date.now() - last < options.idleMs) await new Promise((resolve) => setTimeout(resolve, 100));
  await queue;
  await consumer.disconnect();
  await kit.close();
  return 0;
}

async function sagasCommand(name: string | undefined, options: Options): Promise<number> {
  if (!name) {
    console.error(HELP.sagas);
    return 2;
  }
  const service = await LightService.create({ configDir: options.config });
  const brokers = process.env.KAFKA_BROKERS?.split(',') ?? service.brokers;
  const changelog = service.streams.changelogTopic(name);
  const kafka = new Kafka({ brokers, clientId: 'light-kafka-cli', logLevel: logLevel.NOTHING });
  const latest = new Map<string, SagaInstance>();
  for (const record of await readTopicToEnd(kafka, changelog, { groupPrefix: 'light-kafka-cli', timeoutMs: 60_000 })) {
    const id = record.key?.toString('utf8') ?? '';
    if (record.value === null) latest.delete(id);
    else latest.set(id, JSON.parse(record.value.toString('utf8')) as SagaInstance);
  }
  if (options.id !== undefined) {
    const saga = latest.get(options.id);
    if (!saga) {
      console.error(`no saga ${options.id} in ${changelog}`);
      return 1;
    }
    console.log(JSON.stringify(saga, null, 2));
    return saga.stuck ? 3 : 0;
  }
  const sagas = [...latest.values()];
  const ended = (saga: SagaInstance): boolean => saga.status === 'COMPLETED' || saga.status === 'COMPENSATED';
  const shown = sagas.filter((saga) => options.all || !ended(saga)).sort((a, b) => Number(b.stuck) - Number(a.stuck) || (a.startedAt < b.startedAt ? -1 : 1));
  const now = Date.now();
  for (const saga of shown) {
    const waiting = saga.awaiting.map((awaited) => `${awaited.kind === 'do' ? '' : 'undo '}step ${awaited.step} (${awaited.commandId}, sent ${awaited.sends}x)`).join(', ');
    const age = `${Math.round((now - Date.parse(saga.startedAt)) / 1000)} s`;
    const failure = saga.failure ? `  failed at ${saga.failure.step}: ${saga.failure.code} ${saga.failure.reason}` : '';
    console.log(`${saga.id}  ${saga.status}${saga.stuck ? ' STUCK' : ''}  age ${age}${waiting ? `  waiting for ${waiting}` : ''}${saga.retryAt ? `  retry at ${new Date(saga.retryAt).toISOString()}` : ''}${failure}`);
  }
  const count = (status: string): number => sagas.filter((saga) => saga.status === status).length;
  const stuck = sagas.filter((saga) => saga.stuck).length;
  console.log(`${name}: ${count('RUNNING')} running, ${count('COMPENSATING')} compensating (${stuck} stuck), ${count('COMPLETED')} completed, ${count('COMPENSATED')} compensated`);
  return stuck > 0 ? 3 : 0;
}

/** The same script as the postinstall, in a process of its own: this one has loaded kafkajs already. */
function patchKafkajsCommand(): number {
  const script = join(PACKAGE_ROOT, 'scripts', 'patch-kafkajs.mjs');
  return spawnSync(process.execPath, [script], { stdio: 'inherit' }).status ?? 1;
}

export async function main(args: string[]): Promise<number> {
  const [command, action] = args;
  const options = parse(args.slice(command === 'chains' ? 1 : 2));
  if (!command || command === '--help' || command === '-h') {
    console.log(HELP.main);
    return command ? 0 : 2;
  }
  const topic = HELP[command === 'config' ? 'config' : command];
  if (options.help || (command !== 'chains' && action === '--help')) {
    console.log(topic ?? HELP.main);
    return 0;
  }
  if (command === 'kafka') return kafkaCommand(action, options);
  if (command === 'chains') return chainsCommand(parse(args.slice(1)));
  if (command === 'config' && action === 'check') return configCheckCommand(options);
  if (command === 'dlq') return dlqCommand(action, options);
  if (command === 'produce') return produceCommand(action, parse(args.slice(2)));
  if (command === 'consume') return consumeCommand(action, parse(args.slice(2)));
  if (command === 'sagas') return sagasCommand(action, parse(args.slice(2)));
  if (command === 'patch-kafkajs') return patchKafkajsCommand();
  console.error(`unknown command ${args.join(' ')}\n\n${HELP.main}`);
  return 2;
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`light-kafka: ${error instanceof LightError || error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
