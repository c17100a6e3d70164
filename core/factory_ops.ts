/**
 * What a `Factory` does that the verbs a shim runs per container (`state`, `kill`,
 * `start`, `delete`) never do: restore from CRIU images, list the containers, load a
 * directory without a state. `factory.ts` keeps the methods and imports this module when
 * one of them runs, so that the bundled CLI's main.js, its core (which every such verb loads whole,
 * ~20 us per kB whether its code runs or not) does not hold it: it goes into the `ops`
 * chunk (scripts/chunks.ts's OPS_MODULES).
 *
 * @module
 */

import type { ContainerState } from "./state.ts";
import { validateId } from "./state.ts";
import { Container } from "./container.ts";
import type { FactoryContext } from "./factory.ts";
import type { RestoreOptions } from "../criu/options.ts";

/** `Factory.restore`. */
export async function restore(
  f: FactoryContext,
  id: string,
  opts: RestoreOptions,
): Promise<Container> {
  validateId(id);
  await f.sys.ready({ spawn: true });
  const { restoreContainer } = await import("../criu/restore.ts");
  const r = await restoreContainer(f.root, id, opts);
  return new Container(r.state, r.dir, r.cgroup, {
    init: r.init,
    onWarning: f.warn,
    syscalls: f.sys,
  });
}

/**
 * The container of a directory with no state.json (a create that crashed early), or an
 * unreadable one (see `Factory.load`): only deletable.
 */
export async function orphan(f: FactoryContext, id: string, dir: string): Promise<Container> {
  const state: ContainerState = {
    id,
    bundle: "",
    rootfs: "",
    initPid: 0,
    initStartTime: 0,
    created: (Deno.statSync(dir).mtime ?? new Date(0)).toISOString(),
    config: { ociVersion: "1.0.2" },
    namespaces: [],
    cgroup: { driver: "none", paths: {} },
    rootless: Deno.uid() !== 0,
    owner: "",
  };
  return new Container(
    state,
    dir,
    await f.cgroups.load({ id }, state.cgroup, { onWarning: f.warn }),
    {
      onWarning: f.warn,
      syscalls: f.sys,
    },
  );
}

/** `Factory.list`: the ids of every container under `root`, sorted. */
export async function list(root: string): Promise<string[]> {
  const ids: string[] = [];
  try {
    for await (const e of Deno.readDir(root)) if (e.isDirectory) ids.push(e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return ids.sort();
}
