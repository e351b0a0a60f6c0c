/**
 * A management-server subscription's initial_fetch_timeout (config_source.proto), as
 * Envoy's GrpcSubscriptionImpl and HttpSubscriptionImpl arm their init_fetch_timeout_timer_:
 * the subscription's start waits for its first update — applied or refused — or for the
 * timeout (stat init_fetch_timeout; the owner's init target is released and the first
 * update, when it comes, still applies); 0 waits without one. Shared by the gRPC
 * (grpc-subscription.ts) and REST (http-subscription.ts) subscriptions.
 */
import type { Logger } from "../../log.ts";
import type { Runtime, TimerHandle } from "../../port.ts";
import type { Counter } from "../../stats/counter.ts";

export class InitialFetch {
  private done: ((reason: string | undefined) => void) | undefined;
  private timer: TimerHandle | undefined;

  constructor(
    private readonly runtime: Runtime,
    private readonly log: Logger,
    private readonly timeoutMs: number,
    private readonly initFetchTimeout: Counter,
    /** Also counted when the timeout passes (gRPC: Envoy's onConfigUpdateFailed(FetchTimedout) counts an update_attempt). */
    private readonly alsoCounted?: Counter,
  ) {}

  /** Wait for the first update; `describe` names the subscription and its source in the timeout's warning. */
  wait(describe: string): Promise<string | undefined> {
    return new Promise((resolve) => {
      this.done = resolve;
      const timeout = this.timeoutMs;
      if (timeout <= 0) return;
      this.timer = this.runtime.setTimeout(() => {
        this.timer = undefined;
        this.initFetchTimeout.inc();
        this.alsoCounted?.inc();
        this.log.warn(`${describe}: initial fetch timeout (${timeout} ms): starting without it`);
        this.ready("initial fetch timeout");
      }, timeout);
    });
  }

  /** The first update came (undefined: applied; else why not), or the subscription stopped: the wait ends once. */
  ready(reason: string | undefined): void {
    if (this.timer !== undefined) this.runtime.clearTimeout(this.timer);
    this.timer = undefined;
    const done = this.done;
    this.done = undefined;
    done?.(reason);
  }
}
