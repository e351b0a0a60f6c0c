/** Envoy's default HttpConnectionManager.drain_timeout (both the HTTP/1 and HTTP/2 sides'). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 5000;
