/**
 * Parsing of OCI mount options into mount(2) flags, propagation changes,
 * mount_setattr(2) recursive attributes and filesystem data, as runc's
 * `parseMountOptions` (libcontainer/specconv) does.
 *
 * @example Parsing the options of a bind mount
 * ```ts
 * import assert from "node:assert/strict";
 * import { MS_BIND, MS_NOSUID, MS_PRIVATE, MS_REC, parseMountOptions } from "./mount_options.ts";
 * const o = parseMountOptions(["rbind", "nosuid", "rprivate", "mode=755"]);
 * assert.equal(o.flags, (MS_BIND | MS_REC | MS_NOSUID));
 * assert.equal(o.propagation[0], (MS_PRIVATE | MS_REC));
 * assert.equal(o.data, "mode=755");
 * assert.ok(o.bind);
 * assert.ok(o.recursive);
 * ```
 *
 * @module
 */

/** Mount read-only. */
export const MS_RDONLY = 1;
/** Ignore suid and sgid bits. */
export const MS_NOSUID = 2;
/** Disallow access to device special files. */
export const MS_NODEV = 4;
/** Disallow program execution. */
export const MS_NOEXEC = 8;
/** Writes are synced at once. */
export const MS_SYNCHRONOUS = 16;
/** Alter flags of a mounted filesystem. */
export const MS_REMOUNT = 32;
/** Allow mandatory locks. */
export const MS_MANDLOCK = 64;
/** Directory modifications are synchronous. */
export const MS_DIRSYNC = 128;
/** Do not follow symlinks (Linux 5.10). */
export const MS_NOSYMFOLLOW = 256;
/** Do not update access times. */
export const MS_NOATIME = 1024;
/** Do not update directory access times. */
export const MS_NODIRATIME = 2048;
/** Bind mount. */
export const MS_BIND = 4096;
/** Move a subtree. */
export const MS_MOVE = 8192;
/** Recursive (with MS_BIND or a propagation flag). */
export const MS_REC = 16384;
/** Suppress some kernel warnings. */
export const MS_SILENT = 32768;
/** Make the mount unbindable. */
export const MS_UNBINDABLE = 1 << 17;
/** Make the mount private. */
export const MS_PRIVATE = 1 << 18;
/** Make the mount a slave. */
export const MS_SLAVE = 1 << 19;
/** Make the mount shared. */
export const MS_SHARED = 1 << 20;
/** Update atime relative to mtime/ctime. */
export const MS_RELATIME = 1 << 21;
/** Update inode I_version. */
export const MS_I_VERSION = 1 << 23;
/** Always update atime. */
export const MS_STRICTATIME = 1 << 24;
/** Update times lazily. */
export const MS_LAZYTIME = 1 << 25;

/** mount_setattr: read-only. */
export const MOUNT_ATTR_RDONLY = 0x1;
/** mount_setattr: ignore suid and sgid bits. */
export const MOUNT_ATTR_NOSUID = 0x2;
/** mount_setattr: disallow access to device special files. */
export const MOUNT_ATTR_NODEV = 0x4;
/** mount_setattr: disallow program execution. */
export const MOUNT_ATTR_NOEXEC = 0x8;
/** mount_setattr: mask of the access-time setting. */
export const MOUNT_ATTR__ATIME = 0x70;
/** mount_setattr: relative atime (the value 0 within MOUNT_ATTR__ATIME). */
export const MOUNT_ATTR_RELATIME = 0x0;
/** mount_setattr: do not update access times. */
export const MOUNT_ATTR_NOATIME = 0x10;
/** mount_setattr: always update atime. */
export const MOUNT_ATTR_STRICTATIME = 0x20;
/** mount_setattr: do not update directory access times. */
export const MOUNT_ATTR_NODIRATIME = 0x80;
/** mount_setattr: idmapped mount. */
export const MOUNT_ATTR_IDMAP = 0x100000;
/** mount_setattr: do not follow symlinks. */
export const MOUNT_ATTR_NOSYMFOLLOW = 0x200000;

/** The result of {@linkcode parseMountOptions}. */
export interface ParsedMountOptions {
  /** MS_* flags to set. */
  flags: number;
  /** MS_* flags explicitly cleared by an option such as `rw`, `suid` or `exec`. */
  clearFlags: number;
  /** Propagation changes (MS_PRIVATE, MS_SHARED|MS_REC, ...) in the order given. */
  propagation: number[];
  /** MOUNT_ATTR_* to set recursively (`rro`, `rnosuid`, ...). */
  recAttrSet: number;
  /** MOUNT_ATTR_* to clear recursively (`rrw`, `rsuid`, ..., and MOUNT_ATTR__ATIME with an atime option). */
  recAttrClr: number;
  /** Options the kernel flags do not cover, joined with ",", for mount(2)'s data. */
  data: string;
  /** Whether MS_BIND is set (`bind` or `rbind`). */
  bind: boolean;
  /** Whether this is a recursive bind (`rbind`). */
  recursive: boolean;
  /** `tmpcopyup`: copy the directory's contents up into the new tmpfs. */
  tmpcopyup: boolean;
  /** `idmap` or `ridmap`: make an idmapped mount. */
  idmap: boolean;
  /** `ridmap`: the idmapping applies recursively. */
  idmapRecursive: boolean;
}

/** Options that set (`false`) or clear (`true`) an MS_* flag, as in runc. */
const MOUNT_FLAGS: Readonly<Record<string, readonly [clear: boolean, flag: number]>> = {
  async: [true, MS_SYNCHRONOUS],
  atime: [true, MS_NOATIME],
  bind: [false, MS_BIND],
  dev: [true, MS_NODEV],
  diratime: [true, MS_NODIRATIME],
  dirsync: [false, MS_DIRSYNC],
  exec: [true, MS_NOEXEC],
  iversion: [false, MS_I_VERSION],
  lazytime: [false, MS_LAZYTIME],
  loud: [true, MS_SILENT],
  mand: [false, MS_MANDLOCK],
  noatime: [false, MS_NOATIME],
  nodev: [false, MS_NODEV],
  nodiratime: [false, MS_NODIRATIME],
  noexec: [false, MS_NOEXEC],
  noiversion: [true, MS_I_VERSION],
  nolazytime: [true, MS_LAZYTIME],
  nomand: [true, MS_MANDLOCK],
  norelatime: [true, MS_RELATIME],
  nostrictatime: [true, MS_STRICTATIME],
  nosuid: [false, MS_NOSUID],
  nosymfollow: [false, MS_NOSYMFOLLOW],
  rbind: [false, MS_BIND | MS_REC],
  relatime: [false, MS_RELATIME],
  remount: [false, MS_REMOUNT],
  ro: [false, MS_RDONLY],
  rw: [true, MS_RDONLY],
  silent: [false, MS_SILENT],
  strictatime: [false, MS_STRICTATIME],
  suid: [true, MS_NOSUID],
  sync: [false, MS_SYNCHRONOUS],
  symfollow: [true, MS_NOSYMFOLLOW],
};

/** Propagation options and their flags. */
const PROPAGATION: Readonly<Record<string, number>> = {
  private: MS_PRIVATE,
  rprivate: MS_PRIVATE | MS_REC,
  slave: MS_SLAVE,
  rslave: MS_SLAVE | MS_REC,
  shared: MS_SHARED,
  rshared: MS_SHARED | MS_REC,
  unbindable: MS_UNBINDABLE,
  runbindable: MS_UNBINDABLE | MS_REC,
};

/** Recursive mount_setattr options that set (`false`) or clear (`true`) a MOUNT_ATTR_*. */
const REC_ATTRS: Readonly<Record<string, readonly [clear: boolean, attr: number]>> = {
  rro: [false, MOUNT_ATTR_RDONLY],
  rrw: [true, MOUNT_ATTR_RDONLY],
  rnosuid: [false, MOUNT_ATTR_NOSUID],
  rsuid: [true, MOUNT_ATTR_NOSUID],
  rnodev: [false, MOUNT_ATTR_NODEV],
  rdev: [true, MOUNT_ATTR_NODEV],
  rnoexec: [false, MOUNT_ATTR_NOEXEC],
  rexec: [true, MOUNT_ATTR_NOEXEC],
  rnodiratime: [false, MOUNT_ATTR_NODIRATIME],
  rdiratime: [true, MOUNT_ATTR_NODIRATIME],
  rrelatime: [false, MOUNT_ATTR_RELATIME],
  rnorelatime: [true, MOUNT_ATTR_RELATIME],
  rnoatime: [false, MOUNT_ATTR_NOATIME],
  ratime: [true, MOUNT_ATTR_NOATIME],
  rstrictatime: [false, MOUNT_ATTR_STRICTATIME],
  rnostrictatime: [true, MOUNT_ATTR_STRICTATIME],
  rnosymfollow: [false, MOUNT_ATTR_NOSYMFOLLOW],
  rsymfollow: [true, MOUNT_ATTR_NOSYMFOLLOW],
};

/**
 * Every mount option {@linkcode parseMountOptions} interprets itself (all others go to
 * `data`), sorted; what `features` reports as `mountOptions`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KNOWN_MOUNT_OPTIONS } from "./mount_options.ts";
 * assert.ok(KNOWN_MOUNT_OPTIONS.includes("rro"));
 * ```
 */
export const KNOWN_MOUNT_OPTIONS: readonly string[] = Object.freeze(
  [
    ...Object.keys(MOUNT_FLAGS),
    ...Object.keys(PROPAGATION),
    ...Object.keys(REC_ATTRS),
    "defaults",
    "tmpcopyup",
    "idmap",
    "ridmap",
  ].sort(),
);

const own = (table: object, key: string): boolean => Object.hasOwn(table, key);

/**
 * Parses OCI mount options the way runc does. Later options override earlier ones
 * (`ro` then `rw` leaves MS_RDONLY cleared); unknown options are passed to the
 * filesystem in `data`, in order. `defaults` is accepted and does nothing (runc
 * passes it on in `data`, where filesystems such as tmpfs reject it).
 *
 * @example Read-only remount flags and tmpfs data
 * ```ts
 * import assert from "node:assert/strict";
 * import { MS_NODEV, MS_RDONLY, parseMountOptions } from "./mount_options.ts";
 * const o = parseMountOptions(["nodev", "ro", "rw", "size=64k"]);
 * assert.equal(o.flags, MS_NODEV);
 * assert.equal(o.clearFlags, MS_RDONLY);
 * assert.equal(o.data, "size=64k");
 * ```
 */
export function parseMountOptions(options: string[] | undefined): ParsedMountOptions {
  const out: ParsedMountOptions = {
    flags: 0,
    clearFlags: 0,
    propagation: [],
    recAttrSet: 0,
    recAttrClr: 0,
    data: "",
    bind: false,
    recursive: false,
    tmpcopyup: false,
    idmap: false,
    idmapRecursive: false,
  };
  const data: string[] = [];
  for (const o of options ?? []) {
    if (own(MOUNT_FLAGS, o)) {
      const [clear, flag] = MOUNT_FLAGS[o];
      if (clear) {
        out.flags &= ~flag;
        out.clearFlags |= flag;
      } else {
        out.flags |= flag;
        out.clearFlags &= ~flag;
      }
    } else if (own(PROPAGATION, o)) {
      out.propagation.push(PROPAGATION[o]);
    } else if (own(REC_ATTRS, o)) {
      const [clear, attr] = REC_ATTRS[o];
      if (clear) {
        out.recAttrClr |= attr;
        out.recAttrSet &= ~attr;
      } else {
        out.recAttrSet |= attr;
        out.recAttrClr &= ~attr;
        // mount_setattr(2): an access-time setting in attr_set needs MOUNT_ATTR__ATIME in attr_clr.
        if ((attr & MOUNT_ATTR__ATIME) === attr) out.recAttrClr |= MOUNT_ATTR__ATIME;
      }
    } else if (o === "tmpcopyup") {
      out.tmpcopyup = true;
    } else if (o === "idmap" || o === "ridmap") {
      out.idmap = true;
      out.idmapRecursive = o === "ridmap";
    } else if (o !== "defaults") {
      data.push(o);
    }
  }
  out.data = data.join(",");
  out.bind = (out.flags & MS_BIND) !== 0;
  out.recursive = out.bind && (out.flags & MS_REC) !== 0;
  return out;
}
