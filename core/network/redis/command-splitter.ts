import type { Runtime } from "../../port.ts";
import type { RedisConnPool } from "./redis-conn-pool.ts";
import type { RedisPoolRequest, RedisRequestCallbacks } from "./redis-client.ts";
import type { RedisProxyStats } from "./redis-proxy-stats.ts";
import type { RedisRouter } from "./redis-router.ts";
import type { RedisTransaction, RedisTransactionClient } from "./redis-transaction.ts";
import { byteString, byteStringToBytes, respArray, respBulk, respBulkText, respError, respInteger, respSimple, RESP_NULL, type RespValue } from "./resp-value.ts";
import { EVAL_COMMANDS, ROUTED_COMMANDS, SIMPLE_COMMANDS, SUM_RESULT_COMMANDS, TRANSACTION_COMMANDS } from "./supported-commands.ts";
import { CommandTiming, RedisResponse, SingleServerRequest, wrongNumberOfArguments, type SplitCallbacks, type SplitRequest } from "./split-request.ts";
import { transactionRequest, type TransactionRouting } from "./transaction-request.ts";

/**
 * The longest command name looked at: longer than any Redis command (georadiusbymember_ro is
 * 20), so a name past it is unsupported without being made into a string first.
 */
const MAX_COMMAND_NAME_BYTES = 64;

/**
 * Keys (MGET, DEL, EXISTS, TOUCH, UNLINK) or key-value pairs (MSET) one request may fan out
 * to: each is an upstream request of its own. Envoy has no bound; past it polyvoy answers an
 * error instead of queueing thousands of requests on shared upstream connections.
 */
export const MAX_FRAGMENTS_PER_REQUEST = 16 * 1024;

/**
 * Envoy's CommandSplitter::InstanceImpl (redis_proxy/command_splitter_impl.cc): checks a
 * request, answers PING, ECHO, TIME, AUTH and QUIT itself, sends a one-key command whole to
 * its key's host, and splits MGET, MSET and DEL/EXISTS/TOUCH/UNLINK into one request per key,
 * joining the replies as Envoy does; MULTI…EXEC goes to transaction-request.ts.
 */
export class CommandSplitter implements TransactionRouting {
  constructor(
    private readonly router: RedisRouter,
    private readonly pools: ReadonlyMap<string, RedisConnPool>,
    private readonly stats: RedisProxyStats,
    private readonly runtime: Runtime,
    private readonly latencyInMicros: boolean,
  ) {
    // Every command with a handler has its command.<cmd>.* stats from the start, listed by
    // the admin before first use (Envoy's InstanceImpl constructor, addHandler per command).
    for (const name of ROUTED_COMMANDS) stats.command(name);
  }

  makeRequest(request: RespValue, callbacks: SplitCallbacks): SplitRequest | undefined {
    if (request.type !== "array" || request.value.length === 0) return this.onInvalidRequest(callbacks);
    const args: Uint8Array[] = [];
    for (const value of request.value) {
      if (value.type !== "bulk") return this.onInvalidRequest(callbacks);
      args.push(value.value);
    }
    if (args[0]!.byteLength > MAX_COMMAND_NAME_BYTES) {
      this.stats.unsupportedCommand.inc();
      callbacks.onResponse(respError(`unsupported command '${byteString(args[0]!.subarray(0, MAX_COMMAND_NAME_BYTES))}...'`));
      return undefined;
    }
    const commandName = byteString(args[0]!);
    const command = commandName.toLowerCase();
    if (command === "auth") {
      if (args.length < 2) return this.onInvalidRequest(callbacks);
      if (args.length === 3) callbacks.onAuth(byteString(args[2]!), byteString(args[1]!));
      else callbacks.onAuth(byteString(args[1]!));
      return undefined;
    }
    if (!callbacks.connectionAllowed()) {
      callbacks.onResponse(respError(RedisResponse.AuthRequiredError));
      return undefined;
    }
    switch (command) {
      case "ping":
        callbacks.onResponse(respSimple("PONG"));
        return undefined;
      case "echo":
        if (args.length !== 2) return this.onInvalidRequest(callbacks);
        callbacks.onResponse(respBulk(args[1]!));
        return undefined;
      case "time": {
        // As Envoy's: the seconds, then the time since the epoch in microseconds (not Redis's
        // microseconds within the second).
        const ms = this.runtime.wallClock();
        callbacks.onResponse(respArray([respBulkText(String(Math.floor(ms / 1000))), respBulkText(String(Math.floor(ms * 1000)))]));
        return undefined;
      }
      case "quit":
        callbacks.onQuit();
        return undefined;
    }
    // Every other command has at least a key, but for a transaction's.
    if (args.length < 2 && !TRANSACTION_COMMANDS.has(command)) return this.onInvalidRequest(callbacks);
    let kind: "simple" | "eval" | "sum" | "mget" | "mset" | "transaction";
    if (SIMPLE_COMMANDS.has(command)) kind = "simple";
    else if (EVAL_COMMANDS.has(command)) kind = "eval";
    else if (SUM_RESULT_COMMANDS.has(command)) kind = "sum";
    else if (command === "mget" || command === "mset") kind = command;
    else if (TRANSACTION_COMMANDS.has(command)) kind = "transaction";
    else {
      this.stats.unsupportedCommand.inc();
      callbacks.onResponse(respError(`unsupported command '${commandName}'`));
      return undefined;
    }
    // Inside MULTI every command is the transaction's, counted as `multi` (Envoy's
    // InstanceImpl::makeRequest looks up the "multi" handler, and its stats, then).
    const transaction = callbacks.transaction();
    if (transaction.active) kind = "transaction";
    const stats = this.stats.command(transaction.active ? "multi" : command);
    stats.total.inc();
    const fragments = kind === "mset" ? Math.floor((args.length - 1) / 2) : args.length - 1;
    if ((kind === "mget" || kind === "mset" || kind === "sum") && fragments > MAX_FRAGMENTS_PER_REQUEST) {
      stats.error.inc();
      callbacks.onResponse(respError(`too many keys for '${commandName}' command: ${fragments}, at most ${MAX_FRAGMENTS_PER_REQUEST}`));
      return undefined;
    }
    const timing = new CommandTiming(stats, this.runtime, this.latencyInMicros);
    switch (kind) {
      case "simple":
        return this.single(args, 1, timing, callbacks);
      case "eval":
        if (args.length < 4) return wrongNumberOfArguments(commandName, stats, callbacks);
        return this.single(args, 3, timing, callbacks);
      case "mget":
        return new MgetRequest(this, args, timing, callbacks);
      case "mset":
        if ((args.length - 1) % 2 !== 0) return wrongNumberOfArguments(commandName, stats, callbacks);
        return new MsetRequest(this, args, timing, callbacks);
      case "sum":
        return new SumResultRequest(this, args, timing, callbacks);
      case "transaction":
        return transactionRequest(this, args, commandName, command, timing, callbacks, transaction);
    }
  }

  /**
   * A connection of the transaction's own to the host of `key`'s route, or undefined when no
   * route or host takes it.
   */
  transactionClient(key: string, transaction: RedisTransaction): RedisTransactionClient | undefined {
    const match = this.router.route(key);
    if (match === undefined) return undefined;
    const pool = this.pools.get(match.cluster);
    if (pool === undefined) return undefined;
    return pool.transactionClient(match.key, (closed) => transaction.onClientClosed(closed));
  }

  /** The key as it goes upstream: without its route's prefix with remove_prefix. */
  upstreamKey(key: Uint8Array): Uint8Array {
    const text = byteString(key);
    const match = this.router.route(text);
    return match === undefined || match.key === text ? key : byteStringToBytes(match.key);
  }

  /**
   * Send `args` (the key at `keyIndex`) to the key's route; undefined when no route or host
   * takes it. With remove_prefix the key goes upstream without its prefix.
   */
  route(args: readonly Uint8Array[], keyIndex: number, callbacks: RedisRequestCallbacks): RedisPoolRequest | undefined {
    const key = byteString(args[keyIndex]!);
    const match = this.router.route(key);
    if (match === undefined) return undefined;
    const pool = this.pools.get(match.cluster);
    if (pool === undefined) return undefined;
    const sent = args.map((arg, i) => respBulk(i === keyIndex && match.key !== key ? byteStringToBytes(match.key) : arg));
    return pool.makeRequest(match.key, respArray(sent), callbacks);
  }

  private single(args: readonly Uint8Array[], keyIndex: number, timing: CommandTiming, callbacks: SplitCallbacks): SplitRequest | undefined {
    const request = new SingleServerRequest(timing, callbacks);
    const handle = this.route(args, keyIndex, request);
    if (handle === undefined) {
      timing.stats.error.inc();
      callbacks.onResponse(respError(RedisResponse.NoUpstreamHost));
      return undefined;
    }
    request.handle = handle;
    return request;
  }

  private onInvalidRequest(callbacks: SplitCallbacks): undefined {
    this.stats.invalidRequest.inc();
    callbacks.onResponse(respError(RedisResponse.InvalidRequest));
    return undefined;
  }
}

/**
 * One request per key, joined when the last reply is in (Envoy's FragmentedRequest). A key
 * with no route or host is answered "no upstream host" in its place, a failed one
 * "upstream failure".
 */
abstract class FragmentedRequest implements SplitRequest {
  private readonly handles: (RedisPoolRequest | undefined)[] = [];
  private remaining: number;
  protected errors = 0;

  constructor(
    protected readonly timing: CommandTiming,
    protected readonly callbacks: SplitCallbacks,
    count: number,
  ) {
    this.remaining = count;
  }

  /** Send fragment `index`: `args` with its key at `keyIndex`. */
  protected send(splitter: CommandSplitter, index: number, args: readonly Uint8Array[], keyIndex: number): void {
    const handle = splitter.route(args, keyIndex, {
      onResponse: (value) => this.onFragment(index, value),
      onFailure: () => this.onFragment(index, respError(RedisResponse.UpstreamFailure)),
    });
    if (handle === undefined) this.onFragment(index, respError(RedisResponse.NoUpstreamHost));
    else if (this.remaining > 0) this.handles[index] = handle;
  }

  private onFragment(index: number, value: RespValue): void {
    this.handles[index] = undefined;
    this.onChildResponse(index, value);
    if (--this.remaining === 0) {
      this.timing.complete(this.errors === 0);
      this.callbacks.onResponse(this.joined());
    }
  }

  protected abstract onChildResponse(index: number, value: RespValue): void;
  protected abstract joined(): RespValue;

  cancel(): void {
    for (const handle of this.handles) handle?.cancel();
    this.handles.length = 0;
  }
}

const GET = byteStringToBytes("get");
const SET = byteStringToBytes("set");

/** MGET as one GET per key; the array of their values, an error in the place of a key that failed. */
class MgetRequest extends FragmentedRequest {
  private readonly values: RespValue[];

  constructor(splitter: CommandSplitter, args: readonly Uint8Array[], timing: CommandTiming, callbacks: SplitCallbacks) {
    super(timing, callbacks, args.length - 1);
    this.values = new Array<RespValue>(args.length - 1).fill(RESP_NULL);
    for (let i = 1; i < args.length; i++) this.send(splitter, i - 1, [GET, args[i]!], 1);
  }

  protected onChildResponse(index: number, value: RespValue): void {
    switch (value.type) {
      case "bulk":
      case "null":
        this.values[index] = value;
        return;
      case "error":
        this.errors++;
        this.values[index] = value;
        return;
      default:
        this.errors++;
        this.values[index] = respError(RedisResponse.UpstreamProtocolError);
    }
  }

  protected joined(): RespValue {
    return respArray(this.values);
  }
}

/** MSET as one SET per pair: OK when every SET said OK, else "finished with N error(s)". */
class MsetRequest extends FragmentedRequest {
  constructor(splitter: CommandSplitter, args: readonly Uint8Array[], timing: CommandTiming, callbacks: SplitCallbacks) {
    super(timing, callbacks, (args.length - 1) / 2);
    for (let i = 1, index = 0; i < args.length; i += 2, index++) this.send(splitter, index, [SET, args[i]!, args[i + 1]!], 1);
  }

  protected onChildResponse(_index: number, value: RespValue): void {
    if (value.type !== "simple" || value.value !== RedisResponse.OK) this.errors++;
  }

  protected joined(): RespValue {
    return this.errors === 0 ? respSimple(RedisResponse.OK) : respError(`finished with ${this.errors} error(s)`);
  }
}

/** DEL/EXISTS/TOUCH/UNLINK as one command per key, the integer replies summed. */
class SumResultRequest extends FragmentedRequest {
  private total = 0n;

  constructor(splitter: CommandSplitter, args: readonly Uint8Array[], timing: CommandTiming, callbacks: SplitCallbacks) {
    super(timing, callbacks, args.length - 1);
    for (let i = 1; i < args.length; i++) this.send(splitter, i - 1, [args[0]!, args[i]!], 1);
  }

  protected onChildResponse(_index: number, value: RespValue): void {
    if (value.type === "integer") this.total += value.value;
    else this.errors++;
  }

  protected joined(): RespValue {
    return this.errors === 0 ? respInteger(this.total) : respError(`finished with ${this.errors} error(s)`);
  }
}
