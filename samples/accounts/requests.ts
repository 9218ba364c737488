/**
 * What the accounts HTTP API accepts, decided before anything is produced: the route and account id of a request,
 * its body (read up to MAX_BODY_BYTES) and the command in it. A request that is not acceptable is a LightError with
 * a 4xx status: ERR11020 (400) for a bad path or body, ERR11021 (413) for a body over the limit.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { LightError, MAX_STORE_KEY_BYTES } from '../../index.js';
import { MAX_AMOUNT } from './domain.js';

/** The largest request body read, in bytes: a command is a few hundred. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** The longest account id, in bytes of UTF-8: it is the record key and the store key (MAX_STORE_KEY_BYTES at most). */
export const MAX_ACCOUNT_ID_BYTES = 200;
export const COMMAND_TYPES: readonly string[] = ['OpenAccount', 'DepositMoney', 'WithdrawMoney'];

if (MAX_ACCOUNT_ID_BYTES > MAX_STORE_KEY_BYTES) throw new Error('MAX_ACCOUNT_ID_BYTES must fit in a state store key');

export type Route = { kind: 'command' | 'view'; accountId: string } | { kind: 'none' };

/** The command a POST carries, checked: the API produces it as it is. */
export interface CommandRequest {
  type: string;
  data: Record<string, unknown>;
  expectedVersion?: number;
}

const invalid = (part: 'path' | 'body', reason: string): LightError => new LightError('ERR11020', { part, reason });

/** At most 60 characters of what a caller sent, for a message. */
const shown = (text: string): string => JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text);

/** POST /accounts/{id}/commands or GET /accounts/{id}, with the id decoded and checked; ERR11020 when it is not usable. */
export function routeOf(method: string | undefined, url: string | undefined): Route {
  let pathname: string;
  try {
    pathname = new URL(url ?? '/', 'http://localhost').pathname;
  } catch {
    throw invalid('path', `${shown(url ?? '')} is not a URL path`);
  }
  const command = /^\/accounts\/([^/]+)\/commands$/.exec(pathname);
  if (method === 'POST' && command) return { kind: 'command', accountId: accountIdOf(command[1]!) };
  const view = /^\/accounts\/([^/]+)$/.exec(pathname);
  if (method === 'GET' && view) return { kind: 'view', accountId: accountIdOf(view[1]!) };
  return { kind: 'none' };
}

function accountIdOf(encoded: string): string {
  let id: string;
  try {
    id = decodeURIComponent(encoded);
  } catch {
    throw invalid('path', `the account id ${shown(encoded)} is not valid percent-encoding`);
  }
  const bytes = Buffer.byteLength(id, 'utf8');
  if (bytes > MAX_ACCOUNT_ID_BYTES) throw invalid('path', `the account id is ${bytes} bytes of UTF-8; at most ${MAX_ACCOUNT_ID_BYTES}`);
  return id;
}

/**
 * The body as text; ERR11021 as soon as it is over `limit` bytes (by its Content-Length, or while it is read):
 * the rest is not read. The caller answers and closes the connection.
 */
export function readBody(request: Readable & { headers: IncomingHttpHeaders }, limit = MAX_BODY_BYTES): Promise<string> {
  const tooLarge = (): LightError => new LightError('ERR11021', { limit });
  if (Number(request.headers['content-length']) > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (settle: () => void): void => {
      request.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      settle();
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += bytes.length;
      if (size <= limit) return void chunks.push(bytes);
      request.pause();
      done(() => reject(tooLarge()));
    };
    const onEnd = (): void => done(() => resolve(Buffer.concat(chunks).toString('utf8')));
    const onError = (error: Error): void => done(() => reject(error));
    const onClose = (): void => done(() => reject(new Error('the request closed before its body ended')));
    request.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** The command in a POST body; ERR11020 naming what is wrong. */
export function parseCommand(text: string): CommandRequest {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw invalid('body', `it is not JSON (${(error as Error).message})`);
  }
  if (!isObject(body)) throw invalid('body', `it must be a JSON object, not ${describe(body)}`);
  const { type, data = {}, expectedVersion } = body;
  if (typeof type !== 'string' || !COMMAND_TYPES.includes(type)) throw invalid('body', `type must be one of ${COMMAND_TYPES.join(', ')}`);
  if (!isObject(data)) throw invalid('body', `data must be a JSON object, not ${describe(data)}`);
  if (expectedVersion !== undefined && !(Number.isSafeInteger(expectedVersion) && (expectedVersion as number) >= 0)) {
    throw invalid('body', `expectedVersion must be an integer from 0, not ${describe(expectedVersion)}`);
  }
  if (type === 'DepositMoney' || type === 'WithdrawMoney') {
    const amount = data.amount;
    if (!(Number.isInteger(amount) && (amount as number) >= 1 && (amount as number) <= MAX_AMOUNT)) {
      throw invalid('body', `data.amount must be an integer number of cents from 1 to ${MAX_AMOUNT}, not ${describe(amount)}`);
    }
  }
  return { type, data, ...(expectedVersion !== undefined ? { expectedVersion: expectedVersion as number } : {}) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'string' ? shown(value) : String(value);
}
