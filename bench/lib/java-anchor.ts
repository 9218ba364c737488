import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fetchKafka } from '../../scripts/kafka-local.js';

/** Kafka's own Java client on the same broker: ProducerPerformance and ConsumerPerformance from kafka-tools. */
export interface JavaResult {
  recordsPerSec: number;
  mbPerSec: number;
  peakRssMb: number | undefined;
}

async function runTool(mainClass: string, args: string[]): Promise<{ stdout: string; peakRssMb: number | undefined }> {
  // The jars of the Kafka version the local launcher runs (libs-<version>); fetched once when the broker came from
  // KAFKA_BROKERS and they are not there yet.
  const libs = await fetchKafka({ log: (line) => console.log(`[java client] ${line}`) });
  // GNU time reports the tool's peak RSS; without it the figure is left out.
  const timed = existsSync('/usr/bin/time');
  const command = timed ? '/usr/bin/time' : 'java';
  const javaArgs = ['-Xms256m', '-Xmx512m', '-cp', join(libs, '*'), mainClass, ...args];
  const child = spawn(command, timed ? ['-f', 'LIGHT_KAFKA_MAXRSS_KB=%M', 'java', ...javaArgs] : javaArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`${mainClass} exited with ${code}: ${stderr.slice(-2000)}`);
  const rss = /LIGHT_KAFKA_MAXRSS_KB=(\d+)/.exec(stderr);
  return { stdout, peakRssMb: rss ? Number(rss[1]) / 1024 : undefined };
}

export async function javaProducerPerformance(brokers: string, topic: string, records: number, recordSize: number): Promise<JavaResult> {
  const { stdout, peakRssMb } = await runTool('org.apache.kafka.tools.ProducerPerformance', [
    '--topic', topic,
    '--num-records', String(records),
    '--record-size', String(recordSize),
    '--throughput', '-1',
    '--producer-props', `bootstrap.servers=${brokers}`, 'acks=all', 'enable.idempotence=true',
  ]);
  // "50000 records sent, 123456.7 records/sec (11.77 MB/sec), ..." (the last summary line)
  const summary = [...stdout.matchAll(/records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\)/g)].pop();
  if (!summary) throw new Error(`ProducerPerformance printed no summary:\n${stdout}`);
  return { recordsPerSec: Number(summary[1]), mbPerSec: Number(summary[2]), peakRssMb };
}

export async function javaConsumerPerformance(brokers: string, topic: string, records: number): Promise<JavaResult> {
  const { stdout, peakRssMb } = await runTool('org.apache.kafka.tools.ConsumerPerformance', [
    '--bootstrap-server', brokers,
    '--topic', topic,
    '--messages', String(records),
    '--timeout', '60000',
  ]);
  // A CSV header and one line; fetch.* excludes the group join, as the node consumers' figures do.
  const lines = stdout.trim().split('\n').filter((line) => line.includes(','));
  const header = lines.find((line) => line.includes('nMsg.sec'))!.split(',').map((cell) => cell.trim());
  const values = lines[lines.length - 1]!.split(',').map((cell) => cell.trim());
  const at = (name: string): number => Number(values[header.indexOf(name)]);
  return { recordsPerSec: at('fetch.nMsg.sec'), mbPerSec: at('fetch.MB.sec'), peakRssMb };
}
