/**
 * What the transfers HTTP API accepts, decided before anything is produced: the route and transfer id of a request
 * and the transfer in a POST body. Its headers (Idempotency-Key, Prefer) and the body's size limit are the accounts
 * API's (samples/accounts/requests.ts). A request that is not acceptable is 400 ERR11020 naming what is wrong.
 */
import { MAX_AMOUNT } from '../accounts/domain.js';
import { describe, invalid, jsonObjectOf, MAX_ACCOUNT_ID_BYTES, pathIdOf, pathnameOf } from '../accounts/requests.js';
import type { Transfer } from './transfer-saga.js';

export type TransferRoute = { kind: 'start' } | { kind: 'transfer'; transferId: string } | { kind: 'none' };

/** POST /transfers or GET /transfers/{id}, with the id decoded and checked; ERR11020 when it is not usable. */
export function transferRouteOf(method: string | undefined, url: string | undefined): TransferRoute {
  const pathname = pathnameOf(url);
  if (method === 'POST' && pathname === '/transfers') return { kind: 'start' };
  const transfer = /^\/transfers\/([^/]+)$/.exec(pathname);
  if (method === 'GET' && transfer) return { kind: 'transfer', transferId: pathIdOf(transfer[1]!, 'transfer id') };
  return { kind: 'none' };
}

/** The transfer in a POST body, checked as the accounts API checks ids and amounts; ERR11020 naming what is wrong. */
export function parseTransfer(text: string): Transfer {
  const { from, to, amount } = jsonObjectOf(text);
  for (const [name, id] of [['from', from], ['to', to]] as const) {
    if (typeof id !== 'string' || id.length === 0) throw invalid('body', `${name} must be an account id, not ${describe(id)}`);
    const bytes = Buffer.byteLength(id, 'utf8');
    if (bytes > MAX_ACCOUNT_ID_BYTES) throw invalid('body', `${name} is ${bytes} bytes of UTF-8; at most ${MAX_ACCOUNT_ID_BYTES}`);
  }
  if (from === to) throw invalid('body', 'from and to must be two accounts');
  if (!(Number.isInteger(amount) && (amount as number) >= 1 && (amount as number) <= MAX_AMOUNT)) {
    throw invalid('body', `amount must be an integer number of cents from 1 to ${MAX_AMOUNT}, not ${describe(amount)}`);
  }
  return { from: from as string, to: to as string, amount: amount as number };
}
