import { BUILTIN_CATALOG } from '../../handlers/index.js';
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildChains } from '../../core/chain/chain-builder.js';
import { compose } from '../../core/chain/compose.js';
import { ConfigLoader } from '../../core/config/loader.js';
import { LightError } from '../../core/errors/light-error.js';
import { Exchange } from '../../core/exchange.js';
import { RecordHeaders } from '../../core/headers.js';
import { Attachment } from '../../core/attachments.js';
import { formatTimestamp } from '../../handlers/audit/timestamp-format.js';
import { configDir } from '../support/config-dir.js';
import { testServices } from '../support/services.js';

interface AuditRun {
  dir: string;
  run: (e: Exchange) => Promise<void>;
  /** Runs the close hooks, as a stopping service does: the audit file is complete after it. */
  close: () => Promise<void>;
}

async function auditRun(auditYml: string, behaviour: (exchange: Exchange) => Promise<void>): Promise<AuditRun> {
  const dir = configDir({ 'handler.yml': 'handlers: [audit]\ndefaultHandlers:\n  consume: [audit]\n' });
  const loader = new ConfigLoader({ configDir: dir, env: {} });
  // audit.yml refers to a file in the same temp folder
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dir, 'audit.yml'), auditYml.replace('AUDIT_FILE', join(dir, 'audit.log')));
  const closeHooks: (() => Promise<void> | void)[] = [];
  const services = testServices(loader, { serviceId: 'svc-audit', addCloseHook: (hook) => void closeHooks.push(hook) });
  const { table } = await buildChains(loader, services, BUILTIN_CATALOG);
  const chain = compose([...table.resolve('consume', 'orders')!.handlers, (exchange) => behaviour(exchange)]);
  return {
    dir,
    run: (exchange) => chain(exchange, async () => undefined),
    close: async () => {
      for (const hook of closeHooks.splice(0)) await hook();
    },
  };
}

function consumed(): Exchange {
  const exchange = new Exchange({
    direction: 'consume',
    topic: 'orders',
    partition: 2,
    offset: '41',
    key: 'order-7',
    headers: RecordHeaders.from({ 'X-Correlation-Id': 'c-9', 'X-Traceability-Id': 't-9', caller_id: 'svc-a', Authorization: 'Bearer secret' }),
  });
  exchange.attachments.set(Attachment.claims, {
    clientId: 'client-a',
    userId: 'user-1',
    scopeClientId: undefined,
    scopes: [],
    callerId: 'svc-a',
    subject: undefined,
    issuer: undefined,
    expiresAt: undefined,
    payload: {},
  });
  return exchange;
}

/** The audit lines once `count` of them reached the file (the stream buffers them). */
async function lines(dir: string, count = 1): Promise<Record<string, unknown>[]> {
  const file = join(dir, 'audit.log');
  const read = (): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
  const deadline = Date.now() + 5_000;
  while (read().length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return read().map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('audit handler', () => {
  it('writes one JSON line per record, field by field, with masking', async () => {
    const { dir, run } = await auditRun('auditFile: AUDIT_FILE\nmask: [user_id, key]\n', async () => undefined);
    await run(consumed());
    const [line] = await lines(dir);
    expect(line).to.deep.include({
      'X-Correlation-Id': 'c-9',
      'X-Traceability-Id': 't-9',
      caller_id: 'svc-a',
      client_id: 'client-a',
      user_id: '****',
      serviceId: 'svc-audit',
      direction: 'consume',
      topic: 'orders',
      partition: 2,
      offset: '41',
      key: '****',
      statusCode: 200,
    });
    expect(line).to.not.have.property('Authorization');
    expect(line).to.not.have.property('errorCode');
    expect(line!.processingTime).to.be.a('number');
    expect(Date.parse(line!.timestamp as string)).to.be.closeTo(Date.now(), 10_000);
  });

  it('records the failure status and code, and rethrows', async () => {
    const { dir, run } = await auditRun('auditFile: AUDIT_FILE\n', async () => {
      throw new LightError('ERR10005', { scopes: [], required: ['x'], topic: 'orders' });
    });
    const error = await run(consumed()).then(() => undefined, (e: unknown) => e);
    expect((error as LightError).code).to.equal('ERR10005');
    expect((await lines(dir))[0]).to.deep.include({ statusCode: 403, errorCode: 'ERR10005' });
  });

  it('with auditOnError writes only failed records; fields and headers are configurable', async () => {
    let fail = false;
    const { dir, run, close } = await auditRun('auditFile: AUDIT_FILE\nauditOnError: true\nheaders: [caller_id]\naudit: [topic, statusCode]\ntimestampFormat: epochMillis\n', async () => {
      if (fail) throw new Error('boom');
    });
    await run(consumed());
    fail = true;
    await run(consumed()).catch(() => undefined);
    await run(consumed()).catch(() => undefined);
    // Two failures, one success: exactly the two failed records are audited (closing flushed everything).
    await close();
    expect(await lines(dir, 0)).to.deep.equal([
      { caller_id: 'svc-a', topic: 'orders', statusCode: 500 },
      { caller_id: 'svc-a', topic: 'orders', statusCode: 500 },
    ]);
  });

  it('under back-pressure, writers wait on one shared drain: no listener growth, no line lost', async () => {
    const audit = await auditRun('auditTarget: logfile\nauditFile: AUDIT_FILE\n', async () => undefined);
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      // 2,000 records at once: far more than the stream's 16 KiB buffer, so most writers meet a full buffer.
      await Promise.all(Array.from({ length: 2000 }, () => audit.run(consumed())));
      await audit.close();
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).to.deep.equal([]);
    expect(readFileSync(join(audit.dir, 'audit.log'), 'utf8').trim().split('\n')).to.have.length(2000);
  });

  it('formats timestamps as iso, epoch millis or a light-4j pattern', () => {
    const date = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6));
    expect(formatTimestamp(date, 'iso')).to.equal('2026-01-02T03:04:05.006Z');
    expect(formatTimestamp(date, 'epochMillis')).to.equal(date.getTime());
    expect(formatTimestamp(date, "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")).to.equal('2026-01-02T03:04:05.006Z');
    expect(formatTimestamp(date, 'dd/MM/yyyy HH:mm')).to.equal('02/01/2026 03:04');
  });
});
