import { isUtf8 } from 'node:buffer';
import { LightError, reasonOf } from '../errors/light-error.js';
import type { SerdeFormat } from './client-config.js';

/** Turns a value into record bytes. Buffers pass through untouched whatever the format. */
export function serialize(value: unknown, format: SerdeFormat, topic: string, field: 'key' | 'value'): Buffer | null {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (format === 'json') {
    try {
      return Buffer.from(JSON.stringify(value), 'utf8');
    } catch (error) {
      throw new LightError('ERR11006', { field, topic, format, reason: reasonOf(error) }, { cause: error });
    }
  }
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  throw new LightError('ERR11006', { field, topic, format, reason: `expected a string or a Buffer, got ${typeof value}` });
}

/** Decodes record bytes. A malformed record is a non-retryable LightError, so it goes to the dead-letter topic. */
export function deserialize(bytes: Buffer | null, format: SerdeFormat, topic: string, field: 'key' | 'value'): unknown {
  if (bytes === null) return null;
  if (format === 'buffer') return bytes;
  // A native validity check, then a plain decode: much cheaper per record than a fatal TextDecoder.
  if (!isUtf8(bytes)) throw new LightError('ERR11005', { field, topic });
  const text = bytes.toString('utf8');
  if (format === 'string') return text;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new LightError('ERR11004', { field, topic, reason: reasonOf(error) }, { cause: error });
  }
}
