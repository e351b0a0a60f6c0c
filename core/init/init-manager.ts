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

  /**
   * The targets added so far, taken out: a listener waits for those its build added and
   * for no other listener's (Envoy gives each listener its own init manager), with
   * waitFor; a build that fails drops its own.
   */
  take(): readonly { name: string; ready: Promise<void> }[] {
    return this.targets.splice(0);
  }

  /** Resolves once the targets are done (a rejection counts as done). */
  static async waitFor(targets: readonly { ready: Promise<void> }[]): Promise<void> {
    await Promise.all(targets.map((t) => t.ready.catch(() => {})));
  }
}
