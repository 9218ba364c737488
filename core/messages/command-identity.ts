import { createHash } from 'node:crypto';
import type { Command } from './envelope.js';

/**
 * What makes two commands with one id the same request: their type, aggregate, expected version and data (not
 * their timestamp, metadata or reply channel, which a re-send may change). A SHA-256 of that, in canonical JSON
 * (object keys sorted), so the order a client writes its fields in does not matter.
 */
export function commandFingerprint(command: Pick<Command, 'type' | 'aggregateType' | 'aggregateId' | 'expectedVersion' | 'data'>): string {
  const essence = { type: command.type, aggregateType: command.aggregateType, aggregateId: command.aggregateId, expectedVersion: command.expectedVersion ?? null, data: command.data ?? null };
  return createHash('sha256').update(canonicalJson(essence)).digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
