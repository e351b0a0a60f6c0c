/**
 * Loads the code the proxy imports on first use through LazyModule (the HCM's HTTP/2 side,
 * the HTTP/2 pools, the health checkers, the outlier detector) before a unit test file runs:
 * the memory runtime's tests drive the proxy synchronously (runtime.advance), and a load
 * completes only on the real event loop, between their steps. The e2e tests (real runtimes)
 * cover a connection that waits for the load (test/e2e/http2-first-connection.test.ts).
 */
import { LazyModule } from "../../../core/util/lazy-module.ts";
import "../../../core/http/conn-manager/connection-manager.ts";
import "../../../core/upstream/cluster-manager.ts";
import "../../../core/upstream/cluster.ts";

await LazyModule.loadAll();
