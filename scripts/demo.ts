/**
 * `deno task demo`: runs a real container on an embedded default: a busybox
 * rootfs made from Debian's busybox-static, runc's default spec, and a command
 * (default: a tour of what the container sees). Needs root.
 *
 *   deno task demo                 # the tour
 *   deno task demo -- sh -c 'id'   # any command
 */
import { Factory } from "../mod.ts";
import { defaultSpec } from "../spec/default.ts";

const root = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
if (Deno.uid() !== 0) {
  console.error("demo: run as root (the rootless sandbox comes in a later release)");
  Deno.exit(1);
}
const rootfs = `${root}/.cache/rootfs`;
const mk = await new Deno.Command("bash", {
  args: [`${root}/scripts/make_rootfs.sh`, rootfs],
  stdout: "null",
})
  .output();
if (!mk.success) Deno.exit(1);

const args = Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args;
const spec = defaultSpec();
spec.root = { path: rootfs, readonly: true };
spec.hostname = "nsinit-demo";
spec.process!.terminal = false;
spec.process!.args = args.length ? args : [
  "sh",
  "-c",
  'echo "hello from $(hostname): I am $(id -un), pid $$ of $(ls /proc | grep -c "^[0-9]") process(es)"; ' +
  'echo "network interfaces: $(ls /sys/class/net | tr "\\n" " ")"; ' +
  'touch /probe 2>/dev/null || echo "the root filesystem is read-only"; ' +
  "grep CapEff /proc/self/status",
];
spec.linux!.cgroupsPath = `nsinit-demo-${Deno.pid}`;
const bundle = await Deno.makeTempDir({ prefix: "nsinit-demo-" });
const factory = new Factory({ root: `/run/nsinit-demo` });
let code = 1;
try {
  const c = await factory.run(`demo-${Deno.pid}`, { bundle, spec });
  try {
    code = (await c.wait()).code ?? 1;
  } finally {
    await c.destroy({ force: true });
  }
} finally {
  await Deno.remove(bundle, { recursive: true });
  await Deno.remove("/run/nsinit-demo").catch(() => {});
}
Deno.exit(code);
