import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Ajv } from 'ajv';
import { LightError } from '../../core/errors/light-error.js';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { MAX_STORE_KEY_BYTES } from '../../core/streams/stores.js';
import type { Command } from '../../core/messages/envelope.js';
import { command } from '../../core/messages/envelope.js';
import { decideAccount, evolveAccount, initialAccount, MAX_AMOUNT, type Account } from '../../samples/accounts/domain.js';
import { MAX_ACCOUNT_ID_BYTES, MAX_BODY_BYTES, parseCommand, readBody, routeOf } from '../../samples/accounts/requests.js';
import { lightErrorOf } from '../support/errors.js';

async function rejectionOf(work: Promise<unknown>): Promise<LightError> {
  try {
    await work;
  } catch (error) {
    if (error instanceof LightError) return error;
    throw error;
  }
  throw new Error('expected a LightError');
}

/** A request body arriving in chunks; `pulled` counts the chunks the reader took. */
function bodyOf(chunks: number, chunkBytes: number, headers: Record<string, string> = {}): Readable & { headers: Record<string, string>; pulled: () => number } {
  let pulled = 0;
  const stream = Readable.from(
    (function* () {
      for (let i = 0; i < chunks; i++) {
        pulled += 1;
        yield Buffer.alloc(chunkBytes, 0x20);
      }
    })(),
    { objectMode: false, highWaterMark: chunkBytes },
  );
  return Object.assign(stream, { headers, pulled: () => pulled });
}

describe('accounts sample: what the HTTP API accepts (samples/accounts/requests.ts)', () => {
  it('routes POST /accounts/{id}/commands and GET /accounts/{id} with the id decoded', () => {
    expect(routeOf('POST', '/accounts/acc%201/commands')).to.deep.equal({ kind: 'command', accountId: 'acc 1' });
    expect(routeOf('GET', '/accounts/%E0%A4%A4?x=1')).to.deep.equal({ kind: 'view', accountId: '\u0924' });
    expect(routeOf('GET', '/accounts/a1/commands')).to.deep.equal({ kind: 'none' });
    expect(routeOf('DELETE', '/accounts/a1')).to.deep.equal({ kind: 'none' });
  });

  it('a malformed percent-encoding in the account id is 400 ERR11020 on POST and GET (decodeURIComponent threw: 500)', () => {
    for (const [method, url] of [['POST', '/accounts/%E0%A4%A/commands'], ['GET', '/accounts/%E0%A4%A']] as const) {
      const error = lightErrorOf(() => routeOf(method, url));
      expect(error.code, method).to.equal('ERR11020');
      expect(error.statusCode).to.equal(400);
      expect(error.message).to.contain('Request path is invalid: the account id "%E0%A4%A" is not valid percent-encoding');
    }
  });

  it('an account id over MAX_ACCOUNT_ID_BYTES is 400 ERR11020 on POST and GET (a 10,000-character id was dead-lettered, or 500)', () => {
    expect(MAX_ACCOUNT_ID_BYTES).to.be.at.most(MAX_STORE_KEY_BYTES);
    expect(routeOf('GET', `/accounts/${'a'.repeat(MAX_ACCOUNT_ID_BYTES)}`)).to.deep.include({ kind: 'view' });
    for (const [method, url] of [['POST', `/accounts/${'a'.repeat(10_000)}/commands`], ['GET', `/accounts/${'a'.repeat(10_000)}`], ['GET', `/accounts/${'%C3%A9'.repeat(101)}`]] as const) {
      const error = lightErrorOf(() => routeOf(method, url));
      expect(error.code, url.slice(0, 30)).to.equal('ERR11020');
      expect(error.message).to.match(/the account id is \d+ bytes of UTF-8; at most 200$/);
    }
  });

  it('a path that is not a URL is 400, not a crash', () => {
    expect(lightErrorOf(() => routeOf('GET', '//[')).code).to.equal('ERR11020');
  });

  it('a JSON null, an array, a string or non-JSON body is 400 ERR11020 (null was a TypeError: 500)', () => {
    for (const [text, reason] of [
      ['null', 'it must be a JSON object, not null'],
      ['[1]', 'it must be a JSON object, not an array'],
      ['"DepositMoney"', 'it must be a JSON object, not "DepositMoney"'],
      ['{"type":', 'it is not JSON'],
      ['', 'it is not JSON'],
      ['{"type":"DepositMoney","data":null}', 'data must be a JSON object, not null'],
      ['{"type":"CloseAccount"}', 'type must be one of OpenAccount, DepositMoney, WithdrawMoney'],
      ['{"type":"OpenAccount","data":{"owner":"Ann"},"expectedVersion":-1}', 'expectedVersion must be an integer from 0, not -1'],
    ]) {
      const error = lightErrorOf(() => parseCommand(text!));
      expect(error.code, text).to.equal('ERR11020');
      expect(error.message, text).to.contain(`Request body is invalid: ${reason!}`);
    }
  });

  it('an amount that is not an integer number of cents from 1 to MAX_AMOUNT is 400 ERR11020 (1e308 twice made the balance Infinity)', () => {
    for (const amount of ['1e308', '1.5', '0', '-5', '"10"', 'null', String(MAX_AMOUNT + 1)]) {
      for (const type of ['DepositMoney', 'WithdrawMoney']) {
        const error = lightErrorOf(() => parseCommand(`{"type":"${type}","data":{"amount":${amount}}}`));
        expect(error.code, `${type} ${amount}`).to.equal('ERR11020');
        expect(error.message).to.contain(`data.amount must be an integer number of cents from 1 to ${MAX_AMOUNT}`);
      }
    }
    expect(lightErrorOf(() => parseCommand('{"type":"DepositMoney"}')).message).to.contain('not missing');
    expect(parseCommand(`{"type":"DepositMoney","data":{"amount":${MAX_AMOUNT}},"expectedVersion":1}`)).to.deep.equal({ type: 'DepositMoney', data: { amount: MAX_AMOUNT }, expectedVersion: 1 });
    expect(parseCommand('{"type":"OpenAccount","data":{"owner":"Ann"}}')).to.deep.equal({ type: 'OpenAccount', data: { owner: 'Ann' } });
    expect(parseCommand('{"type":"OpenAccount"}')).to.deep.equal({ type: 'OpenAccount', data: {} });
  });

  it('reads a body up to MAX_BODY_BYTES', async () => {
    expect(MAX_BODY_BYTES).to.equal(1024 * 1024);
    expect(await readBody(bodyOf(16, 64 * 1024))).to.have.length(MAX_BODY_BYTES);
  });

  it('a body over MAX_BODY_BYTES is 413 ERR11021, and reading stops once it is over (an 8 MiB body was read whole: 500)', async () => {
    const body = bodyOf(128, 64 * 1024);
    const error = await rejectionOf(readBody(body));
    expect(error.code).to.equal('ERR11021');
    expect(error.statusCode).to.equal(413);
    expect(error.message).to.contain('Request body is larger than 1048576 bytes');
    await new Promise((done) => setTimeout(done, 20));
    expect(body.pulled()).to.be.below(24);
    // A Content-Length over the limit: refused before reading anything.
    const declared = bodyOf(128, 64 * 1024, { 'content-length': String(8 * 1024 * 1024) });
    expect((await rejectionOf(readBody(declared))).code).to.equal('ERR11021');
    expect(declared.pulled()).to.equal(0);
  });
});

describe('accounts sample: amounts in cents, bounded (domain and command schema)', () => {
  const open: Account = { owner: 'Ann', balance: 0, open: true };
  const deposit = (amount: unknown): Command => command('DepositMoney', { type: 'Account', id: 'a1' }, { amount });

  it('decide refuses an amount that is not an integer from 1 to MAX_AMOUNT (INVALID)', () => {
    for (const amount of [1e308, 1.5, 0, -1, '10', MAX_AMOUNT + 1, Number.NaN, Infinity]) {
      expect(decideAccount(open, deposit(amount)), String(amount)).to.deep.include({ code: 'INVALID' });
      expect(decideAccount({ ...open, balance: 1e9 }, command('WithdrawMoney', { type: 'Account', id: 'a1' }, { amount })), String(amount)).to.deep.include({ code: 'INVALID' });
    }
    expect(decideAccount(open, deposit(MAX_AMOUNT))).to.deep.equal([{ type: 'MoneyDeposited', data: { amount: MAX_AMOUNT } }]);
  });

  it('decide refuses a deposit that would take the balance beyond Number.MAX_SAFE_INTEGER (BALANCE_LIMIT): the balance stays exact', () => {
    const nearlyFull = { ...open, balance: Number.MAX_SAFE_INTEGER - 10 };
    expect(decideAccount(nearlyFull, deposit(10))).to.deep.equal([{ type: 'MoneyDeposited', data: { amount: 10 } }]);
    const refused = decideAccount(nearlyFull, deposit(11));
    expect(refused).to.deep.include({ code: 'BALANCE_LIMIT' });
    // Depositing MAX_AMOUNT again and again never leaves the safe integers.
    let account = evolveAccount(initialAccount(), { type: 'AccountOpened', data: { owner: 'Ann' } } as never);
    account = { ...account, balance: Number.MAX_SAFE_INTEGER - MAX_AMOUNT - 5 };
    for (let i = 0; i < 3; i++) {
      const decision = decideAccount(account, deposit(MAX_AMOUNT));
      if (!Array.isArray(decision)) break;
      account = evolveAccount(account, { type: 'MoneyDeposited', data: decision[0]!.data } as never);
    }
    expect(Number.isSafeInteger(account.balance)).to.equal(true);
    expect(JSON.parse(JSON.stringify({ balance: account.balance })).balance).to.equal(account.balance);
  });

  it('the command schema refuses the same amounts, with the same maximum', () => {
    const schema = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'samples', 'accounts', 'config', 'schemas', 'command.schema.json'), 'utf8')) as object;
    expect(JSON.stringify(schema)).to.contain(`"maximum":${MAX_AMOUNT}`);
    const validate = new Ajv({ strict: false }).compile(schema);
    const envelope = (type: string, data: unknown): unknown => ({ ...command(type, { type: 'Account', id: 'a1' }, data), metadata: {} });
    for (const amount of [1e308, 1.5, 0, -5, '10', MAX_AMOUNT + 1]) {
      expect(validate(envelope('DepositMoney', { amount })), String(amount)).to.equal(false);
      expect(validate(envelope('WithdrawMoney', { amount })), String(amount)).to.equal(false);
    }
    expect(validate(envelope('DepositMoney', {}))).to.equal(false);
    expect(validate(envelope('DepositMoney', { amount: 100 })), JSON.stringify(validate.errors)).to.equal(true);
    expect(validate(envelope('OpenAccount', { owner: 'Ann' })), JSON.stringify(validate.errors)).to.equal(true);
  });
});
