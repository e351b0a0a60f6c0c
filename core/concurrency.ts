import { MAX_CONCURRENCY, type CommandLine } from "./cli.ts";
import type { Runtime } from "./port.ts";

/**
 * How many workers this run has (Envoy's OptionsImpl: source/server/options_impl.cc).
 * --concurrency N as given (0 already made 1, as Envoy's); unset, one per hardware thread
 * (Envoy's std::thread::hardware_concurrency()), or with --cpuset-threads one per CPU this
 * process may run on (Envoy's OptionsImplPlatform::getCpuCount). A runtime that cannot run
 * worker processes, or does not say how many CPUs there are, runs one. A worker takes the
 * count its supervisor gave it, whatever it would count itself.
 */
export function resolveConcurrency(commandLine: CommandLine, runtime: Runtime, warn: (message: string) => void): number {
  const worker = runtime.workers?.worker;
  if (worker !== undefined) return worker.count;
  if (commandLine.concurrency !== undefined) {
    if (commandLine.cpusetThreads === true) warn("Both --concurrency and --cpuset-threads options are set; not applying --cpuset-threads.");
    return commandLine.concurrency;
  }
  if (runtime.workers === undefined || runtime.cpuCount === undefined) return 1;
  const count = Math.floor(runtime.cpuCount(commandLine.cpusetThreads === true ? "cpuset" : "hardware"));
  return Number.isSafeInteger(count) ? Math.min(Math.max(1, count), MAX_CONCURRENCY) : 1;
}

/**
 * Why a listener with enable_reuse_port: false cannot run across these workers, or
 * undefined when it can: Envoy then gives every worker the one socket (the first worker's,
 * duplicated: ListenSocketFactoryImpl), which only workers that can share a socket have.
 */
export function sharedSocketRefusal(runtime: Runtime): string | undefined {
  if (runtime.workers?.sharing === "one-socket") return undefined;
  return `enable_reuse_port: false needs one listening socket shared by every worker, and ${runtime.name}'s workers are processes that each bind their own (SO_REUSEPORT): use enable_reuse_port: true or --concurrency 1`;
}
