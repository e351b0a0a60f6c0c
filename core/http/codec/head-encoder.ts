import { allocBytes } from "../../util/byte-slab.ts";
import { latin1Write } from "../../util/latin1.ts";
import type { HeaderMap } from "../header-map.ts";

/**
 * Serialize a start line and header fields into one buffer (one write per head):
 * sized first, then written byte by byte, with no intermediate string. `extra` holds
 * name/value pairs the codec adds (framing, connection), `host` a request's authority.
 */
export function encodeHead(startLine: string, headers: HeaderMap, extra?: readonly string[], host?: string): Uint8Array {
  const count = headers.size;
  let size = startLine.length + 4; // CRLF after the start line and the blank line
  if (host) size += host.length + 8;
  for (let i = 0; i < count; i++) size += headers.nameAt(i).length + headers.valueAt(i).length + 4;
  if (extra) for (let i = 0; i < extra.length; i += 2) size += extra[i]!.length + extra[i + 1]!.length + 4;
  const out = allocBytes(size);
  let at = latin1Write(startLine, out, 0);
  out[at++] = 13;
  out[at++] = 10;
  // Host first, as clients send it (RFC 9112 §3.2 wants it in every HTTP/1.1 request).
  if (host) at = writeField(out, at, "host", host);
  for (let i = 0; i < count; i++) at = writeField(out, at, headers.nameAt(i), headers.valueAt(i));
  if (extra) for (let i = 0; i < extra.length; i += 2) at = writeField(out, at, extra[i]!, extra[i + 1]!);
  out[at++] = 13;
  out[at++] = 10;
  return out;
}

/** `name: value\r\n` at `at`; returns the new offset. */
function writeField(out: Uint8Array, at: number, name: string, value: string): number {
  at = latin1Write(name, out, at);
  out[at++] = 58; // ':'
  out[at++] = 32;
  at = latin1Write(value, out, at);
  out[at++] = 13;
  out[at++] = 10;
  return at;
}
