import type { RedisPoolRequest, RedisRequestCallbacks } from "./redis-client.ts";
import type { RespValue } from "./resp-value.ts";

/** A connection of one downstream client's own to one Redis host (Envoy's transaction client). */
export interface RedisTransactionClient {
  readonly active: boolean;
  makeRequest(request: RespValue, callbacks: RedisRequestCallbacks): RedisPoolRequest;
  /** Closed once its outstanding replies are in. */
  drain(): void;
  close(): void;
}

/**
 * One downstream connection's transaction state (Envoy's Common::Redis::Client::Transaction,
 * common/redis/client.h). `MULTI` starts it; the first keyed command after it sets `key`,
 * whose host gets a connection of this client's own (`client`), `MULTI` first on it; every
 * later command goes there until `EXEC` or `DISCARD`, after which that connection is closed
 * once its replies are in. A `WATCH` outside a transaction sets `key` and opens the
 * connection too, so that the `EXEC` it guards runs on the connection that watched.
 */
export class RedisTransaction {
  active = false;
  key: string | undefined;
  client: RedisTransactionClient | undefined;
  /**
   * The error every command of this transaction gets once its connection could not be made
   * or was lost (its host gone, op_timeout): the rest must not run outside it. A WATCH's
   * connection lost before EXEC sets it too: the watch is gone, so the EXEC it guarded
   * must not run unguarded; UNWATCH, EXEC or DISCARD clear it.
   */
  failure: string | undefined;
  /** Connections of ended transactions still owed replies; closed with the downstream connection. */
  private readonly retired = new Set<RedisTransactionClient>();

  /** The transaction's connection closed before its end: what it owed is failed by the client. */
  onClientClosed(client: RedisTransactionClient): void {
    this.retired.delete(client);
    if (this.client !== client) return;
    this.client = undefined;
    // The key stays pinned: inside MULTI, or after a WATCH, what follows fails until the end.
    this.failure ??= "upstream failure";
  }

  /** EXEC, DISCARD or an UNWATCH outside a transaction went out: the state is reset, its connection closes after its replies. */
  end(): void {
    const client = this.client;
    this.active = false;
    this.key = undefined;
    this.client = undefined;
    this.failure = undefined;
    if (client === undefined) return;
    this.retired.add(client);
    client.drain();
  }

  /** The downstream connection closed: every connection of its own goes now (Envoy's Transaction::close). */
  close(): void {
    const clients = [...this.retired];
    if (this.client !== undefined) clients.push(this.client);
    this.active = false;
    this.key = undefined;
    this.client = undefined;
    this.failure = undefined;
    this.retired.clear();
    for (const client of clients) client.close();
  }
}
