/**
 * Creating a container (`Factory.create` and `Factory.run`): everything only a create
 * needs, imported on the first create, so that the verbs that load a container (`state`,
 * `kill`, `start`, `delete`) never load it.
 *
 * @module
 */

import { isAbsolute, join, resolve } from "../util/path.ts";
import type { LinuxSeccomp, NamespaceType, Spec } from "../spec/config.ts";
import type { CompiledSeccomp } from "../seccomp/compile.ts";
import { seccompAgentSender } from "./seccomp_notify.ts";
import type { CgroupManager } from "../drivers/driver.ts";
import { CgroupError, ConfigError, ContainerIdError, SyscallError } from "../errors.ts";
import { mark } from "../util/trace.ts";
import { underWay } from "../util/busy.ts";
import type { InitHooks } from "./init_plan.ts";
import type { ResctrlGroup } from "./host_features.ts";
import { lockDir, markedNotStarted, validateId } from "./state.ts";
import { markNotStarted, newState, writeAtomic, writeNew } from "./state_write.ts";
import { Container } from "./container.ts";
import { rootlessMaps, userNamespacesRefusal } from "./rootless.ts";
import { SYSTEM_ROOT } from "./state_root.ts";
import { effectiveResources } from "./devices.ts";
import { ContainerProcess } from "./process.ts";
import type { PreparedStdio } from "./syscalls.ts";
import type { EarlyHelper } from "../native/spawn.ts";
import {
  cgroupConfig,
  type CreateOptions,
  type FactoryContext,
  pidsAsVersioned,
} from "./factory.ts";
import { readBundleSpec } from "./bundle_spec.ts";
import { cloneJson } from "../util/json.ts";

/** What {@link createContainer} takes from its {@link Factory}. */
export interface CreateContext extends FactoryContext {
  /** What the factory has warned of already: the warnings said once per factory. */
  warned: Set<string>;
}

/** Says once per factory that rootless containers run without cgroups here, and why. */
function warnNoCgroups(f: CreateContext): void {
  if (f.warned.has("no cgroups")) return;
  f.warned.add("no cgroups");
  f.warn(
    `running without cgroups: no cgroup delegated to uid ${Deno.uid()} is writable ` +
      "and no systemd user manager answers (resource limits are refused; pause, ps and " +
      "kill --all are unavailable). Start one (loginctl enable-linger) on a cgroup v2 " +
      "host, or chown a cgroup v2 subtree to this user and run from inside it",
  );
}

/**
 * What only creating a container needs (the spec validator, the plan builder, host
 * features), loaded on first create: a CLI `state` or `kill` never pays
 * for it. The bundled CLI keeps it in its own chunk.
 */
function loadCreateDeps() {
  return Promise.all([
    import("../spec/validate.ts"),
    import("./init_plan.ts"),
    import("./host_features.ts"),
  ]);
}

let createDepsLoaded: ReturnType<typeof loadCreateDeps> | undefined;

/** {@link loadCreateDeps}, kept: a later create skips the module loader's round trips. */
function createDeps() {
  return createDepsLoaded ??= loadCreateDeps();
}

/** Creates a container (see {@link Factory.create}); `waitForStart`: as `runc create`. */
export async function createContainer(
  f: CreateContext,
  id: string,
  opts: CreateOptions,
  waitForStart: boolean,
): Promise<Container> {
  validateId(id);
  // Counted until it ends (util/busy.ts): a delete meanwhile keeps its removals off the loop.
  const done = underWay();
  const early: { helper?: EarlyHelper } = {};
  try {
    await f.sys.ready({ spawn: true });
    return await createWith(f, id, opts, waitForStart, early);
  } finally {
    done();
    // A create that failed before the spawn ends the helper it started (and the child it
    // cloned): nothing is left behind.
    const helper = early.helper;
    if (helper && !helper.taken) await f.sys.stopHelper?.(helper);
  }
}

async function createWith(
  f: CreateContext,
  id: string,
  opts: CreateOptions,
  waitForStart: boolean,
  early: { helper?: EarlyHelper },
): Promise<Container> {
  const [
    { validateSpec },
    { buildInitPlan, earlyCloneFlags, hostFactsWithRootfs, nestsUserNamespace, rootfsPath },
    {
      checkHostFeatures,
      execLabelWrite,
      hostFeaturesMatter,
      NO_HOST_FEATURES,
      probeHostFeatures,
      resctrlGroup,
    },
  ] = await createDeps();
  mark("create: native library loaded", id);
  const bundle = resolve(opts.bundle);
  const spec = opts.spec ? validateSpec(cloneJson(opts.spec)) : await readBundleSpec(bundle);
  mark("create: spec read and validated", id);
  const rootless = Deno.uid() !== 0;
  // A manager creates nothing before its create() or apply(): one refused below is dropped.
  const manager0 = await f.cgroups.create({
    ...cgroupConfig(id, spec, rootless),
    ...(opts.cgroupDriver
      ? { driver: opts.cgroupDriver }
      : opts.systemdCgroup
      ? { driver: "systemd" as const }
      : {}),
  }, { onWarning: f.warn });
  const { limitsBeforePid, deviceRules } = manager0.capabilities;
  // On cgroup v2 the init is born in its cgroup (made before the spawn).
  const cloneInto = limitsBeforePid ? manager0.cloneTarget?.() : undefined;
  // The helper starts now, off the event loop: its exec overlaps the rest of the work up to
  // the spawn (the checks, the state directory, the plan), which hands it the plan. Where the
  // plan's helper steps will be its clone and the fifo's opening only, it clones the
  // namespaces at once, so that the kernel makes them meanwhile too (a network namespace:
  // ~2.4 ms of the ~3 ms from a started helper's plan to its child here, measured).
  if (!early.helper) {
    early.helper = f.sys.startHelper?.(earlyCloneFlags(spec, cloneInto ? { cloneInto } : {}));
  }
  const rootfs = rootfsPath(spec, bundle);
  const rootfsDev = checkRootfs(rootfs, spec);
  // Probed only for a spec they matter to (a few failing reads: 0.06 ms a container).
  const host = hostFeaturesMatter(spec) ? probeHostFeatures() : NO_HOST_FEATURES;
  for (const warning of checkHostFeatures(spec, host)) f.warn(warning);
  const seccomp = spec.linux?.seccomp ? await compiledSeccomp(spec.linux.seccomp) : undefined;

  // Before anything is created: a user namespace the host refuses, or a rootless
  // spec whose maps cannot be written, is refused here with what to change.
  const newUserns = spec.linux?.namespaces?.some((n) => n.type === "user" && !n.path) ?? false;
  const refusal = newUserns ? userNamespacesRefusal() : undefined;
  if (refusal) throw new ConfigError("config.json", "linux.namespaces", refusal);
  const maps = rootless && newUserns ? rootlessMaps(spec) : undefined;
  const dir = join(f.root, id);
  // Synchronous: a directory in the state root is a short local call (a trip to Deno's
  // thread pool costs more). The root exists but for the first container: one mkdir.
  if (!mkdirNew(id, dir)) {
    // No root yet, or something else: the full way, whose errors name it.
    try {
      Deno.mkdirSync(f.root, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw stateRootError(f.root, e);
    }
    try {
      if (!mkdirNew(id, dir)) Deno.mkdirSync(dir, { mode: 0o711 });
    } catch (e) {
      throw stateRootError(f.root, e);
    }
  }
  // A run's directory is marked "not started" (NOT_STARTED_MODE in state.ts) where a
  // create makes its exec fifo (below): from here on, a crash leaves a "creating"
  // container that `delete --force` cleans up. A file system that keeps no such bit gets
  // the fifo.
  let fifoMarks = waitForStart;
  if (!waitForStart) {
    try {
      markNotStarted(dir, true);
      fifoMarks = !markedNotStarted(dir);
    } catch {
      fifoMarks = true;
    }
  }
  const lock = await lockDir(dir);
  mark("create: host checked, state directory made and locked", id);
  let cgroup: CgroupManager | undefined;
  let stdio: PreparedStdio | undefined;
  let initProc: ContainerProcess | undefined;
  let spawnedPid = 0;
  let prepared: Promise<void> | undefined;
  let stateText = "";
  let rdt: ResctrlGroup | undefined;
  try {
    cgroup = manager0;
    if (rootless && cgroup.driver === "none" && !opts.cgroupDriver) warnNoCgroups(f);
    const state = newState({
      id,
      bundle,
      rootfs,
      config: spec,
      namespaces: [
        ...new Set((spec.linux?.namespaces ?? []).map((n) => n.type)),
      ] as NamespaceType[],
      cgroup: cgroup.saved(),
      rootless,
    });
    const hooks = spec.hooks;
    // The hooks' code, only for a config that has hooks or a seccomp agent (told the same
    // state): the bundled CLI keeps it in a small chunk of its own, which `start` and
    // `delete` load too, for such a config only (see core/container.ts).
    const hooking = hooks || seccomp?.listenerPath ? await import("./hooks.ts") : undefined;
    const base = hooking?.hookBase(spec, id, bundle);
    const initHooks: InitHooks | undefined = hooks && hooking && base
      ? {
        barrier: (hooks.prestart?.length ?? 0) + (hooks.createRuntime?.length ?? 0) > 0,
        createContainer: hooks.createContainer ?? [],
        startContainer: hooks.startContainer ?? [],
        creatingState: hooking.splitStateJson({ ...base, status: "creating" }),
        createdState: hooking.splitStateJson({ ...base, status: "created" }),
      }
      : undefined;
    const execLabel = spec.process ? execLabelWrite(spec.process, host) : undefined;
    if (spec.linux?.intelRdt && host.resctrl) {
      rdt = resctrlGroup(host.resctrl, id, spec.linux.intelRdt);
    }
    const fifo = join(dir, "exec.fifo");
    if (fifoMarks) {
      // The fifo exists from the start: a crash before the state is complete leaves
      // a "creating" container that `delete --force` cleans up.
      f.sys.mkfifo(fifo, 0o622);
      // The umask trimmed it: an init that switched to another user must still open it.
      Deno.chmodSync(fifo, 0o622);
    }

    if (nestsUserNamespace(spec, { bundle, noPivot: opts.noPivot === true, rootless: maps })) {
      state.nestedUserns = true;
    }
    const resources = pidsAsVersioned(
      spec.ociVersion,
      deviceRules ? effectiveResources(spec) : spec.linux?.resources,
    );
    const manager = cgroup;
    // The first state.json comes before anything of the container exists outside its
    // directory (its resctrl group, its cgroup), so that a crash leaves what `delete --force`
    // needs.
    const writeFirst = async () => {
      if (rdt) {
        rdt.create();
        state.resctrl = {
          dir: rdt.dir,
          created: rdt.created,
          ...(rdt.monitor ? { monitor: rdt.monitor } : {}),
        };
      }
      // The directory is new: state.json is written in place (see writeNew).
      await writeNew(join(dir, "state.json"), JSON.stringify(state));
    };
    const limit = async () => {
      if (resources) await manager.set(resources);
    };
    // A cgroup to clone into must exist before the spawn: it is made (off the event loop)
    // while the plan is built, and limited while the helper clones the init, which waits for
    // its go until then. Elsewhere all of it happens while the helper spawns.
    let made: Promise<void> | undefined;
    if (cloneInto) {
      await writeFirst();
      prepared = made = manager.create();
      made.catch(() => {}); // awaited below, or by the catch
      // Lets create() reach its native call before the plan is built on this thread: a few
      // turns of the microtask queue (the cgroupfs v2 driver's takes 3 once its modules are
      // loaded, measured; a driver that must wait for I/O first just overlaps less). A timer
      // (setTimeout 0) did the same but cost 4 ms a container in the emulated VM.
      for (let i = 0; i < 16; i++) await undefined;
    }
    const plan = buildInitPlan(spec, {
      bundle,
      id,
      host: hostFactsWithRootfs(rootfs, rootfsDev),
      ...(cloneInto ? { cloneInto } : {}),
      ...(waitForStart ? { fifoPath: fifo } : {}),
      noPivot: opts.noPivot === true,
      noNewKeyring: opts.noNewKeyring === true,
      preserveFds: opts.preserveFds?.length ?? 0,
      cgroupView: cgroup.view(),
      ...(seccomp ? { seccomp } : {}),
      ...(initHooks ? { hooks: initHooks } : {}),
      ...(execLabel ? { execLabel } : {}),
      ...(spec.linux?.mountLabel && host.selinux ? { mountLabel: spec.linux.mountLabel } : {}),
      ...(maps ? { rootless: maps } : {}),
      ...(opts.landlock ? { landlock: opts.landlock } : {}),
      ...(opts.reaperInit ? { reaperInit: true } : {}),
      ...(opts.loopback ? { loopback: true } : {}),
    });
    mark("create: cgroup manager made, plan built", id);
    stdio = f.sys.prepareStdio(opts.stdio);
    if (made) await made;
    // The helper starts on another thread; meanwhile this one writes the first
    // state and (when the driver can do it before a pid exists) creates and limits
    // the cgroup. The child waits for GO, which comes only after both (so a crash
    // after GO always leaves state to delete). A driver whose cgroup cannot exist
    // before its first pid (a systemd scope) gets apply(pid), then set().
    // place() may run before spawnPlan returns: it waits for `prepared` to exist.
    const prepare = made ? limit : async () => {
      await writeFirst();
      if (limitsBeforePid) {
        await manager.create();
        await limit();
      }
    };
    const preparing = Promise.withResolvers<Promise<void>>();
    // Resolved with `prepared`, it rejects with it: observed through place(), or by the
    // catch below when the spawn fails first (an unhandled rejection would end Deno).
    preparing.promise.catch(() => {});
    const spawning = f.sys.spawnPlan(plan, {
      fds: [...stdio.fds, ...(opts.preserveFds ?? [])],
      ...(early.helper ? { helper: early.helper } : {}),
      place: async (pid, cloneRefused) => {
        spawnedPid = pid;
        mark("create: helper spawned, child cloned", id);
        await (await preparing.promise);
        mark("create: first state written, cgroup made and limited", id);
        await manager.apply(pid, cloneInto && cloneRefused === 0 ? { clonedInto: true } : {});
        if (!limitsBeforePid && resources) await manager.set(resources);
        rdt?.apply(pid);
        mark("create: child placed in its cgroup", id);
      },
      // The state with the init's pid is written while the child sets itself up.
      duringSetup: async (pid, startTime) => {
        state.initPid = pid;
        state.cgroup = manager.saved();
        // Read by the native spawn off the event loop; 0 when it could not.
        state.initStartTime = startTime || (f.sys.procStat(pid)?.startTime ?? 0);
        stateText = JSON.stringify(state);
        await writeAtomic(join(dir, "state.json"), stateText);
        mark("create: state written", id);
      },
      until: waitForStart ? "ready" : "exec",
      ...(opts.onPty ? { onPty: opts.onPty } : {}),
      ...(seccomp?.listenerPath && base
        ? {
          onSeccomp: seccompAgentSender(seccomp.listenerPath, base, f.sys, {
            metadata: spec.linux?.seccomp?.listenerMetadata,
          }),
        }
        : {}),
      onBarrier: async (pid) => {
        if (!hooking || !base) return; // no hooks, no barrier
        await hooking.runHooks("prestart", hooks, { ...base, status: "creating", pid }, f.sys);
        await hooking.runHooks("createRuntime", hooks, { ...base, status: "creating", pid }, f.sys);
      },
    });
    prepared = prepare();
    prepared.catch(() => {}); // observed through place(); never an unhandled rejection
    preparing.resolve(prepared);
    const spawned = await spawning;
    mark(
      waitForStart
        ? "create: child set up, waiting on the fifo"
        : "create: child set up and exec'd",
      id,
    );
    stdio.closeChildEnds();
    initProc = new ContainerProcess(
      spawned.pid,
      spawned.pidfd,
      stdio.parent(),
      opts.onPty ? undefined : spawned.ptyFd,
      f.sys,
    );
    opts.onPidfd?.(spawned.pidfd);
    if (!waitForStart) {
      // Started: "running" from here (a create's start removes its fifo instead).
      try {
        if (fifoMarks) Deno.removeSync(fifo);
        else markNotStarted(dir, false);
      } catch { /* gone */ }
      if (hooking && base) {
        await hooking.runHooksWarn(
          "poststart",
          hooks,
          { ...base, status: "running", pid: spawned.pid },
          f.warn,
          f.sys,
        );
      }
    }
    return new Container(state, dir, cgroup, {
      init: initProc,
      onWarning: f.warn,
      syscalls: f.sys,
      stateText,
    });
  } catch (e) {
    // Leave nothing behind: process, cgroup, state directory, fds.
    await prepared?.catch(() => {});
    if (initProc) await initProc[Symbol.asyncDispose]().catch(() => {});
    stdio?.abort();
    const error = cgroup && spawnedPid > 0 ? await explainOom(e, cgroup, spec) : e;
    if (cgroup) {
      await cgroup.killAll(9).catch(() => {});
      await cgroup.destroy().catch(() => {});
    }
    rdt?.destroy();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    // A failed create continues at delete: poststop hooks run (their failures are warnings).
    if (spawnedPid > 0 && spec.hooks?.poststop) {
      const s = { ociVersion: spec.ociVersion, id, bundle, status: "stopped" };
      await (await import("./hooks.ts")).runHooksWarn("poststop", spec.hooks, s, f.warn, f.sys);
    }
    throw error;
  } finally {
    lock.release();
  }
}

/**
 * Makes a container's state directory: true when made, false when that failed otherwise than
 * because it exists (a `ContainerIdError`, as runc says it).
 */
function mkdirNew(id: string, dir: string): boolean {
  try {
    Deno.mkdirSync(dir, { mode: 0o711 });
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new ContainerIdError(id, "container with given ID already exists");
    }
    return false;
  }
}

const seccompCache = new Map<string, CompiledSeccomp>();

/**
 * A spec's seccomp filter compiled, remembered per process: a program that starts many
 * containers with one profile (a sandbox per command) compiles it once.
 */
async function compiledSeccomp(seccomp: LinuxSeccomp): Promise<CompiledSeccomp> {
  const key = JSON.stringify(seccomp);
  const hit = seccompCache.get(key);
  if (hit) return hit;
  // Loaded only when needed: `nsinit state` and friends never pay for libseccomp.
  const compiled = (await import("../seccomp/compile.ts")).compileSeccomp(seccomp, {
    requireExecve: true,
  });
  if (seccompCache.size >= 16) seccompCache.delete(seccompCache.keys().next().value!);
  seccompCache.set(key, compiled);
  return compiled;
}

/** Checks the rootfs and the cwd; returns the rootfs's device. */
function checkRootfs(rootfs: string, spec: Spec): number {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(rootfs);
  } catch {
    throw new ConfigError("config.json", "root.path", `rootfs "${rootfs}" does not exist`);
  }
  if (!st.isDirectory) {
    throw new ConfigError("config.json", "root.path", `rootfs "${rootfs}" is not a directory`);
  }
  const cwd = spec.process?.cwd;
  if (cwd && !isAbsolute(cwd)) {
    throw new ConfigError("config.json", "process.cwd", `must be absolute, got "${cwd}"`);
  }
  return st.dev;
}

/**
 * An init killed during setup in a cgroup whose memory limit was hit died of that limit:
 * say so, naming the field (runc: `unable to set memory limit to 1`), instead of "exited
 * during setup without a report".
 */
async function explainOom(e: unknown, cgroup: CgroupManager, spec: Spec): Promise<unknown> {
  const limit = spec.linux?.resources?.memory?.limit;
  if (limit === undefined || limit <= 0 || !(e instanceof SyscallError)) return e;
  try {
    const stats = await cgroup.stats();
    if ((stats.memory?.usage.failcnt ?? 0) === 0) return e;
  } catch {
    return e;
  }
  return new CgroupError(
    "linux.resources.memory.limit",
    `unable to set memory limit to ${limit}: the container's init was killed by the OOM ` +
      `killer during setup (${e.message})`,
    { cause: e },
  );
}

/**
 * The error for a state root that cannot be created: says what to change. (Here, not in
 * state_root.ts, which every command loads: only a create makes the root.)
 */
function stateRootError(root: string, e: unknown): Error {
  if (e instanceof Deno.errors.PermissionDenied) {
    const uid = Deno.uid();
    const hint = uid !== 0 && root === SYSTEM_ROOT
      ? ": as an unprivileged user set XDG_RUNTIME_DIR (state goes to $XDG_RUNTIME_DIR/nsinit) " +
        "or pass --root DIR (a directory you can write)"
      : ": pass --root DIR (a directory you can write)";
    return new Error(`cannot create a container in ${root}: permission denied${hint}`, {
      cause: e,
    });
  }
  return e instanceof Error ? e : new Error(String(e));
}
