/**
 * Envoy's Init::Manager (source/common/init/manager_impl.cc), reduced to what start-up
 * needs: work a listener must see finished before it binds — e.g. jwt_authn's first
 * async JWKS fetch without fast_listener. Each target settles on its own (success or
 * failure, within its own timeout): the manager only waits.
 */
export class InitManager {
  private readonly targets: { name: string; ready: Promise<void> }[] = [];

  /** `ready` settles when the target is done; a rejection counts as done (logged by its owner). */
  add(name: string, ready: Promise<void>): void {
    this.targets.push({ name, ready });
  }

  /** The targets not yet waited for, by name (for a start-up log line). */
  get pending(): readonly string[] {
    return this.targets.map((t) => t.name);
  }

  /** Resolves once every target added so far is done. */
  async wait(): Promise<void> {
    while (this.targets.length > 0) {
      const targets = this.targets.splice(0);
      await Promise.all(targets.map((t) => t.ready.catch(() => {})));
    }
  }
}
