import { setTimeout as sleep } from 'node:timers/promises';
import { reasonOf } from './errors/light-error.js';
import type { Logger } from './logger.js';

type Hook = () => Promise<void> | void;

/** The steps of a graceful stop, supplied by the service. */
export interface StopSteps {
  /** Stop taking work and finish what is in flight (consumer, producers). */
  drain(): Promise<void>;
  /** Close every client and server, whatever state they are in. */
  disconnect(): Promise<void>;
}

/**
 * Stop hooks (before the clients stop), close hooks (after), SIGTERM/SIGINT handling, and the bound on how
 * long a graceful stop may take (service.yml stopTimeoutMs).
 */
export class Lifecycle {
  private readonly stopHooks: Hook[] = [];
  private readonly closeHooks: Hook[] = [];
  private stopping: Promise<void> | undefined;
  private signalsInstalled = false;

  constructor(
    private readonly stopTimeoutMs: number,
    private readonly logger: Logger,
  ) {}

  get isStopping(): boolean {
    return this.stopping !== undefined;
  }

  onStop(hook: Hook): void {
    this.stopHooks.push(hook);
  }

  onClose(hook: Hook): void {
    this.closeHooks.push(hook);
  }

  /** Runs the stop once; later calls get the same promise. */
  stop(steps: StopSteps): Promise<void> {
    this.stopping ??= this.stopGracefully(steps);
    return this.stopping;
  }

  installSignalHandlers(stop: () => Promise<void>): void {
    if (this.signalsInstalled) return;
    this.signalsInstalled = true;
    const onSignal = (signal: NodeJS.Signals): void => {
      this.logger.info('signal received, stopping', { signal });
      stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  private async stopGracefully(steps: StopSteps): Promise<void> {
    const graceful = (async () => {
      for (const hook of this.stopHooks) await hook();
      await steps.drain();
      return false;
    })().catch((error: unknown) => {
      this.logger.error('graceful stop failed; disconnecting now', { error: reasonOf(error) });
      return false;
    });
    const timedOut = await Promise.race([graceful, sleep(this.stopTimeoutMs, true, { ref: false })]);
    if (timedOut) this.logger.error('graceful stop timed out; disconnecting now', { stopTimeoutMs: this.stopTimeoutMs });
    await steps.disconnect();
    for (const hook of this.closeHooks) {
      await Promise.resolve()
        .then(hook)
        .catch((error: unknown) => this.logger.error('close hook failed', { error: reasonOf(error) }));
    }
    this.logger.info('service stopped');
  }
}
