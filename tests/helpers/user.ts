/**
 * Running things as the unprivileged test user `nsinit-test` (made by
 * scripts/install_test_deps.sh), through `runuser`, for the rootless and
 * sandbox tests. Only root can switch users: as anyone else these tests skip.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseSubIds, type SubIdRange } from "../../core/rootless.ts";
import type { Spec } from "../../spec/config.ts";
import { nsinitCommand, run, type RunOptions, type RunResult } from "./run.ts";
import { REPO_ROOT, testRun } from "./paths.ts";

/** The unprivileged test user. */
export interface TestUser {
  /** Its name. */
  name: string;
  /** Its uid and gid. */
  uid: number;
  gid: number;
  /** Its home directory. */
  home: string;
}

/**
 * Maps container uid and gid 0 to user `u` and 1 and up to its first subordinate ranges in
 * /etc/subuid and /etc/subgid (asserting it has both), as newuidmap/newgidmap allow a rootless
 * container; returns the ranges.
 */
export function mapTestUserSubIds(
  config: Spec,
  u: TestUser,
): { uids: SubIdRange; gids: SubIdRange } {
  const uids = parseSubIds(Deno.readTextFileSync("/etc/subuid"), u.name, u.uid)[0];
  const gids = parseSubIds(Deno.readTextFileSync("/etc/subgid"), u.name, u.uid)[0];
  assert.ok(uids && gids, "the test user has /etc/subuid and /etc/subgid ranges");
  config.linux!.uidMappings = [
    { containerID: 0, hostID: u.uid, size: 1 },
    { containerID: 1, hostID: uids.start, size: uids.count },
  ];
  config.linux!.gidMappings = [
    { containerID: 0, hostID: u.gid, size: 1 },
    { containerID: 1, hostID: gids.start, size: gids.count },
  ];
  return { uids, gids };
}

/** The test user's name. */
export const TEST_USER = "nsinit-test";

/**
 * The test user from /etc/passwd, or undefined when it does not exist.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { testUser } from "./user.ts";
 * const u = testUser();
 * assert.ok(u === undefined || u.uid > 0);
 * ```
 */
export function testUser(): TestUser | undefined {
  let text = "";
  try {
    text = Deno.readTextFileSync("/etc/passwd");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f[0] === TEST_USER && f.length >= 6) {
      return { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
    }
  }
  return undefined;
}

/** Why tests as the test user cannot run here, or undefined when they can. */
export function cannotRunAsTestUser(): string | undefined {
  if (Deno.uid() !== 0) return "needs root to switch to the test user (runuser)";
  if (!testUser()) {
    return `the test user ${TEST_USER} does not exist (scripts/install_test_deps.sh)`;
  }
  return undefined;
}

/**
 * The variables that tell Deno (and the tools it starts) how to reach a registry: the machine's
 * certificate authorities and its proxies. `env -i` would drop them, and a run of the sources
 * that must fetch an npm package then fails its TLS handshake.
 */
export const NETWORK_ENV = [
  "NODE_EXTRA_CA_CERTS",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
] as const;

function passThrough(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of NETWORK_ENV) {
    const v = Deno.env.get(k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * The command line that runs `cmd args...` as `user` with a clean environment: `HOME`, `USER`,
 * `PATH` (the caller's), Deno's cache of the user, the repository's native helper, the test run
 * marker, the caller's certificate and proxy settings ({@linkcode NETWORK_ENV}), plus `env`. For callers that spawn it themselves (streaming its output).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { asUser } from "./user.ts";
 * const [cmd, args] = asUser({ name: "u", uid: 1, gid: 1, home: "/h" }, "id", ["-u"]);
 * assert.equal(cmd, "runuser");
 * assert.deepEqual(args.slice(0, 5), ["-u", "u", "--", "env", "-i"]);
 * assert.deepEqual(args.slice(-2), ["id", "-u"]);
 * ```
 */
export function asUser(
  user: TestUser,
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): [string, string[]] {
  const all: Record<string, string> = {
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    PATH: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
    // Deno's cache of the test user (the runtime loads no remote modules).
    DENO_DIR: `${user.home}/.cache/deno`,
    // The native helper the repository built (the test user cannot build into dist/).
    NSINIT_LIBDIR: Deno.env.get("NSINIT_LIBDIR") ?? `${REPO_ROOT}/dist/lib`,
    NSINIT_TEST_RUN: testRun(),
    ...passThrough(),
    ...env,
  };
  const pairs = Object.entries(all).map(([k, v]) => `${k}=${v}`);
  return ["runuser", ["-u", user.name, "--", "env", "-i", ...pairs, cmd, ...args]];
}

/**
 * Runs `cmd args...` as the test user with a clean environment (see {@linkcode asUser}).
 *
 * @example
 * ```ts ignore
 * import { runAs, testUser } from "./user.ts";
 * const r = await runAs(testUser()!, "id", ["-u"]);
 * ```
 */
export function runAs(
  user: TestUser,
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const [runuser, full] = asUser(user, cmd, args, opts.env);
  return run(runuser, full, { ...opts, env: {} });
}

let warmed: Promise<void> | undefined;

/**
 * Fills the test user's Deno cache with everything the CLI and the library load, dynamic
 * imports and npm packages included, once per test process, so no run of the CLI prints Deno's
 * download lines into its stderr (or fails on a download mid-test). A `--version` run is not
 * enough: it never reaches the dynamic imports (CRIU's protobuf runtime, for one).
 */
export function warmDenoCache(user: TestUser): Promise<void> {
  warmed ??= (async () => {
    const r = await runAs(
      user,
      Deno.execPath(),
      ["cache", "--quiet", `${REPO_ROOT}/nsinit/main.ts`, `${REPO_ROOT}/mod.ts`],
      { cwd: REPO_ROOT, timeoutMs: 300_000 },
    );
    if (r.code !== 0) {
      throw new Error(`deno cache as ${user.name} failed (exit ${r.code}): ${r.stderr}`);
    }
  })();
  return warmed;
}

/** Runs the nsinit CLI as the test user (see {@linkcode runAs}). */
export async function runNsinitAs(
  user: TestUser,
  args: string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  await warmDenoCache(user);
  const [cmd, ...rest] = nsinitCommand(args);
  return runAs(user, cmd, rest, { cwd: REPO_ROOT, ...opts });
}
