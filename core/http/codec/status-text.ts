/** Reason phrases for the status line (RFC 9110 §15); any other code gets "Unknown". */
const REASONS: Record<number, string> = {
  100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information",
  204: "No Content", 205: "Reset Content", 206: "Partial Content", 300: "Multiple Choices", 301: "Moved Permanently", 302: "Found",
  303: "See Other", 304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request",
  401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable", 408: "Request Timeout",
  409: "Conflict", 410: "Gone", 411: "Length Required", 412: "Precondition Failed", 413: "Payload Too Large", 414: "URI Too Long",
  415: "Unsupported Media Type", 416: "Range Not Satisfiable", 417: "Expectation Failed", 421: "Misdirected Request",
  422: "Unprocessable Content", 426: "Upgrade Required", 428: "Precondition Required", 429: "Too Many Requests",
  431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
  503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
};

export function statusText(status: number): string {
  return REASONS[status] ?? "Unknown";
}

const STATUS_LINES = new Map<number, string>();
const HTTP10_STATUS_LINES = new Map<number, string>();

/**
 * `HTTP/1.1 200 OK`: made once per status code, not per response. `http10`: `HTTP/1.0 200 OK`,
 * Envoy's answer to an HTTP/1.0 request it accepts (codec_impl.cc, HTTP_10_RESPONSE_PREFIX).
 */
export function statusLine(status: number, http10 = false): string {
  const lines = http10 ? HTTP10_STATUS_LINES : STATUS_LINES;
  let line = lines.get(status);
  if (line === undefined) {
    line = `${http10 ? "HTTP/1.0" : "HTTP/1.1"} ${status} ${statusText(status)}`;
    // Status codes are 3 digits (llhttp and the config check), so this stays small.
    if (lines.size < 1000) lines.set(status, line);
  }
  return line;
}
