import { setTimeout as sleep } from 'node:timers/promises';
import type { LightService } from '../../index.js';

export interface ResizeOutcome {
  /** Records (their seq) never processed. */
  lost: number[];
  /** Records processed more than once, counted once per extra time. */
  duplicates: number;
  seconds: number;
}

/**
 * A consumer group resized under load: two members, a third joins after a quarter of the records, the first
 * `leaving` leave after half. Each member handles records `{ seq }` of `topic` with `workMs` of work each;
 * `member(i)` creates the i-th (not started).
 */
export async function resizeUnderLoad(options: { topic: string; records: number; workMs: number; leaving: number; timeoutMs: number; member: (index: number) => Promise<LightService> }): Promise<ResizeOutcome> {
  const { topic, records, workMs, leaving, timeoutMs, member } = options;
  const seen = new Map<number, number>();
  const instances: LightService[] = [];
  let joined = 0;
  const add = async (): Promise<void> => {
    const service = await member(joined++);
    service.consumer.handle(topic, async (exchange) => {
      const { seq } = exchange.value as { seq: number };
      seen.set(seq, (seen.get(seq) ?? 0) + 1);
      await sleep(workMs);
    });
    await service.start();
    instances.push(service);
  };
  const started = Date.now();
  const until = async (count: number): Promise<void> => {
    while (seen.size < count && Date.now() - started < timeoutMs) await sleep(50);
  };
  try {
    await add();
    await add();
    await until(records / 4);
    await add();
    await until(records / 2);
    for (let i = 0; i < leaving; i++) await instances.shift()!.stop();
    await until(records);
    await sleep(1000); // a re-delivery would come now
  } finally {
    for (const service of instances) await service.stop();
  }
  return {
    lost: Array.from({ length: records }, (_, seq) => seq).filter((seq) => !seen.has(seq)),
    duplicates: [...seen.values()].reduce((sum, count) => sum + count - 1, 0),
    seconds: (Date.now() - started) / 1000,
  };
}
