/**
 * What the real-client tests share: the nsinit binary clients are pointed at, recording each
 * client operation for docs/conformance.md, snapshots of host paths a client may create, and
 * cleaning up a client's leftovers (processes by pid, mounts, directories).
 *
 * @module
 */

import { REPO_ROOT } from "../helpers/paths.ts";
import { run } from "../helpers/run.ts";
import { ensureBuild } from "../../scripts/build.ts";
import { exists, writeResults } from "../conformance/harness.ts";
import type { ClientResult, OperationResult } from "../conformance/report.ts";

/**
 * Starts a containerd of its own in `T` (config, root, state, socket, log all below it; the
 * CRI plugin off), with its output in `T`/containerd.log. The caller ends `daemon` by pid.
 */
export async function startContainerd(
  T: string,
): Promise<{ sock: string; daemon: Deno.ChildProcess }> {
  const sock = `${T}/containerd.sock`;
  await Deno.writeTextFile(
    `${T}/config.toml`,
    [
      "version = 2",
      `root = "${T}/root"`,
      `state = "${T}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      "[grpc]",
      `  address = "${sock}"`,
      "[ttrpc]",
      `  address = "${sock}.ttrpc"`,
      "[debug]",
      '  address = ""',
      "[metrics]",
      '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${T}/opt"`,
      "",
    ].join("\n"),
  );
  // The daemon and its shims make temp dirs (a checkpoint's ctrd-checkpoint*): under T, so the
  // test's own clean-up removes them.
  Deno.mkdirSync(`${T}/tmp`, { recursive: true });
  const daemon = new Deno.Command("sh", {
    args: [
      "-c",
      `TMPDIR=${T}/tmp exec containerd --config ${T}/config.toml >${T}/containerd.log 2>&1`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return { sock, daemon };
}

/**
 * The absolute path of the nsinit launcher a client runs (`$NSINIT_TEST_BIN`, else
 * `dist/nsinit`), or undefined when it has not been built.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nsinitBinary } from "./helpers.ts";
 * const bin = nsinitBinary();
 * assert.ok(bin === undefined || bin.startsWith("/"));
 * ```
 */
export function nsinitBinary(): string | undefined {
  const env = Deno.env.get("NSINIT_TEST_BIN");
  if (env?.startsWith("/")) return env;
  const dist = `${REPO_ROOT}/dist/nsinit`;
  if (!exists(dist)) return undefined;
  ensureBuild(); // dist/nsinit runs the bundle: rebuild it if a source changed since
  return dist;
}

/** Collects a client's operations and writes them to `.cache/conformance/<key>.json`. */
export class ClientRecorder {
  readonly #key: string;
  readonly #result: ClientResult;

  /** A recorder for `client` (e.g. `containerd 1.6.20`) saved as `<key>.json`. */
  constructor(key: string, client: string) {
    this.#key = key;
    this.#result = { client, operations: [] };
  }

  /** Records one operation. */
  add(op: OperationResult): void {
    this.#result.operations.push(op);
  }

  /** Marks the whole client skipped. */
  skip(reason: string): void {
    this.#result.skipped = reason;
  }

  /** Sets the client's name (once its version is known). */
  set client(name: string) {
    this.#result.client = name;
  }

  /** Writes the file. */
  async save(): Promise<void> {
    await writeResults(`${this.#key}.json`, this.#result);
  }
}

/**
 * Runs `t.step(name, fn)` and records it as an operation (fail when the step failed).
 * `fn` may return a string: the operation is then recorded skipped with that reason, or, when
 * the string starts with `known failure: `, as a known failure (printed, not a test failure).
 */
export async function recordedStep(
  t: Deno.TestContext,
  rec: ClientRecorder,
  name: string,
  runtimeCommands: string,
  fn: () => Promise<void | string>,
): Promise<boolean> {
  let op: OperationResult = { operation: name, runtimeCommands, status: "pass" };
  const ok = await t.step(name, async () => {
    try {
      const r = await fn();
      if (typeof r === "string" && r.startsWith("known failure: ")) {
        op = { ...op, status: "known-failure", note: r.slice("known failure: ".length) };
        console.error(`KNOWN FAILURE ${name}: ${op.note}`);
      } else if (typeof r === "string") {
        op = { ...op, status: "skip", note: r };
        console.error(`skipped: ${name}: ${r}`);
      }
    } catch (e) {
      op = {
        ...op,
        status: "fail",
        note: e instanceof Error ? e.message.split("\n")[0] : String(e),
      };
      throw e;
    }
  });
  if (!ok && op.status === "pass") op = { ...op, status: "fail" };
  rec.add(op);
  return ok;
}

/** Pids of processes whose command line contains `needle` (not this process). */
export function pidsWithCmdline(needle: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (cmd.includes(needle)) pids.push(Number(e.name));
    } catch {
      // gone
    }
  }
  return pids;
}

/** Kills (SIGKILL) every process whose command line contains `needle`; returns their pids. */
export function killByCmdline(needle: string): number[] {
  const pids = pidsWithCmdline(needle).filter((p) => p > 1);
  for (const p of pids) {
    try {
      Deno.kill(p, "SIGKILL");
    } catch {
      // gone
    }
  }
  return pids;
}

/** Lazily unmounts every mount at or below `dir`, deepest first. */
export async function unmountUnder(dir: string): Promise<string[]> {
  const unescape = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  const points = Deno.readTextFileSync("/proc/self/mountinfo").split("\n").filter((l) => l)
    .map((l) => unescape(l.split(" ")[4]))
    .filter((p) => p === dir || p.startsWith(dir + "/"))
    .sort((a, b) => b.length - a.length);
  for (const p of points) await run("umount", ["-l", p]);
  return points;
}

/** The entries of a directory (empty when it does not exist). */
export function entries(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    return [];
  }
}

/**
 * Remembers whether host paths existed (and their entries) so that {@linkcode HostPaths.restore}
 * removes only what a client created: a path that did not exist is removed entirely, new entries
 * of one that did are removed.
 */
export class HostPaths {
  readonly #before = new Map<string, string[] | undefined>();

  /** Snapshots `paths`. */
  constructor(paths: string[]) {
    for (const p of paths) this.#before.set(p, exists(p) ? entries(p) : undefined);
  }

  /** Removes what appeared since the snapshot; returns what was removed. */
  async restore(): Promise<string[]> {
    const removed: string[] = [];
    for (const [p, before] of this.#before) {
      if (!exists(p)) continue;
      if (before === undefined) {
        await Deno.remove(p, { recursive: true }).catch(() => {});
        removed.push(p);
        continue;
      }
      for (const e of entries(p)) {
        if (!before.includes(e)) {
          await Deno.remove(`${p}/${e}`, { recursive: true }).catch(() => {});
          removed.push(`${p}/${e}`);
        }
      }
    }
    return removed;
  }
}
