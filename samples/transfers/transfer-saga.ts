/**
 * The transfer saga of the reference: move money from one account to another across services — debit the source
 * account (the accounts service's WithdrawMoney), credit the target (DepositMoney) — and refund the debit when the
 * credit is rejected or times out. The saga id is the transfer id; each step's command carries a deterministic id,
 * so the accounts service (processCommands dedups by id) applies each at most once whatever is re-sent.
 */
import type { Command, SagaDefinition } from '../../index.js';

export interface Transfer {
  from: string;
  to: string;
  /** Cents, 1 to MAX_AMOUNT. */
  amount: number;
}

export interface TransferTopics {
  /** StartTransfer commands, keyed by transfer id (co-partitioned with `replies`). */
  transfers: string;
  /** The saga's replies from the accounts service, keyed by transfer id. */
  replies: string;
  /** The command topic of the source account's service. */
  debit: string;
  /** The command topic of the target account's service (default: the same service as the debit's). */
  credit?: string;
}

/** The saga's name: its instance store (queryable by transfer id) and the prefix of its timers store. */
export const TRANSFER_SAGA = 'transfers';

export function transferSaga(topics: TransferTopics, options: { timeoutMs?: number; checkEveryMs?: number; retry?: SagaDefinition<Transfer>['retry'] } = {}): SagaDefinition<Transfer> {
  const account = (id: string): { aggregateType: string; aggregateId: string } => ({ aggregateType: 'Account', aggregateId: id });
  const credit = topics.credit ?? topics.debit;
  return {
    name: TRANSFER_SAGA,
    start: { topic: topics.transfers, data: (message) => (message as Command<Transfer>).data },
    replies: topics.replies,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.checkEveryMs !== undefined ? { checkEveryMs: options.checkEveryMs } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
    steps: [
      {
        name: 'debit',
        command: (transfer) => ({ topic: topics.debit, type: 'WithdrawMoney', ...account(transfer.from), data: { amount: transfer.amount } }),
        // The refund.
        compensation: (transfer) => ({ topic: topics.debit, type: 'DepositMoney', ...account(transfer.from), data: { amount: transfer.amount } }),
      },
      {
        name: 'credit',
        command: (transfer) => ({ topic: credit, type: 'DepositMoney', ...account(transfer.to), data: { amount: transfer.amount } }),
        // Only sent for a credit that timed out and was applied later: it takes the late credit back.
        compensation: (transfer) => ({ topic: credit, type: 'WithdrawMoney', ...account(transfer.to), data: { amount: transfer.amount } }),
      },
    ],
  };
}
