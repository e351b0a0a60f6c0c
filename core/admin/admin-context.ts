import { ListenerFactoryContext } from "../network/listener-factory-context.ts";
import { NULL_OVERLOAD_STATE, type OverloadState } from "../overload/overload-manager.ts";

/**
 * The server as the admin listener and its connection manager see it: everything the
 * server's, except the overload manager, which is Envoy's null one — the admin is not
 * shed, so an overloaded proxy can still be looked at.
 */
export class AdminListenerContext extends ListenerFactoryContext {
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
