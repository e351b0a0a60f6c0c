/** Raw-socket HTTP for black-box tests: write exact bytes, read until the peer closes or a time passes. */
import * as net from "node:net";

/**
 * Send `bytes` on a new connection and collect the reply until the proxy closes, `ms` pass,
 * or what came holds `until` (a reply on a connection the proxy keeps open: not `ms` waited out).
 */
export function rawExchange(port: number, bytes: string | Buffer, ms = 3000, until?: (text: string) => boolean): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString("latin1"), closed });
    };
    const timer = setTimeout(() => finish(false), ms);
    socket.on("connect", () => socket.write(bytes));
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      if (until?.(Buffer.concat(chunks).toString("latin1"))) finish(false);
    });
    socket.on("end", () => finish(true));
    socket.on("close", () => finish(true));
    socket.on("error", (err) => (chunks.length ? finish(true) : reject(err)));
  });
}

/** Split a stream of HTTP/1.1 responses (content-length framed) into their status lines and bodies. */
export function parseResponses(text: string): { status: number; headers: Record<string, string>; body: string }[] {
  const out: { status: number; headers: Record<string, string>; body: string }[] = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) break;
    const [statusLine, ...lines] = rest.slice(0, end).split("\r\n");
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const i = line.indexOf(":");
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    const length = Number(headers["content-length"] ?? 0);
    out.push({ status: Number(statusLine!.split(" ")[1]), headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

/**
 * A chunked response's status, decoded body and raw trailer section (RFC 9112 §7.1); throws
 * when the response is not chunked.
 */
export function chunkedResponse(text: string): { status: number; body: string; trailers: string } {
  const head = text.indexOf("\r\n\r\n");
  if (!/\r\ntransfer-encoding: chunked/i.test(text.slice(0, head))) throw new Error(`not a chunked response: ${text.slice(0, head)}`);
  let rest = text.slice(head + 4);
  let body = "";
  for (;;) {
    const line = rest.indexOf("\r\n");
    const size = parseInt(rest.slice(0, line), 16);
    rest = rest.slice(line + 2);
    if (size === 0) break;
    body += rest.slice(0, size);
    rest = rest.slice(size + 2);
  }
  return { status: Number(text.split(" ")[1]), body, trailers: rest };
}

/** Whether `text` holds one whole content-length framed response (its head and its body). */
export function oneWholeResponse(text: string): boolean {
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
  return text.length - (end + 4) >= length;
}
