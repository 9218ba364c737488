import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Ajv } from 'ajv';
import { LightError } from '../../core/errors/light-error.js';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { MAX_STORE_KEY_BYTES } from '../../core/streams/stores.js';
import type { Command } from '../../core/messages/envelope.js';
import { command, COMMAND_SCHEMA, REPLY_SCHEMA } from '../../core/messages/envelope.js';
import { replyOf } from '../../core/streams/command-processor.js';
import { commandAnswer } from '../../samples/accounts/answers.js';
import { decideAccount, evolveAccount, initialAccount, MAX_AMOUNT, type Account } from '../../samples/accounts/domain.js';
import { idempotencyKeyOf, MAX_ACCOUNT_ID_BYTES, MAX_BODY_BYTES, MAX_IDEMPOTENCY_KEY_LENGTH, MAX_WAIT_SECONDS, parseCommand, preferredWait, readBody, routeOf } from '../../samples/accounts/requests.js';
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

describe('accounts sample: Idempotency-Key and Prefer: wait (samples/accounts/requests.ts)', () => {
  const key = (...lines: string[]): string | undefined => idempotencyKeyOf({ 'idempotency-key': lines });
  const wait = (...lines: string[]): number | undefined => preferredWait({ prefer: lines });

  it('takes the key as the draft writes it (a quoted string) and bare; none without the header', () => {
    expect(idempotencyKeyOf({})).to.equal(undefined);
    expect(key('"8e03978e-40d5-43e8-bc93-6894a57f9324"')).to.equal('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(key('8e03978e-40d5-43e8-bc93-6894a57f9324')).to.equal('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(key('"a\\"b"')).to.equal('a"b');
    expect(key('k'.repeat(MAX_IDEMPOTENCY_KEY_LENGTH))).to.have.length(MAX_IDEMPOTENCY_KEY_LENGTH);
  });

  it('a key that is empty, too long, not visible ASCII, a broken quoted string or sent twice is 400 ERR11020 naming the header', () => {
    for (const [lines, reason] of [
      [[''], 'it must be 1 to 200 characters of visible ASCII, not ""'],
      [['""'], 'it must be 1 to 200 characters of visible ASCII, not ""'],
      [['k'.repeat(MAX_IDEMPOTENCY_KEY_LENGTH + 1)], 'it must be 1 to 200 characters of visible ASCII, not 201 characters'],
      [['"with space"'], 'it must be 1 to 200 characters of visible ASCII, not "with space"'],
      [['caf\u00e9'], 'it must be 1 to 200 characters of visible ASCII'],
      [['"open'], '"\\"open" is not a well-formed quoted string'],
      [['a', 'b'], 'it must be sent once, not 2 times'],
    ] as [string[], string][]) {
      const error = lightErrorOf(() => key(...lines));
      expect(error.code, JSON.stringify(lines)).to.equal('ERR11020');
      expect(error.statusCode).to.equal(400);
      expect(error.message, JSON.stringify(lines)).to.contain(`Request header Idempotency-Key is invalid: ${reason}`);
    }
  });

  it('reads wait=N among other preferences and field lines, the first one only, capped at MAX_WAIT_SECONDS', () => {
    expect(preferredWait({})).to.equal(undefined);
    expect(wait('wait=10')).to.equal(10);
    expect(wait('respond-async, wait=5')).to.equal(5);
    expect(wait('handling=lenient', 'WAIT = 7 ; foo=bar')).to.equal(7);
    expect(wait('wait="12"')).to.equal(12);
    expect(wait('return=minimal; x="a,wait=3", wait=4')).to.equal(4);
    expect(wait('wait=8, wait=20')).to.equal(8);
    expect(wait(`wait=${MAX_WAIT_SECONDS + 1}`)).to.equal(MAX_WAIT_SECONDS);
    expect(wait('wait=99999999999999999999999')).to.equal(MAX_WAIT_SECONDS);
  });

  it('a wait it cannot use is ignored, as RFC 7240 asks (no wait, not an error); wait=0 is no wait', () => {
    for (const line of ['wait=soon', 'wait=-1', 'wait=1.5', 'wait', 'wait=', 'wait=0', 'respond-async', 'waiting=5']) {
      expect(wait(line), line).to.equal(undefined);
    }
  });
});

describe('accounts sample: what the HTTP API answers for an outcome (samples/accounts/answers.ts)', () => {
  const open = command('OpenAccount', { type: 'Account', id: 'acc 1' }, { owner: 'Ann' }, { id: 'k-1' });
  const deposit = command('DepositMoney', { type: 'Account', id: 'acc 1' }, { amount: 5 }, { id: 'k-2' });
  const events = [{ id: 'k-1-0', type: 'AccountOpened', version: 1 }];

  it('accepted: 201 with the account as Location for OpenAccount, 200 for the others', () => {
    expect(commandAnswer(open, { status: 'accepted', version: 1, events }, 'c-1')).to.deep.equal({
      status: 201,
      body: { commandId: 'k-1', correlationId: 'c-1', status: 'accepted', version: 1, events },
      headers: { location: '/accounts/acc%201' },
    });
    expect(commandAnswer(deposit, { status: 'accepted', version: 2, events: [] })).to.deep.include({ status: 200 });
  });

  it('rejected: 409 for VERSION_CONFLICT, 422 ERR11022 for a reused key, 422 for the domain\'s refusals', () => {
    const conflict = commandAnswer(deposit, { status: 'rejected', version: 2, code: 'VERSION_CONFLICT', reason: 'expected version 0, the aggregate is at version 2' });
    expect(conflict).to.deep.equal({ status: 409, body: { commandId: 'k-2', status: 'rejected', code: 'VERSION_CONFLICT', reason: 'expected version 0, the aggregate is at version 2', version: 2 } });
    const reused = commandAnswer(deposit, { status: 'rejected', version: 2, code: 'IDEMPOTENCY_KEY_REUSED', reason: 'x' });
    expect(reused.status).to.equal(422);
    expect(reused.body).to.deep.include({ code: 'ERR11022', statusCode: 422, message: 'IDEMPOTENCY_KEY_REUSED', description: 'Idempotency key k-2 was used before for a different command on account acc 1' });
    expect(commandAnswer(deposit, { status: 'rejected', version: 1, code: 'INSUFFICIENT_FUNDS', reason: 'no' })).to.deep.include({ status: 422 });
  });
});

describe('accounts sample: the shipped envelope schemas follow the library\'s (command with replyTo, reply)', () => {
  const shipped = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(PACKAGE_ROOT, 'samples', 'accounts', 'config', 'schemas', name), 'utf8')) as Record<string, unknown>;
  const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

  it('command.schema.json has COMMAND_SCHEMA\'s fields (replyTo too) and refuses a malformed reply channel', () => {
    const schema = shipped('command.schema.json');
    expect(schema.properties).to.deep.equal(plain(COMMAND_SCHEMA.properties));
    expect(schema.required).to.deep.equal(plain(COMMAND_SCHEMA.required));
    const validate = new Ajv({ strict: false }).compile(schema);
    const open = { ...command('OpenAccount', { type: 'Account', id: 'a1' }, { owner: 'Ann' }), metadata: {} };
    expect(validate({ ...open, replyTo: { topic: 'bank.account-replies', key: 'instance-1' } }), JSON.stringify(validate.errors)).to.equal(true);
    for (const replyTo of [{ topic: 'bank.account-replies' }, { topic: '', key: 'k' }, { topic: 't', key: 'k', extra: 1 }, 'bank.account-replies']) {
      expect(validate({ ...open, replyTo }), JSON.stringify(replyTo)).to.equal(false);
    }
  });

  it('reply.schema.json is REPLY_SCHEMA: it takes what the processor writes and refuses what is not a reply', () => {
    const { $schema, title, ...schema } = shipped('reply.schema.json');
    expect($schema).to.be.a('string');
    expect(title).to.be.a('string');
    expect(schema).to.deep.equal(plain(REPLY_SCHEMA));
    const validate = new Ajv({ strict: false }).compile(shipped('reply.schema.json'));
    const deposit = command('DepositMoney', { type: 'Account', id: 'a1' }, { amount: 5 });
    expect(validate(replyOf(deposit, { status: 'accepted', version: 2, events: [{ id: 'e', type: 'MoneyDeposited', version: 2 }] })), JSON.stringify(validate.errors)).to.equal(true);
    expect(validate(replyOf(deposit, { status: 'rejected', version: 1, code: 'NOT_OPEN', reason: 'the account is not open' }))).to.equal(true);
    expect(validate({ ...replyOf(deposit, { status: 'accepted', version: 2, events: [] }), kind: 'event' })).to.equal(false);
    expect(validate({ ...replyOf(deposit, { status: 'accepted', version: 2, events: [] }), data: { status: 'done', version: 2 } })).to.equal(false);
  });
});
