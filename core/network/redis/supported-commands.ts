/**
 * The commands Envoy's redis_proxy routes, by how (Envoy's SupportedCommands,
 * source/extensions/filters/network/common/redis/supported_commands.h), lower-case.
 */

/** One key, the first argument: the command goes whole to the key's host. */
export const SIMPLE_COMMANDS: ReadonlySet<string> = new Set([
  "append", "bf.add", "bf.card", "bf.exists", "bf.info", "bf.insert", "bf.loadchunk", "bf.madd", "bf.mexists",
  "bf.reserve", "bf.scandump", "bitcount", "bitfield", "bitpos", "decr", "decrby", "dump", "expire", "expireat",
  "geoadd", "geodist", "geohash", "geopos", "georadius_ro", "georadiusbymember_ro", "get", "getbit", "getdel",
  "getrange", "getset", "hdel", "hexists", "hget", "hgetall", "hincrby", "hincrbyfloat", "hkeys", "hlen", "hmget",
  "hmset", "hscan", "hset", "hsetnx", "hstrlen", "hvals", "incr", "incrby", "incrbyfloat", "lindex", "linsert",
  "llen", "lmove", "lpop", "lpush", "lpushx", "lrange", "lrem", "lset", "ltrim", "persist", "pexpire", "pexpireat",
  "pfadd", "pfcount", "psetex", "pttl", "publish", "restore", "rpop", "rpush", "rpushx", "sadd", "scard", "set",
  "setbit", "setex", "setnx", "setrange", "sismember", "smembers", "spop", "srandmember", "srem", "sscan", "strlen",
  "ttl", "type", "xack", "xadd", "xautoclaim", "xclaim", "xdel", "xlen", "xpending", "xrange", "xrevrange", "xtrim",
  "zadd", "zcard", "zcount", "zincrby", "zlexcount", "zpopmin", "zpopmax", "zrange", "zrangebylex", "zrangebyscore",
  "zrank", "zrem", "zremrangebylex", "zremrangebyrank", "zremrangebyscore", "zrevrange", "zrevrangebylex",
  "zrevrangebyscore", "zrevrank", "zscan", "zscore",
]);

/** Scripts: the key is the fourth element (EVAL script numkeys key ...). */
export const EVAL_COMMANDS: ReadonlySet<string> = new Set(["eval", "evalsha", "eval_ro", "evalsha_ro"]);

/** One request per key, the integer replies summed (Envoy's hashMultipleSumResultCommands). */
export const SUM_RESULT_COMMANDS: ReadonlySet<string> = new Set(["del", "exists", "touch", "unlink"]);

/**
 * Transactions (Envoy's transactionCommands): the only commands, with SIMPLE_COMMANDS, taken
 * inside MULTI; they may come without a key.
 */
export const TRANSACTION_COMMANDS: ReadonlySet<string> = new Set(["multi", "exec", "discard", "watch", "unwatch"]);

/** Every command the splitter has a handler for: each gets `command.<name>.*` stats. */
export const ROUTED_COMMANDS: readonly string[] = [...SIMPLE_COMMANDS, ...EVAL_COMMANDS, ...SUM_RESULT_COMMANDS, "mget", "mset", ...TRANSACTION_COMMANDS];
