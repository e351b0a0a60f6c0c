import type { CommandLine } from "./cli.ts";

/** What a server is given besides its config, for the admin's /server_info and /config_dump. */
export interface ServerOptions {
  /** The command line it was started with. */
  commandLine?: CommandLine;
  /** The config document as loaded, keys in snake_case (loadBootstrapDocument). */
  configDocument?: unknown;
}
