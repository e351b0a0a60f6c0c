/**
 * The few Deno APIs the adapter uses, declared here rather than pulling in Deno's
 * own types, whose globals clash with Bun's and Node's in one type-check.
 */
export interface DenoNetAddr {
  transport: "tcp";
  hostname: string;
  port: number;
}

/** A Unix socket's address (path null for an unnamed peer). */
export interface DenoUnixAddr {
  transport: "unix";
  path: string | null;
}

export interface DenoConn {
  read(buffer: Uint8Array): Promise<number | null>;
  write(data: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  /** Absent on a Unix connection (Deno.UnixConn has no TCP_NODELAY). */
  setNoDelay?(noDelay?: boolean): void;
  /** SO_KEEPALIVE only (Deno.TcpConn); absent on a Unix connection. */
  setKeepAlive?(keepAlive?: boolean): void;
  readonly localAddr: DenoNetAddr | DenoUnixAddr;
  readonly remoteAddr: DenoNetAddr | DenoUnixAddr;
}

export interface DenoListener extends AsyncIterable<DenoConn> {
  readonly addr: DenoNetAddr | DenoUnixAddr;
  accept(): Promise<DenoConn>;
  close(): void;
}

/** A Deno.FsFile or Deno.stdout/stderr: async, possibly short writes. */
export interface DenoWriter {
  write(data: Uint8Array): Promise<number>;
}

export interface DenoFsFile extends DenoWriter {
  close(): void;
}

export type DenoPermissionDescriptor = { name: "read" | "write"; path: string } | { name: "env"; variable: string } | { name: "sys"; kind: "uid" | "networkInterfaces" };

export interface DenoFileInfo {
  isFile: boolean;
  isDirectory: boolean;
  isSymlink: boolean;
  size: number;
  mtime: Date | null;
  /** null off POSIX. */
  uid: number | null;
  mode: number | null;
}

export interface DenoGlobal {
  readonly version: { deno: string };
  readonly args: string[];
  /** reusePort: SO_REUSEPORT, only with --unstable-net (the worker supervisor starts Deno workers with it). */
  listen(options: { hostname: string; port: number; transport: "tcp"; reusePort?: boolean }): DenoListener;
  listen(options: { path: string; transport: "unix" }): DenoListener;
  connect(options: { hostname: string; port: number; transport: "tcp" }): Promise<DenoConn>;
  connect(options: { path: string; transport: "unix" }): Promise<DenoConn>;
  readTextFile(path: string): Promise<string>;
  /** For /sys/devices/system/cpu/online (deno-cpu-count.ts). */
  readTextFileSync(path: string): string;
  networkInterfaces(): { address: string }[];
  /** querySync asks nothing: "granted", "prompt" (Deno would ask) or "denied". */
  readonly permissions: { querySync(descriptor: DenoPermissionDescriptor): { state: "granted" | "prompt" | "denied" } };
  /** For the checked configs' files (deno-checked-config-store.ts). */
  uid(): number | null;
  lstatSync(path: string): DenoFileInfo;
  mkdirSync(path: string, options: { recursive: boolean; mode: number }): void;
  writeTextFileSync(path: string, data: string, options: { mode: number; createNew: boolean }): void;
  renameSync(from: string, to: string): void;
  utimeSync(path: string, atime: Date, mtime: Date): void;
  removeSync(path: string): void;
  chmodSync(path: string, mode: number): void;
  readDirSync(path: string): Iterable<{ name: string }>;
  readFile(path: string): Promise<Uint8Array>;
  readDir(path: string): AsyncIterable<{ name: string; isFile: boolean; isDirectory: boolean; isSymlink: boolean }>;
  stat(path: string): Promise<{ isFile: boolean; isDirectory: boolean; size: number }>;
  open(path: string, options: { write: true; append: true; create: true; mode: number }): Promise<DenoFsFile>;
  addSignalListener(signal: string, handler: () => void): void;
  /** The process's environment; `get` throws without --allow-env. */
  readonly env: { get(name: string): string | undefined };
  readonly pid: number;
  /** The parent's pid, read anew each time (a getter: it changes when the process is reparented). */
  readonly ppid: number;
  kill(pid: number, signal: string): void;
  /** The deno executable, and the program's entry (a file: URL), to start worker processes (--concurrency). */
  execPath(): string;
  readonly mainModule: string;
  readonly stdout: DenoWriter;
  readonly stderr: DenoWriter & { writeSync(data: Uint8Array): number };
  exit(code: number): never;
  memoryUsage(): { rss: number; heapUsed: number; external: number };
  /** A timer that does not keep the process alive. */
  unrefTimer(id: number): void;
}

export const Deno = (globalThis as unknown as { Deno: DenoGlobal }).Deno;
