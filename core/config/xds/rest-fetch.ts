/**
 * One REST xDS poll (Envoy's RestApiFetcher::refresh, source/common/http/rest_api_fetcher.cc):
 * a POST of the JSON DiscoveryRequest to the source's cluster through the proxy's own
 * HTTP client (async-client.ts: the cluster's load balancer, pool and circuit breakers),
 * with host = the cluster's name and the request_timeout as the whole exchange's limit.
 */
import { AsyncClient, type AsyncRequest, type AsyncResponse } from "../../http/async-client.ts";
import { RequestHeaders } from "../../http/message.ts";
import type { ServerContext } from "../../server-context.ts";
import type { RestResponse } from "./subscription-types.ts";

/** One client per server (it holds nothing per request). */
const clients = new WeakMap<ServerContext, AsyncClient>();

export function restFetch(server: ServerContext, clusterName: string, path: string, body: Uint8Array, timeoutMs: number, maxResponseBytes: number, onCancel?: (cancel: () => void) => void): Promise<RestResponse> {
  let client = clients.get(server);
  if (client === undefined) {
    client = new AsyncClient(server);
    clients.set(server, client);
  }
  const headers = new RequestHeaders();
  headers.method = "POST";
  headers.path = path;
  headers.scheme = "http";
  headers.authority = clusterName;
  headers.set("content-type", "application/json");
  return new Promise((resolve, reject) => {
    const request = client.send(
      clusterName,
      headers,
      body,
      {
        onSuccess: (_request: AsyncRequest, response: AsyncResponse) => resolve({ status: response.headers.status, body: response.body }),
        onFailure: (_request: AsyncRequest, reason) => reject(new Error(reason === "reset" ? "the request was reset" : `the response is over ${maxResponseBytes} bytes`)),
      },
      { timeoutMs, maxResponseBytes },
    );
    // Cancelled, the promise never settles: its subscription has stopped and awaits nothing.
    if (request !== undefined) onCancel?.(() => request.cancel());
  });
}
