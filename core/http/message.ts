import { HeaderMap } from "./header-map.ts";

/**
 * A request's head (Envoy's RequestHeaderMap): the header fields, and Envoy's
 * pseudo-headers (:method, :path, :authority, :scheme) as properties beside them.
 * HTTP/1's Host header becomes `authority` (or an absolute-form target's authority
 * does: http1-server-codec.ts), as Envoy does. One object per head, not
 * a head holding a map: every request allocates it.
 */
export class RequestHeaders extends HeaderMap {
  method = "GET";
  path = "/";
  authority = "";
  scheme = "http";
  /**
   * HTTP/1: an absolute-form target gave `scheme` (Envoy's codec sets :scheme from it).
   * Otherwise an HTTP/1 request has none of its own and the connection manager derives it
   * from x-forwarded-proto (proxy-headers.ts).
   */
  schemeFromTarget = false;
  /** "HTTP/1.1" or "HTTP/1.0", for access logs and HTTP/1.0 handling. */
  protocol = "HTTP/1.1";
  /**
   * An upgrade (Upgrade + Connection: upgrade) or CONNECT as the HTTP/1 parser saw it
   * (Envoy's `Utility::isUpgrade`). Only this decides raw-byte tunnelling — never the
   * mere presence of an Upgrade field, which would let a framed body through unframed.
   */
  upgrade = false;

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
        return this.getJoined(name, ",");
    }
  }
}

/** A response's head (Envoy's ResponseHeaderMap): the status and the header fields. */
export class ResponseHeaders extends HeaderMap {
  /**
   * The HTTP/1 status line's reason phrase in place of the standard one (Envoy's
   * StatefulHeaderKeyFormatter::setReasonPhrase, set by the Lua filter's
   * setHttp1ReasonPhrase); HTTP/2 has none.
   */
  reasonPhrase: string | undefined = undefined;

  constructor(public status: number) {
    super();
  }

  header(name: string): string | undefined {
    return name === ":status" ? String(this.status) : this.getJoined(name);
  }
}
