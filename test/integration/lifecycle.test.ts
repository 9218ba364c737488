import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/package-root.js';

describe('service lifecycle @broker', function () {
  this.timeout(90_000);

  it('stops gracefully on SIGTERM: logs the stop and exits 0', async () => {
    const child = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'samples', 'demo', 'order-service.js'), '0'], {
      env: { ...process.env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 60_000;
    while (!output.includes('order service listening') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(output, output).to.contain('order service listening');
    child.kill('SIGTERM');
    const code = await exited;
    expect(code, output).to.equal(0);
    expect(output).to.contain('"signal":"SIGTERM"').and.contain('service stopped');
  });

  it('the local Kafka script says clearly when Java and Maven are missing', () => {
    const result = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'dist', 'scripts', 'kafka-local.js'), 'fetch'], {
      env: { PATH: '/nonexistent', LIGHT_KAFKA_LOCAL_DIR: mkdtempSync(join(tmpdir(), 'lk-nojava-')) },
      encoding: 'utf8',
    });
    expect(result.status).to.equal(1);
    expect(result.stderr).to.contain('Java 17 or newer is needed');
  });
});
