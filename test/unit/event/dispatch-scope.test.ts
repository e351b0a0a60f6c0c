import { describe, expect, test } from "vitest";
import { Connection, type ConnectionReadSink } from "../../../core/network/connection.ts";
import { inDispatch } from "../../../core/event/dispatch-scope.ts";
import { arenaBytes, arenaUsed } from "../../../core/event/event-arena.ts";
import type { ByteEncoder } from "../../../core/network/byte-sink.ts";
import { bytes, CopyingFakeSocket, FakeSocket, text } from "../../support/fake-socket.ts";

/** A connection whose reads run `onRead` (the core's code for one I/O event). */
function setup<S extends FakeSocket = FakeSocket>(onRead: (connection: Connection) => void, socket: S = new FakeSocket() as S) {
  const connection = new Connection(socket, 0);
  const sink: ConnectionReadSink = { onData: () => onRead(connection) };
  connection.setReadSink(sink);
  return { socket, connection };
}

describe("writes during one I/O event leave together when it ends", () => {
  test("several small writes in one event become one socket write, in order", () => {
    const { socket } = setup((c) => {
      c.write(bytes("HTTP/1.1 200 OK\r\n\r\n"), false);
      c.write(bytes("body"), false);
      expect(socket.writes.length).toBe(0); // queued until the event ends
    });
    socket.handler!.onData(bytes("x"));
    expect(socket.writes.length).toBe(1);
    expect(text(socket.writes[0]!)).toBe("HTTP/1.1 200 OK\r\n\r\nbody");
  });

  test("writes to another connection in the event are flushed too; outside an event a write goes straight out", () => {
    const other = new Connection(new FakeSocket(), 0);
    const { socket } = setup(() => other.write(bytes("to other"), false));
    socket.handler!.onData(bytes("x"));
    const otherSocket = other.socket as FakeSocket;
    expect(otherSocket.writes.map(text)).toEqual(["to other"]);
    other.write(bytes("now"), false);
    expect(otherSocket.writes.map(text)).toEqual(["to other", "now"]);
  });

  test("a write with endStream and a FlushWrite close send what was queued first; Abort drops it", () => {
    const a = setup((c) => {
      c.write(bytes("head"), false);
      c.write(bytes("tail"), true);
    });
    let writesBeforeEnd = -1;
    a.socket.end = () => (writesBeforeEnd = a.socket.writes.length);
    a.socket.handler!.onData(bytes("x"));
    expect(a.socket.writes.map(text).join("")).toBe("headtail");
    expect(writesBeforeEnd).toBe(a.socket.writes.length); // FIN after every byte

    const b = setup((c) => {
      c.write(bytes("queued"), false);
      c.close("FlushWrite");
    });
    let writesBeforeClose = -1;
    b.socket.close = () => (writesBeforeClose = b.socket.writes.length);
    b.socket.handler!.onData(bytes("x"));
    expect(b.socket.writes.map(text)).toEqual(["queued"]);
    expect(writesBeforeClose).toBe(1);

    const d = setup((c) => {
      c.write(bytes("dropped"), false);
      c.close("Abort");
    });
    d.socket.handler!.onData(bytes("x"));
    expect(d.socket.writes).toEqual([]);
    expect(d.socket.resets).toBe(1);
  });

  test("to a socket that copies what it keeps (writeCopying), joined pieces go from one reused buffer; a lone piece and a batch over 16 KiB go through write as they are", () => {
    const big = new Uint8Array(16 * 1024).fill(120);
    const lone = bytes("lone");
    const events = [
      (c: Connection) => (c.write(bytes("head 1|"), false), c.write(bytes("body 1"), false)),
      (c: Connection) => (c.write(bytes("head 2|"), false), c.write(bytes("body 2"), false)),
      (c: Connection) => c.write(lone, false),
      (c: Connection) => (c.write(bytes("head 3|"), false), c.write(big, false)),
    ];
    let event = 0;
    const { socket } = setup((c) => events[event++]!(c), new CopyingFakeSocket());
    for (let i = 0; i < events.length; i++) socket.handler!.onData(bytes("x"));
    expect(socket.writes.slice(0, 2).map(text)).toEqual(["head 1|body 1", "head 2|body 2"]);
    // Both joins used the same buffer, and the first write's copy survived the second join.
    expect(socket.copyingSources).toHaveLength(2);
    expect(socket.copyingSources[0]).toBe(socket.copyingSources[1]);
    expect(socket.writes[2]).toBe(lone);
    expect(socket.writes.slice(3).map((w) => w.byteLength)).toEqual([7, big.byteLength]);
    expect(socket.writes[4]).toBe(big);
  });

  test("a throw inside an event still ends the scope (later writes are not stuck in a queue)", () => {
    const { socket, connection } = setup((c) => {
      c.write(bytes("before the throw"), false);
      throw new Error("boom");
    });
    expect(() => socket.handler!.onData(bytes("x"))).toThrow("boom");
    expect(inDispatch()).toBe(false);
    expect(socket.writes.map(text)).toEqual(["before the throw"]);
    connection.write(bytes("later"), false);
    expect(socket.writes.map(text)).toEqual(["before the throw", "later"]);
  });

  describe("heads (writeEncoded)", () => {
    const head = (content: string): ByteEncoder => ({ byteLength: content.length, encodeInto: (out, at) => out.set(bytes(content), at) });

    test("on a socket that copies, a head and the body behind it are made in the event arena and leave as one write from it; the next event reuses it", () => {
      const events = [
        (c: Connection) => (c.writeEncoded(head("HTTP/1.1 200 OK\r\n\r\n")), c.write(bytes("first"), false)),
        (c: Connection) => (c.writeEncoded(head("HTTP/1.1 404 Not Found\r\n\r\n")), c.write(bytes("second"), false)),
      ];
      let event = 0;
      const { socket } = setup((c) => events[event++]!(c), new CopyingFakeSocket());
      socket.handler!.onData(bytes("x"));
      socket.handler!.onData(bytes("x"));
      expect(socket.writes.map(text)).toEqual(["HTTP/1.1 200 OK\r\n\r\nfirst", "HTTP/1.1 404 Not Found\r\n\r\nsecond"]);
      expect(socket.copyingSources).toHaveLength(2);
      for (const source of socket.copyingSources) expect(source).toBe(arenaBytes());
      expect(arenaUsed()).toBe(0); // free again after each event
    });

    test("two connections writing in turn in one event: each one's bytes leave in order, in as few writes as the arena allows", () => {
      const a = new Connection(new CopyingFakeSocket(), 0);
      const b = new Connection(new CopyingFakeSocket(), 0);
      const { socket } = setup(() => {
        a.writeEncoded(head("a-head|"));
        b.writeEncoded(head("b-head|"));
        a.write(bytes("a-body"), false); // the arena's end is b's now: a piece of its own behind a's run
        b.write(bytes("b-body"), false);
        a.writeEncoded(head("|a-trailers")); // behind a piece: an array of its own, after it
      }, new CopyingFakeSocket());
      socket.handler!.onData(bytes("x"));
      const aSocket = a.socket as CopyingFakeSocket;
      const bSocket = b.socket as CopyingFakeSocket;
      expect(aSocket.writes.map(text).join("")).toBe("a-head|a-body|a-trailers");
      expect(aSocket.writes.map(text)).toEqual(["a-head|", "a-body|a-trailers"]);
      expect(bSocket.writes.map(text)).toEqual(["b-head|b-body"]);
    });

    test("outside an event, or on a socket that does not copy, a head is an array of its own (joined with the body in an event)", () => {
      const copying = new Connection(new CopyingFakeSocket(), 0);
      copying.writeEncoded(head("outside|"));
      const copyingSocket = copying.socket as CopyingFakeSocket;
      expect(copyingSocket.writes.map(text)).toEqual(["outside|"]);
      expect(copyingSocket.copyingSources).toEqual([]);

      const { socket } = setup((c) => (c.writeEncoded(head("head|")), c.write(bytes("body"), false)));
      socket.handler!.onData(bytes("x"));
      expect(socket.writes.map(text)).toEqual(["head|body"]);
    });

    test("a head too large for what is left of the arena is an array of its own, and the bytes still leave in order", () => {
      const big = "h".repeat(arenaBytes().byteLength + 1);
      const { socket } = setup((c) => (c.writeEncoded(head(big)), c.write(bytes("body"), false)), new CopyingFakeSocket());
      socket.handler!.onData(bytes("x"));
      expect(socket.writes.map(text).join("")).toBe(`${big}body`);
      expect(arenaUsed()).toBe(0);
    });

    test("after a close nothing is encoded or written", () => {
      let calls = 0;
      const { socket, connection } = setup(() => undefined, new CopyingFakeSocket());
      connection.close("Abort");
      socket.handler!.onClose("local");
      connection.writeEncoded({ byteLength: 4, encodeInto: () => void calls++ });
      expect(calls).toBe(0);
      expect(socket.writes).toEqual([]);
    });
  });
});
