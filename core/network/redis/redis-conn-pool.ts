import type { ServerContext } from "../../server-context.ts";
import type { Cluster } from "../../upstream/cluster.ts";
import type { Host } from "../../upstream/host.ts";
import type { LoadBalancerContext } from "../../upstream/load-balancer.ts";
import { murmurHash2 } from "../../util/hash.ts";
import { RedisClient, type RedisClientSettings, type RedisPoolRequest, type RedisRequestCallbacks } from "./redis-client.ts";
import { byteStringToBytes, type RespValue } from "./resp-value.ts";

/**
 * Envoy's RedisLoadBalancerContextImpl::hashtag: with enable_hashtagging, the part of the
 * key between the first `{` and the next `}` when it is not empty, so that related keys
 * ({user1000}.following, {user1000}.followers) land on one host.
 */
export function hashtag(key: string, enabled: boolean): string {
  if (!enabled) return key;
  const start = key.indexOf("{");
  if (start < 0) return key;
  const end = key.indexOf("}", start);
  if (end < 0 || end === start + 1) return key;
  return key.slice(start + 1, end);
}

/** The key's hash for a ring_hash or maglev cluster (Envoy: MurmurHash::murmurHash2 of the hashtag). */
class KeyLbContext implements LoadBalancerContext {
  constructor(private readonly hash: bigint) {}
  computeHashKey(): bigint {
    return this.hash;
  }
}

/**
 * One cluster's Redis connections for one worker (Envoy's redis_proxy conn_pool_impl.cc
 * ThreadLocalPool): the key's hash picks the host through the cluster's load balancer, and
 * each host has one client (one connection, pipelined) made on first use.
 */
export class RedisConnPool {
  private readonly clients = new Map<Host, RedisClient>();
  /** The membership subscription of each cluster object this pool has used. */
  private readonly watched = new Map<Cluster, () => void>();

  constructor(
    private readonly clusterName: string,
    private readonly context: ServerContext,
    private readonly settings: RedisClientSettings & { readonly enableHashtagging: boolean },
  ) {}

  /**
   * Undefined when no host can take it (the caller answers "no upstream host"); a host whose
   * connection fails at once or has too many requests outstanding fails the request
   * (`onFailure`, "upstream failure"), as Envoy's ThreadLocalPool::makeRequest does when its
   * client cannot be made.
   */
  makeRequest(key: string, request: RespValue, callbacks: RedisRequestCallbacks): RedisPoolRequest | undefined {
    // By name for each request: a cluster replaced at run time serves the next one.
    const cluster = this.context.clusterManager.get(this.clusterName);
    if (cluster === undefined) return undefined;
    if (!this.watched.has(cluster)) this.watch(cluster);
    const host = this.chooseHost(cluster, key);
    if (host === undefined) return undefined;
    let client = this.clients.get(host);
    if (client === undefined || !client.active) {
      const made = new RedisClient(cluster, host, this.context.clusterManager.tcpConnPool(cluster, host), this.context.timers, this.settings, (closed) => {
        if (this.clients.get(host) === closed) this.clients.delete(host);
      });
      // A pool failure reported from inside its constructor: no client to keep.
      if (!made.active) return failNow(callbacks);
      this.clients.set(host, made);
      client = made;
    }
    if (client.full) return failNow(callbacks);
    return client.makeRequest(request, callbacks);
  }

  /**
   * A connection of one client's own to the host of `key` (Envoy's transaction client,
   * conn_pool_impl.cc makeRequestToHost with an active transaction): not shared, not kept
   * by the pool; its owner closes it. Undefined when no host can take the key. As Envoy's,
   * made outside the cluster's circuit breakers (counted in upstream_cx_* all the same): idle
   * transactions cannot use up max_connections and starve the shared connections.
   */
  transactionClient(key: string, onClose: (client: RedisClient) => void): RedisClient | undefined {
    const cluster = this.context.clusterManager.get(this.clusterName);
    if (cluster === undefined) return undefined;
    const host = this.chooseHost(cluster, key);
    if (host === undefined) return undefined;
    return new RedisClient(cluster, host, this.context.clusterManager.unlimitedTcpConnPool(cluster, host), this.context.timers, this.settings, onClose);
  }

  private chooseHost(cluster: Cluster, key: string): Host | undefined {
    const hash = murmurHash2(byteStringToBytes(hashtag(key, this.settings.enableHashtagging)));
    const host = cluster.loadBalancer.chooseHost(new KeyLbContext(hash));
    if (host === undefined) cluster.stats.upstreamCxNoneHealthy.inc();
    return host;
  }

  /** Close every connection (the listener's filter config is gone). */
  close(): void {
    for (const unsubscribe of this.watched.values()) unsubscribe();
    this.watched.clear();
    for (const client of [...this.clients.values()]) client.close();
    this.clients.clear();
  }

  /** A host that leaves the cluster has its connection drained and closed, not kept for ever. */
  private watch(cluster: Cluster): void {
    this.watched.set(
      cluster,
      cluster.prioritySet.addMemberUpdateCallback((_added, removed) => {
        for (const host of removed) {
          const client = this.clients.get(host);
          if (client === undefined) continue;
          this.clients.delete(host);
          client.drain();
        }
      }),
    );
  }
}

const NOTHING_TO_CANCEL: RedisPoolRequest = { cancel() {} };

function failNow(callbacks: RedisRequestCallbacks): RedisPoolRequest {
  callbacks.onFailure();
  return NOTHING_TO_CANCEL;
}
