import assert from "node:assert/strict";
import * as mo from "./mount_options.ts";
import {
  KNOWN_MOUNT_OPTIONS,
  MOUNT_ATTR__ATIME,
  MOUNT_ATTR_NOATIME,
  MOUNT_ATTR_NODEV,
  MOUNT_ATTR_NOEXEC,
  MOUNT_ATTR_NOSUID,
  MOUNT_ATTR_NOSYMFOLLOW,
  MOUNT_ATTR_RDONLY,
  MOUNT_ATTR_STRICTATIME,
  MS_BIND,
  MS_NOATIME,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_RELATIME,
  MS_SHARED,
  MS_SLAVE,
  MS_STRICTATIME,
  MS_SYNCHRONOUS,
  MS_UNBINDABLE,
  parseMountOptions,
} from "./mount_options.ts";

const HEADER = "/usr/include/linux/mount.h";

function empty(): mo.ParsedMountOptions {
  return {
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
}

Deno.test("no options parse to nothing", () => {
  assert.deepEqual(parseMountOptions(undefined), empty());
  assert.deepEqual(parseMountOptions([]), empty());
});

Deno.test("the options of runc's default spec", () => {
  assert.deepEqual(parseMountOptions(["nosuid", "strictatime", "mode=755", "size=65536k"]), {
    ...empty(),
    flags: MS_NOSUID | MS_STRICTATIME,
    data: "mode=755,size=65536k",
  });
  assert.deepEqual(
    parseMountOptions(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
    { ...empty(), flags: MS_NOSUID | MS_NOEXEC, data: "newinstance,ptmxmode=0666,mode=0620,gid=5" },
  );
  assert.deepEqual(parseMountOptions(["nosuid", "noexec", "nodev", "relatime", "ro"]), {
    ...empty(),
    flags: MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME | MS_RDONLY,
  });
  assert.deepEqual(parseMountOptions(["rbind", "nosuid", "noexec", "nodev", "ro"]), {
    ...empty(),
    flags: MS_BIND | MS_REC | MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY,
    bind: true,
    recursive: true,
  });
});

Deno.test("later options override earlier ones and record explicit clears", () => {
  const o = parseMountOptions([
    "ro",
    "rw",
    "nosuid",
    "suid",
    "exec",
    "dev",
    "atime",
    "sync",
    "async",
  ]);
  assert.equal(o.flags, 0);
  assert.equal(
    o.clearFlags,
    MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_NOATIME | MS_SYNCHRONOUS,
  );
  const again = parseMountOptions(["rw", "ro", "dev", "nodev"]);
  assert.equal(again.flags, MS_RDONLY | MS_NODEV);
  assert.equal(again.clearFlags, 0);
});

Deno.test("bind without rbind is not recursive", () => {
  const o = parseMountOptions(["bind", "ro"]);
  assert.equal(o.flags, MS_BIND | MS_RDONLY);
  assert.ok(o.bind);
  assert.ok(!o.recursive);
  assert.ok(parseMountOptions(["bind", "rbind"]).recursive);
});

Deno.test("propagation options are kept in order, apart from flags", () => {
  const o = parseMountOptions([
    "rprivate",
    "shared",
    "rslave",
    "unbindable",
    "runbindable",
    "private",
    "slave",
    "rshared",
  ]);
  assert.deepEqual(o.propagation, [
    MS_PRIVATE | MS_REC,
    MS_SHARED,
    MS_SLAVE | MS_REC,
    MS_UNBINDABLE,
    MS_UNBINDABLE | MS_REC,
    MS_PRIVATE,
    MS_SLAVE,
    MS_SHARED | MS_REC,
  ]);
  assert.equal(o.flags, 0);
  assert.equal(o.data, "");
});

Deno.test("recursive attributes: set, clear, and atime needs MOUNT_ATTR__ATIME cleared", () => {
  let o = parseMountOptions(["rro", "rnosuid", "rnodev", "rnoexec", "rnosymfollow"]);
  assert.equal(
    o.recAttrSet,
    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
      MOUNT_ATTR_NOSYMFOLLOW,
  );
  assert.equal(o.recAttrClr, 0);
  assert.equal(o.flags, 0);

  o = parseMountOptions(["rro", "rrw", "rsuid"]);
  assert.equal(o.recAttrSet, 0);
  assert.equal(o.recAttrClr, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID);

  o = parseMountOptions(["rnoatime"]);
  assert.equal(o.recAttrSet, MOUNT_ATTR_NOATIME);
  assert.equal(o.recAttrClr, MOUNT_ATTR__ATIME);

  o = parseMountOptions(["rstrictatime"]);
  assert.equal(o.recAttrSet, MOUNT_ATTR_STRICTATIME);
  assert.equal(o.recAttrClr, MOUNT_ATTR__ATIME);

  // MOUNT_ATTR_RELATIME is 0: setting it only clears the atime field.
  o = parseMountOptions(["rrelatime"]);
  assert.equal(o.recAttrSet, 0);
  assert.equal(o.recAttrClr, MOUNT_ATTR__ATIME);

  // Clearing an atime bit after setting it, as runc: the set bit goes, __ATIME stays.
  o = parseMountOptions(["rnoatime", "ratime"]);
  assert.equal(o.recAttrSet, 0);
  assert.equal(o.recAttrClr, MOUNT_ATTR__ATIME);
});

Deno.test("extensions, idmap, defaults and unknown options", () => {
  const o = parseMountOptions(["tmpcopyup", "defaults", "uid=1000", "idmap", "x-foo=a,b"]);
  assert.ok(o.tmpcopyup);
  assert.ok(o.idmap);
  assert.ok(!o.idmapRecursive);
  assert.equal(o.data, "uid=1000,x-foo=a,b");
  assert.ok(parseMountOptions(["ridmap"]).idmapRecursive);
  // Option names that happen to be Object.prototype keys are plain data.
  assert.equal(parseMountOptions(["toString", "constructor"]).data, "toString,constructor");
});

Deno.test("KNOWN_MOUNT_OPTIONS lists every interpreted option once, sorted", () => {
  assert.equal(new Set(KNOWN_MOUNT_OPTIONS).size, KNOWN_MOUNT_OPTIONS.length);
  assert.deepEqual([...KNOWN_MOUNT_OPTIONS], [...KNOWN_MOUNT_OPTIONS].sort());
  for (const o of KNOWN_MOUNT_OPTIONS) {
    if (o === "defaults") continue;
    const p = parseMountOptions([o]);
    assert.equal(p.data, "", `${o} went to data`);
  }
  assert.equal(KNOWN_MOUNT_OPTIONS.length, 32 + 8 + 18 + 4);
});

/** Reads a header, or returns why it cannot (printed when the test is skipped). */
function readHeader(path: string): { text?: string; why?: string } {
  try {
    return { text: Deno.readTextFileSync(path) };
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) {
      return { why: `no read permission for ${path} (run with -A)` };
    }
    return { why: `${path} is missing (apt-get install linux-libc-dev)` };
  }
}

const { text: header, why } = readHeader(HEADER);
if (why) console.log(`skipped header comparison: ${why}`);
Deno.test({
  name: "MS_* and MOUNT_ATTR_* match <linux/mount.h>",
  ignore: header === undefined,
  fn() {
    const defined = new Map<string, number>();
    for (
      const m of header!.matchAll(
        /^#define\s+((?:MS|MOUNT_ATTR)_\w+)\s+(0x[0-9a-fA-F]+|\d+|\(1\s*<<\s*(\d+)\))/gm,
      )
    ) {
      defined.set(m[1], m[3] !== undefined ? 2 ** Number(m[3]) : Number(m[2]));
    }
    let compared = 0;
    for (const [name, value] of Object.entries(mo)) {
      if (!/^(MS|MOUNT_ATTR)_/.test(name)) continue;
      assert.equal(value, defined.get(name), name);
      compared++;
    }
    assert.equal(compared, 34);
  },
});
