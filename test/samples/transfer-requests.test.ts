import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { command, COMMAND_SCHEMA } from '../../core/messages/envelope.js';
import type { SagaInstance } from '../../core/streams/saga.js';
import { MAX_AMOUNT } from '../../samples/accounts/domain.js';
import { endOfSaga, transferAccepted, transferAnswer, transferView } from '../../samples/transfers/answers.js';
import { parseTransfer, transferRouteOf } from '../../samples/transfers/requests.js';
import type { Transfer } from '../../samples/transfers/transfer-saga.js';
import { lightErrorOf } from '../support/errors.js';

describe('transfers sample: what the HTTP API accepts (samples/transfers/requests.ts)', () => {
  it('routes POST /transfers and GET /transfers/{id} with the id decoded', () => {
    expect(transferRouteOf('POST', '/transfers')).to.deep.equal({ kind: 'start' });
    expect(transferRouteOf('GET', '/transfers/t%201?x=1')).to.deep.equal({ kind: 'transfer', transferId: 't 1' });
    expect(transferRouteOf('GET', '/transfers')).to.deep.equal({ kind: 'none' });
    expect(transferRouteOf('POST', '/transfers/t1')).to.deep.equal({ kind: 'none' });
    const error = lightErrorOf(() => transferRouteOf('GET', `/transfers/${'t'.repeat(201)}`));
    expect(error.code).to.equal('ERR11020');
    expect(error.message).to.contain('Request path is invalid: the transfer id is 201 bytes of UTF-8; at most 200');
  });

  it('takes {from, to, amount} and refuses what is not a transfer between two accounts with 400 ERR11020', () => {
    expect(parseTransfer('{"from":"a1","to":"a2","amount":250,"note":"x"}')).to.deep.equal({ from: 'a1', to: 'a2', amount: 250 });
    for (const [text, reason] of [
      ['null', 'it must be a JSON object, not null'],
      ['{"from":', 'it is not JSON'],
      ['{"to":"a2","amount":1}', 'from must be an account id, not missing'],
      ['{"from":"a1","to":"","amount":1}', 'to must be an account id, not ""'],
      [`{"from":"${'a'.repeat(201)}","to":"a2","amount":1}`, 'from is 201 bytes of UTF-8; at most 200'],
      ['{"from":"a1","to":"a1","amount":1}', 'from and to must be two accounts'],
      ['{"from":"a1","to":"a2","amount":0}', `amount must be an integer number of cents from 1 to ${MAX_AMOUNT}, not 0`],
      ['{"from":"a1","to":"a2","amount":1.5}', 'amount must be an integer number of cents'],
      [`{"from":"a1","to":"a2","amount":${MAX_AMOUNT + 1}}`, 'amount must be an integer number of cents'],
    ]) {
      const error = lightErrorOf(() => parseTransfer(text!));
      expect(error.code, text).to.equal('ERR11020');
      expect(error.message, text).to.contain(`Request body is invalid: ${reason!}`);
    }
  });
});

describe('transfers sample: what the HTTP API answers (samples/transfers/answers.ts)', () => {
  const saga = (status: SagaInstance<Transfer>['status'], extra: Partial<SagaInstance<Transfer>> = {}): SagaInstance<Transfer> => ({
    id: 't-1',
    saga: 'transfers',
    status,
    data: { from: 'a1', to: 'a2', amount: 250 },
    step: 1,
    awaiting: [],
    toCompensate: [],
    compensationAttempt: 0,
    stuck: false,
    history: [{ at: '2026-01-01T00:00:00.000Z', step: '-', event: 'started' }],
    startedAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:01.000Z',
    metadata: { correlationId: 'c-1' },
    context: { authorization: 'Bearer secret-token', 'x-correlation-id': 'c-1' },
    startId: 't-1',
    startType: 'StartTransfer',
    startFingerprint: 'f',
    ...extra,
  });

  it('200 for a completed transfer, 422 with the failed step for a compensated one, nothing while it runs', () => {
    expect(endOfSaga(saga('RUNNING'))).to.equal(undefined);
    expect(endOfSaga(saga('COMPENSATING'))).to.equal(undefined);
    expect(transferAnswer('t-1', endOfSaga(saga('COMPLETED'))!, 'c-1')).to.deep.equal({ status: 200, body: { transferId: 't-1', correlationId: 'c-1', status: 'COMPLETED' } });
    const compensated = transferAnswer('t-1', endOfSaga(saga('COMPENSATED', { failure: { step: 'credit', code: 'NOT_OPEN', reason: 'the account is not open' } }))!);
    expect(compensated).to.deep.equal({
      status: 422,
      body: { transferId: 't-1', status: 'COMPENSATED', code: 'SAGA_COMPENSATED', reason: 'step credit failed (NOT_OPEN: the account is not open); the steps before it were compensated' },
    });
    expect(transferAccepted('t 1')).to.deep.equal({ status: 202, body: { transferId: 't 1' }, headers: { location: '/transfers/t%201' } });
  });

  it('shows a transfer with its status, history and failure, never the saved request context (it holds the caller\'s token)', () => {
    const view = transferView(saga('COMPENSATED', { failure: { step: 'credit', code: 'NOT_OPEN', reason: 'no' }, endedAt: '2026-01-01T00:00:02.000Z' }));
    expect(view).to.deep.include({ transferId: 't-1', status: 'COMPENSATED', from: 'a1', to: 'a2', amount: 250, stuck: false, endedAt: '2026-01-01T00:00:02.000Z' });
    expect(view.failure).to.deep.equal({ step: 'credit', code: 'NOT_OPEN', reason: 'no' });
    expect(view.history).to.have.length(1);
    expect(JSON.stringify(view)).to.not.contain('secret-token');
  });
});

describe('transfers sample: the StartTransfer schema (samples/transfers/config/schemas/start-transfer.schema.json)', () => {
  const schema = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'samples', 'transfers', 'config', 'schemas', 'start-transfer.schema.json'), 'utf8')) as { properties: Record<string, unknown>; required: string[] };

  it('is the command envelope (COMMAND_SCHEMA, reply channel included) with type StartTransfer and the transfer as data', () => {
    const { type, data, ...envelope } = schema.properties;
    const { type: _type, data: _data, ...library } = JSON.parse(JSON.stringify(COMMAND_SCHEMA.properties)) as Record<string, unknown>;
    expect(envelope).to.deep.equal(library);
    expect(schema.required).to.deep.equal([...COMMAND_SCHEMA.required]);
    expect(type).to.deep.equal({ const: 'StartTransfer' });
    expect(JSON.stringify(data)).to.contain(`"maximum":${MAX_AMOUNT}`);
  });

  it('takes the start the API sends and refuses a bad transfer', () => {
    const validate = new Ajv({ strict: false }).compile(schema);
    const start = (data: unknown, type = 'StartTransfer'): unknown => ({ ...command(type, { type: 'Transfer', id: 't-1' }, data, { id: 't-1', replyTo: { topic: 'bank.transfer-outcomes', key: 'i-1' } }), metadata: {} });
    expect(validate(start({ from: 'a1', to: 'a2', amount: 250 })), JSON.stringify(validate.errors)).to.equal(true);
    for (const data of [{ from: 'a1', amount: 250 }, { from: 'a1', to: 'a2', amount: 0 }, { from: 'a1', to: 'a2', amount: '250' }, { from: '', to: 'a2', amount: 1 }]) {
      expect(validate(start(data)), JSON.stringify(data)).to.equal(false);
    }
    expect(validate(start({ from: 'a1', to: 'a2', amount: 250 }, 'DepositMoney'))).to.equal(false);
  });
});
