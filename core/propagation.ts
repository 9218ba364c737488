import { PROPAGATED_HEADERS } from './headers.js';

/**
 * The headers a service's units of work carry on: the built-in list, the extra names of service.yml
 * `propagatedHeaders`, and names handlers add at start (a correlation header renamed in correlation.yml).
 * A request context takes these from an incoming HTTP request or consumed record. The extra names have no
 * handler of their own, so LightProducer copies them from the context onto every produced record.
 * Filled while the service is created; read-only once it starts.
 */
export class HeaderPropagation {
  private readonly all: string[];
  private frozen = false;

  constructor(readonly extras: readonly string[] = []) {
    this.all = [];
    for (const name of [...PROPAGATED_HEADERS, ...extras]) this.addName(name);
  }

  /** Every propagated name, built-in first. */
  get names(): readonly string[] {
    return this.all;
  }

  /** Adds names a handler writes (before the service starts). */
  add(...names: string[]): void {
    if (this.frozen) throw new Error('HeaderPropagation.add: the service has started; add header names in a handler factory');
    for (const name of names) this.addName(name);
  }

  freeze(): void {
    this.frozen = true;
  }

  private addName(name: string): void {
    const lower = name.toLowerCase();
    if (!this.all.some((existing) => existing.toLowerCase() === lower)) this.all.push(name);
  }
}
