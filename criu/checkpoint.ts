/**
 * Checkpoint: a DUMP (or PRE_DUMP) of a container's process tree with CRIU, as
 * runc's libcontainer does it: the rootfs as CRIU's root, the container's
 * freezer cgroup to freeze it, bind mounts, cgroup binds, masked files and
 * device nodes as external mounts, namespaces joined by path as external
 * namespaces; the container's config, state and stdio descriptors saved beside
 * the images for a later restore.
 *
 * @module
 */

import { dirname, join, resolve } from "../util/path.ts";
import { mark } from "../util/trace.ts";
import type { ContainerState } from "../core/state.ts";
import { writeAtomic } from "../core/state_write.ts";
import { CriuError } from "../errors.ts";
import type { CgroupManager } from "../drivers/driver.ts";
import { native } from "../native/ffi.ts";
import {
  create,
  criu_optsSchema,
  criu_page_server_infoSchema,
  criu_req_type,
  ext_mount_mapSchema,
} from "./proto.ts";
import { swrk } from "./swrk.ts";
import {
  type CheckpointOptions,
  emptyNsMask,
  externalMounts,
  externalNsKey,
  SAVED,
} from "./options.ts";
import {
  cgMode,
  commonOpts,
  type CriuFeature,
  LazyReady,
  makeDir,
  prepareCriu,
  ProgressTicker,
  requireFeatures,
  stdioDescriptors,
} from "./session.ts";

/** What a checkpoint needs of a container. */
export interface CheckpointTarget {
  /** Its persisted state (the init pid must be live). */
  state: ContainerState;
  /** Its state directory. */
  dir: string;
  /** Its cgroup manager (for the freezer path and the cgroup binds). */
  cgroup: CgroupManager;
}

/** The name of the marker runc leaves in the state directory after a dump. */
export const CHECKPOINTED = "checkpoint";

/**
 * Dumps (or pre-dumps) the container. Throws a CriuError with CRIU's errno and
 * log on failure; the container is then left as it was (CRIU resumes it).
 */
export async function checkpointContainer(
  target: CheckpointTarget,
  opts: CheckpointOptions,
): Promise<void> {
  const { state, cgroup } = target;
  const pid = state.initPid;
  // As runc: CRIU dumps only as root (it needs CAP_SYS_ADMIN and more in the initial user
  // namespace); asking it anyway would fail with its capability check instead of the reason.
  if (state.rootless || Deno.uid() !== 0) {
    throw new CriuError({
      request: opts.preDump ? "PRE_DUMP" : "DUMP",
      detail: `cannot checkpoint a rootless container ("${state.id}"): CRIU needs root; ` +
        "the container is left as it was",
    });
  }
  if (!opts.imagePath) throw new TypeError("checkpoint: imagePath is required");
  const mode = cgMode(opts.manageCgroupsMode);
  const emptyNs = emptyNsMask(opts.emptyNs);
  let ps: { address: string; port: number } | undefined;
  if (opts.pageServer) {
    const m = /^(.*):(\d+)$/.exec(opts.pageServer);
    if (!m || !m[1] || Number(m[2]) <= 0 || Number(m[2]) > 65535) {
      throw new RangeError(`page-server: "${opts.pageServer}" is not ADDRESS:PORT`);
    }
    ps = { address: m[1].replace(/^\[(.*)\]$/, "$1"), port: Number(m[2]) };
  }
  if (opts.lazyPages && !opts.preDump && !ps) {
    throw new RangeError(
      "lazy-pages: a checkpoint serves the pages from page-server ADDRESS:PORT; none given",
    );
  }
  // Before any work: a status fd that is not open for writing is refused.
  const lazy = new LazyReady(opts);
  let binary: string;
  try {
    // The state root remembers a passed CRIU check (see prepareCriu).
    ({ binary } = await prepareCriu(opts.criu, dirname(target.dir)));
    const features: CriuFeature[] = [];
    if (opts.preDump || opts.parentPath) features.push("memTrack");
    if (opts.lazyPages) features.push("lazyPages");
    await requireFeatures(binary, opts.preDump ? "PRE_DUMP" : "DUMP", features);
  } catch (e) {
    lazy.close();
    throw e;
  }
  mark("checkpoint:prepared");

  const imagePath = resolve(opts.imagePath);
  const lib = native();
  const fds: number[] = [];
  try {
    const imagesFd = makeDir(imagePath);
    fds.push(imagesFd);
    const ropts = create(criu_optsSchema, {
      imagesDirFd: imagesFd,
      logLevel: 4,
      logFile: opts.preDump ? "pre-dump.log" : "dump.log",
      root: state.rootfs,
      manageCgroups: true,
      manageCgroupsMode: mode,
      notifyScripts: true,
      pid,
      shellJob: opts.shellJob === true,
      leaveRunning: opts.leaveRunning === true,
      tcpEstablished: opts.tcpEstablished === true,
      extUnixSk: opts.extUnixSk === true,
      fileLocks: opts.fileLocks === true,
      emptyNs,
      orphanPtsMaster: true,
      autoDedup: opts.autoDedup === true,
      lazyPages: opts.lazyPages === true,
    });
    const logDir = commonOpts(ropts, opts, state.config.annotations, imagePath, fds);
    for (const ns of state.config.linux?.namespaces ?? []) {
      if ((ns.type === "network" || ns.type === "pid") && ns.path) {
        const ino = Deno.statSync(ns.path).ino;
        ropts.external.push(
          `${ns.type === "network" ? "net" : "pid"}[${ino}]:${externalNsKey(ns.type)}`,
        );
      }
    }
    const paths = cgroup.paths();
    const view = cgroup.view();
    const freezer = paths.freezer ?? (view.layout === "v2" ? paths[""] : undefined);
    if (freezer && cgroup.capabilities.freezer) ropts.freezeCgroup = freezer;
    if (ps) ropts.ps = create(criu_page_server_infoSchema, ps);
    if (opts.parentPath) {
      // CRIU resolves a relative path against the images directory, as runc documents.
      ropts.parentImg = opts.parentPath;
      ropts.trackMem = true;
    }
    if (opts.preDump) ropts.trackMem = true;

    if (!opts.preDump) {
      const maskedFiles = (state.config.linux?.maskedPaths ?? []).filter((p) => {
        try {
          return !Deno.statSync(`/proc/${pid}/root${p}`).isDirectory;
        } catch {
          return false;
        }
      });
      const mounts = externalMounts(state.config, {
        mode: "dump",
        bundle: state.bundle,
        cgroupView: view,
        maskedFiles,
      });
      for (const m of mounts) ropts.extMnt.push(create(ext_mount_mapSchema, m));
      await writeAtomic(
        join(imagePath, SAVED.descriptors),
        JSON.stringify(stdioDescriptors(pid)),
      );
      await writeAtomic(join(imagePath, SAVED.config), JSON.stringify(state.config, null, 2));
      await writeAtomic(join(imagePath, SAVED.state), JSON.stringify(state, null, 2));
    }

    const operation = opts.preDump ? "pre-dump" : "dump";
    using progress = new ProgressTicker(imagePath, operation, opts.onProgress);
    mark(`checkpoint:${operation}`);
    const phase = (name: string) => () => progress.phase(name);
    await swrk(binary, {
      type: opts.preDump ? criu_req_type.PRE_DUMP : criu_req_type.DUMP,
      opts: ropts,
      log: join(logDir, ropts.logFile),
      notify: {
        "pre-dump": phase("pre-dump"),
        "network-lock": phase("network-lock"),
        "network-unlock": phase("network-unlock"),
        "post-dump": async () => {
          progress.phase("post-dump");
          // As runc: a marker that the processes are in the images now.
          await Deno.writeTextFile(join(target.dir, CHECKPOINTED), "");
          mark("checkpoint:post-dump");
        },
        "status-ready": async () => {
          progress.phase("status-ready");
          await lazy.ready();
        },
      },
    });
    progress.phase("done");
    mark("checkpoint:done");
  } finally {
    lazy.close();
    for (const fd of fds) lib.nsi_close(fd);
    if (opts.leaveRunning || opts.preDump) {
      await Deno.remove(join(target.dir, CHECKPOINTED)).catch(() => {});
    }
  }
}
