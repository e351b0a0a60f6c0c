/**
 * The node:dgram adapter (runtimes/kit/node-dgram.ts) that Node, Bun and Deno share: a
 * send's later failure is reported as a send error (the core counts it as Envoy's
 * *_tx_errors), and a failed bind closes its socket (libuv keeps the fd on the handle).
 */
import dgram from "node:dgram";
import { afterEach, expect, test, vi } from "vitest";
import type { PortError } from "../../../../core/port.ts";
import { nodeDgramCapability } from "../../../../runtimes/kit/node-dgram.ts";

afterEach(() => {
  vi.restoreAllMocks();
});

test("a send that fails later (EMSGSIZE) reaches onSendError, not onError", async () => {
  const errors: string[] = [];
  const sendErrors: string[] = [];
  const socket = await nodeDgramCapability().bind(
    { address: "127.0.0.1", port: 0, maxDatagramSize: 1500 },
    { onMessage() {}, onError: (e: PortError) => errors.push(e.code), onSendError: (e: PortError) => sendErrors.push(e.code) },
  );
  try {
    // Over UDP's 65507-byte payload limit: the send's callback gets EMSGSIZE.
    expect(socket.send(new Uint8Array(70000), { address: "127.0.0.1", port: socket.address.port })).toBe(true);
    for (let i = 0; i < 200 && sendErrors.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(sendErrors).toEqual(["EMSGSIZE"]);
    expect(errors).toEqual([]);
  } finally {
    socket.close();
  }
});

test("a bind that fails (EADDRINUSE) closes the socket it created", async () => {
  const udp = nodeDgramCapability();
  const handler = { onMessage() {}, onError() {} };
  const first = await udp.bind({ address: "127.0.0.1", port: 0, maxDatagramSize: 1500 }, handler);
  try {
    const close = vi.spyOn(dgram.Socket.prototype, "close");
    await expect(udp.bind({ address: "127.0.0.1", port: first.address.port, maxDatagramSize: 1500 }, handler)).rejects.toMatchObject({ code: "EADDRINUSE" });
    expect(close).toHaveBeenCalledTimes(1);
  } finally {
    first.close();
  }
});
