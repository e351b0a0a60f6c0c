import { describe, expect, test } from "vitest";
import { Connection } from "../../../core/network/connection.ts";
import { NetworkFilterManager } from "../../../core/network/filter-manager.ts";
import { FilterStatus, type ReadFilter, type ReadFilterCallbacks } from "../../../core/network/filter.ts";
import type { ReadBuffer } from "../../../core/network/read-buffer.ts";
import { bytes, FakeSocket, text } from "../../support/fake-socket.ts";

/** A read filter that logs its calls to a shared list and returns what it is told to. */
class TestFilter implements ReadFilter {
  callbacks: ReadFilterCallbacks | undefined;
  newConnectionStatus: FilterStatus = FilterStatus.Continue;
  dataStatus: FilterStatus = FilterStatus.Continue;

  constructor(
    readonly name: string,
    private readonly log: string[],
  ) {}

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    this.callbacks = callbacks;
    this.log.push(`${this.name}.init`);
  }
  onNewConnection(): FilterStatus {
    this.log.push(`${this.name}.new`);
    return this.newConnectionStatus;
  }
  /** Whether onData consumes (drains) what it sees; setup() makes the last filter drain, as a terminal filter does. */
  drains = false;

  onData(buffer: ReadBuffer, endStream: boolean): FilterStatus {
    this.log.push(`${this.name}.data(${text(buffer.toBytes())}${endStream ? ",end" : ""})`);
    if (this.drains) buffer.drainAll();
    return this.dataStatus;
  }
}

function setup(names: string[]): { socket: FakeSocket; connection: Connection; manager: NetworkFilterManager; filters: TestFilter[]; log: string[] } {
  const socket = new FakeSocket();
  const connection = new Connection(socket, 0);
  const manager = new NetworkFilterManager(connection);
  const log: string[] = [];
  const filters = names.map((name) => new TestFilter(name, log));
  if (filters.length > 0) filters[filters.length - 1]!.drains = true;
  return { socket, connection, manager, filters, log };
}

function addAll(manager: NetworkFilterManager, filters: TestFilter[]): void {
  for (const filter of filters) manager.addReadFilter(filter);
}

describe("NetworkFilterManager", () => {
  test("initializeReadFilters returns false with no filters", () => {
    const { manager } = setup([]);
    expect(manager.initializeReadFilters()).toBe(false);
  });

  test("addReadFilter hands each filter callbacks bound to the connection", () => {
    const { manager, connection, filters, log } = setup(["a", "b"]);
    addAll(manager, filters);
    expect(log).toEqual(["a.init", "b.init"]);
    expect(filters[0]!.callbacks!.connection).toBe(connection);
    expect(filters[1]!.callbacks!.connection).toBe(connection);
  });

  test("onNewConnection runs in order, once, and initializeReadFilters returns true", () => {
    const { manager, filters, log } = setup(["a", "b", "c"]);
    addAll(manager, filters);
    log.length = 0;
    expect(manager.initializeReadFilters()).toBe(true);
    expect(log).toEqual(["a.new", "b.new", "c.new"]);
    filters[1]!.callbacks!.continueReading(); // nothing left to initialize
    expect(log).toEqual(["a.new", "b.new", "c.new"]);
  });

  test("the manager becomes the connection's read sink: socket data flows through the filters", () => {
    const { socket, manager, filters, log } = setup(["a", "b"]);
    addAll(manager, filters);
    manager.initializeReadFilters();
    log.length = 0;
    socket.handler!.onData(bytes("hi"));
    socket.handler!.onEnd();
    expect(log).toEqual(["a.data(hi)", "b.data(hi)", "a.data(,end)", "b.data(,end)"]);
  });

  // Envoy's FilterManagerImpl::onContinueReading semantics: the read buffer is shared; a filter
  // drains what it consumes; a stop leaves the rest for the next filter once iteration continues.
  test("onData goes through filters in order until one stops; what it leaves undrained is presented again", () => {
    const { manager, filters, log } = setup(["a", "b", "c"]);
    addAll(manager, filters);
    filters[1]!.dataStatus = FilterStatus.StopIteration;
    manager.initializeReadFilters();
    log.length = 0;
    manager.onData(bytes("x"), false);
    manager.onData(bytes("y"), true);
    expect(log).toEqual(["a.data(x)", "b.data(x)", "a.data(xy,end)", "b.data(xy,end)"]);
  });

  test("a stop at onNewConnection holds later filters until data flows past it or it continues", () => {
    const { manager, filters, log } = setup(["a", "b", "c"]);
    addAll(manager, filters);
    filters[0]!.newConnectionStatus = FilterStatus.StopIteration;
    filters[0]!.dataStatus = FilterStatus.StopIteration;
    log.length = 0;
    manager.initializeReadFilters();
    manager.onData(bytes("early"), false);
    expect(log).toEqual(["a.new", "a.data(early)"]);
    log.length = 0;
    filters[0]!.callbacks!.continueReading();
    // b and c are initialized and get the bytes a left in the buffer; c (terminal) drains them.
    expect(log).toEqual(["b.new", "b.data(early)", "c.new", "c.data(early)"]);
    log.length = 0;
    filters[0]!.dataStatus = FilterStatus.Continue;
    manager.onData(bytes("late"), false);
    expect(log).toEqual(["a.data(late)", "b.data(late)", "c.data(late)"]);
  });

  test("a filter that stopped at onNewConnection but continues onData lets the chain initialize past it", () => {
    const { manager, filters, log } = setup(["a", "b"]);
    addAll(manager, filters);
    filters[0]!.newConnectionStatus = FilterStatus.StopIteration;
    log.length = 0;
    manager.initializeReadFilters();
    manager.onData(bytes("x"), false);
    expect(log).toEqual(["a.new", "a.data(x)", "b.new", "b.data(x)"]);
  });

  test("data that arrived while the chain was held reaches the held-back filter after continueReading", () => {
    const { manager, filters, log } = setup(["a", "b"]);
    addAll(manager, filters);
    filters[0]!.newConnectionStatus = FilterStatus.StopIteration;
    filters[0]!.dataStatus = FilterStatus.StopIteration;
    manager.initializeReadFilters();
    manager.onData(bytes("early"), false);
    log.length = 0;
    filters[0]!.callbacks!.continueReading();
    expect(log).toEqual(["b.new", "b.data(early)"]);
  });

  test("a filter may continueReading synchronously from inside onNewConnection", () => {
    const { manager, filters, log } = setup(["a", "b", "c"]);
    const a = filters[0]!;
    a.onNewConnection = () => {
      log.push("a.new");
      a.callbacks!.continueReading();
      return FilterStatus.StopIteration;
    };
    addAll(manager, filters);
    log.length = 0;
    manager.initializeReadFilters();
    expect(log).toEqual(["a.new", "b.new", "c.new"]);
  });

  test("continueReading twice does not rerun onNewConnection", () => {
    const { manager, filters, log } = setup(["a", "b"]);
    addAll(manager, filters);
    filters[0]!.newConnectionStatus = FilterStatus.StopIteration;
    log.length = 0;
    manager.initializeReadFilters();
    filters[0]!.callbacks!.continueReading();
    filters[0]!.callbacks!.continueReading();
    expect(log).toEqual(["a.new", "b.new"]);
  });

  // Envoy's ReadFilterCallbacks::continueReading: "The next filter will be called with all currently
  // available data in the read buffer": bytes a later filter did not get yet are not lost.
  test("continueReading after a StopIteration from onData passes the stopped data on", () => {
    const { manager, filters, log } = setup(["a", "b"]);
    addAll(manager, filters);
    filters[0]!.dataStatus = FilterStatus.StopIteration;
    manager.initializeReadFilters();
    manager.onData(bytes("x"), false);
    log.length = 0;
    filters[0]!.callbacks!.continueReading();
    expect(log).toEqual(["b.data(x)"]);
  });

  // port.ts: onData's bytes are lent for the call; the socket may read the next ones into
  // the same memory (node and deno do). What a stopped filter left must survive it.
  test("bytes a filter left undrained are copied before the read returns: reusing the socket's memory does not change them", () => {
    const { socket, manager, filters, log } = setup(["a", "b"]);
    addAll(manager, filters);
    filters[0]!.dataStatus = FilterStatus.StopIteration;
    manager.initializeReadFilters();
    const lent = bytes("first");
    socket.handler!.onData(lent);
    lent.fill(0x21); // the adapter reads the next bytes into the same buffer
    socket.handler!.onData(lent.subarray(0, 2).fill(0x79)); // "yy"
    log.length = 0;
    filters[0]!.dataStatus = FilterStatus.Continue;
    filters[0]!.callbacks!.continueReading();
    expect(log).toEqual(["b.data(firstyy)"]);
  });
});
