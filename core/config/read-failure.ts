/** Why a config file could not be read, in words, by the PortError's code; anything else as the runtime said it. */
export function readFailure(err: unknown): string {
  const e = (err && typeof err === "object" ? err : {}) as { code?: unknown; message?: unknown };
  switch (e.code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
      return "permission denied";
    case "EISDIR":
      return "it is a directory, not a file";
    default:
      return typeof e.message === "string" ? e.message : String(err);
  }
}
