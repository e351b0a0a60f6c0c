import type { PortError } from "../../core/port.ts";

/** Turn whatever a runtime threw into the port's PortError shape. */
export function toPortError(err: unknown): PortError {
  if (err && typeof err === "object") {
    const e = err as { code?: unknown; name?: unknown; message?: unknown };
    const code = typeof e.code === "string" ? e.code : typeof e.name === "string" ? errnoFromName(e.name) : "EUNKNOWN";
    return { code, message: typeof e.message === "string" ? e.message : String(err) };
  }
  return { code: "EUNKNOWN", message: String(err) };
}

/** Deno reports errno as an error class name (ConnectionRefused, AddrInUse, …). */
function errnoFromName(name: string): string {
  switch (name) {
    case "ConnectionRefused": return "ECONNREFUSED";
    case "ConnectionReset": return "ECONNRESET";
    case "ConnectionAborted": return "ECONNABORTED";
    case "AddrInUse": return "EADDRINUSE";
    case "AddrNotAvailable": return "EADDRNOTAVAIL";
    case "PermissionDenied": return "EACCES";
    case "NotFound": return "ENOENT";
    case "IsADirectory": return "EISDIR";
    case "BrokenPipe": return "EPIPE";
    case "TimedOut": return "ETIMEDOUT";
    case "NotConnected": return "ENOTCONN";
    default: return name;
  }
}
