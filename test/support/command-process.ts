/**
 * A command started as a user would start it (npx, bunx, deno run npm:…, a binary), in a
 * process group of its own: launchers stand between the test and the proxy (npx → sh → node;
 * bunx → node → bun), and stopping the group stops them all.
 */
import { spawn, type ChildProcess } from "node:child_process";

export class CommandProcess {
  stderr = "";
  stdout = "";
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  constructor(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(cmd, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (d) => (this.stdout += d));
    this.child.stderr!.on("data", (d) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
  }

  /** The command's own pid (the proxy's, when it is started without a launcher). */
  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves when stderr holds `text`; throws with the output if the command exits first or `timeoutMs` passes. */
  async waitFor(text: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.stderr.includes(text)) {
      if (this.child.exitCode !== null || Date.now() > deadline) throw new Error(`no "${text}" (exit ${this.child.exitCode}):\n${this.stdout}${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Sends `signal` to the command's process group (SIGHUP: a proxy reloads its config). */
  signal(signal: NodeJS.Signals): void {
    process.kill(-this.child.pid!, signal);
  }

  /** SIGTERM to the group, then SIGKILL to whatever is left; resolves with the command's exit code. */
  async stop(): Promise<number | null> {
    const group = -this.child.pid!;
    try {
      process.kill(group, "SIGTERM");
    } catch {
      // already gone
    }
    const code = await Promise.race([this.exited, new Promise<"late">((r) => setTimeout(() => r("late"), 5000))]);
    try {
      process.kill(group, "SIGKILL");
    } catch {
      // nothing left
    }
    return code === "late" ? await this.exited : code;
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
