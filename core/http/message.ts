import { HeaderMap } from "./header-map.ts";

/**
 * A request's head: Envoy's pseudo-headers (:method, :path, :authority, :scheme) as
 * fields, the rest in `headers`. HTTP/1's Host header becomes `authority`, as Envoy does.
 */
export class RequestHeaders {
  method = "GET";
  path = "/";
  authority = "";
  scheme = "http";
  /** "HTTP/1.1" or "HTTP/1.0", for access logs and HTTP/1.0 handling. */
  protocol = "HTTP/1.1";
  /**
   * An upgrade (Upgrade + Connection: upgrade) or CONNECT as the HTTP/1 parser saw it
   * (Envoy's `Utility::isUpgrade`). Only this decides raw-byte tunnelling — never the
   * mere presence of an Upgrade field, which would let a framed body through unframed.
   */
  upgrade = false;

  constructor(readonly headers: HeaderMap = new HeaderMap()) {}

  /** A header or pseudo-header by lowercase name, as route matchers ask. */
  header(name: string): string | undefined {
    switch (name) {
      case ":method":
        return this.method;
      case ":path":
        return this.path;
      case ":authority":
      case "host":
        return this.authority;
      case ":scheme":
        return this.scheme;
      default:
        // Envoy joins repeated fields with "," before matching them.
        return this.headers.getJoined(name, ",");
    }
  }
}

/** A response's head: the status and the header fields. */
export class ResponseHeaders {
  constructor(
    public status: number,
    readonly headers: HeaderMap = new HeaderMap(),
  ) {}

  header(name: string): string | undefined {
    return name === ":status" ? String(this.status) : this.headers.getJoined(name);
  }
}

/** Trailers after a chunked body. */
export type Trailers = HeaderMap;
