/**
 * The demo's look at idempotent commands over HTTP: an OpenAccount with an Idempotency-Key and `Prefer: wait`, the
 * same request again (its first outcome, nothing produced), and the key reused for another command (422 ERR11022).
 */
import { Kafka, logLevel } from 'kafkajs';
import { ACCOUNT_TOPICS } from './account-service.js';

export interface IdempotencyDemo {
  say(line?: string): void;
  brokers: string;
  /** The accounts API that takes the commands, and its name in the output. */
  port: number;
  name: string;
  token: string;
  /** An account not opened yet. */
  accountId: string;
  key: string;
}

interface Answer {
  status: number;
  preferenceApplied: string | null;
  body: Record<string, unknown>;
}

export async function showIdempotentCommands(demo: IdempotencyDemo): Promise<void> {
  const { say, key } = demo;
  const post = async (owner: string): Promise<Answer> => {
    const response = await fetch(`http://127.0.0.1:${demo.port}/accounts/${demo.accountId}/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${demo.token}`, 'X-Correlation-Id': key, 'Idempotency-Key': `"${key}"`, Prefer: 'wait=10' },
      body: JSON.stringify({ type: 'OpenAccount', data: { owner } }),
    });
    return { status: response.status, preferenceApplied: response.headers.get('preference-applied'), body: (await response.json()) as Record<string, unknown> };
  };
  const admin = new Kafka({ brokers: demo.brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const commandCount = async (): Promise<number> => (await admin.fetchTopicOffsets(ACCOUNT_TOPICS.commands)).reduce((sum, { high }) => sum + Number(high), 0);
  try {
    say();
    say(`idempotent commands over HTTP (Idempotency-Key) and Prefer: wait, on ${demo.name}:`);
    const first = await post('Bob');
    const events = (first.body.events as { type: string }[] | undefined)?.map(({ type }) => type).join(', ') ?? '-';
    say(`  POST /accounts/${demo.accountId}/commands OpenAccount Bob (Idempotency-Key "${key}", Prefer: wait=10) -> HTTP ${first.status} ${String(first.body.status)}, version ${String(first.body.version)}, events ${events} (Preference-Applied: ${first.preferenceApplied ?? 'none'})`);
    const before = await commandCount();
    const again = await post('Bob');
    const after = await commandCount();
    say(`  the same request again -> HTTP ${again.status} ${String(again.body.status)}, version ${String(again.body.version)}, commandId ${String(again.body.commandId)}: the first outcome, from the account's processed commands (Preference-Applied: ${again.preferenceApplied ?? 'none'}; ${ACCOUNT_TOPICS.commands} holds ${after - before} more records)`);
    const reused = await post('Eve');
    say(`  the same key for OpenAccount Eve -> HTTP ${reused.status} ${String(reused.body.code)} ${String(reused.body.description)}`);
  } finally {
    await admin.disconnect();
  }
}
