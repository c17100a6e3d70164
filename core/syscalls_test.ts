import assert from "node:assert/strict";
import { realSyscalls } from "./syscalls.ts";

function mounted(path: string): boolean {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n").some((l) =>
    l.split(" ")[4] === path
  );
}

Deno.test({
  name: "umountDetach: detaches a mount, and a path with nothing there is no error" +
    (Deno.uid() !== 0 ? " [skipped: needs root to mount]" : ""),
  ignore: Deno.uid() !== 0,
  async fn() {
    await realSyscalls.ready();
    const dir = await Deno.makeTempDir({ prefix: "nsinit-test-umount-" });
    const target = `${dir}/criu-root`;
    try {
      realSyscalls.umountDetach(target); // nothing there
      await Deno.mkdir(target);
      const m = await new Deno.Command("mount", { args: ["-t", "tmpfs", "tmpfs", target] })
        .output();
      assert.ok(m.success, new TextDecoder().decode(m.stderr));
      assert.ok(mounted(target));
      realSyscalls.umountDetach(target);
      assert.ok(!mounted(target), "the mount is detached");
    } finally {
      if (mounted(target)) await new Deno.Command("umount", { args: ["-l", target] }).output();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
