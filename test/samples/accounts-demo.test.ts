import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/package-root.js';

/** Runs `npm run demo`'s script as a user would (on the test run's broker) and reads what it prints. */
function runDemo(outputDir: string): Promise<{ code: number | null; lines: string[] }> {
  const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'samples', 'accounts', 'run-demo.js')], {
    env: { ...process.env, DEMO_OUTPUT_DIR: outputDir, LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, lines: out.split('\n') })));
}

describe('npm run demo (the accounts service end to end) @broker', function () {
  this.timeout(240_000);

  it('prints the commands, the 401, the rejection, the view on both instances, one request hop by hop, and writes the waterfall', async () => {
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
    } finally {
      rmSync(outputDir, { recursive: true, force: true });
    }
  });
});
