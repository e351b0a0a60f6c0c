import { ListenerFactoryContext } from "../network/listener-factory-context.ts";
import { NULL_OVERLOAD_STATE, type OverloadState } from "../overload/overload-manager.ts";
import type { ServerContext } from "../server-context.ts";
import { StatsStore } from "../stats/stats-store.ts";

/**
 * The server as the admin listener and its connection manager see it: everything the
 * server's, except the overload manager, which is Envoy's null one — the admin is not
 * shed, so an overloaded proxy can still be looked at.
 */
export class AdminListenerContext extends ListenerFactoryContext {
  /**
   * `ownStats`: the admin a worker has only for its supervisor's stats flush (no admin in the
   * config) counts into a store of its own, never flushed or shown: the config asked for no
   * admin, so no http.admin.* / listener.admin.* stats reach the sinks (Envoy has none then).
   */
  constructor(
    server: ServerContext,
    private readonly ownStats?: StatsStore,
  ) {
    super(server);
  }
  override get stats(): StatsStore {
    return this.ownStats ?? this.server.stats;
  }
  override get overload(): OverloadState {
    return NULL_OVERLOAD_STATE;
  }
  /** The admin's connections are not drained: it answers while the proxy drains. */
  override drainClose(): boolean {
    return false;
  }
  override addDrainCloseTarget(): void {}
  override removeDrainCloseTarget(): void {}
}
