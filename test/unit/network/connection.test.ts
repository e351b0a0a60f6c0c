import { describe, expect, test } from "vitest";
import { Connection, type ConnectionCallbacks, type ConnectionEvent } from "../../../core/network/connection.ts";
import type { PortError } from "../../../core/port.ts";
import { bytes, FakeSocket, GatheringFakeSocket, text } from "../../support/fake-socket.ts";
import { Gauge } from "../../../core/stats/gauge.ts";

/** ConnectionCallbacks that record every call as a string. */
class Recorder implements ConnectionCallbacks {
  readonly calls: string[] = [];
  readonly errors: (PortError | undefined)[] = [];
  onEvent(event: ConnectionEvent, error?: PortError): void {
    this.calls.push(event);
    this.errors.push(error);
  }
  onAboveWriteBufferHighWatermark(): void {
    this.calls.push("above");
  }
  onBelowWriteBufferLowWatermark(): void {
    this.calls.push("below");
  }
}

function setup(limit = 100): { socket: FakeSocket; connection: Connection; recorder: Recorder } {
  const socket = new FakeSocket();
  const connection = new Connection(socket, limit);
  const recorder = new Recorder();
  connection.addConnectionCallbacks(recorder);
  return { socket, connection, recorder };
}

describe("Connection", () => {
  test("registers itself as the socket's handler", () => {
    const { socket, connection } = setup();
    expect(socket.handler).toBe(connection);
  });

  test("each connection gets a distinct id", () => {
    expect(setup().connection.id).not.toBe(setup().connection.id);
  });

  describe("write", () => {
    test("passes data to the socket; empty data is not written", () => {
      const { socket, connection } = setup();
      connection.write(bytes("ab"), false);
      connection.write(new Uint8Array(0), false);
      connection.write(bytes("c"), false);
      expect(socket.writes.map(text)).toEqual(["ab", "c"]);
      expect(socket.ends).toBe(0);
    });

    test("tiny pieces written in one event leave as one write, past the join limit too", () => {
      // A chunked body of 1-byte chunks: one socket write per piece left the adapter's
      // queue holding an object per byte (~100 bytes each) behind a slow upstream.
      const { socket, connection } = setup(0);
      connection.setReadSink({ onData: () => { for (let i = 0; i < 20_000; i++) connection.write(bytes("x"), false); } });
      socket.handler!.onData(bytes("go"));
      expect(socket.writes.length).toBe(1);
      expect(socket.writes[0]!.byteLength).toBe(20_000);
    });

    test("past the join limit, runs of small pieces are joined and a large piece beside them goes as it is", () => {
      const { socket, connection } = setup(0);
      const big = new Uint8Array(2 * 1024 * 1024).fill(0x62);
      const medium = new Uint8Array(4096).fill(0x6d);
      connection.setReadSink({
        onData: () => {
          for (let i = 0; i < 500; i++) connection.write(bytes("a"), false);
          connection.write(big, false);
          for (let i = 0; i < 300; i++) connection.write(bytes("c"), false);
          connection.write(medium, false);
          connection.write(bytes("d"), false);
        },
      });
      socket.handler!.onData(bytes("go"));
      // Averaged over the batch (~2.6 KB a piece), none of the 802 pieces were joined.
      expect(socket.writes.map((w) => w.byteLength)).toEqual([500, big.byteLength, 300, 4096, 1]);
      expect(socket.writes[1]).toBe(big);
      expect(text(socket.writes[0]!)).toBe("a".repeat(500));
      expect(text(socket.writes[2]!)).toBe("c".repeat(300));
    });

    test("where the socket gathers (writev), an event's large pieces and the runs between them leave in one call, in order", () => {
      // HTTP/2 DATA frames: a 9-byte header, then a 16 KiB payload, four times per 64 KiB.
      const socket = new GatheringFakeSocket();
      const connection = new Connection(socket, 0);
      const payloads = [0x61, 0x62, 0x63, 0x64].map((fill) => new Uint8Array(16 * 1024).fill(fill));
      connection.setReadSink({
        onData: () => {
          for (const payload of payloads) {
            connection.write(new Uint8Array(9).fill(0x68), false);
            connection.write(payload, false);
          }
        },
      });
      socket.handler!.onData(bytes("go"));
      expect(socket.writes).toEqual([]);
      expect(socket.writevCalls.length).toBe(1);
      const [chunks] = socket.writevCalls;
      expect(chunks!.map((c) => c.byteLength)).toEqual([9, 16384, 9, 16384, 9, 16384, 9, 16384]);
      // The payloads as they were written (no copy), each after its header.
      for (let i = 0; i < 4; i++) expect(chunks![2 * i + 1]).toBe(payloads[i]);
      expect(connection.bytesSent).toBe(4 * (9 + 16384));
    });

    test("where the socket gathers, a single piece and a batch under the join limit still go by write", () => {
      const socket = new GatheringFakeSocket();
      const connection = new Connection(socket, 0);
      const big = new Uint8Array(64 * 1024);
      connection.setReadSink({ onData: () => connection.write(big, false) });
      socket.handler!.onData(bytes("go"));
      connection.setReadSink({ onData: () => { connection.write(bytes("ab"), false); connection.write(bytes("cd"), false); } });
      socket.handler!.onData(bytes("go"));
      expect(socket.writevCalls).toEqual([]);
      expect(socket.writes.map((w) => w.byteLength)).toEqual([big.byteLength, 4]);
    });

    test("endStream writes the data, ends the socket once, and later writes are ignored", () => {
      const { socket, connection } = setup();
      connection.write(bytes("last"), true);
      expect(socket.text()).toBe("last");
      expect(socket.ends).toBe(1);
      connection.write(bytes("more"), false);
      connection.write(bytes("again"), true);
      expect(socket.text()).toBe("last");
      expect(socket.ends).toBe(1);
    });

    test("endStream with no data only ends", () => {
      const { socket, connection } = setup();
      connection.write(new Uint8Array(0), true);
      expect(socket.writes).toEqual([]);
      expect(socket.ends).toBe(1);
    });

    test("writes after the socket closed are ignored", () => {
      const { socket, connection } = setup();
      socket.handler!.onClose("remote");
      expect(connection.isClosed).toBe(true);
      connection.write(bytes("x"), true);
      expect(socket.writes).toEqual([]);
      expect(socket.ends).toBe(0);
    });
  });

  describe("tx bytes buffered gauge (setTxBufferedGauge)", () => {
    test("follows the bytes the socket holds: up on a write it keeps, down to 0 when its queue empties, its share gone on close", () => {
      const gauge = new Gauge("g");
      const { socket, connection } = setup(0);
      const other = setup(0);
      connection.setTxBufferedGauge(gauge);
      other.connection.setTxBufferedGauge(gauge);
      socket.bufferedAmount = 30;
      connection.write(bytes("x".repeat(30)), false);
      expect(gauge.value).toBe(30);
      other.socket.bufferedAmount = 5;
      other.connection.write(bytes("hello"), false);
      expect(gauge.value).toBe(35);
      socket.bufferedAmount = 0;
      socket.handler!.onDrain();
      expect(gauge.value).toBe(5);
      other.socket.handler!.onClose("remote");
      expect(gauge.value).toBe(0);
    });
  });

  describe("write-buffer watermarks", () => {
    test("reaching the limit exactly is not above it", () => {
      const { socket, connection, recorder } = setup(100);
      socket.bufferedAmount = 100;
      connection.write(bytes("x"), false);
      expect(recorder.calls).toEqual([]);
    });

    test("crossing the limit fires above once; a drain then fires below once", () => {
      const { socket, connection, recorder } = setup(100);
      connection.write(bytes("x"), false);
      expect(recorder.calls).toEqual([]);
      socket.bufferedAmount = 101;
      connection.write(bytes("x"), false);
      socket.bufferedAmount = 500;
      connection.write(bytes("x"), false);
      expect(recorder.calls).toEqual(["above"]);
      socket.bufferedAmount = 0;
      socket.handler!.onDrain();
      socket.handler!.onDrain();
      expect(recorder.calls).toEqual(["above", "below"]);
    });

    test("a drain while below the watermark reports nothing", () => {
      const { socket, connection, recorder } = setup(100);
      socket.bufferedAmount = 50;
      connection.write(bytes("x"), false);
      socket.handler!.onDrain();
      expect(recorder.calls).toEqual([]);
    });

    test("the cycle repeats after a drain", () => {
      const { socket, connection, recorder } = setup(10);
      for (let i = 0; i < 2; i++) {
        socket.bufferedAmount = 11;
        connection.write(bytes("x"), false);
        socket.bufferedAmount = 0;
        socket.handler!.onDrain();
      }
      expect(recorder.calls).toEqual(["above", "below", "above", "below"]);
    });

    test("every registered callbacks object is told", () => {
      const { socket, connection, recorder } = setup(10);
      const second = new Recorder();
      connection.addConnectionCallbacks(second);
      socket.bufferedAmount = 11;
      connection.write(bytes("x"), false);
      socket.handler!.onDrain();
      expect(recorder.calls).toEqual(["above", "below"]);
      expect(second.calls).toEqual(["above", "below"]);
    });

    test("a limit of 0 disables watermarks", () => {
      const { socket, connection, recorder } = setup(0);
      socket.bufferedAmount = 10_000_000;
      connection.write(bytes("x"), false);
      socket.handler!.onDrain();
      expect(recorder.calls).toEqual([]);
    });

    test("no below-watermark event after the connection closed", () => {
      const { socket, connection, recorder } = setup(10);
      socket.bufferedAmount = 11;
      connection.write(bytes("x"), false);
      socket.handler!.onClose("local");
      socket.handler!.onDrain();
      expect(recorder.calls).toEqual(["above", "LocalClose"]);
    });
  });

  describe("events", () => {
    test("onConnect is reported as Connected", () => {
      const { socket, recorder } = setup();
      socket.handler!.onConnect();
      expect(recorder.calls).toEqual(["Connected"]);
    });

    test('onClose("local") is LocalClose', () => {
      const { socket, connection, recorder } = setup();
      socket.handler!.onClose("local");
      expect(recorder.calls).toEqual(["LocalClose"]);
      expect(recorder.errors).toEqual([undefined]);
      expect(connection.isClosed).toBe(true);
    });

    test('onClose("remote") is RemoteClose', () => {
      const { socket, recorder } = setup();
      socket.handler!.onClose("remote");
      expect(recorder.calls).toEqual(["RemoteClose"]);
    });

    test('onClose("error") is RemoteClose carrying the error', () => {
      const { socket, recorder } = setup();
      const error: PortError = { code: "ECONNRESET", message: "connection reset by peer" };
      socket.handler!.onClose("error", error);
      expect(recorder.calls).toEqual(["RemoteClose"]);
      expect(recorder.errors).toEqual([error]);
    });
  });

  describe("reading", () => {
    test("onData goes to the read sink with endStream=false", () => {
      const { socket, connection } = setup();
      const got: [string, boolean][] = [];
      connection.setReadSink({ onData: (data, endStream) => got.push([text(data), endStream]) });
      socket.handler!.onData(bytes("hello"));
      expect(got).toEqual([["hello", false]]);
    });

    test("onEnd delivers an empty chunk with endStream=true", () => {
      const { socket, connection } = setup();
      const got: [number, boolean][] = [];
      connection.setReadSink({ onData: (data, endStream) => got.push([data.byteLength, endStream]) });
      socket.handler!.onEnd();
      expect(got).toEqual([[0, true]]);
    });

    test("events with no read sink set are harmless", () => {
      const { socket } = setup();
      expect(() => {
        socket.handler!.onData(bytes("x"));
        socket.handler!.onEnd();
      }).not.toThrow();
    });

    test("readDisable is passed to the socket until the connection closes", () => {
      const { socket, connection } = setup();
      connection.readDisable(true);
      connection.readDisable(false);
      socket.handler!.onClose("remote");
      connection.readDisable(true);
      expect(socket.readDisableCalls).toEqual([true, false]);
    });
  });

  describe("close", () => {
    test("FlushWrite closes the socket, Abort resets it", () => {
      const a = setup();
      a.connection.close("FlushWrite");
      expect([a.socket.closes, a.socket.resets]).toEqual([1, 0]);
      const b = setup();
      b.connection.close("Abort");
      expect([b.socket.closes, b.socket.resets]).toEqual([0, 1]);
    });

    test("close after the socket closed does nothing", () => {
      const { socket, connection } = setup();
      socket.handler!.onClose("remote");
      connection.close("FlushWrite");
      connection.close("Abort");
      expect([socket.closes, socket.resets]).toEqual([0, 0]);
    });
  });
});
