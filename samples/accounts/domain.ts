/**
 * The accounts domain of the event-sourced reference service: an account is opened, money is deposited and
 * withdrawn, and the balance may never go below zero — the invariant the command processor enforces.
 * Amounts and balances are integers in minor units (cents): exact in a JSON number up to Number.MAX_SAFE_INTEGER.
 */
import type { Command, Decision, Event, StreamsBuilder } from '../../index.js';

export interface Account {
  owner: string;
  balance: number;
  open: boolean;
}

export type AccountCommand =
  | { type: 'OpenAccount'; data: { owner: string } }
  | { type: 'DepositMoney'; data: { amount: number } }
  | { type: 'WithdrawMoney'; data: { amount: number } };

export const initialAccount = (): Account => ({ owner: '', balance: 0, open: false });

/** The largest amount of one deposit or withdrawal, in cents (also in config/schemas/command.schema.json). */
export const MAX_AMOUNT = 1_000_000_000_000;

/** What a command on an account leads to: its events, or a rejection saying why. */
export function decideAccount(account: Account, command: Command): Decision {
  const data = command.data as { owner?: string; amount?: number };
  switch (command.type) {
    case 'OpenAccount':
      if (account.open) return { reject: 'the account is already open', code: 'ALREADY_OPEN' };
      if (!data.owner) return { reject: 'an account needs an owner', code: 'INVALID' };
      return [{ type: 'AccountOpened', data: { owner: data.owner } }];
    case 'DepositMoney':
    case 'WithdrawMoney': {
      if (!account.open) return { reject: 'the account is not open', code: 'NOT_OPEN' };
      const amount = data.amount;
      if (typeof amount !== 'number' || !Number.isInteger(amount) || amount < 1 || amount > MAX_AMOUNT) return { reject: `the amount must be an integer number of cents from 1 to ${MAX_AMOUNT}`, code: 'INVALID' };
      if (command.type === 'DepositMoney') {
        // Beyond MAX_SAFE_INTEGER a balance is no longer exact (and 1e308 twice is Infinity, which JSON writes as null).
        if (amount > Number.MAX_SAFE_INTEGER - account.balance) return { reject: `balance limit: balance ${account.balance}, deposit ${amount}, limit ${Number.MAX_SAFE_INTEGER}`, code: 'BALANCE_LIMIT' };
        return [{ type: 'MoneyDeposited', data: { amount } }];
      }
      if (amount > account.balance) return { reject: `insufficient funds: balance ${account.balance}, withdrawal ${amount}`, code: 'INSUFFICIENT_FUNDS' };
      return [{ type: 'MoneyWithdrawn', data: { amount } }];
    }
    default:
      return { reject: `unknown command ${command.type}`, code: 'UNKNOWN_COMMAND' };
  }
}

/** An account after one of its events (the same function rebuilds it from the event topic). */
export function evolveAccount(account: Account, event: Event): Account {
  const data = event.data as { owner?: string; amount?: number };
  switch (event.type) {
    case 'AccountOpened':
      return { owner: data.owner!, balance: 0, open: true };
    case 'MoneyDeposited':
      return { ...account, balance: account.balance + data.amount! };
    case 'MoneyWithdrawn':
      return { ...account, balance: account.balance - data.amount! };
    default:
      return account;
  }
}

/** The view the query side answers from: per account, its owner, balance, version and last change. */
export interface AccountView {
  owner: string;
  balance: number;
  version: number;
  updatedAt: string;
}

export interface AccountTopics {
  commands: string;
  events: string;
  rejections: string;
}

/**
 * The aggregate store accountCommandProcessor writes (its literal below is quoted in the README's tutorial); its
 * processed-command memory is processedStoreOf(ACCOUNT_STORE), which the HTTP API reads for Idempotency-Key.
 */
export const ACCOUNT_STORE = 'accounts';

/** The command side: commands -> aggregate (store `accounts`) -> events and rejections. */
export function accountCommandProcessor(builder: StreamsBuilder, topics: AccountTopics): void {
  builder.stream<string, Command>(topics.commands).processCommands<Account>({
    store: 'accounts',
    events: topics.events,
    rejections: topics.rejections,
    initial: initialAccount,
    decide: decideAccount,
    evolve: evolveAccount,
  });
}

/** The query side: the event topic projected into the view store `account-view`. */
export function accountProjection(builder: StreamsBuilder, eventsTopic: string): void {
  builder
    .stream<string, Event>(eventsTopic)
    .groupByKey()
    .aggregate<AccountView | null>(
      () => null,
      (_key, event, view) => {
        const account = evolveAccount(view ? { owner: view.owner, balance: view.balance, open: true } : initialAccount(), event);
        return { owner: account.owner, balance: account.balance, version: event.version, updatedAt: event.timestamp };
      },
      { store: 'account-view' },
    );
}
