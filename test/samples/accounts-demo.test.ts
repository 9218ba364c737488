import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { useSkyWalking } from '../support/skywalking.js';

/** Runs `npm run demo`'s script as a user would (on the test run's broker) and reads what it prints. */
function runDemo(outputDir: string, env: Record<string, string> = {}): Promise<{ code: number | null; lines: string[] }> {
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'samples', 'accounts', 'run-demo.js')], {
    env: { ...process.env, DEMO_OUTPUT_DIR: outputDir, LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, lines: out.split('\n') })));
}

/** The lines of the demo from the one that matches `start` up to (not including) the next blank line. */
function section(lines: string[], start: RegExp): string[] {
  const from = lines.findIndex((line) => start.test(line));
  if (from < 0) return [];
  const to = lines.findIndex((line, index) => index > from && line === '[demo] ');
  return lines.slice(from, to < 0 ? undefined : to);
}

describe('npm run demo (the accounts service end to end) @broker', function () {
  this.timeout(240_000);

  it('prints the commands, the 401, the rejection, the view on both instances, one request hop by hop, an idempotent command, two transfers, and writes the waterfalls', async () => {
    const outputDir = mkdtempSync(join(tmpdir(), 'light-kafka-demo-test-'));
    try {
      const { code, lines } = await runDemo(outputDir);
      const text = lines.join('\n');
      expect(code, text).to.equal(0);
      expect(text, 'a value the demo failed to find').to.not.match(/undefined|NaN/);
      expect(lines.filter((line) => / -> HTTP 202 \(X-Correlation-Id /.test(line)), text).to.have.length(4);
      expect(text).to.match(/with an expired token -> HTTP 401 ERR10001/);
      expect(text).to.match(/refused: CommandRejected INSUFFICIENT_FUNDS \(insufficient funds: balance 70, withdrawal 500\)/);
      expect(lines.filter((line) => /GET accounts-[AB] .* -> HTTP 200 owner Ann, balance 70, version 3/.test(line)), text).to.have.length(2);
      // Hop by hop: the same correlation id and trace id on the command and on the event it caused.
      const path = /the path of one request: DepositMoney 100 \(X-Correlation-Id (deposit-\w+), trace ([0-9a-f]{32})\)/.exec(text);
      expect(path, text).to.not.equal(null);
      const [, correlationId, traceId] = path!;
      const hops = lines.filter((line) => /^\[demo\]   [24]\. bank\.account-(commands|events) p\d+@\d+/.test(line));
      expect(hops, text).to.have.length(2);
      for (const hop of hops) expect(hop).to.include(`correlation ${correlationId!}`).and.include(`trace ${traceId!}`);
      expect(hops[0]).to.match(/caller accounts-A$/);
      expect(text).to.match(/5\. the projection: account-view acc-\w+ = owner Ann, balance 70, version 3/);
      // Audit lines of both directions, from the instances that did the work.
      expect(lines.filter((line) => line.includes(`correlation ${correlationId!}`) && /accounts-[AB]: (produce|consume) /.test(line)).length, text).to.be.at.least(4);
      // The spans of the trace: the command's send and process, the event's send and process.
      expect(text).to.match(/bank\.account-commands send/).and.match(/bank\.account-commands process/).and.match(/bank\.account-events send/).and.match(/bank\.account-events process/);
      const png = readFileSync(join(outputDir, 'demo-trace.png'));
      expect(png.subarray(1, 4).toString('latin1')).to.equal('PNG');

      // Idempotency-Key and Prefer: wait on the accounts API: the outcome waited for, then the same outcome at once.
      expect(text).to.match(/OpenAccount Bob \(Idempotency-Key "(open-bob-\w+)", Prefer: wait=10\) -> HTTP 201 accepted, version 1, events AccountOpened \(Preference-Applied: wait=10\)/);
      expect(text).to.match(/the same request again -> HTTP 201 accepted, version 1, commandId open-bob-\w+: the first outcome, from the account's processed commands \(Preference-Applied: none; bank\.account-commands holds 0 more records\)/);
      expect(text).to.match(/the same key for OpenAccount Eve -> HTTP 422 ERR11022 Idempotency key open-bob-\w+ was used before for a different command on account acc-\w+-bob/);

      // The transfers: one completed, one compensated (its credit to an account never opened), and the balances after.
      expect(text).to.match(/POST \/transfers \{"from":"acc-\w+","to":"acc-\w+-bob","amount":25\} \(Idempotency-Key "t-ok-\w+", Prefer: wait=20\) -> HTTP 200 COMPLETED \(Preference-Applied: wait=20\)/);
      expect(text).to.match(
        /POST \/transfers \{"from":"acc-\w+","to":"acc-\w+-never-opened","amount":10\} \(Idempotency-Key "t-refund-\w+", Prefer: wait=20\) -> HTTP 422 COMPENSATED SAGA_COMPENSATED: step credit failed \(NOT_OPEN: the account is not open\); the steps before it were compensated/,
      );
      expect(text).to.match(/balances now: acc-\w+ 45 \(version 6\), acc-\w+-bob 25 \(version 2\)/);
      const steps = (saga: RegExp): string[] => section(lines, saga).filter((line) => /^\[demo\]\s+\+\s*\d+ ms/.test(line)).map((line) => line.replace(/^\[demo\]\s+\+\s*\d+ ms\s+/, '').replace(/\s+/g, ' ').replace(/ t-\S+/, ''));
      expect(steps(/the saga of transfer t-ok-\w+ \(GET \/transfers\/t-ok-\w+ -> COMPLETED, answered by transfers-A's store\)/)).to.deep.equal([
        '- started',
        'debit sent',
        'debit accepted',
        'credit sent',
        'credit accepted',
        '- completed',
      ]);
      expect(steps(/the saga of transfer t-refund-\w+ \(GET \/transfers\/t-refund-\w+ -> COMPENSATED/)).to.deep.equal([
        '- started',
        'debit sent',
        'debit accepted',
        'credit sent',
        'credit rejected NOT_OPEN',
        'debit compensation-sent',
        'debit compensated',
        '- compensated-all',
      ]);
      // Every hop of a transfer, in both services, carries its one correlation id and its one trace.
      const transferTraces: string[] = [];
      for (const [name, records] of [['ok', 8], ['refund', 11]] as const) {
        const hopSection = section(lines, new RegExp(`its hops \\(X-Correlation-Id transfer-${name}-\\w+, trace [0-9a-f]{32}\\)`));
        const [, transferCorrelation, transferTrace] = /X-Correlation-Id (\S+), trace ([0-9a-f]{32})/.exec(hopSection[0] ?? '') ?? [];
        expect(transferTrace, text).to.be.a('string');
        transferTraces.push(transferTrace!);
        const recordHops = hopSection.filter((line) => /hop \d+: bank\./.test(line));
        expect(recordHops, hopSection.join('\n')).to.have.length(records);
        for (const hop of recordHops) expect(hop).to.include(`correlation ${transferCorrelation!}`).and.include(`trace ${transferTrace!}`).and.match(/caller (transfers-A|accounts-[AB])$/);
        expect(recordHops[0]).to.match(/bank\.transfers p\d+@\d+ {2}StartTransfer .* caller transfers-A$/);
        expect(recordHops.filter((line) => / bank\.transfer-replies /.test(line)).every((line) => / caller accounts-[AB]$/.test(line))).to.equal(true);
        expect(recordHops[records - 1]).to.match(/bank\.transfer-outcomes p\d+@\d+ {2}Command(Accepted|Rejected) \(the saga's answer to the POST\)/);
      }
      expect(transferTraces[0]).to.not.equal(transferTraces[1]);
      // The completed transfer's spans: both services, the saga's topics, and its waterfall.
      const transferSpans = section(lines, new RegExp(`spans of trace ${transferTraces[0]!}`)).join('\n');
      expect(transferSpans).to.match(/transfers-A +bank\.transfers send/).and.match(/transfers-A +bank\.transfer-replies process/).and.match(/accounts-[AB] +bank\.account-commands process/);
      expect(transferSpans).to.match(/accounts-[AB] +bank\.transfer-replies send/).and.match(/transfers-A +bank\.transfer-outcomes process/);
      const transferPng = readFileSync(join(outputDir, 'demo-transfer-trace.png'));
      expect(transferPng.subarray(1, 4).toString('latin1')).to.equal('PNG');
    } finally {
      rmSync(outputDir, { recursive: true, force: true });
    }
  });

  it('DEMO_SKYWALKING=1: traces both services to the OAP and prints the request and the transfer as queryTrace answers them, each hop referring to the one before @skywalking', async () => {
    const oap = await useSkyWalking();
    const outputDir = mkdtempSync(join(tmpdir(), 'light-kafka-demo-sw-'));
    try {
      const { code, lines } = await runDemo(outputDir, { DEMO_SKYWALKING: '1', SKYWALKING_COLLECTOR: oap.collectorAddress, SKYWALKING_GRAPHQL_URL: oap.graphqlUrl });
      const out = lines.join('\n');
      expect(code, out).to.equal(0);
      expect(out).to.include(`tracing to the SkyWalking OAP at ${oap.collectorAddress} (already running)`);
      const deposit = /One DepositMoney request: trace ([0-9a-f]{32}) as the SkyWalking OAP answers it \(queryTrace\): 5 spans in 3 segments of accounts\n((?:\[demo\] {3}.*\n)+)/.exec(out);
      expect(deposit, out).to.not.equal(null);
      const hops = deposit![2]!.trim().split('\n');
      expect(hops[0]).to.match(/accounts-[AB] +Entry http +POST \/accounts\/\{id\}\/commands$/);
      expect(hops[1]).to.match(/Exit +kafka-producer Kafka\/bank\.account-commands\/Producer$/);
      expect(hops[2]).to.match(/Entry kafka-consumer Kafka\/bank\.account-commands\/Consumer\/bank-\w+ +<- accounts-[AB] Kafka\/bank\.account-commands\/Producer \(CROSS_PROCESS\)$/);
      expect(hops[3]).to.match(/Exit +kafka-producer Kafka\/bank\.account-events\/Producer$/);
      expect(hops[4]).to.match(/Entry kafka-consumer Kafka\/bank\.account-events\/Consumer\/bank-\w+ +<- accounts-[AB] Kafka\/bank\.account-events\/Producer \(CROSS_PROCESS\)$/);
      // The trace id the demo printed for the request's records is the one the OAP holds.
      expect(out).to.include(`the path of one request: DepositMoney 100 (X-Correlation-Id deposit-`);
      expect(out).to.match(new RegExp(`DepositMoney 100 \\(X-Correlation-Id deposit-\\w+, trace ${deposit![1]!}\\)`));
      const transfer = /Transfer t-ok-\w+: trace [0-9a-f]{32} as the SkyWalking OAP answers it \(queryTrace\): (\d+) spans in (\d+) segments of transfers, accounts/.exec(out);
      expect(transfer, out).to.not.equal(null);
      // HTTP entry, then per hop an exit and an entry: start, debit, its reply, credit, its reply, the outcome.
      expect(Number(transfer![1])).to.be.at.least(13);
      for (const file of ['demo-skywalking-trace.png', 'demo-skywalking-transfer-trace.png']) {
        expect(readFileSync(join(outputDir, file)).subarray(1, 4).toString('latin1'), file).to.equal('PNG');
      }
    } finally {
      rmSync(outputDir, { recursive: true, force: true });
    }
  });
});
