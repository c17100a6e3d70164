/**
 * Restore: a container brought back from CRIU images under the same or a new
 * id. As runc: the rootfs is bind-mounted at `<state>/criu-root` (CRIU's root
 * must be a mount point); CRIU itself is put into the container's cgroups, made
 * through the active driver, and told their paths as cgroup roots; CRIU restores
 * the tree as a sibling, so the restored init is this process's child; pipes the
 * init had on fds 0-2 are reconnected to the new stdio; a terminal comes back as a
 * new pty master through `orphan-pts-master`. The result is an ordinary container.
 *
 * @module
 */

import { join, resolve } from "../util/path.ts";
import { mark } from "../util/trace.ts";
import { exists, isDirectory } from "../util/fs.ts";
import type { NamespaceType, Spec } from "../spec/config.ts";
import { parseSpec } from "../spec/validate.ts";
import { createCgroupManager } from "../drivers/factory.ts";
import { parseProcCgroup } from "../cgroups/paths.ts";
import type { CgroupManager } from "../drivers/driver.ts";
import { ConfigError, ContainerIdError, CriuError } from "../errors.ts";
import { check, cstr, native } from "../native/ffi.ts";
import { rootfsPath } from "../core/init_plan.ts";
import { type ContainerState, lockDir, procStat, validateId } from "../core/state.ts";
import { newState, writeAtomic } from "../core/state_write.ts";
import { readBundleSpec } from "../core/bundle_spec.ts";
import { effectiveResources } from "../core/devices.ts";
import { pidsAsVersioned } from "../core/factory.ts";
import { hookBase, runHooks } from "../core/hooks.ts";
import { ContainerProcess } from "../core/process.ts";
import { prepareStdio } from "../core/stdio.ts";
import { type HostFeatures, probeHostFeatures } from "../core/host_features.ts";
import {
  cgroup_rootSchema,
  create,
  criu_optsSchema,
  criu_req_type,
  ext_mount_mapSchema,
  inherit_fdSchema,
  join_namespaceSchema,
} from "./proto.ts";
import { swrk } from "./swrk.ts";
import {
  checkLsmOptions,
  emptyNsMask,
  externalMounts,
  externalNsKey,
  type RestoreOptions,
  SAVED,
} from "./options.ts";
import {
  cgMode,
  commonOpts,
  openDir,
  prepareCriu,
  ProgressTicker,
  requireFeatures,
  validPid,
} from "./session.ts";

/** What {@link restoreContainer} hands back to the factory. */
export interface Restored {
  /** The state written for the restored container. */
  state: ContainerState;
  /** Its state directory. */
  dir: string;
  /** Its cgroup manager. */
  cgroup: CgroupManager;
  /** The restored init (this process's child). */
  init: ContainerProcess;
}

/** The mount point of the rootfs CRIU restores into, inside the state directory. */
export const CRIU_ROOT = "criu-root";

const O_RDONLY = 0;

/**
 * Restores a container into `<root>/<id>` from `opts.imagePath`. Leaves nothing on failure.
 * `host` is what the host offers (probed by default; tests inject it).
 */
export async function restoreContainer(
  root: string,
  id: string,
  opts: RestoreOptions,
  host: Pick<HostFeatures, "apparmor" | "selinux"> = probeHostFeatures(),
): Promise<Restored> {
  validateId(id);
  // As runc: CRIU restores only as root; an unprivileged caller would make a rootless container.
  if (Deno.uid() !== 0) {
    throw new CriuError({
      request: "RESTORE",
      detail: `cannot restore a rootless container ("${id}"): CRIU needs root`,
    });
  }
  if (!opts.imagePath) throw new TypeError("restore: imagePath is required");
  const imagePath = resolve(opts.imagePath);
  const mode = cgMode(opts.manageCgroupsMode);
  const emptyNs = emptyNsMask(opts.emptyNs);
  checkLsmOptions(opts, host);
  if (!isDirectory(imagePath)) {
    throw new ConfigError(
      imagePath,
      "",
      exists(imagePath) ? "the image path is not a directory" : "the image path does not exist",
    );
  }
  const saved = readSaved(imagePath);
  const bundle = resolve(opts.bundle ?? saved.bundle ?? Deno.cwd());
  let spec: Spec;
  if (opts.spec) spec = structuredClone(opts.spec);
  else if (opts.bundle !== undefined || !saved.config) spec = await readBundleSpec(bundle);
  else spec = saved.config;
  const rootfs = rootfsPath(spec, bundle);
  const descriptors = saved.descriptors;
  const { binary, version } = await prepareCriu(opts.criu, root);
  if (opts.lazyPages) await requireFeatures(binary, "RESTORE", ["lazyPages"]);
  if ((opts.lsmProfile || opts.lsmMountContext) && version.number < 31600) {
    throw new CriuError({
      request: "RESTORE",
      detail: "--lsm-profile and --lsm-mount-context need CRIU 3.16",
    });
  }

  await Deno.mkdir(root, { recursive: true, mode: 0o700 });
  const dir = join(root, id);
  try {
    await Deno.mkdir(dir, { mode: 0o711 });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      throw new ContainerIdError(id, "container with given ID already exists");
    }
    throw e;
  }
  const lock = await lockDir(dir);
  const lib = native();
  const fds: number[] = [];
  const criuRoot = join(dir, CRIU_ROOT);
  let mounted = false;
  let cgroup: CgroupManager | undefined;
  let stdio: ReturnType<typeof prepareStdio> | undefined;
  let ptyFd: number | undefined;
  let init: ContainerProcess | undefined;
  // The restore is "creating" until it ends: a crash leaves a container only
  // `delete --force` removes (it kills what is in the cgroup, unmounts criu-root).
  const marker = join(dir, "exec.fifo");
  try {
    check(lib.nsi_mkfifo(cstr(marker), 0o600), "mkfifo", marker);
    cgroup = await createCgroupManager({
      id,
      rootless: Deno.uid() !== 0,
      ...(spec.linux?.cgroupsPath !== undefined ? { cgroupsPath: spec.linux.cgroupsPath } : {}),
      ...(spec.linux?.resources
        ? { resources: pidsAsVersioned(spec.ociVersion, spec.linux.resources) }
        : {}),
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
      ...(opts.systemdCgroup ? { driver: "systemd" as const } : {}),
    });
    const manager = cgroup;
    const namespaces = [...new Set((spec.linux?.namespaces ?? []).map((n) => n.type))];
    // CRIU 3.14+ restores into a new time namespace; exec must join it too.
    if (!namespaces.includes("time")) namespaces.push("time");
    const state = newState({
      id,
      bundle,
      rootfs,
      config: spec,
      namespaces: namespaces as NamespaceType[],
      cgroup: manager.saved(),
      rootless: Deno.uid() !== 0,
    });
    state.criuWorkDir = opts.workPath ? resolve(opts.workPath) : imagePath;
    await writeAtomic(join(dir, "state.json"), JSON.stringify(state));
    mark("restore:state");

    const imagesFd = openDir(imagePath);
    fds.push(imagesFd);
    Deno.mkdirSync(criuRoot, { mode: 0o755 });
    check(
      lib.nsi_bind_mount(cstr(rootfs), cstr(criuRoot)),
      "mount --rbind",
      `${rootfs} on ${criuRoot}`,
    );
    mounted = true;
    mark("restore:mounted");
    const ropts = create(criu_optsSchema, {
      imagesDirFd: imagesFd,
      evasiveDevices: true,
      logLevel: 4,
      logFile: "restore.log",
      rstSibling: true,
      root: Deno.realPathSync(criuRoot),
      manageCgroups: true,
      manageCgroupsMode: mode,
      notifyScripts: true,
      shellJob: opts.shellJob === true,
      extUnixSk: opts.extUnixSk === true,
      tcpEstablished: opts.tcpEstablished === true,
      fileLocks: opts.fileLocks === true,
      emptyNs,
      orphanPtsMaster: true,
      autoDedup: opts.autoDedup === true,
      lazyPages: opts.lazyPages === true,
    });
    if (opts.lsmProfile) ropts.lsmProfile = opts.lsmProfile;
    if (opts.lsmMountContext) ropts.lsmMountContext = opts.lsmMountContext;
    const logDir = commonOpts(ropts, opts, spec.annotations, imagePath, fds);

    // stdio: CRIU's 0-2 become the restored init's where it had pipes; 3 is the socket.
    stdio = prepareStdio(opts.stdio);
    const extraFds: number[] = [];
    for (const ns of spec.linux?.namespaces ?? []) {
      if (!ns.path) continue;
      if (ns.type === "network" || ns.type === "pid") {
        const fd = check(lib.nsi_open(cstr(ns.path), O_RDONLY, 0), "open", ns.path);
        fds.push(fd);
        ropts.inheritFd.push(
          create(inherit_fdSchema, { key: externalNsKey(ns.type), fd: 4 + extraFds.length }),
        );
        extraFds.push(fd);
      } else if (ns.type === "cgroup") {
        throw new ConfigError(
          "config.json",
          "linux.namespaces",
          "CRIU cannot join a cgroup namespace by path",
        );
      } else {
        ropts.joinNs.push(
          create(join_namespaceSchema, { ns: ns.type, nsFile: ns.path }),
        );
      }
    }
    const mounts = externalMounts(spec, {
      mode: "restore",
      bundle,
      cgroupView: manager.view(),
    });
    for (const m of mounts) ropts.extMnt.push(create(ext_mount_mapSchema, m));
    descriptors.forEach((d, i) => {
      if (d.includes("pipe:")) ropts.inheritFd.push(create(inherit_fdSchema, { key: d, fd: i }));
    });

    const resources = pidsAsVersioned(
      spec.ociVersion,
      manager.capabilities.deviceRules ? effectiveResources(spec) : spec.linux?.resources,
    );
    const base = hookBase(spec, id, bundle);
    let restoredPid = 0;
    using progress = new ProgressTicker(imagePath, "restore", opts.onProgress);
    mark("restore:criu");
    const resp = await swrk(binary, {
      type: criu_req_type.RESTORE,
      opts: ropts,
      stdio: [stdio.fds[0], stdio.fds[1], stdio.fds[2]],
      extraFds,
      log: join(logDir, "restore.log"),
      onStart: async (criuPid) => {
        // As runc: CRIU enters the container's cgroups, and restores the tree there.
        await manager.create();
        if (resources) await manager.set(resources);
        await manager.apply(criuPid);
        const own = parseProcCgroup(Deno.readTextFileSync(`/proc/${criuPid}/cgroup`));
        for (const [ctrl, path] of Object.entries(own)) {
          ropts.cgRoot.push(create(cgroup_rootSchema, { ctrl, path }));
        }
        state.cgroup = manager.saved();
        await writeAtomic(join(dir, "state.json"), JSON.stringify(state));
      },
      notify: {
        "setup-namespaces": async (n) => {
          progress.phase("setup-namespaces");
          const pid = validPid(n.pid, "setup-namespaces");
          await runHooks("prestart", spec.hooks, { ...base, status: "creating", pid });
          await runHooks("createRuntime", spec.hooks, { ...base, status: "creating", pid });
        },
        "post-setup-namespaces": () => progress.phase("post-setup-namespaces"),
        "network-unlock": () => progress.phase("network-unlock"),
        "network-lock": () => progress.phase("network-lock"),
        "post-restore": async (n) => {
          progress.phase("post-restore");
          restoredPid = validPid(n.pid, "post-restore");
          state.initPid = restoredPid;
          state.initStartTime = procStat(restoredPid)?.startTime ?? 0;
          await writeAtomic(join(dir, "state.json"), JSON.stringify(state));
          mark("restore:post-restore");
        },
        "orphan-pts-master": (n) => {
          if (n.fd === undefined) return;
          if (opts.onPty) opts.onPty(n.fd);
          else ptyFd = n.fd;
        },
        "status-ready": () => progress.phase("status-ready"),
      },
    });
    // The answer's pid must be the one post-restore named; never 0 or -1.
    const pid = validPid(resp.restore?.pid, "the RESTORE answer");
    if (restoredPid !== 0 && restoredPid !== pid) {
      throw new CriuError({
        request: "RESTORE",
        detail: `post-restore named pid ${restoredPid}, the answer ${pid}`,
      });
    }
    const pidfd = check(lib.nsi_pidfd_open(pid), "pidfd_open", String(pid));
    stdio.closeChildEnds();
    init = new ContainerProcess(pid, pidfd, stdio.parent(), ptyFd);
    ptyFd = undefined;
    state.initPid = pid;
    state.initStartTime = procStat(pid)?.startTime ?? 0;
    state.cgroup = manager.saved();
    progress.phase("done");
    await writeAtomic(join(dir, "state.json"), JSON.stringify(state));
    await Deno.remove(marker).catch(() => {});
    mark("restore:done");
    return { state, dir, cgroup: manager, init };
  } catch (e) {
    if (init) await init[Symbol.asyncDispose]().catch(() => {});
    if (ptyFd !== undefined) lib.nsi_close(ptyFd);
    stdio?.abort();
    if (cgroup) {
      await cgroup.killAll(9).catch(() => {});
      await cgroup.destroy().catch(() => {});
    }
    if (mounted) lib.nsi_umount_detach(cstr(criuRoot));
    mounted = false;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  } finally {
    if (mounted) {
      lib.nsi_umount_detach(cstr(criuRoot));
      await Deno.remove(criuRoot).catch(() => {});
    }
    for (const fd of fds) lib.nsi_close(fd);
    lock.release();
  }
}

/** What a checkpoint saved beside the images (each part optional: runc's images lack ours). */
function readSaved(imagePath: string): { config?: Spec; bundle?: string; descriptors: string[] } {
  const out: { config?: Spec; bundle?: string; descriptors: string[] } = { descriptors: [] };
  const file = join(imagePath, SAVED.config);
  try {
    out.config = parseSpec(Deno.readTextFileSync(file), file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  try {
    const st = JSON.parse(Deno.readTextFileSync(join(imagePath, SAVED.state))) as ContainerState;
    if (typeof st.bundle === "string") out.bundle = st.bundle;
  } catch { /* not saved by nsinit */ }
  try {
    const d = JSON.parse(Deno.readTextFileSync(join(imagePath, SAVED.descriptors)));
    if (Array.isArray(d)) out.descriptors = d.map(String);
  } catch { /* no pipes to reconnect */ }
  return out;
}
