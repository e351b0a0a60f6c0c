import type { RedisRequestCallbacks } from "./redis-client.ts";
import type { RedisTransaction, RedisTransactionClient } from "./redis-transaction.ts";
import { RedisResponse, SingleServerRequest, wrongNumberOfArguments, type CommandTiming, type SplitCallbacks, type SplitRequest } from "./split-request.ts";
import { byteString, byteStringToBytes, respArray, respBulk, respError, respSimple } from "./resp-value.ts";
import { SIMPLE_COMMANDS, TRANSACTION_COMMANDS } from "./supported-commands.ts";

/** The MULTI sent before a transaction's first keyed command; its reply is dropped (Envoy's null_pool_callbacks). */
const MULTI = respArray([respBulk(byteStringToBytes("MULTI"))]);
const IGNORE_REPLY: RedisRequestCallbacks = { onResponse() {}, onFailure() {} };

/** What a transaction needs of the splitter's routes. */
export interface TransactionRouting {
  /** A connection of the transaction's own to the host of `key`'s route; undefined when no route or host takes it. */
  transactionClient(key: string, transaction: RedisTransaction): RedisTransactionClient | undefined;
  /** The key as it goes upstream (remove_prefix). */
  upstreamKey(key: Uint8Array): Uint8Array;
}

/**
 * A transaction's command (Envoy's TransactionRequest::create, redis_proxy/command_splitter_impl.cc):
 * MULTI, EXEC, DISCARD, WATCH, UNWATCH, and every command while MULTI is in effect. `MULTI` is
 * answered `+OK` by the proxy; the first keyed command after it pins the transaction to its
 * key's host, on a connection of this client's own, with `MULTI` sent first; each later
 * command goes there whatever its key hashes to (Envoy does not check: a standalone Redis
 * runs it), so the replies are Redis's own (`+QUEUED`…, the EXEC array). Only one-key
 * commands are taken inside; error replies are Envoy's, word for word.
 */
export function transactionRequest(
  splitter: TransactionRouting,
  args: readonly Uint8Array[],
  commandName: string,
  command: string,
  timing: CommandTiming,
  callbacks: SplitCallbacks,
  transaction: RedisTransaction,
): SplitRequest | undefined {
  if (!TRANSACTION_COMMANDS.has(command) && !SIMPLE_COMMANDS.has(command)) {
    callbacks.onResponse(respError(`'${commandName}' command is not supported within transaction`));
    return undefined;
  }
  let ending = false;
  if (command === "multi") {
    if (transaction.active) {
      callbacks.onResponse(respError("MULTI calls can not be nested"));
      return undefined;
    }
    transaction.active = true;
    // Without a WATCH before it nothing goes upstream yet; after one, MULTI goes on its
    // connection; a WATCH whose connection was lost: the commands inside and EXEC get the failure.
    if (transaction.key === undefined || transaction.failure !== undefined) {
      callbacks.onResponse(respSimple(RedisResponse.OK));
      return undefined;
    }
  } else if (command === "exec" || command === "discard") {
    if (!transaction.active) {
      callbacks.onResponse(respError(`${command.toUpperCase()} without MULTI`));
      return undefined;
    }
    // Nothing keyed was queued: nothing went upstream.
    if (transaction.key === undefined) {
      callbacks.onResponse(command === "exec" ? respArray([]) : respSimple(RedisResponse.OK));
      transaction.end();
      return undefined;
    }
    ending = true;
  } else if (command === "watch" && args.length < 2) {
    return wrongNumberOfArguments(commandName, timing.stats, callbacks);
  }
  const pinnedBefore = transaction.key !== undefined;
  if (transaction.key === undefined) {
    // UNWATCH with nothing watched, nothing queued: nothing to do upstream.
    if (command === "unwatch") {
      callbacks.onResponse(respSimple(transaction.active ? "QUEUED" : RedisResponse.OK));
      return undefined;
    }
    transaction.key = byteString(args[1]!);
  }
  if (transaction.failure === undefined && transaction.client === undefined) {
    const client = splitter.transactionClient(transaction.key, transaction);
    if (client === undefined) transaction.failure = RedisResponse.NoUpstreamHost;
    else if (!client.active) transaction.failure = RedisResponse.UpstreamFailure;
    else {
      transaction.client = client;
      // Opened inside MULTI (no WATCH before it): MULTI goes first.
      if (transaction.active && command !== "multi") client.makeRequest(MULTI, IGNORE_REPLY);
    }
  }
  const client = transaction.client;
  const unwatchOutside = command === "unwatch" && !transaction.active;
  if (client === undefined) {
    // UNWATCH outside a transaction whose WATCH's connection was lost: nothing is watched now.
    if (unwatchOutside) {
      transaction.end();
      callbacks.onResponse(respSimple(RedisResponse.OK));
      return undefined;
    }
    timing.stats.error.inc();
    callbacks.onResponse(respError(transaction.failure ?? RedisResponse.NoUpstreamHost));
    // Outside a transaction a WATCH that found no host leaves nothing pinned; one after a lost WATCH keeps the failure.
    if (ending || (!transaction.active && !pinnedBefore)) transaction.end();
    return undefined;
  }
  const sent = args.map((arg, i) => respBulk(i === 1 && !TRANSACTION_COMMANDS.has(command) ? splitter.upstreamKey(arg) : arg));
  if (command === "watch") for (let i = 1; i < sent.length; i++) sent[i] = respBulk(splitter.upstreamKey(args[i]!));
  const request = new SingleServerRequest(timing, callbacks);
  request.handle = client.makeRequest(respArray(sent), request);
  if (ending || unwatchOutside) transaction.end();
  return request;
}
