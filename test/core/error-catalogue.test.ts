import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { STATUS_CATALOGUE, STATUS_CODES } from '../../core/errors/catalogue.js';
import { LightError } from '../../core/errors/light-error.js';
import { PACKAGE_ROOT } from '../../core/package-root.js';

describe('error catalogue', () => {
  it('codes are unique, well-formed and in the light-4j range of their concern', () => {
    for (const code of STATUS_CODES) expect(code).to.match(/^ERR1[0-3]\d{3}$/);
    expect(new Set(STATUS_CODES).size).to.equal(STATUS_CODES.length);
  });

  it('the README error table lists exactly the catalogue, with the same status and message', () => {
    const readme = readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8');
    const rows = [...readme.matchAll(/^\| (ERR\d{5}) \| (\d{3}) \| (\w+) \| (yes|no) \|/gm)];
    const documented = new Map(rows.map((row) => [row[1]!, { statusCode: Number(row[2]), message: row[3], retryable: row[4] === 'yes' }]));
    expect([...documented.keys()].sort()).to.deep.equal([...STATUS_CODES].sort());
    for (const code of STATUS_CODES) {
      const def = STATUS_CATALOGUE[code];
      expect(documented.get(code), code).to.deep.equal({ statusCode: def.statusCode, message: def.message, retryable: def.retryable });
    }
  });

  it('the exported StatusCode type names every code', () => {
    const declarations = readFileSync(join(PACKAGE_ROOT, 'dist', 'core', 'errors', 'catalogue.d.ts'), 'utf8');
    for (const code of STATUS_CODES) expect(declarations, code).to.contain(`${code}:`);
    expect(declarations).to.contain('export type StatusCode = keyof typeof STATUS_CATALOGUE');
  });

  it('LightError fills the description, keeps the cause and works with instanceof across copies', () => {
    const cause = new Error('socket closed');
    const error = new LightError('ERR12000', { topic: 'orders', reason: 'socket closed' }, { cause });
    expect(error.message).to.equal('ERR12000 Sending to orders failed: socket closed');
    expect(error.status).to.deep.include({ statusCode: 500, code: 'ERR12000', message: 'KAFKA_SEND_FAILED' });
    expect(error.cause).to.equal(cause);
    expect(error.retryable).to.equal(true);
    // An error from another copy of the package carries the same global brand.
    const foreign = Object.assign(new Error('x'), { [Symbol.for('light-kafka.LightError')]: true });
    expect(foreign instanceof LightError).to.equal(true);
    expect(new Error('plain') instanceof LightError).to.equal(false);
  });

  it('security and validation codes are never retried', () => {
    for (const code of ['ERR10000', 'ERR10001', 'ERR10002', 'ERR10005', 'ERR11000', 'ERR11004'] as const) {
      expect(new LightError(code).retryable, code).to.equal(false);
    }
  });
});
