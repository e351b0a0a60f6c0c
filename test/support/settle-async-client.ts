/**
 * For memory-runtime tests of exporters that load the async HTTP client lazily (the tracers'
 * reporters): let that import arrive, then run what became due on the runtime, a few rounds,
 * so a report's request, its answer and what the answer triggers have all run.
 */
import type { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";

export async function settleAsyncClient(runtime: MemoryRuntime): Promise<void> {
  await import("../../core/http/async-client.ts");
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    runtime.runDue();
  }
}
