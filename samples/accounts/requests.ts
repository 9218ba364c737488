/**
 * What the accounts HTTP API accepts, decided before anything is produced: the route and account id of a request,
 * its Idempotency-Key and Prefer headers, its body (read up to MAX_BODY_BYTES) and the command in it. A request that
 * is not acceptable is a LightError with a 4xx status: ERR11020 (400) for a bad path, header or body, ERR11021 (413)
 * for a body over the limit. The transfers service (samples/transfers/requests.ts) takes its headers the same way.
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
/** The longest Idempotency-Key, in characters (visible ASCII, so bytes too): it becomes the command id. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;
/** The longest `Prefer: wait` honoured, in seconds: a longer one is cut to this (Preference-Applied says so). */
export const MAX_WAIT_SECONDS = 60;

if (MAX_ACCOUNT_ID_BYTES > MAX_STORE_KEY_BYTES) throw new Error('MAX_ACCOUNT_ID_BYTES must fit in a state store key');

export type Route = { kind: 'command' | 'view'; accountId: string } | { kind: 'none' };

/** The command a POST carries, checked: the API produces it as it is. */
export interface CommandRequest {
  type: string;
  data: Record<string, unknown>;
  expectedVersion?: number;
}

/** The request's headers, each as the list of its field lines (IncomingMessage.headersDistinct). */
export type HeaderLines = NodeJS.Dict<string[]>;

/** ERR11020 (400) naming the part of the request that is wrong: `path`, `body` or `header <name>`. */
export const invalid = (part: 'path' | 'body' | `header ${string}`, reason: string): LightError => new LightError('ERR11020', { part, reason });

/** At most 60 characters of what a caller sent, for a message. */
const shown = (text: string): string => JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text);

/** POST /accounts/{id}/commands or GET /accounts/{id}, with the id decoded and checked; ERR11020 when it is not usable. */
export function routeOf(method: string | undefined, url: string | undefined): Route {
  const pathname = pathnameOf(url);
  const command = /^\/accounts\/([^/]+)\/commands$/.exec(pathname);
  if (method === 'POST' && command) return { kind: 'command', accountId: accountIdOf(command[1]!) };
  const view = /^\/accounts\/([^/]+)$/.exec(pathname);
  if (method === 'GET' && view) return { kind: 'view', accountId: accountIdOf(view[1]!) };
  return { kind: 'none' };
}

/** The path of a request's URL (still percent-encoded); ERR11020 when it is not a URL path. */
export function pathnameOf(url: string | undefined): string {
  try {
    return new URL(url ?? '/', 'http://localhost').pathname;
  } catch {
    throw invalid('path', `${shown(url ?? '')} is not a URL path`);
  }
}

function accountIdOf(encoded: string): string {
  return pathIdOf(encoded, 'account id');
}

/** A percent-encoded id from a path, decoded; ERR11020 for malformed encoding or over MAX_ACCOUNT_ID_BYTES (a record and store key). */
export function pathIdOf(encoded: string, what: string): string {
  let id: string;
  try {
    id = decodeURIComponent(encoded);
  } catch {
    throw invalid('path', `the ${what} ${shown(encoded)} is not valid percent-encoding`);
  }
  const bytes = Buffer.byteLength(id, 'utf8');
  if (bytes > MAX_ACCOUNT_ID_BYTES) throw invalid('path', `the ${what} is ${bytes} bytes of UTF-8; at most ${MAX_ACCOUNT_ID_BYTES}`);
  return id;
}

/**
 * The Idempotency-Key of a request (IETF httpapi idempotency-key draft), undefined without one. The draft makes it a
 * Structured Field string (`Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324"`); the bare form many clients
 * send (`Idempotency-Key: 8e03978e-...`) is taken too. ERR11020 naming the header when it comes twice, is not a
 * well-formed string, or is not 1 to MAX_IDEMPOTENCY_KEY_LENGTH characters of visible ASCII (it is the command id,
 * written into ids, logs and headers).
 */
export function idempotencyKeyOf(headers: HeaderLines): string | undefined {
  const lines = headers['idempotency-key'];
  if (lines === undefined) return undefined;
  const refuse = (reason: string): LightError => invalid('header Idempotency-Key', reason);
  if (lines.length !== 1) throw refuse(`it must be sent once, not ${lines.length} times (one key names one request)`);
  const line = lines[0]!;
  const key = line.startsWith('"') ? unquoted(line) : line;
  if (key === undefined) throw refuse(`${shown(line)} is not a well-formed quoted string`);
  if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(key)) {
    throw refuse(`it must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters of visible ASCII, not ${key.length > MAX_IDEMPOTENCY_KEY_LENGTH ? `${key.length} characters` : shown(key)}`);
  }
  return key;
}

/**
 * The seconds a request asks to wait for its outcome (RFC 7240 `Prefer: wait=N`), at most MAX_WAIT_SECONDS;
 * undefined when it asks for no wait. As RFC 7240 says: preferences may share a field line or come in several, only
 * the first `wait` counts, and a preference the server cannot use (`wait=soon`) is ignored, not an error.
 * `wait=0` is no wait.
 */
export function preferredWait(headers: HeaderLines): number | undefined {
  for (const line of headers.prefer ?? []) {
    for (const preference of splitOutsideQuotes(line, ',')) {
      // Parameters after `;` qualify a preference; `wait` has none that change it.
      const head = splitOutsideQuotes(preference, ';')[0]!;
      const match = /^\s*([^\s=]+)\s*(?:=\s*(.*?))?\s*$/.exec(head);
      if (!match || match[1]!.toLowerCase() !== 'wait') continue;
      const raw = match[2] ?? '';
      const value = raw.startsWith('"') ? unquoted(raw) : raw;
      if (value === undefined || !/^\d+$/.test(value)) return undefined;
      const seconds = Math.min(Number(value), MAX_WAIT_SECONDS);
      return seconds > 0 ? seconds : undefined;
    }
  }
  return undefined;
}

/** The text of an HTTP quoted-string (`"a\"b"` is `a"b`); undefined when it is not one. */
function unquoted(text: string): string | undefined {
  const match = /^"((?:[^"\\]|\\.)*)"$/.exec(text);
  return match ? match[1]!.replace(/\\(.)/g, '$1') : undefined;
}

/** Splits a field value at `separator` where it is not inside a quoted-string. */
function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (quoted && char === '\\') {
      current += char + (text[index + 1] ?? '');
      index++;
      continue;
    }
    if (char === '"') quoted = !quoted;
    if (char === separator && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts;
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

/** A POST body that must be a JSON object; ERR11020 saying what it is instead. */
export function jsonObjectOf(text: string): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw invalid('body', `it is not JSON (${(error as Error).message})`);
  }
  if (!isObject(body)) throw invalid('body', `it must be a JSON object, not ${describe(body)}`);
  return body;
}

/** The command in a POST body; ERR11020 naming what is wrong. */
export function parseCommand(text: string): CommandRequest {
  const body = jsonObjectOf(text);
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

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How a value a caller sent is named in a message: `missing`, `null`, `an array`, `an object`, or the value. */
export function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'string' ? shown(value) : String(value);
}
