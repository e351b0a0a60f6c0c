/**
 * The port implemented in memory: in-process sockets on virtual addresses, a virtual
 * clock and a seeded scheduler. No real network, no real time: the same core runs on it
 * unchanged, deterministically, and tests can inject faults that real sockets make hard
 * to provoke. See runtimes/memory/README.md.
 */
import { verifySignature } from "../kit/web-crypto-verify.ts";
import { hmacSha256 } from "../kit/web-crypto-hmac.ts";
import type {
  AppendFile,
  DirectoryEntry,
  Compression,
  ConnectOptions,
  JsonWebPublicKey,
  Listener,
  ListenOptions,
  LogSink,
  PortError,
  ResolvedAddress,
  ResolveFamily,
  ResolveOptions,
  Runtime,
  SignalName,
  Socket,
  SocketAddress,
  TimerHandle,
} from "../../core/port.ts";
import { VERSION } from "../../core/version.ts";
import { matches, mergeFaults, type ConnectionFaults, type ConnectionInfo, type FaultMatcher, type FaultRule } from "./faults.ts";
import { MemorySocket, type SocketNetwork } from "./memory-socket.ts";
import { Prng } from "./prng.ts";
import { storedGzipCompression } from "./stored-gzip.ts";
import { Lane, Scheduler, Task } from "./scheduler.ts";
import { MemoryDatagramNetwork } from "./memory-datagram.ts";

export interface MemoryRuntimeOptions {
  /** Seeds the PRNG that orders same-time events and draws random faults (default 1). */
  seed?: number;
  /** Order same-time events at random (default true); false runs them in scheduling order. */
  shuffle?: boolean;
  /**
   * Drive the scheduler from the real event loop, for code that awaits port events
   * (the port conformance suite): due events run on the next macrotask, and when
   * nothing is due the clock jumps to the next timer. Default false: nothing runs
   * until `advance`/`runDue`/`runUntilIdle`/`settle` is called.
   */
  autoRun?: boolean;
  /** `now()` at start (default 0). */
  startTime?: number;
  /** `wallClock()` at start (default 2026-01-01T00:00:00Z), so log timestamps are replayable too. */
  wallClockStart?: number;
  /** Bytes a socket's kernel buffers for reading, counting bytes in flight to it (default 256 KiB). */
  receiveWindow?: number;
  /** The most one onData delivers (default 64 KiB). */
  maxReadSize?: number;
  /** Faults for every connection (rules added with `setFaults` apply on top). */
  faults?: ConnectionFaults;
  /** The file system `readTextFile` reads and `openAppendFile` appends to: path → content. */
  files?: Record<string, string>;
  /** Directories that exist besides "/" and the parents of `files` (where new files may be created). */
  directories?: string[];
  /** The environment `environmentVariable` reads (default none). */
  env?: Record<string, string>;
  /**
   * How long a `resolve` takes, in virtual ms (default 0: the answer is a settled
   * promise at once). With a delay the answer comes from an event at that time, so a
   * test can act while a query is in flight.
   */
  dnsDelayMs?: number;
  /** Host names `resolve` knows, besides IP literals (default: localhost → 127.0.0.1, ::1); see also `setDnsAnswer`. */
  hosts?: Record<string, string[]>;
  /** What `interfaceAddresses` lists, in order (default none: the core's local address is then 127.0.0.1). */
  interfaceAddresses?: string[];
  /** The source address of outgoing connections (default 127.0.0.1, or ::1 toward IPv6). */
  sourceAddress?: string;
  /** What `exit` does: "record" (default) records the code and returns; "throw" also throws ExitCalled. */
  exitMode?: "record" | "throw";
  /** Also pass log lines here (e.g. to print them while debugging). */
  echoLog?: (text: string) => void;
  /** Receives one line per socket event (connect, close, FIN, RST, faults). */
  trace?: (line: string) => void;
}

/** Thrown by `exit` in exitMode "throw". */
export class ExitCalled extends Error {
  constructor(readonly code: number) {
    super(`exit(${code})`);
    this.name = "ExitCalled";
  }
}

const DEFAULT_WALL_CLOCK = Date.UTC(2026, 0, 1);
const FIRST_EPHEMERAL_PORT = 49152;

class MemoryListener implements Listener {
  closed = false;
  /** Connections the runtime established and the listener has not accepted yet. */
  readonly backlog = new Set<MemorySocket>();

  constructor(
    private readonly runtime: MemoryRuntime,
    readonly address: SocketAddress,
    readonly onAccept: (socket: Socket) => void,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.runtime.unbind(this);
    // Connections still in the accept queue of a closed listening socket are reset.
    for (const socket of this.backlog) socket.reset();
    this.backlog.clear();
  }
}

export class MemoryRuntime implements Runtime, SocketNetwork {
  readonly name = "memory";
  /** Every TcpKeepalive setting is taken (and recorded on the socket: MemorySocket.keepalive). */
  readonly tcpKeepalive = { unsupported: () => undefined };
  readonly version = VERSION;
  readonly scheduler: Scheduler;
  readonly prng: Prng;
  /**
   * Random bytes (request ids) come from a generator of their own, seeded from `seed`,
   * so drawing them does not change the schedule the seed gives.
   */
  private readonly bytePrng: Prng;
  readonly seed: number;
  readonly maxReadSize: number;
  readonly lendBuffer: Uint8Array;
  readonly receiveWindow: number;
  readonly trace: ((line: string) => void) | undefined;
  /** The in-memory file system: path → content (see also `mkdir`). */
  readonly files: Map<string, string>;
  /** The environment `environmentVariable` reads (a test may change it). */
  readonly env: Record<string, string>;
  /** Directories created with `mkdir` (the parents of every file exist too). */
  readonly directories = new Set<string>(["/"]);
  /** Errors `openAppendFile` writes to a path fail with (e.g. "ENOSPC"), set with `setFileError`. */
  readonly fileErrors = new Map<string, string>();
  /** What was appended to "/dev/stdout" and "/dev/stderr". */
  stdoutText = "";
  stderrText = "";
  readonly hosts: Map<string, string[]>;
  /** How many times `resolve` was asked for each name (lower case). */
  readonly dnsQueries = new Map<string, number>();
  private readonly dnsFailures = new Map<string, string>();
  private readonly dnsTtls = new Map<string, number>();
  /** Every socket not yet closed. */
  readonly openSockets = new Set<MemorySocket>();
  /** Every listener not yet closed, by "address port". */
  readonly listeners = new Map<string, MemoryListener>();
  /** Everything written to the log sink, in order. */
  logText = "";
  /** The code of the first `exit` call, once called. */
  exitCode: number | undefined;
  /** Resolves with the code of the first `exit` call. */
  readonly exited: Promise<number>;

  private readonly options: MemoryRuntimeOptions;
  private readonly wallClockStart: number;
  private readonly startTime: number;
  /** Late: deferred callbacks run after the socket events due at the same time (the port's contract). */
  private readonly deferLane = new Lane("defer", true);
  private readonly timerLane = new Lane("timers");
  private readonly dnsLane = new Lane("dns");
  private readonly signalHandlers = new Map<SignalName, (() => void)[]>();
  private readonly faultRules: FaultRule[] = [];
  private nextSocketId = 1;
  private nextPort = FIRST_EPHEMERAL_PORT;
  private autoPumpPending = false;
  private resolveExited!: (code: number) => void;

  constructor(options: MemoryRuntimeOptions = {}) {
    this.options = options;
    this.seed = options.seed ?? 1;
    this.prng = new Prng(this.seed);
    this.bytePrng = new Prng(this.seed ^ 0x5bd1e995);
    this.startTime = options.startTime ?? 0;
    this.scheduler = new Scheduler(this.prng, options.shuffle ?? true, this.startTime);
    this.udp = new MemoryDatagramNetwork(this.scheduler);
    this.wallClockStart = options.wallClockStart ?? DEFAULT_WALL_CLOCK;
    this.maxReadSize = options.maxReadSize ?? 65536;
    this.lendBuffer = new Uint8Array(this.maxReadSize);
    this.receiveWindow = options.receiveWindow ?? 256 * 1024;
    this.trace = options.trace;
    this.files = new Map(Object.entries(options.files ?? {}));
    this.env = { ...options.env };
    for (const dir of options.directories ?? []) this.mkdir(dir);
    this.hosts = new Map(Object.entries(options.hosts ?? { localhost: ["127.0.0.1", "::1"] }));
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    if (options.autoRun) this.scheduler.onSchedule = () => this.requestAutoPump();
  }

  // ================================================================ Runtime: sockets

  listen(options: ListenOptions, onAccept: (socket: Socket) => void): Promise<Listener> {
    if (options.pipe) {
      // A Unix socket: its path replaces whatever listened there (Envoy unlinks the path
      // before its bind: the old socket lives on, unreachable by its name).
      const listener = new MemoryListener(this, { address: options.address, port: 0, family: "unix" }, onAccept);
      this.listeners.set(pipeKey(options.address), listener);
      this.trace?.(`t=${this.now()} listen ${options.address}`);
      return Promise.resolve(listener);
    }
    const address = this.hostAddress(options.address);
    if (address === undefined) return Promise.reject(portError("EADDRNOTAVAIL", `listen EADDRNOTAVAIL: address not available ${options.address}:${options.port}`));
    let port = options.port;
    if (port === 0) {
      do port = this.nextPort++;
      while (this.bindConflict(address, port));
    } else if (this.bindConflict(address, port)) {
      return Promise.reject(portError("EADDRINUSE", `listen EADDRINUSE: address already in use ${address}:${port}`));
    }
    const listener = new MemoryListener(this, { address, port, family: familyOf(address) }, onAccept);
    this.listeners.set(`${address} ${port}`, listener);
    this.trace?.(`t=${this.now()} listen ${address}:${port}`);
    return Promise.resolve(listener);
  }

  connect(options: ConnectOptions): Socket {
    const id = this.nextSocketId++;
    const pipe = options.pipe === true;
    const target = pipe ? options.address : this.hostAddress(options.address) ?? options.address;
    const family = pipe ? "unix" : familyOf(target);
    // A Unix socket's two ends both report its path (Envoy's peerAddress for an unnamed peer).
    const local: SocketAddress = pipe ? { address: target, port: 0, family } : { address: this.options.sourceAddress ?? (family === 6 ? "::1" : "127.0.0.1"), port: this.nextPort++, family };
    const faults = this.faultsFor({ id, remote: { address: target, port: options.port }, local });
    const socket = new MemorySocket(this, id, "client", { ...faults.toServer }, faults.receiveWindow ?? this.receiveWindow);
    if (!pipe) socket.keepalive = options.keepalive;
    this.openSockets.add(socket);
    this.trace?.(`t=${this.now()} S${id}(client) connect ${target}:${options.port}${faults.connect ? ` [${faults.connect}]` : ""}`);
    if (faults.connect === "blackhole") return socket; // never completes; close/reset still work
    const attempt = (): void => {
      socket.connectTask = undefined;
      const listener = faults.connect === "refuse" ? undefined : pipe ? this.listeners.get(pipeKey(target)) : this.findListener(target, options.port);
      if (!listener) {
        socket.fail(portError("ECONNREFUSED", `connect ECONNREFUSED ${target}:${options.port}`));
        return;
      }
      const server = new MemorySocket(this, this.nextSocketId++, "server", { ...faults.toClient }, faults.receiveWindow ?? this.receiveWindow);
      this.openSockets.add(server);
      server.local = { address: target, port: options.port, family };
      server.remote = local;
      socket.local = local;
      socket.remote = server.local;
      socket.established(server);
      listener.backlog.add(server);
      // The client learns it is connected and the server accepts, in either order.
      this.scheduler.schedule(() => socket.connected());
      this.scheduler.schedule(() => {
        if (!listener.backlog.delete(server)) return; // reset with the listener
        if (server.isClosed) return;
        server.accepted();
        listener.onAccept(server);
      });
    };
    socket.connectTask = this.scheduler.schedule(attempt, faults.connectDelayMs ?? 0);
    return socket;
  }

  // ================================================================ Runtime: time

  setTimeout(callback: () => void, ms: number): TimerHandle {
    return this.scheduler.schedule(callback, Number.isFinite(ms) && ms > 0 ? ms : 0, this.timerLane);
  }

  clearTimeout(handle: TimerHandle): void {
    if (handle instanceof Task) this.scheduler.cancel(handle);
  }

  defer(callback: () => void): void {
    this.scheduler.schedule(callback, 0, this.deferLane);
  }

  now(): number {
    return this.scheduler.now;
  }

  wallClock(): number {
    return this.wallClockStart + (this.scheduler.now - this.startTime);
  }

  // ================================================================ Runtime: the rest

  /**
   * Answers from `hosts` (set with `setDnsAnswer`), with the TTLs given there when
   * asked for; a name set with `setDnsFailure` rejects with its code. A name nobody
   * set resolves to no addresses (NXDOMAIN). Every query is counted in `dnsQueries`.
   */
  resolve(host: string, family: ResolveFamily, options?: ResolveOptions): Promise<ResolvedAddress[]> {
    const name = host.toLowerCase();
    this.dnsQueries.set(name, (this.dnsQueries.get(name) ?? 0) + 1);
    const delay = this.options.dnsDelayMs ?? 0;
    if (delay > 0) {
      // The table as it is when the answer arrives, as a resolver's would be.
      return new Promise((resolve, reject) => {
        this.scheduler.schedule(() => this.answerDns(host, family, options).then(resolve, reject), delay, this.dnsLane);
      });
    }
    return this.answerDns(host, family, options);
  }

  private answerDns(host: string, family: ResolveFamily, options: ResolveOptions | undefined): Promise<ResolvedAddress[]> {
    const name = host.toLowerCase();
    const failure = this.dnsFailures.get(name);
    if (failure !== undefined) return Promise.reject(portError(failure, `getaddrinfo ${failure} ${host}`));
    const addresses = isIp(host) ? [host] : (this.hosts.get(name) ?? []);
    const ttl = options?.ttl ? this.dnsTtls.get(name) : undefined;
    const answers: ResolvedAddress[] = [];
    for (const address of addresses) {
      const addressFamily = address.includes(":") ? 6 : 4;
      if ((family === "v4" && addressFamily !== 4) || (family === "v6" && addressFamily !== 6)) continue;
      answers.push(ttl === undefined ? { address, family: addressFamily } : { address, family: addressFamily, ttlSeconds: ttl });
    }
    return Promise.resolve(answers);
  }

  /**
   * Test API: what `resolve` answers for `name` from now on (the addresses in order,
   * both families mixed as a resolver would give them), with a DNS TTL when
   * `ttlSeconds` is set. Clears a failure set with `setDnsFailure`. An empty list is a
   * name without addresses.
   */
  setDnsAnswer(name: string, addresses: readonly string[], ttlSeconds?: number): void {
    const key = name.toLowerCase();
    this.hosts.set(key, [...addresses]);
    this.dnsFailures.delete(key);
    if (ttlSeconds === undefined) this.dnsTtls.delete(key);
    else this.dnsTtls.set(key, ttlSeconds);
  }

  /** Test API: make `resolve` fail for `name` with `code` (getaddrinfo's EAI_AGAIN: a temporary failure) until the next `setDnsAnswer`. */
  setDnsFailure(name: string, code = "EAI_AGAIN"): void {
    this.dnsFailures.set(name.toLowerCase(), code);
  }

  /** Modules `importModule` gives, by path (a test's user filter modules): set them with `setModule`. */
  private readonly modules = new Map<string, unknown>();

  /** Test API: what `importModule(path)` resolves to. */
  setModule(path: string, namespace: unknown): void {
    this.modules.set(path, namespace);
  }

  importModule(path: string): Promise<unknown> {
    if (!this.modules.has(path)) return Promise.reject(new Error(`Cannot find module '${path}'`));
    return Promise.resolve(this.modules.get(path));
  }

  /** The host's WebCrypto, as the adapters do (runtimes/kit/web-crypto-verify.ts): signatures are deterministic to verify. */
  verifySignature(jwk: JsonWebPublicKey, alg: string, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    return verifySignature(jwk, alg, data, signature);
  }

  /** The host's WebCrypto too (runtimes/kit/web-crypto-hmac.ts): an HMAC is deterministic. */
  hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
    return hmacSha256(key, data);
  }

  readTextFile(path: string): Promise<string> {
    const content = this.files.get(path);
    if (content === undefined) return Promise.reject(portError("ENOENT", `ENOENT: no such file or directory, open '${path}'`));
    return Promise.resolve(content);
  }

  fileSize(path: string): Promise<number> {
    const content = this.files.get(path);
    if (content === undefined) return Promise.reject(portError("ENOENT", `ENOENT: no such file or directory, stat '${path}'`));
    return Promise.resolve(new TextEncoder().encode(content).length);
  }

  readDirectory(path: string): Promise<DirectoryEntry[]> {
    if (!this.isDirectory(path)) {
      const code = this.files.has(path) ? "ENOTDIR" : "ENOENT";
      return Promise.reject(portError(code, `${code}: cannot read directory '${path}'`));
    }
    const dir = normalizeDir(path);
    const prefix = dir === "/" ? "/" : `${dir}/`;
    const entries = new Map<string, DirectoryEntry>();
    for (const name of [...this.files.keys(), ...this.directories]) {
      if (!name.startsWith(prefix) || name === prefix) continue;
      const child = name.slice(prefix.length).split("/")[0]!;
      const full = `${prefix}${child}`;
      entries.set(child, { name: child, type: this.files.has(full) ? "file" : "directory" });
    }
    return Promise.resolve([...entries.values()]);
  }

  openAppendFile(path: string): Promise<AppendFile> {
    if (path !== "/dev/stdout" && path !== "/dev/stderr") {
      if (this.isDirectory(path)) return Promise.reject(portError("EISDIR", `EISDIR: illegal operation on a directory, open '${path}'`));
      if (!this.isDirectory(parentOf(path))) return Promise.reject(portError("ENOENT", `ENOENT: no such file or directory, open '${path}'`));
      if (!this.files.has(path)) this.files.set(path, "");
    }
    return Promise.resolve(new MemoryAppendFile(this, path));
  }

  onSignal(signal: SignalName, callback: () => void): void {
    let handlers = this.signalHandlers.get(signal);
    if (!handlers) this.signalHandlers.set(signal, (handlers = []));
    handlers.push(callback);
  }

  readonly log: LogSink = {
    write: (text: string): void => {
      this.logText += text;
      this.options.echoLog?.(text);
    },
  };

  exit(code: number): never {
    if (this.exitCode === undefined) {
      this.exitCode = code;
      this.resolveExited(code);
    }
    this.trace?.(`t=${this.now()} exit(${code})`);
    if (this.options.exitMode === "throw") throw new ExitCalled(code);
    return undefined as never;
  }

  memoryUsage(): number | undefined {
    return undefined;
  }

  /** UDP sockets between those bound on this runtime (memory-datagram.ts). */
  readonly udp: MemoryDatagramNetwork;

  /** Stored-block gzip, no brotli (stored-gzip.ts); a test may put another in its place. */
  compression: Compression = storedGzipCompression;

  /** Heap in use, as a test sets it (`heapBytes`): the overload manager's fixed_heap reads it. */
  heapBytes = 0;

  heapUsage(): number {
    return this.heapBytes;
  }

  /** shrink_heap's call: none (as on Deno), unless a test puts one here. */
  releaseFreeMemory: (() => void) | undefined = undefined;

  // ================================================================ test API: driving time

  /** Run everything due up to `ms` virtual ms from now, in order; the clock ends `ms` later. Returns the events run. */
  advance(ms: number): number {
    const target = this.scheduler.now + Math.max(0, ms);
    const ran = this.scheduler.runUntil(target);
    this.scheduler.now = target;
    return ran;
  }

  /** Run everything due now (including what that schedules for now), without moving the clock. */
  runDue(): number {
    return this.scheduler.runUntil(this.scheduler.now);
  }

  /** Run the next event only (moving the clock to it); false when nothing is scheduled. */
  step(): boolean {
    return this.scheduler.runNext();
  }

  /**
   * Run every scheduled event, moving the clock from one to the next, until nothing is
   * left (however far in virtual time that is: idle timeouts of an hour fire too).
   * Throws after `maxSteps` events, in case something reschedules itself forever.
   */
  runUntilIdle(maxSteps = 50_000_000): number {
    return this.scheduler.runUntil(Number.POSITIVE_INFINITY, maxSteps);
  }

  /**
   * For code that awaits (promises resolved by port events): run what is due, let the
   * real event loop run promise continuations, and repeat until nothing more is due;
   * then likewise for each event up to `ms` virtual ms ahead. The clock ends `ms` later.
   */
  async settle(ms = 0): Promise<void> {
    const target = this.scheduler.now + Math.max(0, ms);
    for (;;) {
      this.scheduler.runUntil(this.scheduler.now);
      await macrotask();
      const next = this.scheduler.nextAt();
      if (next === undefined || next > target) break;
      if (next > this.scheduler.now) this.scheduler.now = next;
    }
    if (target > this.scheduler.now) this.scheduler.now = target;
  }

  /** Events scheduled and not yet run (timers, deferred callbacks, socket events). */
  get pendingEvents(): number {
    return this.scheduler.pending;
  }

  /** Timers set and neither fired nor cleared. */
  get pendingTimers(): number {
    return this.timerLane.live;
  }

  // ================================================================ test API: randomness, faults, signals, logs

  /** A float in [0, 1) from the runtime's seeded PRNG. */
  environmentVariable(name: string): string | undefined {
    return Object.hasOwn(this.env, name) ? this.env[name] : undefined;
  }

  random(): number {
    return this.prng.random();
  }

  /** Random bytes from the runtime's seeded generator: the same seed, the same bytes. */
  randomBytes(into: Uint8Array): void {
    this.bytePrng.fill(into);
  }

  /** One CPU: the memory runtime runs no worker processes, so --concurrency's default is one process. */
  cpuCount(): number {
    return 1;
  }

  interfaceAddresses(): readonly string[] {
    return this.options.interfaceAddresses ?? [];
  }

  /**
   * Faults for connections opened from now on: to a destination (`{ port: 8080 }`,
   * `{ address, port }`), or to whatever a predicate accepts. Later rules override
   * earlier ones field by field. Pass a function instead to decide per connection.
   */
  setFaults(match: FaultMatcher, faults: ConnectionFaults): void;
  setFaults(rule: FaultRule): void;
  setFaults(match: FaultMatcher | FaultRule, faults?: ConnectionFaults): void {
    if (faults === undefined) this.faultRules.push(match as FaultRule);
    else this.faultRules.push((info) => (matches(match as FaultMatcher, info) ? faults : undefined));
  }

  clearFaults(): void {
    this.faultRules.length = 0;
  }

  /** The faults a connection opened now would get. */
  faultsFor(info: ConnectionInfo): ConnectionFaults {
    return mergeFaults(this.options.faults, ...this.faultRules.map((rule) => rule(info)));
  }

  /** Deliver a signal: its handlers run as one event (returns false when nothing handles it). */
  raise(signal: SignalName): boolean {
    const handlers = this.signalHandlers.get(signal);
    if (!handlers?.length) return false;
    this.scheduler.schedule(() => {
      for (const handler of [...handlers]) handler();
    });
    return true;
  }

  /** The log as lines (without their newlines). */
  get logLines(): string[] {
    const lines = this.logText.split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    return lines;
  }

  /** Create a directory (and its parents) in the in-memory file system. */
  mkdir(path: string): void {
    for (let dir = normalizeDir(path); dir !== "/" && !this.directories.has(dir); dir = parentOf(dir)) this.directories.add(dir);
  }

  /** Make appends to `path` fail with `code` (e.g. "ENOSPC"); undefined clears it. */
  setFileError(path: string, code: string | undefined): void {
    if (code === undefined) this.fileErrors.delete(path);
    else this.fileErrors.set(path, code);
  }

  isDirectory(path: string): boolean {
    const dir = normalizeDir(path);
    if (this.directories.has(dir)) return true;
    const prefix = dir === "/" ? "/" : `${dir}/`;
    for (const file of this.files.keys()) if (file.startsWith(prefix)) return true;
    return false;
  }

  // ================================================================ internals

  /** @internal Append to a file (or to the collected stdout/stderr). */
  appendText(path: string, text: string): void {
    if (path === "/dev/stdout") this.stdoutText += text;
    else if (path === "/dev/stderr") this.stderrText += text;
    else this.files.set(path, (this.files.get(path) ?? "") + text);
  }

  /** @internal */
  socketClosed(socket: MemorySocket): void {
    this.openSockets.delete(socket);
  }

  /** @internal */
  unbind(listener: MemoryListener): void {
    const key = listener.address.family === "unix" ? pipeKey(listener.address.address) : `${listener.address.address} ${listener.address.port}`;
    // A Unix path another listener has since taken stays that one's.
    if (this.listeners.get(key) === listener) this.listeners.delete(key);
  }

  private hostAddress(address: string): string | undefined {
    if (isIp(address)) return address;
    return this.hosts.get(address.toLowerCase())?.[0];
  }

  /** Linux semantics: a wildcard bind conflicts with any bind of the same port (and vice versa). */
  private bindConflict(address: string, port: number): boolean {
    for (const listener of this.listeners.values()) {
      if (listener.address.port !== port) continue;
      const other = listener.address.address;
      if (other === address || isWildcard(other) || isWildcard(address)) return true;
    }
    return false;
  }

  private findListener(address: string, port: number): MemoryListener | undefined {
    const exact = this.listeners.get(`${address} ${port}`);
    if (exact) return exact;
    const wildcard = familyOf(address) === 6 ? ["::"] : ["0.0.0.0", "::"];
    for (const w of wildcard) {
      const listener = this.listeners.get(`${w} ${port}`);
      if (listener) return listener;
    }
    return undefined;
  }

  private requestAutoPump(): void {
    if (this.autoPumpPending) return;
    this.autoPumpPending = true;
    schedule(() => this.autoPump());
  }

  private autoPump(): void {
    this.autoPumpPending = false;
    const scheduler = this.scheduler;
    let ran = scheduler.runUntil(scheduler.now);
    if (ran === 0) {
      // Nothing due: jump to the next timer.
      const next = scheduler.nextAt();
      if (next !== undefined) ran = scheduler.runUntil(next);
    }
    if (scheduler.pending > 0) this.requestAutoPump();
  }
}

/** A file of the in-memory file system opened for appending: each write lands at once, in order. */
class MemoryAppendFile implements AppendFile {
  private closed = false;
  private readonly decoder = new TextDecoder("utf-8");

  constructor(
    private readonly runtime: MemoryRuntime,
    readonly path: string,
  ) {}

  write(data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(portError("EBADF", "EBADF: bad file descriptor, write"));
    const code = this.runtime.fileErrors.get(this.path);
    if (code) return Promise.reject(portError(code, `${code}: write failed, write '${this.path}'`));
    this.runtime.appendText(this.path, this.decoder.decode(data, { stream: true }));
    return Promise.resolve();
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      const rest = this.decoder.decode();
      if (rest) this.runtime.appendText(this.path, rest);
    }
    return Promise.resolve();
  }
}

function normalizeDir(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed === "" ? "/" : trimmed;
}

function parentOf(path: string): string {
  const dir = normalizeDir(path);
  const at = dir.lastIndexOf("/");
  return at <= 0 ? "/" : dir.slice(0, at);
}

function portError(code: string, message: string): PortError {
  return { code, message };
}

function pipeKey(path: string): string {
  return `unix ${path}`;
}

function familyOf(address: string): 4 | 6 {
  return address.includes(":") ? 6 : 4;
}

function isWildcard(address: string): boolean {
  return address === "0.0.0.0" || address === "::";
}

function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || (host.includes(":") && /^[0-9a-fA-F:.]+$/.test(host));
}

const schedule: (fn: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
    ? (fn) => void (globalThis as unknown as { setImmediate: (fn: () => void) => unknown }).setImmediate(fn)
    : (fn) => void setTimeout(fn, 0);

function macrotask(): Promise<void> {
  return new Promise((resolve) => schedule(resolve));
}
