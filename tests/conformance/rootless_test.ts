// The OCI runtime-spec clauses that apply to rootless containers, run against nsinit as the
// unprivileged test user (nsinit-test) on a `runc spec --rootless` bundle it owns (mapping root
// to the user and 1-65536 to its /etc/subuid range, with a network namespace), with no cgroup
// (none is delegated to it on this host). Clauses that need a cgroup, root's namespaces or
// mknod, or whose check rewrites the namespaces a rootless container needs, are left out
// (listed below with the reason); every other clause must pass or skip here as it does for
// root. Results go to .cache/conformance/rootless.json.
import { CLAUSES } from "./clauses.ts";
import {
  openSessions,
  type Outcome,
  runCheck,
  type Runtime,
  type Session,
  writeResults,
} from "./harness.ts";
import { removeTestDir, REPO_ROOT, testRun } from "../helpers/paths.ts";
import { skipIf } from "../helpers/skip.ts";
import { cannotRunAsTestUser, testUser, warmDenoCache } from "../helpers/user.ts";
import type { Bundle } from "../helpers/bundle.ts";
import { parseSubIds } from "../../core/rootless.ts";

const reason = cannotRunAsTestUser();
const ignore = skipIf(reason !== undefined, `rootless conformance: ${reason}`);
const user = testUser()!;

/** Clauses that do not apply to a rootless container without a delegated cgroup, and why. */
export const NOT_ROOTLESS: Readonly<Record<string, string>> = {
  "config-linux/cgroups-path/absolute": "needs a cgroup the user may create",
  "config-linux/cgroups-path/consistent": "needs a cgroup the user may create",
  "config-linux/device-allowlist/order": "device cgroup rules need a cgroup",
  "config-linux/intel-rdt/no-resctrl": "resctrl is root's",
  "runtime/delete/only-own-resources": "checks cgroups of other containers",
  "config-linux/namespaces/join-path": "joins namespaces of a root-owned process",
  "config-linux/namespaces/inherit": "checks the host's namespaces, which the user cannot join",
  "config-linux/devices/available": "creates device nodes (mknod), which a user namespace forbids",
  "config-linux/devices/existing-file":
    "creates device nodes (mknod), which a user namespace forbids",
  "runtime/state/status-values": "pauses the container: the freezer needs a cgroup",
  "runtime/delete/not-stopped": "pauses the container: the freezer needs a cgroup",
  "runtime/create/props-applied": "checks the container's cgroup",
  "runtime/lifecycle/env-created": "checks the container's cgroup",
  "config-linux/namespaces/new": "replaces linux.namespaces with a list without the user " +
    "namespace a rootless container needs",
  "config-linux/user-namespace/ownership": "adds a user namespace to a base that has one",
};

/** nsinit's CLI as the test user: `runuser` with a clean environment. */
function rootlessRuntime(): Runtime {
  const dist = `${REPO_ROOT}/dist/nsinit`;
  return {
    name: "nsinit",
    argv: [
      "runuser",
      "-u",
      user.name,
      "--",
      "env",
      "-i",
      `HOME=${user.home}`,
      `PATH=${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      `NSINIT_LIBDIR=${REPO_ROOT}/dist/lib`,
      `NSINIT_TEST_RUN=${testRun()}`,
      `DENO_DIR=${user.home}/.cache/deno`,
      dist,
    ],
  };
}

let opened: Promise<{ sessions: Session[]; bundle: Bundle }> | undefined;
const open = () =>
  opened ??= warmDenoCache(user).then(async () => {
    const o = await openSessions([rootlessRuntime()], {
      rootless: { uid: user.uid, gid: user.gid },
    });
    // Root as the user, then the user's /etc/subuid range (through newuidmap), so checks
    // that run a process as another uid (1000) have it; a network namespace of its own, as
    // root's base has.
    const linux = o.sessions[0].base.linux!;
    const sub = (file: string) =>
      parseSubIds(Deno.readTextFileSync(file), user.name, user.uid)[0] ??
        { start: 100000, count: 65536 };
    const range = (own: number, r: { start: number; count: number }) => [
      { containerID: 0, hostID: own, size: 1 },
      { containerID: 1, hostID: r.start, size: r.count },
    ];
    linux.uidMappings = range(user.uid, sub("/etc/subuid"));
    linux.gidMappings = range(user.gid, sub("/etc/subgid"));
    linux.namespaces!.push({ type: "network" });
    return o;
  });
const results: Record<string, Outcome> = {};

for (const clause of CLAUSES.filter((c) => !(c.id in NOT_ROOTLESS))) {
  Deno.test({
    name: `OCI rootless ${clause.file} ${clause.level}: ${clause.id}`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn(t) {
      const { sessions } = await open();
      const got = await runCheck(sessions[0], clause.check);
      results[clause.id] = got;
      await writeResults("rootless.json", { user: user.name, results });
      if (got.status === "skip") {
        await t.step({ name: `skipped: ${got.note}`, ignore: true, fn() {} });
        return;
      }
      if (got.status === "fail" && clause.knownFailure) {
        await t.step({ name: `known failure: ${clause.knownFailure}`, ignore: true, fn() {} });
        return;
      }
      if (got.status === "fail") {
        throw new Error(
          `rootless nsinit does not meet ${clause.file} "${clause.quote}": ${got.note}`,
        );
      }
    },
  });
}

Deno.test({
  name: "OCI rootless conformance: bundle removed",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    if (!opened) return;
    const { bundle } = await opened;
    await removeTestDir(bundle.dir);
    opened = undefined;
  },
});
