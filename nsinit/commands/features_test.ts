import assert from "node:assert/strict";
import { features, systemLibseccomp } from "./features.ts";
import { KNOWN_MOUNT_OPTIONS } from "../../spec/mount_options.ts";
import { validateSpec } from "../../spec/validate.ts";
import { compileSeccomp } from "../../seccomp/compile.ts";
import { skipUnless } from "../../tests/helpers/skip.ts";
import type { LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator } from "../../spec/config.ts";

const fake = {
  knowsArch: (a: string) => a === "x86_64" || a === "x86" || a === "x32",
  version: () => "2.5.4",
};

Deno.test("features: what nsinit implements, in the OCI features shape", () => {
  const f = features(fake);
  assert.equal(f.ociVersionMin, "1.0.0");
  assert.equal(f.ociVersionMax, "1.3.0");
  assert.deepEqual(f.hooks, [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
  ]);
  assert.deepEqual(f.mountOptions, [...KNOWN_MOUNT_OPTIONS]);
  assert.deepEqual(f.linux.cgroup, {
    v1: true,
    v2: true,
    systemd: true,
    systemdUser: true,
    rdma: true,
  });
  assert.deepEqual(f.linux.seccomp.archs, ["SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"]);
  assert.ok(f.linux.seccomp.actions?.includes("SCMP_ACT_NOTIFY"));
  // Implemented (applied where the host has them, refused naming the field where not).
  assert.equal(f.linux.apparmor.enabled, true);
  assert.equal(f.linux.selinux.enabled, true);
  assert.equal(f.linux.intelRdt.enabled, true);
  assert.equal(f.linux.mountExtensions.idmap.enabled, true);
  assert.deepEqual(f.annotations, { "io.github.seccomp.libseccomp.version": "2.5.4" });
});

Deno.test("features: no libseccomp means seccomp disabled and no annotations", () => {
  const f = features({
    knowsArch() {
      throw new Error("cannot load libseccomp");
    },
    version: () => "2.5.4",
  });
  assert.deepEqual(f.linux.seccomp, { enabled: false });
  assert.equal(f.annotations, undefined);
});

Deno.test("features: both ociVersion bounds and every namespace are accepted by validation", () => {
  const f = features(fake);
  for (const v of [f.ociVersionMin, f.ociVersionMax]) {
    validateSpec({
      ociVersion: v,
      root: { path: "rootfs" },
      process: { cwd: "/", args: ["sh"], user: { uid: 0, gid: 0 } },
      linux: {
        namespaces: f.linux.namespaces.map((type) => ({ type })),
        uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
        gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      },
    });
  }
});

Deno.test("features: capabilities are recognized by validation", () => {
  const f = features(fake);
  validateSpec({
    ociVersion: "1.2.0",
    root: { path: "rootfs" },
    process: {
      cwd: "/",
      args: ["sh"],
      user: { uid: 0, gid: 0 },
      capabilities: { bounding: f.linux.capabilities },
    },
  });
});

Deno.test("features: the system libseccomp knows the native architecture", () => {
  const f = features(systemLibseccomp());
  if (f.linux.seccomp.enabled && Deno.build.arch === "x86_64") {
    assert.ok(f.linux.seccomp.archs?.includes("SCMP_ARCH_X86_64"));
  }
});

const system = features(systemLibseccomp());

Deno.test({
  name: "features: every seccomp action, operator and flag it reports compiles",
  ignore: skipUnless(system.linux.seccomp.enabled, "libseccomp does not load on this host"),
}, () => {
  const s = system.linux.seccomp;
  assert.ok(s.knownFlags!.length > 0 && s.supportedFlags!.every((x) => s.knownFlags!.includes(x)));
  for (const action of s.actions!) {
    const notify = action === "SCMP_ACT_NOTIFY";
    // The kernel refuses TSYNC with a listener; WAIT_KILLABLE_RECV means nothing without one.
    const flags = s.supportedFlags!.filter((f) =>
      f !== (notify ? "SECCOMP_FILTER_FLAG_TSYNC" : "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
    );
    compileSeccomp({
      defaultAction: action === "SCMP_ACT_ALLOW" ? "SCMP_ACT_ERRNO" : "SCMP_ACT_ALLOW",
      flags: flags as LinuxSeccomp["flags"],
      ...(notify ? { listenerPath: "/run/agent.sock" } : {}),
      syscalls: s.operators!.map((op) => ({
        names: ["getpid"],
        action: action as LinuxSeccompAction,
        args: [{ index: 0, value: 1, valueTwo: 1, op: op as LinuxSeccompOperator }],
      })),
    });
  }
  // And what it leaves out is refused by name.
  assert.throws(
    () => compileSeccomp({ defaultAction: "SCMP_ACT_NOTIFY" }),
    /SCMP_ACT_NOTIFY cannot be the default action/,
  );
});
