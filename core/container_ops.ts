/**
 * The verbs of a `Container` that the ones a shim runs per container (`state`,
 * `start`, `kill` of the init, `delete` of a stopped container) never run: exec, pause,
 * resume, update, checkpoint, the kill and wait of `delete --force` (or of a container not
 * stopped), and the CRIU mounts a restored container's delete detaches. `container.ts`
 * keeps the methods, thin, and imports this module when one runs, handing it the
 * container's private state and steps ({@link ContainerInternals}): the bundled CLI's core
 * chunk, which each of those verbs loads whole (~20 us per kB whether its code runs or
 * not), does not hold this code; it goes into the `ops` chunk (scripts/chunks.ts's
 * OPS_MODULES).
 *
 * What a create also uses (state_write.ts, hooks.ts, the host's cgroup layout in
 * cgroups/paths.ts) is imported from here dynamically, never statically: a static import
 * would put it into the ops chunk, which every create would then load
 * (core/chunks_test.ts checks it).
 *
 * @module
 */

import { join } from "../util/path.ts";
import type { LinuxResources, Process } from "../spec/config.ts";
import type { Status } from "../errors.ts";
import { mark } from "../util/trace.ts";
import type { ContainerProcess } from "./process.ts";
import { checkTransition } from "./transitions.ts";
import type { CheckpointOptions } from "../criu/options.ts";
import type { ContainerInternals, ExecOptions } from "./container.ts";
import type { ContainerState } from "./state.ts";

const SIGKILL = 9;

/** `Container.pause`. */
export function pause(c: ContainerInternals): Promise<void> {
  return c.locked(async () => {
    checkTransition(c.id, await c.statusFor("pause"), "pause");
    mark("pause: locked", c.id);
    await c.cgroup.freeze(true);
    mark("pause: frozen", c.id);
    // A kill that took the lock just before (or any SIGKILL) may not have been acted on
    // yet: the init was still alive, so the status above said running. Frozen with the
    // SIGKILL pending, a cgroup v1 process stays alive until thawed: a paused container
    // with a kill pending, for ever. It was killed: thaw it so it dies, and refuse the
    // pause as on a stopped container.
    if (c.sys.killPending(c.state().initPid)) {
      await c.cgroup.freeze(false);
      mark("pause: killed, thawed", c.id);
      checkTransition(c.id, "stopped", "pause");
    }
  });
}

/** `Container.resume`. */
export function resume(c: ContainerInternals): Promise<void> {
  return c.locked(async () => {
    checkTransition(c.id, await c.status(), "resume");
    mark("resume: locked", c.id);
    await c.cgroup.freeze(false);
    mark("resume: thawed", c.id);
  });
}

/** `Container.set`. */
export function set(c: ContainerInternals, resources: LinuxResources): Promise<void> {
  return c.locked(async () => {
    checkTransition(c.id, await c.statusFor("update"), "update");
    mark("update: locked", c.id);
    await c.cgroup.set(resources);
    mark("update: cgroup set", c.id);
    // A new state object: the handle's is never changed in place (see saved()).
    const old = c.state();
    const linux = old.config.linux ?? {};
    const state: ContainerState = {
      ...old,
      config: {
        ...old.config,
        linux: { ...linux, resources: mergeResources(linux.resources ?? {}, resources) },
      },
    };
    // Imported, not a static import: see the module's documentation.
    const { writeAtomic } = await import("./state_write.ts");
    const text = JSON.stringify(state);
    await writeAtomic(join(c.dir, "state.json"), text);
    c.saved(state, text);
    mark("update: state saved", c.id);
  });
}

/** `Container.exec`. */
export function exec(
  c: ContainerInternals,
  process: Process,
  opts: ExecOptions,
): Promise<ContainerProcess> {
  return c.locked(async () => {
    checkTransition(c.id, await c.statusFor("exec"), "exec");
    mark("exec: locked", c.id);
    const state = c.state();
    // Loaded here: the other verbs (a CLI `state`, `kill` ...) never pay for them.
    const [validate, plans, labels, { ContainerProcess }, { seccompAgentSender }] = await Promise
      .all([
        import("../spec/validate.ts"),
        import("./init_plan.ts"),
        import("./host_features.ts"),
        import("./process.ts"),
        import("./seccomp_notify.ts"),
      ]);
    const { validateProcess } = validate, { buildExecPlan, HOST_FACTS } = plans;
    const { execProcessLabel } = labels;
    const proc = validateProcess(process);
    // An exec'd process runs under the container's AppArmor profile (or SELinux label)
    // unless it names its own, as runc's do: exec must not leave the confinement.
    const execLabel = execProcessLabel(proc, state.config.process);
    const seccomp = state.config.linux?.seccomp;
    const compiled = seccomp
      ? (await import("../seccomp/compile.ts")).compileSeccomp(seccomp, { requireExecve: true })
      : undefined;
    const plan = buildExecPlan(proc, {
      initPid: state.initPid,
      namespaces: state.namespaces,
      preserveFds: opts.preserveFds?.length ?? 0,
      ...(compiled ? { seccomp: compiled } : {}),
      // As a config's joined user namespace is read (init_plan.ts's host facts).
      setgroupsDenied: state.namespaces.includes("user") &&
        HOST_FACTS.setgroupsDenied?.(`/proc/${state.initPid}/ns/user`) === true,
      ...(state.nestedUserns ? { nestedUserns: true } : {}),
      ...(state.namespaces.includes("mount") ? {} : { chroot: state.rootfs }),
      ...(state.config.linux?.memoryPolicy
        ? { memoryPolicy: state.config.linux.memoryPolicy }
        : {}),
      ...(execLabel ? { execLabel } : {}),
    });
    // A seccomp agent is told the container's state (hooks.ts: see the module's doc).
    const hookBase = compiled?.listenerPath
      ? (await import("./hooks.ts")).hookBase(state.config, c.id, state.bundle)
      : undefined;
    await c.sys.ready({ spawn: true });
    const stdio = c.sys.prepareStdio(opts.stdio);
    let spawned;
    try {
      spawned = await c.sys.spawnPlan(plan, {
        fds: [...stdio.fds, ...(opts.preserveFds ?? [])],
        place: (pid) => c.cgroup.apply(pid),
        until: "exec",
        ...(opts.onPty ? { onPty: opts.onPty } : {}),
        ...(compiled?.listenerPath && hookBase
          ? {
            onSeccomp: seccompAgentSender(
              compiled.listenerPath,
              hookBase,
              c.sys,
              { initPid: state.initPid, metadata: seccomp?.listenerMetadata },
            ),
          }
          : {}),
      });
    } catch (e) {
      stdio.abort();
      throw e;
    }
    stdio.closeChildEnds();
    mark("exec: process spawned", c.id);
    const p = new ContainerProcess(
      spawned.pid,
      spawned.pidfd,
      stdio.parent(),
      opts.onPty ? undefined : spawned.ptyFd,
      c.sys,
    );
    try {
      opts.onPidfd?.(spawned.pidfd);
    } catch (e) {
      await p[Symbol.asyncDispose]();
      throw e;
    }
    return p;
  });
}

/** `Container.checkpoint`. */
export function checkpoint(c: ContainerInternals, opts: CheckpointOptions): Promise<void> {
  return c.locked(async () => {
    checkTransition(c.id, await c.status(), "checkpoint");
    const { checkpointContainer } = await import("../criu/checkpoint.ts");
    await checkpointContainer({ state: c.state(), dir: c.dir, cgroup: c.cgroup }, opts);
    if (opts.leaveRunning || opts.preDump) return;
    // CRIU ended the processes; reap the init when it is ours, else wait until it is gone.
    if (c.init) await c.init.status.catch(() => {});
    for (let i = 0; i < 500 && c.initAlive(); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  });
}

/**
 * For `Container.destroy` of a container not stopped, or forced: kills every process
 * (the cgroup's, then the init through its checked pidfd) and waits until the init is gone.
 * Called under the lock.
 */
export async function killEverything(c: ContainerInternals, status: Status): Promise<void> {
  const state = c.state();
  if (await c.cgroup.exists().catch(() => false)) {
    await c.cgroup.killAll(SIGKILL).catch(() => {});
    if (status === "paused") await c.cgroup.freeze(false).catch(() => {});
  }
  if (state.initPid > 0 && c.initAlive()) {
    // The same checked signal as a kill's: a pid reused meanwhile is refused, not signalled.
    await c.sys.signalInit(state.initPid, state.initStartTime, SIGKILL)
      .catch(() => {/* gone meanwhile */});
  }
  // Wait until the init is gone (reaped by us, or by whoever is its parent).
  if (c.init) {
    await c.init.status.catch(() => {});
  } else {
    for (let i = 0; i < 500 && state.initPid > 0 && c.initAlive(); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/**
 * For `Container.destroy` of a restored container (its state names CRIU's work
 * directory): detaches the rootfs a restore killed mid-way may have left bound at
 * `<dir>/criu-root` (so the directory's removal never recurses into it; a restore records
 * its work directory in the state before it binds the rootfs), and the cgroup yards a CRIU
 * killed mid-restore left mounted in `workDir`. Called under the lock.
 */
export async function detachCriuMounts(c: ContainerInternals, workDir: string): Promise<void> {
  c.sys.umountDetach(join(c.dir, "criu-root"));
  // Imported, not a static import: see the module's documentation.
  const { parseMountInfo } = await import("../cgroups/paths.ts");
  const yards = parseMountInfo(Deno.readTextFileSync("/proc/self/mountinfo"))
    .map((m) => m.mountPoint)
    .filter((p) =>
      p.startsWith(`${workDir}/.criu.cgyard.`) && !p.includes("/", workDir.length + 1)
    );
  for (const yard of new Set(yards)) {
    c.sys.umountDetach(yard);
    try {
      Deno.removeSync(yard);
    } catch { /* CRIU removed it, or it is not empty: leave it */ }
  }
}

/** Resources updated by `update`, merged into the recorded ones (one level deep). */
function mergeResources(base: LinuxResources, update: LinuxResources): LinuxResources {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(update)) {
    const prev = out[k];
    out[k] = v && typeof v === "object" && !Array.isArray(v) && prev && typeof prev === "object"
      ? { ...prev as object, ...v as object }
      : v;
  }
  return out as LinuxResources;
}
