/** What a transaction interceptor learns about the transaction it wraps. */
export interface TransactionInfo {
  transactionalId: string;
}

/** Runs around one transaction: calls `run` once (inside whatever context it sets up) and returns its result. */
export type TransactionInterceptor = <T>(info: TransactionInfo, run: () => Promise<T>) => Promise<T>;

/**
 * The interceptors handlers register at start (the tracing handler opens a span per transaction), composed
 * once when the service starts: the first registered runs outermost.
 */
export class TransactionInterceptors {
  private readonly list: TransactionInterceptor[] = [];

  add(interceptor: TransactionInterceptor): void {
    this.list.push(interceptor);
  }

  /** `run` wrapped by every interceptor. */
  wrap<T>(info: TransactionInfo, run: () => Promise<T>): Promise<T> {
    const chain = this.list.reduceRight<() => Promise<T>>((inner, interceptor) => () => interceptor(info, inner), run);
    return chain();
  }
}
