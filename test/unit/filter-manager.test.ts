import { describe, expect, test } from "vitest";
import { Connection } from "../../core/network/connection.ts";
import { NetworkFilterManager } from "../../core/network/filter-manager.ts";
import { FilterStatus, type ReadFilter, type ReadFilterCallbacks } from "../../core/network/filter.ts";
import { bytes, FakeSocket, text } from "./fake-socket.ts";

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
  onData(data: Uint8Array, endStream: boolean): FilterStatus {
    this.log.push(`${this.name}.data(${text(data)}${endStream ? ",end" : ""})`);
    return this.dataStatus;
  }
}

function setup(names: string[]): { socket: FakeSocket; connection: Connection; manager: NetworkFilterManager; filters: TestFilter[]; log: string[] } {
  const socket = new FakeSocket();
  const connection = new Connection(socket, 0);
  const manager = new NetworkFilterManager(connection);
  const log: string[] = [];
  const filters = names.map((name) => new TestFilter(name, log));
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

  test("onData goes through filters in order until one returns StopIteration", () => {
    const { manager, filters, log } = setup(["a", "b", "c"]);
    addAll(manager, filters);
    filters[1]!.dataStatus = FilterStatus.StopIteration;
    manager.initializeReadFilters();
    log.length = 0;
    manager.onData(bytes("x"), false);
    manager.onData(bytes("y"), true);
    expect(log).toEqual(["a.data(x)", "b.data(x)", "a.data(y,end)", "b.data(y,end)"]);
  });

  test("StopIteration from onNewConnection holds back later filters' onNewConnection and onData until continueReading", () => {
    const { manager, filters, log } = setup(["a", "b", "c"]);
    addAll(manager, filters);
    filters[1]!.newConnectionStatus = FilterStatus.StopIteration;
    log.length = 0;
    expect(manager.initializeReadFilters()).toBe(true);
    expect(log).toEqual(["a.new", "b.new"]);

    // While held: the filters already initialized see the data, the held-back one does not.
    manager.onData(bytes("early"), false);
    expect(log).toEqual(["a.new", "b.new", "a.data(early)", "b.data(early)"]);

    log.length = 0;
    filters[1]!.callbacks!.continueReading();
    expect(log).toEqual(["c.new"]);

    log.length = 0;
    manager.onData(bytes("late"), false);
    expect(log).toEqual(["a.data(late)", "b.data(late)", "c.data(late)"]);
  });

  test("a stop at the first filter holds back every later filter", () => {
    const { manager, filters, log } = setup(["a", "b"]);
    addAll(manager, filters);
    filters[0]!.newConnectionStatus = FilterStatus.StopIteration;
    log.length = 0;
    manager.initializeReadFilters();
    manager.onData(bytes("x"), false);
    expect(log).toEqual(["a.new", "a.data(x)"]);
  });

  test("continueReading resumes at the filter after the caller, which may stop the chain again", () => {
    const { manager, filters, log } = setup(["a", "b", "c", "d"]);
    addAll(manager, filters);
    filters[0]!.newConnectionStatus = FilterStatus.StopIteration;
    filters[2]!.newConnectionStatus = FilterStatus.StopIteration;
    log.length = 0;
    manager.initializeReadFilters();
    expect(log).toEqual(["a.new"]);
    filters[0]!.callbacks!.continueReading();
    expect(log).toEqual(["a.new", "b.new", "c.new"]);
    manager.onData(bytes("x"), false);
    expect(log.slice(3)).toEqual(["a.data(x)", "b.data(x)", "c.data(x)"]);
    filters[2]!.callbacks!.continueReading();
    expect(log.slice(6)).toEqual(["d.new"]);
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

  // KNOWN BUG, pinned with test.fails (turn each back into `test` once fixed).
  // Envoy's ReadFilterCallbacks::continueReading: "The next filter will be called with all currently
  // available data in the read buffer". This manager keeps no read buffer, so bytes a later filter
  // did not get (held back at onNewConnection, or stopped by an earlier filter's onData) are lost.
  test.fails("BUG: data that arrived while the chain was held reaches the held-back filter after continueReading", () => {
    const { manager, filters, log } = setup(["a", "b"]);
    addAll(manager, filters);
    filters[0]!.newConnectionStatus = FilterStatus.StopIteration;
    manager.initializeReadFilters();
    manager.onData(bytes("early"), false);
    log.length = 0;
    filters[0]!.callbacks!.continueReading();
    expect(log).toEqual(["b.new", "b.data(early)"]);
  });

  test.fails("BUG: continueReading after a StopIteration from onData passes the stopped data on", () => {
    const { manager, filters, log } = setup(["a", "b"]);
    addAll(manager, filters);
    filters[0]!.dataStatus = FilterStatus.StopIteration;
    manager.initializeReadFilters();
    manager.onData(bytes("x"), false);
    log.length = 0;
    filters[0]!.callbacks!.continueReading();
    expect(log).toEqual(["b.data(x)"]);
  });
});
