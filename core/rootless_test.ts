import assert from "node:assert/strict";
import { defaultRoot } from "./state_root.ts";
import {
  mapToolArgs,
  parseSubIds,
  type RootlessHost,
  rootlessMaps,
  userNamespacesRefusal,
} from "./rootless.ts";
import { ConfigError } from "../errors.ts";

const HOST: RootlessHost = {
  uid: 1001,
  gid: 1001,
  user: "dev",
  subuid: "dev:100000:65536\n",
  subgid: "dev:100000:65536\n",
  newuidmap: "/usr/bin/newuidmap",
  newgidmap: "/usr/bin/newgidmap",
};
const own = (id: number) => [{ containerID: 0, hostID: id, size: 1 }];

Deno.test("defaultRoot follows runc: XDG_RUNTIME_DIR for non-root callers only", () => {
  assert.equal(defaultRoot({ XDG_RUNTIME_DIR: "/run/user/1001/" }, 1001), "/run/user/1001/nsinit");
  assert.equal(defaultRoot({ XDG_RUNTIME_DIR: "/run/user/0" }, 0), "/run/nsinit");
  assert.equal(defaultRoot({ XDG_RUNTIME_DIR: "" }, 1001), "/run/nsinit");
});

Deno.test("parseSubIds: by name or uid, comments and malformed lines skipped", () => {
  const text = "# c\ndev:100000:65536\n1001:300000:10\nother:1:2\ndev:bad:1\ndev:5:0\n";
  assert.deepEqual(parseSubIds(text, "dev", 1001), [
    { start: 100000, count: 65536 },
    { start: 300000, count: 10 },
  ]);
  assert.deepEqual(parseSubIds(text, "nobody", 7), []);
});

Deno.test("rootlessMaps: own id written directly, ranges through the tools", () => {
  assert.deepEqual(
    rootlessMaps({ linux: { uidMappings: own(1001), gidMappings: own(1001) } }, HOST),
    {
      uid: { kind: "write" },
      gid: { kind: "write" },
    },
  );
  const range = [...own(1001), { containerID: 1, hostID: 100000, size: 65536 }];
  assert.deepEqual(rootlessMaps({ linux: { uidMappings: range, gidMappings: range } }, HOST), {
    uid: { kind: "tool", tool: "/usr/bin/newuidmap" },
    gid: { kind: "tool", tool: "/usr/bin/newgidmap" },
  });
  assert.equal(mapToolArgs(range), "0 1001 1 1 100000 65536");
});

Deno.test("rootlessMaps refusals name the field and what to change", () => {
  const err = (spec: Parameters<typeof rootlessMaps>[0], host = HOST) => {
    try {
      rootlessMaps(spec, host);
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.message;
    }
    assert.fail("not refused");
  };
  assert.match(
    err({ linux: { gidMappings: own(1001) } }),
    /linux\.uidMappings: a rootless container needs a mapping/,
  );
  const foreign = [...own(1001), { containerID: 1, hostID: 500000, size: 10 }];
  assert.match(
    err({ linux: { uidMappings: foreign, gidMappings: own(1001) } }),
    /linux\.uidMappings\[1\]: host uids 500000-500009 are not yours to map: you are uid 1001 and \/etc\/subuid gives dev 100000-165535/,
  );
  assert.match(
    err({ linux: { uidMappings: foreign, gidMappings: own(1001) } }, { ...HOST, subuid: "" }),
    /\/etc\/subuid gives dev no range \(add one: usermod --add-subuids START-END dev\)/,
  );
  const range = [...own(1001), { containerID: 1, hostID: 100000, size: 10 }];
  const { newuidmap: _, ...noTool } = HOST;
  assert.match(
    err({ linux: { uidMappings: range, gidMappings: own(1001) } }, noTool),
    /linux\.uidMappings: mapping more than your own uid needs newuidmap \(install Debian's uidmap package\)/,
  );
});

Deno.test("userNamespacesRefusal: disabled by the limit, or for unprivileged users by Debian's switch", () => {
  const files = (m: Record<string, string>) => (p: string) => m[p];
  assert.match(
    userNamespacesRefusal(files({ "/proc/sys/user/max_user_namespaces": "0\n" }), 1001)!,
    /user namespaces are disabled on this host \(user\.max_user_namespaces is 0\)/,
  );
  const deb = files({
    "/proc/sys/user/max_user_namespaces": "100\n",
    "/proc/sys/kernel/unprivileged_userns_clone": "0\n",
  });
  assert.match(userNamespacesRefusal(deb, 1001)!, /kernel\.unprivileged_userns_clone is 0/);
  assert.equal(userNamespacesRefusal(deb, 0), undefined);
  assert.equal(userNamespacesRefusal(files({}), 1001), undefined);
});
