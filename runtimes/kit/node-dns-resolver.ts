import { nodeDnsPromises } from "./builtins.ts";
import type { ResolvedAddress, ResolveFamily, ResolveOptions } from "../../core/port.ts";
import { toPortError } from "./errors.ts";

/**
 * The port's `resolve` through node:dns (node and bun natively, deno through its node
 * compatibility): `lookup` is getaddrinfo, so /etc/hosts and `localhost` resolve as in
 * any other program — the semantics of Envoy's getaddrinfo resolver. (It uses node:
 * modules, so it is not part of the bundled kit; see index.ts.)
 *
 * getaddrinfo gives no TTLs. When they are asked for and `dnsTtls` is set, the A/AAAA
 * records are queried too (`resolve4`/`resolve6` with `ttl: true` ask the DNS servers
 * only, never /etc/hosts) and each address looked up takes the TTL of the same address
 * in the DNS answer; an address from /etc/hosts has none. The addresses do not wait for
 * the TTLs longer than TTL_WAIT_MS: with no DNS server answering, those queries time
 * out only after seconds, and an /etc/hosts name should not wait for them.
 */
export async function resolveWithNodeDns(
  host: string,
  family: ResolveFamily,
  options: ResolveOptions | undefined,
  dnsTtls: boolean,
  /** node:dns/promises (a test gives its own `lookup`). */
  dns: NodeDns = nodeDnsPromises(),
): Promise<ResolvedAddress[]> {
  const wantTtl = dnsTtls && options?.ttl === true;
  const ttls = wantTtl ? queryTtls(dns, host, family) : undefined;
  let found: { address: string; family: number }[];
  try {
    found = await dns.lookup(host, { all: true, family: family === "v4" ? 4 : family === "v6" ? 6 : 0 });
  } catch (err) {
    const error = toPortError(err);
    // Node reports EAI_NONAME and EAI_NODATA as ENOTFOUND: the name has no addresses.
    if (error.code === "ENOTFOUND" || error.code === "ENODATA") return [];
    throw error;
  }
  const byAddress = ttls ? await within(ttls, TTL_WAIT_MS) : undefined;
  const answers: ResolvedAddress[] = [];
  for (const entry of found) {
    const entryFamily = entry.family === 6 ? 6 : 4;
    // An IP literal comes back whatever the family asked for.
    if ((family === "v4" && entryFamily !== 4) || (family === "v6" && entryFamily !== 6)) continue;
    const ttlSeconds = byAddress?.get(entry.address);
    answers.push(ttlSeconds === undefined ? { address: entry.address, family: entryFamily } : { address: entry.address, family: entryFamily, ttlSeconds });
  }
  return answers;
}

/** The parts of node:dns/promises used. */
export interface NodeDns {
  lookup(host: string, options: { all: true; family: 0 | 4 | 6 }): Promise<{ address: string; family: number }[]>;
  resolve4(host: string, options: { ttl: true }): Promise<{ address: string; ttl: number }[]>;
  resolve6(host: string, options: { ttl: true }): Promise<{ address: string; ttl: number }[]>;
}

/**
 * How long the addresses wait for the TTL queries once getaddrinfo has answered. Every
 * dynamic forward proxy lookup asks for TTLs (Envoy's finishResolve refreshes after
 * max(dns_min_refresh_rate, TTL)), so this is added to a first request's wait when no DNS
 * server answers; without a TTL the host refreshes after dns_min_refresh_rate, no harm.
 */
const TTL_WAIT_MS = 500;

/** `work`'s result, or undefined if it takes longer than `ms`. */
async function within<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Address → TTL from the DNS servers' A and AAAA answers; failures are just no TTLs. */
async function queryTtls(dns: NodeDns, host: string, family: ResolveFamily): Promise<Map<string, number>> {
  const ttls = new Map<string, number>();
  const queries: Promise<{ address: string; ttl: number }[]>[] = [];
  if (family !== "v6") queries.push(dns.resolve4(host, { ttl: true }));
  if (family !== "v4") queries.push(dns.resolve6(host, { ttl: true }));
  for (const result of await Promise.allSettled(queries)) {
    if (result.status !== "fulfilled") continue;
    for (const record of result.value) ttls.set(record.address, record.ttl);
  }
  return ttls;
}
