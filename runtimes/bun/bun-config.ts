import type { ConfigFormat, LoadedConfig } from "../../core/config/config-source.ts";
import { Worker } from "./bun-api.ts";
import { configWorkerUrl } from "./config-worker-url.ts";

/**
 * The port's loadConfigIsolated on Bun: the config is validated in a Worker
 * (config-worker.ts) that ends as soon as it answered, and the bootstrap comes back by
 * structured clone. Validating in the proxy's own heap would load zod there for good, and
 * zod keeps WeakMaps and WeakSets (one entry per schema a parse visits) that
 * JavaScriptCore visits in every collection: next to a bare Bun TCP pipe, 3,000 live weak
 * entries lengthened each eden pause from ~0.3 to ~0.5 ms, and polyvoy's config loader
 * did about the same (docs/performance.md, "What makes it fast": no weak collections in
 * the proxy's heap on Bun).
 */
export async function loadConfigInWorker(text: string, format: ConfigFormat): Promise<LoadedConfig> {
  const worker = new Worker(configWorkerUrl());
  try {
    const reply = await new Promise<{ loaded?: LoadedConfig; error?: string }>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data as { loaded?: LoadedConfig; error?: string });
      worker.onerror = (event) => reject(new Error(`config worker: ${event.message}`));
      worker.postMessage({ text, format });
    });
    if (reply.error !== undefined || !reply.loaded) throw new Error(`config worker: ${reply.error ?? "no answer"}`);
    return reply.loaded;
  } finally {
    worker.terminate();
  }
}
