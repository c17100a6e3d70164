// The sd-bus binding without a systemd: it loads lazily, and a peer that is not there is a
// DbusError naming D-Bus, never a hang. (Calls to a real systemd: tests/systemd/.)
import assert from "node:assert/strict";
import { isDisconnect, SdBus, splitSignature, Variant } from "./sdbus.ts";
import { DbusError } from "../errors.ts";

Deno.test("sdbus: the modules import without loading libsystemd (no --allow-ffi needed)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-test-sdbus-" });
  try {
    const url = new URL("../drivers/systemd.ts", import.meta.url).href;
    await Deno.writeTextFile(`${dir}/imp.ts`, `await import(${JSON.stringify(url)});\nconsole.log("imported");\n`);
    // Without --allow-ffi, any Deno.dlopen at import would fail with NotCapable.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-lock", "--no-check", "--allow-read", "--allow-env", `${dir}/imp.ts`],
      env: { NSINIT_LIBSYSTEMD: "/nonexistent/libsystemd.so" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(
      new TextDecoder().decode(out.stdout).trim(),
      "imported",
      new TextDecoder().decode(out.stderr),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sdbus: no peer at the address is a DbusError (NoServer), not a hang", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-test-sdbus-" });
  try {
    let err: unknown;
    const started = Date.now();
    try {
      const bus = SdBus.connect({ address: `unix:path=${dir}/no-such-socket`, busClient: false });
      try {
        await bus.call("org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.DBus.Peer", "Ping", [], 2000);
      } finally {
        bus.close();
        bus.close(); // idempotent
      }
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof DbusError, String(err));
    assert.match(err.message, /^D-Bus /);
    assert.equal(err.dbusName, "org.freedesktop.DBus.Error.NoServer");
    assert.ok(Date.now() - started < 5000);
    assert.equal(isDisconnect(err), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sdbus: a listener that never answers times out with a DbusError (Timeout)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nsinit-test-sdbus-" });
  const listener = Deno.listen({ transport: "unix", path: `${dir}/mute` });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) held.push(c); // accepts, never speaks
  })();
  try {
    const bus = SdBus.connect({ address: `unix:path=${dir}/mute`, busClient: false });
    try {
      const started = Date.now();
      await assert.rejects(
        () => bus.call("org.freedesktop.systemd1", "/", "org.freedesktop.DBus.Peer", "Ping", [], 500),
        (e: unknown) => e instanceof DbusError && e.dbusName === "org.freedesktop.DBus.Error.Timeout",
      );
      assert.ok(Date.now() - started < 5000);
    } finally {
      bus.close();
    }
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const c of held) c.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sdbus: signatures and values are checked before anything is sent", () => {
  assert.deepEqual(splitSignature("a{sv}(ss)t"), ["a{sv}", "(ss)", "t"]);
  assert.throws(() => splitSignature("a("), TypeError);
  assert.throws(() => splitSignature("z"), TypeError);
  assert.equal(new Variant("t", 5n).signature, "t");
});
