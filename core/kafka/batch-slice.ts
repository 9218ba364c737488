/** How long a consumer works on one batch before handing it back, so a rebalance waits at most about this long. */
const BATCH_SLICE_MS = 1000;

/**
 * The time slice of one batch: the compatible API serves a rebalance only between batches, and the native consumer
 * calls consume (which librdkafka needs within max.poll.interval.ms) only between its rounds. It starts with
 * the first record resolved, so the batch's setup never eats it whole and each batch makes progress; `over()` once
 * BATCH_SLICE_MS passed since. The LightConsumer and LightStreams consumers hand their batch back then.
 */
export function batchSlice(resolveOffset: (offset: string) => void): { resolveOffset(offset: string): void; over(): boolean } {
  let startedAt: number | undefined;
  return {
    resolveOffset: (offset) => {
      startedAt ??= Date.now();
      resolveOffset(offset);
    },
    over: () => startedAt !== undefined && Date.now() - startedAt >= BATCH_SLICE_MS,
  };
}
