import * as net from "node:net";
import type { SocketReads } from "./socket-reads.ts";

/**
 * Gives an accepted socket `onread` (socket-reads.ts), which node offers only to
 * `new net.Socket()` and `net.connect`: a `net.Server` builds the sockets it accepts
 * itself (`onconnection` in node's lib/net.js) and nothing public sets their read buffer.
 *
 * The Socket constructor stores `onread` in three symbol-keyed fields (kBuffer,
 * kBufferCb, kBufferGen, from lib/internal/stream_base_commons.js) and hands the first
 * buffer to the handle (`useUserBuffer`) before the first read; node's read callback
 * (`onStreamRead`) then reads those fields on every read. The server accepts with
 * `pauseOnConnect`, so the socket has not read yet, and this does what the constructor
 * does, then starts reading. The fields are node internals (as in node 20's net.js);
 * should a node lack them, the socket reads node's way, into a fresh buffer each time,
 * and test/port/node-reads.test.ts fails on that node.
 *
 * Returns whether the socket now reads through `onread`. It is reading either way.
 */
export function readThrough(paused: net.Socket, onread: SocketReads["onread"]): boolean {
  const socket = paused as unknown as SocketInternals;
  const useUserBuffer = socket._handle?.useUserBuffer;
  const adopted = onreadFields !== undefined && typeof useUserBuffer === "function";
  if (adopted) {
    const first = onread.buffer();
    socket[onreadFields.buffer] = first;
    socket[onreadFields.callback] = onread.callback;
    socket[onreadFields.generator] = onread.buffer;
    useUserBuffer.call(socket._handle, first);
  }
  paused.resume();
  return adopted;
}

/**
 * The symbols of the fields `onread` is kept in, found on a socket node built with it
 * (by name, and checked to hold what was given).
 */
const onreadFields = ((): OnreadFields | undefined => {
  const generator = () => new Uint8Array(1);
  const callback = () => true;
  // (@types/node declares `onread` for net.connect only; the constructor is where node reads it.)
  const probe = new net.Socket({ onread: { buffer: generator, callback } } as net.SocketConstructorOpts);
  const fields = probe as unknown as SocketInternals;
  const find = (name: string, value?: unknown) =>
    Object.getOwnPropertySymbols(probe).find((symbol) => symbol.description === name && (value === undefined || fields[symbol] === value));
  const found = { buffer: find("kBuffer"), callback: find("kBufferCb", callback), generator: find("kBufferGen", generator) };
  probe.destroy();
  return found.buffer && found.callback && found.generator ? (found as OnreadFields) : undefined;
})();

interface OnreadFields {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

/** What of a node net.Socket's internals this touches. */
interface SocketInternals {
  _handle: { useUserBuffer?: (buffer: Uint8Array) => void } | null;
  [field: symbol]: unknown;
}
