/**
 * SdsApi on the memory runtime, which has no watchDirectory: the SDS file and the files
 * its secret names are polled (core/util/file-watch.ts), a changed file is applied, a bad
 * one keeps the secret with Envoy's stats, and a user refusing the secret keeps it too.
 */
import { describe, expect, test } from "vitest";
import { MemoryRuntime } from "../../runtimes/memory/memory-runtime.ts";
import { Logger } from "../../core/log.ts";
import { StatsStore } from "../../core/stats/stats-store.ts";
import { SdsApi, type ResolvedSecret } from "../../core/tls/sds-api.ts";
import { POLL_MS } from "../../core/util/file-watch.ts";
import { regexEngineLoaded } from "../../core/config/regex-engine.ts";
import { encodeBase64 } from "../../core/util/base64.ts";
import { utf8Encode } from "../../core/util/utf8.ts";

const SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

function sds(name: string, chainFile: string): string {
  return `resources:\n- "@type": ${SECRET}\n  name: ${name}\n  tls_certificate:\n    certificate_chain: { filename: ${chainFile} }\n    private_key: { inline_string: KEY }\n`;
}

describe("SdsApi (polled files)", () => {
  test("updates from the SDS file and from the certificate file; bad files and refusals keep the secret", async () => {
    const runtime = new MemoryRuntime({ files: { "/etc/sds.yaml": sds("s", "/etc/a.pem"), "/etc/a.pem": "CHAIN-A", "/etc/b.pem": "CHAIN-B" } });
    const stats = new StatsStore();
    const api = new SdsApi(runtime, new Logger(runtime), "s", "tlsCertificate", { path: "/etc/sds.yaml" }, stats.scope("sds.s."));
    await api.start();
    const chain = () => (api.secret as Extract<ResolvedSecret, { kind: "tlsCertificate" }>).certificate.certificateChain;
    const counter = (name: string) => stats.scope("sds.s.").counter(name).value;
    expect(chain()).toBe("CHAIN-A");
    let refuse = false;
    const seen: string[] = [];
    api.addUpdateCallback((secret) => {
      if (refuse) throw new Error("the runtime refused it");
      return () => seen.push(secret.kind === "tlsCertificate" ? secret.certificate.certificateChain : "");
    });

    runtime.files.set("/etc/sds.yaml", sds("s", "/etc/b.pem"));
    await runtime.settle(2 * POLL_MS);
    expect(chain()).toBe("CHAIN-B");
    // /config_dump's copy (Envoy's resolved secret): the file named shown as read.
    const dumped = () => (api.document as { tls_certificate: { certificate_chain: unknown } }).tls_certificate.certificate_chain;
    const inlined = (text: string) => ({ inline_bytes: encodeBase64(utf8Encode(text)) });
    expect(dumped()).toEqual(inlined("CHAIN-B"));
    const [version, updated] = [api.versionInfo, api.lastUpdated];
    runtime.files.set("/etc/b.pem", "CHAIN-B2");
    await runtime.settle(2 * POLL_MS);
    expect(chain()).toBe("CHAIN-B2");
    // A rotation of its files: read again, neither its version nor its time changes.
    expect(dumped()).toEqual(inlined("CHAIN-B2"));
    expect([api.versionInfo, api.lastUpdated]).toEqual([version, updated]);
    expect(seen).toEqual(["CHAIN-B", "CHAIN-B2"]);

    runtime.files.set("/etc/sds.yaml", "resources: [");
    await runtime.settle(2 * POLL_MS);
    runtime.files.set("/etc/sds.yaml", sds("other", "/etc/a.pem"));
    await runtime.settle(2 * POLL_MS);
    refuse = true;
    runtime.files.set("/etc/b.pem", "CHAIN-B3");
    await runtime.settle(2 * POLL_MS);
    expect(chain()).toBe("CHAIN-B2");
    expect([counter("update_success"), counter("update_failure"), counter("update_rejected"), counter("key_rotation_failed")]).toEqual([2, 1, 1, 1]);
    api.stop();
  });

  test("SDS over ADS without ads_config: start rejects with Envoy's reason (an LDS update naming the secret is NACKed, not started without it)", async () => {
    const runtime = new MemoryRuntime();
    const log = new Logger(runtime);
    const reason = "ADS must be configured to support an ADS config source (dynamic_resources.ads_config)";
    // As Server.openMux answers an ADS source when the bootstrap has no ads_config.
    const context = { runtime, log, openMux: () => Promise.reject(new Error(reason)) };
    const api = new SdsApi(runtime, log, "s", "tlsCertificate", { kind: "ads", initialFetchTimeoutMs: 1000 }, new StatsStore().scope("sds.s."), context);
    await expect(api.start()).rejects.toThrow(reason);
    // Without any management server at all, the same.
    const alone = new SdsApi(runtime, log, "s", "tlsCertificate", { kind: "ads", initialFetchTimeoutMs: 1000 }, new StatsStore().scope("sds.s."), { runtime, log });
    await expect(alone.start()).rejects.toThrow(reason);
  });

  test("a missing file at start is an error naming it", async () => {
    const runtime = new MemoryRuntime();
    const api = new SdsApi(runtime, new Logger(runtime), "s", "tlsCertificate", { path: "/nope.yaml" }, new StatsStore().scope("sds.s."));
    await expect(api.start()).rejects.toThrow(/sds_config \/nope\.yaml: .*ENOENT/);
  });

  test("a validation context matching SANs by safe_regex loads the RE2 engine for its check (a bootstrap without a regex did not load it)", async () => {
    const text = `resources:\n- "@type": ${SECRET}\n  name: v\n  validation_context:\n    trusted_ca: { inline_string: CA }\n    match_subject_alt_names: [{ safe_regex: { regex: "a.*" } }]\n`;
    expect(regexEngineLoaded()).toBe(false);
    const runtime = new MemoryRuntime({ files: { "/etc/sds.yaml": text } });
    const stats = new StatsStore();
    const api = new SdsApi(runtime, new Logger(runtime), "v", "validationContext", { path: "/etc/sds.yaml" }, stats.scope("sds.v."));
    await api.start();
    expect(regexEngineLoaded()).toBe(true);
    expect(stats.scope("sds.v.").counter("update_success").value).toBe(1);
    api.stop();
  });
});
