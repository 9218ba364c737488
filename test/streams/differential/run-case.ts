/**
 * Runs one differential case by hand and prints its report: both sides and their comparison, or Kafka Streams alone
 * for a case whose LightStreams side is not wired yet (what Kafka Streams says the results are, for whoever builds
 * the operation). Needs a broker (KAFKA_BROKERS) and Java; fetches Kafka Streams on first use.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 node dist/test/streams/differential/run-case.js <case> [--seed <n>]
 */
import { isMain } from '../../../scripts/is-main.js';
import { runDifferential, type DifferentialCase } from '../../support/differential/harness.js';
import { streamTableJoin, streamTableJoinInterleaved, tumblingCount } from './cases.js';
import { JOIN_CASES } from './join-cases.js';
import { PENDING_CASES } from './pending-inputs.js';
import { WINDOW_CASES } from './window-cases.js';

const WIRED = [tumblingCount, streamTableJoin, streamTableJoinInterleaved, ...WINDOW_CASES, ...JOIN_CASES];
/** Every case: with its LightStreams side where one is wired, else Kafka Streams only. */
export const CASES: DifferentialCase[] = [...WIRED, ...PENDING_CASES.filter((pending) => !WIRED.some((wired) => wired.name === pending.name))];

async function main(args: string[]): Promise<number> {
  const name = args[0];
  const seedAt = args.indexOf('--seed');
  const testCase = CASES.find((candidate) => candidate.name === name);
  if (!testCase) {
    console.error(`usage: run-case <case> [--seed <n>]; cases: ${CASES.map((candidate) => `${candidate.name}${candidate.light ? '' : ' (Kafka Streams only)'}`).join(', ')}`);
    return 2;
  }
  process.env.LOG_LEVEL ??= 'error';
  const report = await runDifferential(testCase, seedAt >= 0 ? { seed: Number(args[seedAt + 1]) } : {});
  console.log(report.text);
  return report.equal || !testCase.light ? 0 : 1;
}

if (isMain(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
