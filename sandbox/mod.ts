/**
 * Developer sandboxes: run a command isolated from the machine, with limits,
 * as root or as an unprivileged user, in one call. The host's files are
 * read-only, the working directory writable, secrets (`~/.ssh`, `~/.aws`, ...)
 * hidden, secret-looking environment variables dropped, no network unless
 * asked; Landlock (where the kernel has it) and seccomp stand behind the mounts.
 * See docs/sandbox.md.
 *
 * @example Run a command and read its output
 * ```ts ignore
 * import { runSandbox } from "./mod.ts";
 * const r = await runSandbox(["sh", "-c", "touch /etc/x || echo refused"]);
 * console.log(r.code, r.stdout); // 0 "refused\n"
 * ```
 *
 * @module
 */

export {
  resolveSandbox,
  runSandbox,
  type SandboxOptions,
  type SandboxOutput,
  SandboxProcess,
  type SandboxStatus,
  spawnSandbox,
  TIMEOUT_EXIT_CODE,
} from "./run.ts";
export { parseProfile, PROFILE_VERSION, readProfile, type SandboxSettings } from "./profile.ts";
export { looksSecret, sandboxEnv } from "./env.ts";
export { HOME_SECRETS, sandboxSeccomp, sandboxSpec, SYSTEM_READ } from "./spec.ts";
export { handledAccess, type LandlockSupport, landlockSupport } from "./landlock.ts";
