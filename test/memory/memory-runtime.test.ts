/**
 * The memory runtime itself: its virtual clock and seeded scheduler, its socket model
 * (windows, half-close, close, reset), its fault knobs and the rest of the port. The
 * port conformance suite (test/port) checks the shared contract; this checks what only
 * the memory runtime has.
 */
import { describe, expect, test } from "vitest";
import type { Socket } from "../../core/port.ts";
import { ExitCalled, MemoryRuntime, type MemoryRuntimeOptions } from "../../runtimes/memory/memory-runtime.ts";
import { POISON, type MemorySocket } from "../../runtimes/memory/memory-socket.ts";
import { LivelockError } from "../../runtimes/memory/scheduler.ts";
import { concat, SocketRecorder } from "../port/socket-recorder.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** A connected pair on a fresh runtime, both ends recorded. */
async function pair(options: MemoryRuntimeOptions = {}, port = 80) {
  const runtime = new MemoryRuntime(options);
  const accepted: SocketRecorder[] = [];
  const listener = await runtime.listen({ address: "10.0.0.1", port }, (socket) => accepted.push(new SocketRecorder(socket)));
  const client = new SocketRecorder(runtime.connect({ address: "10.0.0.1", port }));
  runtime.runDue();
  const server = accepted[0]!;
  return { runtime, listener, client, server, clientSocket: client.socket as MemorySocket, serverSocket: server.socket as MemorySocket };
}

describe("virtual time and the scheduler", () => {
  test("timers fire in deadline order, equal deadlines in creation order, instantly", () => {
    const runtime = new MemoryRuntime();
    const fired: string[] = [];
    runtime.setTimeout(() => fired.push("b@100"), 100);
    runtime.setTimeout(() => fired.push("a@50"), 50);
    for (let i = 0; i < 5; i++) runtime.setTimeout(() => fired.push(`c${i}@100`), 100);
    const cancelled = runtime.setTimeout(() => fired.push("cancelled"), 10);
    runtime.clearTimeout(cancelled);
    expect(runtime.pendingTimers).toBe(7);
    expect(runtime.advance(49)).toBe(0);
    expect(runtime.now()).toBe(49);
    runtime.advance(51);
    expect(fired).toEqual(["a@50", "b@100", "c0@100", "c1@100", "c2@100", "c3@100", "c4@100"]);
    expect(runtime.now()).toBe(100);
    expect(runtime.pendingTimers).toBe(0);
  });

  test("an hour of virtual time takes no real time; the wall clock follows the virtual one", () => {
    const runtime = new MemoryRuntime({ wallClockStart: Date.UTC(2030, 5, 1) });
    let ticks = 0;
    const tick = () => {
      ticks++;
      if (ticks < 3600) runtime.setTimeout(tick, 1000);
    };
    runtime.setTimeout(tick, 1000);
    const started = performance.now();
    runtime.runUntilIdle();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(ticks).toBe(3600);
    expect(runtime.now()).toBe(3_600_000);
    expect(new Date(runtime.wallClock()).toISOString()).toBe("2030-06-01T01:00:00.000Z");
  });

  test("defer runs after the current event, in order; runDue does not move the clock", () => {
    const runtime = new MemoryRuntime();
    const order: string[] = [];
    runtime.setTimeout(() => order.push("timer"), 1);
    runtime.defer(() => {
      order.push("defer 1");
      runtime.defer(() => order.push("defer 3 (from 1)"));
    });
    runtime.defer(() => order.push("defer 2"));
    expect(order).toEqual([]);
    runtime.runDue();
    expect(order).toEqual(["defer 1", "defer 2", "defer 3 (from 1)"]);
    expect(runtime.now()).toBe(0);
    runtime.advance(1);
    expect(order.at(-1)).toBe("timer");
  });

  test("same-time events interleave by seed, reproducibly; shuffle: false keeps scheduling order", () => {
    const run = (options: MemoryRuntimeOptions) => {
      const runtime = new MemoryRuntime(options);
      const order: number[] = [];
      // Ten independent events at the same instant (as ten sockets' reads would be).
      for (let i = 0; i < 10; i++) runtime.scheduler.schedule(() => order.push(i));
      runtime.runDue();
      return order.join(",");
    };
    expect(run({ seed: 1 })).toBe(run({ seed: 1 }));
    const orders = new Set([1, 2, 3, 4, 5].map((seed) => run({ seed })));
    expect(orders.size).toBeGreaterThan(1);
    expect(run({ shuffle: false })).toBe("0,1,2,3,4,5,6,7,8,9");
  });

  test("runUntilIdle stops a runaway loop", () => {
    const runtime = new MemoryRuntime();
    const loop = () => runtime.defer(loop);
    loop();
    expect(() => runtime.runUntilIdle(10_000)).toThrow(LivelockError);
  });

  test("settle lets promise continuations run between events", async () => {
    const runtime = new MemoryRuntime();
    const steps: string[] = [];
    const sleep = (ms: number) => new Promise<void>((resolve) => runtime.setTimeout(resolve, ms));
    const task = (async () => {
      await sleep(100);
      steps.push(`a ${runtime.now()}`);
      await sleep(100);
      steps.push(`b ${runtime.now()}`);
    })();
    await runtime.settle(150);
    expect(steps).toEqual(["a 100"]);
    expect(runtime.now()).toBe(150);
    await runtime.settle(1000);
    await task;
    expect(steps).toEqual(["a 100", "b 200"]);
    expect(runtime.now()).toBe(1150);
  });

  test("autoRun drives the scheduler from the real event loop", async () => {
    const runtime = new MemoryRuntime({ autoRun: true });
    const at = await new Promise<number>((resolve) => runtime.setTimeout(() => resolve(runtime.now()), 60_000));
    expect(at).toBe(60_000);
  });
});

describe("sockets", () => {
  test("addresses, and events only from the scheduler: connect, accept and data are never synchronous", async () => {
    const runtime = new MemoryRuntime({ sourceAddress: "10.0.0.9" });
    const accepted: SocketRecorder[] = [];
    const listener = await runtime.listen({ address: "0.0.0.0", port: 0 }, (socket) => accepted.push(new SocketRecorder(socket)));
    expect(listener.address).toEqual({ address: "0.0.0.0", port: 49152, family: 4 });
    const client = new SocketRecorder(runtime.connect({ address: "10.1.2.3", port: 49152 }));
    client.socket.write(text("early")); // before the connect completes: queued
    expect(client.socket.bufferedAmount).toBe(5);
    expect(client.connected).toBe(false);
    expect(accepted).toHaveLength(0);
    runtime.runDue();
    expect(client.connected).toBe(true);
    const server = accepted[0]!;
    expect(server.socket.localAddress).toEqual({ address: "10.1.2.3", port: 49152, family: 4 });
    expect(server.socket.remoteAddress).toEqual(client.socket.localAddress);
    expect(client.socket.localAddress?.address).toBe("10.0.0.9");
    expect(server.text()).toBe("early");
    server.socket.write(text("reply"));
    expect(client.receivedBytes).toBe(0);
    runtime.runDue();
    expect(client.text()).toBe("reply");
  });

  test("listen: EADDRINUSE, wildcard conflicts, port 0 skips ports in use; connect: ECONNREFUSED later, not at once", async () => {
    const runtime = new MemoryRuntime();
    await runtime.listen({ address: "127.0.0.1", port: 8080 }, () => {});
    await expect(runtime.listen({ address: "127.0.0.1", port: 8080 }, () => {})).rejects.toMatchObject({ code: "EADDRINUSE" });
    await expect(runtime.listen({ address: "0.0.0.0", port: 8080 }, () => {})).rejects.toMatchObject({ code: "EADDRINUSE" });
    await expect(runtime.listen({ address: "127.0.0.2", port: 8080 }, () => {})).resolves.toBeDefined();
    await runtime.listen({ address: "::1", port: 49152 }, () => {});
    expect((await runtime.listen({ address: "::1", port: 0 }, () => {})).address).toEqual({ address: "::1", port: 49153, family: 6 });
    const refused = new SocketRecorder(runtime.connect({ address: "127.0.0.1", port: 9 }));
    expect(refused.closeReason).toBeUndefined();
    runtime.runDue();
    expect(refused.closeReason).toBe("error");
    expect(refused.closeError?.code).toBe("ECONNREFUSED");
    expect(refused.connected).toBe(false);
  });

  test("receive window: a reader with reads disabled holds at most its window; the rest stays queued on the writer, then drains", async () => {
    const { runtime, client, server, clientSocket } = await pair({ receiveWindow: 1000 });
    server.socket.readDisable(true);
    client.socket.write(new Uint8Array(5000));
    runtime.runDue();
    expect(server.receivedBytes).toBe(0);
    expect(client.socket.bufferedAmount).toBe(4000);
    expect((server.socket as MemorySocket).unreadBytes).toBe(1000);
    server.socket.readDisable(false);
    runtime.runDue();
    expect(server.receivedBytes).toBe(5000);
    expect(client.socket.bufferedAmount).toBe(0);
    expect(client.drains).toBe(1);
    expect(clientSocket.stats.maxBuffered).toBe(4000);
  });

  test("half-close both ways, then both close 'remote'; close() flushes; writes after end are dropped", async () => {
    const { runtime, client, server } = await pair();
    client.socket.write(text("ping"));
    client.socket.end();
    client.socket.write(text("dropped"));
    runtime.runDue();
    expect(server.text()).toBe("ping");
    expect(server.ended).toBe(true);
    expect(server.closeReason).toBeUndefined();
    server.socket.write(text("pong"));
    server.socket.end();
    runtime.runDue();
    expect(client.text()).toBe("pong");
    expect([client.closeReason, server.closeReason]).toEqual(["remote", "remote"]);
    expect(runtime.openSockets.size).toBe(0);
  });

  test("data sent to a closed socket is answered with a RST", async () => {
    const { runtime, client, server } = await pair();
    server.socket.close();
    runtime.runDue();
    expect(server.closeReason).toBe("local");
    expect(client.ended).toBe(true);
    client.socket.write(text("anyone?"));
    runtime.runDue();
    expect(client.closeReason).toBe("error");
    expect(client.closeError?.code).toBe("ECONNRESET");
  });

  test("reset: the peer reads what arrived before the RST, then ECONNRESET; with reads disabled it is dropped", async () => {
    for (const disabled of [false, true]) {
      const { runtime, client, server } = await pair();
      if (disabled) server.socket.readDisable(true);
      client.socket.write(text("before"));
      client.socket.reset();
      client.socket.write(text("after"));
      runtime.runDue();
      expect(client.closeReason).toBe("local");
      expect(server.text()).toBe(disabled ? "" : "before");
      expect(server.closeReason).toBe("error");
      expect(server.closeError).toEqual({ code: "ECONNRESET", message: "read ECONNRESET" });
      expect(server.ended).toBe(false);
    }
  });

  test("closing a listener resets the connections it had not accepted yet", async () => {
    const runtime = new MemoryRuntime({ shuffle: false });
    let accepted = 0;
    const listener = await runtime.listen({ address: "127.0.0.1", port: 80 }, () => accepted++);
    const client = new SocketRecorder(runtime.connect({ address: "127.0.0.1", port: 80 }));
    runtime.step(); // the connect attempt only: the accept is still queued
    expect(runtime.pendingEvents).toBeGreaterThan(0);
    listener.close();
    runtime.runDue();
    expect(accepted).toBe(0);
    expect(client.closeError?.code).toBe("ECONNRESET");
  });
});

describe("faults", () => {
  test("split 'byte': one byte per onData; split N: at most N", async () => {
    const runtime = new MemoryRuntime();
    runtime.setFaults({ port: 80 }, { toServer: { split: "byte" }, toClient: { split: 3 } });
    const accepted: SocketRecorder[] = [];
    await runtime.listen({ address: "127.0.0.1", port: 80 }, (socket) => accepted.push(new SocketRecorder(socket)));
    const client = new SocketRecorder(runtime.connect({ address: "127.0.0.1", port: 80 }));
    client.socket.write(text("hello"));
    runtime.runDue();
    const server = accepted[0]!;
    expect(server.received.map((c) => c.byteLength)).toEqual([1, 1, 1, 1, 1]);
    server.socket.write(text("abcdefgh"));
    runtime.runDue();
    expect(client.received.map((c) => c.byteLength)).toEqual([3, 3, 2]);
    expect(client.text()).toBe("abcdefgh");
  });

  test("split 'random' cuts reads at random sizes that depend only on the seed", async () => {
    const sizes = async (seed: number) => {
      const { runtime, client, server, serverSocket } = await pair({ seed });
      serverSocket.faults = { split: "random" };
      server.socket.write(new Uint8Array(10_000));
      runtime.runDue();
      expect(client.receivedBytes).toBe(10_000);
      return client.received.map((c) => c.byteLength).join(",");
    };
    expect(await sizes(3)).toBe(await sizes(3));
    expect(await sizes(3)).not.toBe(await sizes(4));
    expect((await sizes(3)).split(",").length).toBeGreaterThan(3);
  });

  test("writeWindow: the kernel takes N bytes per turn; bufferedAmount and drain follow", async () => {
    const { runtime, client, server, clientSocket } = await pair({ shuffle: false });
    clientSocket.faults = { writeWindow: 2 };
    client.socket.write(text("abcdefg"));
    expect(client.socket.bufferedAmount).toBe(5); // 2 taken at once
    runtime.runDue();
    expect(server.text()).toBe("abcdefg");
    expect(client.socket.bufferedAmount).toBe(0);
    expect(client.drains).toBe(1);
    expect(server.received.length).toBeGreaterThan(1);
  });

  test("delayMs: bytes arrive that much later, in order, even with random delays", async () => {
    const { runtime, client, server, clientSocket } = await pair();
    clientSocket.faults = { delayMs: 30 };
    client.socket.write(text("late"));
    runtime.advance(29);
    expect(server.receivedBytes).toBe(0);
    runtime.advance(1);
    expect(server.text()).toBe("late");
    clientSocket.faults = { delayMs: [0, 50], writeWindow: 1 };
    client.socket.write(text("0123456789"));
    client.socket.end();
    runtime.advance(1000);
    expect(server.text()).toBe("late0123456789");
    expect(server.ended).toBe(true);
  });

  test("resetAfterBytes: the first N bytes arrive, then both ends get ECONNRESET", async () => {
    const runtime = new MemoryRuntime();
    runtime.setFaults({ port: 80 }, { toServer: { resetAfterBytes: 6 } });
    const accepted: SocketRecorder[] = [];
    await runtime.listen({ address: "127.0.0.1", port: 80 }, (socket) => accepted.push(new SocketRecorder(socket)));
    const client = new SocketRecorder(runtime.connect({ address: "127.0.0.1", port: 80 }));
    client.socket.write(text("abcdef")); // exactly N: fine
    runtime.runDue();
    expect(accepted[0]!.text()).toBe("abcdef");
    expect(client.closeReason).toBeUndefined();
    client.socket.write(text("g")); // one more: the connection is reset
    runtime.runDue();
    expect(accepted[0]!.text()).toBe("abcdef");
    expect([client.closeReason, accepted[0]!.closeReason]).toEqual(["error", "error"]);
    expect(client.closeError?.code).toBe("ECONNRESET");
  });

  test("connect 'blackhole' never completes until closed; 'refuse' and connectDelayMs", async () => {
    const runtime = new MemoryRuntime();
    await runtime.listen({ address: "127.0.0.1", port: 80 }, () => {});
    runtime.setFaults({ port: 80 }, { connect: "blackhole" });
    const hole = new SocketRecorder(runtime.connect({ address: "127.0.0.1", port: 80 }));
    runtime.advance(3_600_000);
    expect(hole.connected).toBe(false);
    expect(hole.closeReason).toBeUndefined();
    hole.socket.close();
    runtime.runDue();
    expect(hole.closeReason).toBe("local");

    runtime.clearFaults();
    runtime.setFaults((info) => (info.remote.port === 80 ? { connect: "refuse" } : undefined));
    const refused = new SocketRecorder(runtime.connect({ address: "127.0.0.1", port: 80 }));
    runtime.runDue();
    expect(refused.closeError?.code).toBe("ECONNREFUSED");

    runtime.clearFaults();
    runtime.setFaults({ address: "127.0.0.1" }, { connectDelayMs: 250 });
    const slow = new SocketRecorder(runtime.connect({ address: "127.0.0.1", port: 80 }));
    runtime.advance(249);
    expect(slow.connected).toBe(false);
    runtime.advance(1);
    expect(slow.connected).toBe(true);
  });

  test("resetFromNetwork: both ends get ECONNRESET", async () => {
    const { runtime, client, server, clientSocket } = await pair();
    clientSocket.resetFromNetwork();
    runtime.runDue();
    expect([client.closeError?.code, server.closeError?.code]).toEqual(["ECONNRESET", "ECONNRESET"]);
  });

  test("a byte-split stream reassembles exactly from the copies a receiver keeps", async () => {
    const { runtime, client, server, serverSocket } = await pair({ seed: 9 });
    serverSocket.faults = { split: "random", writeWindow: 7 };
    const data = new Uint8Array(3000).map((_, i) => (i * 7) & 0xff);
    server.socket.write(data);
    runtime.runDue();
    expect(concat(client.received)).toEqual(data);
  });

  test("reads are lent: bytes kept past onData are poisoned; written on during it, they arrive intact", async () => {
    const { runtime, client, server } = await pair();
    let kept: Uint8Array | undefined;
    client.onData = (lent: Uint8Array) => {
      kept = lent; // wrong: not copied
      client.socket.write(lent); // right: a write during the call (echoed back)
    };
    server.socket.write(Uint8Array.from("hello", (c) => c.charCodeAt(0)));
    runtime.runDue();
    expect([...kept!]).toEqual([POISON, POISON, POISON, POISON, POISON]);
    expect(server.text()).toBe("hello");
  });
});

describe("the rest of the port", () => {
  test("a programmable DNS table: answers by family, TTLs when asked for, failures until the next answer", async () => {
    const runtime = new MemoryRuntime();
    runtime.setDnsAnswer("svc.local", ["10.0.0.1", "fd00::1", "10.0.0.2"], 30);
    expect(await runtime.resolve("SVC.local", "v4")).toEqual([
      { address: "10.0.0.1", family: 4 },
      { address: "10.0.0.2", family: 4 },
    ]);
    expect(await runtime.resolve("svc.local", "v6", { ttl: true })).toEqual([{ address: "fd00::1", family: 6, ttlSeconds: 30 }]);
    runtime.setDnsFailure("svc.local");
    await expect(runtime.resolve("svc.local", "all")).rejects.toMatchObject({ code: "EAI_AGAIN" });
    runtime.setDnsAnswer("svc.local", []);
    expect(await runtime.resolve("svc.local", "all")).toEqual([]);
    expect(runtime.dnsQueries.get("svc.local")).toBe(4);
  });

  test("resolve, the in-memory file system, appends to /dev/stdout, write errors", async () => {
    const runtime = new MemoryRuntime({ hosts: { "backend.local": ["10.0.0.5"] }, files: { "/etc/a.txt": "A" }, directories: ["/var/log"] });
    expect(await runtime.resolve("backend.local", "all")).toEqual([{ address: "10.0.0.5", family: 4 }]);
    expect(await runtime.resolve("10.1.1.1", "all")).toEqual([{ address: "10.1.1.1", family: 4 }]);
    expect(await runtime.resolve("nowhere", "all")).toEqual([]);
    expect(await runtime.readTextFile("/etc/a.txt")).toBe("A");
    await expect(runtime.openAppendFile("/etc")).rejects.toMatchObject({ code: "EISDIR" });
    await expect(runtime.openAppendFile("/nope/x.log")).rejects.toMatchObject({ code: "ENOENT" });
    const log = await runtime.openAppendFile("/var/log/access.log");
    await log.write(text("one\n"));
    await log.write(new Uint8Array([0xc3])); // half a UTF-8 character…
    await log.write(new Uint8Array([0xa9, 0x0a])); // …and the rest
    expect(runtime.files.get("/var/log/access.log")).toBe("one\né\n");
    runtime.setFileError("/var/log/access.log", "ENOSPC");
    await expect(log.write(text("full"))).rejects.toMatchObject({ code: "ENOSPC" });
    await log.close();
    await expect(log.write(text("closed"))).rejects.toMatchObject({ code: "EBADF" });
    const stdout = await runtime.openAppendFile("/dev/stdout");
    await stdout.write(text("to stdout"));
    expect(runtime.stdoutText).toBe("to stdout");
    expect(runtime.memoryUsage()).toBeUndefined();
  });

  test("signals, the log sink and exit", () => {
    const runtime = new MemoryRuntime();
    const got: string[] = [];
    expect(runtime.raise("SIGHUP")).toBe(false);
    runtime.onSignal("SIGHUP", () => got.push("hup"));
    expect(runtime.raise("SIGHUP")).toBe(true);
    expect(got).toEqual([]); // delivered as an event
    runtime.runDue();
    expect(got).toEqual(["hup"]);
    runtime.log.write("line 1\nline 2\n");
    expect(runtime.logLines).toEqual(["line 1", "line 2"]);
    runtime.exit(3);
    runtime.exit(4);
    expect(runtime.exitCode).toBe(3);
    expect(() => new MemoryRuntime({ exitMode: "throw" }).exit(2)).toThrow(ExitCalled);
  });

  test("the trace hook sees socket events", async () => {
    const lines: string[] = [];
    const runtime = new MemoryRuntime({ trace: (line) => lines.push(line) });
    await runtime.listen({ address: "127.0.0.1", port: 80 }, (socket: Socket) => socket.close());
    runtime.connect({ address: "127.0.0.1", port: 80 });
    runtime.runDue();
    expect(lines.join("\n")).toMatch(/S1\(client\) connect 127\.0\.0\.1:80[\s\S]*S2\(server\) close[\s\S]*S1\(client\) FIN received/);
  });
});
