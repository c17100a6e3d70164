/**
 * Drives an OCI runtime binary through OciRuntimeClient only: create, start, exec (piped and
 * with a terminal), pause, resume, update, stats, events, kill, delete. The same code runs
 * with runc, crun or nsinit's CLI:
 *
 *   deno run -A examples/oci_client.ts runc BUNDLE_DIR
 *   deno run -A examples/oci_client.ts ./dist/nsinit BUNDLE_DIR
 *
 * BUNDLE_DIR holds a config.json whose process runs for a while (e.g. `sleep 1000`) and a
 * rootfs with busybox.
 *
 * @module
 */

import { ConsoleSocket, NullIO, OciRuntimeClient, PipeIO } from "../mod.ts";

const [command = "runc", bundle = "."] = Deno.args;
const root = await Deno.makeTempDir({ prefix: "oci-client-example-" });
const runtime = new OciRuntimeClient({ command, root });
const id = `example-${Deno.pid}`;
const say = (s: string) => console.log(`${command.split("/").at(-1)}: ${s}`);
const user = { uid: 0, gid: 0 }, env = ["PATH=/bin:/usr/bin"];

try {
  await runtime.create(id, bundle, { io: new NullIO(), timeout: 30_000 });
  await runtime.start(id);
  say(`state ${(await runtime.state(id)).status}`);

  // exec with pipes
  const io = PipeIO.create({ stdin: false });
  const output = new Response(io.stdout).text();
  await runtime.exec(id, { args: ["echo", "hello from exec"], cwd: "/", user, env }, { io });
  say(`exec said ${JSON.stringify(await output)}`);
  await io.close();

  // exec with a terminal: the runtime sends the pty master to our console socket
  await using socket = await ConsoleSocket.temp();
  await runtime.exec(id, { args: ["sh", "-c", "stty size"], cwd: "/", user, env, terminal: true }, {
    consoleSocket: socket,
    detach: true,
  });
  await using tty = await socket.receiveMaster({ timeout: 10_000 });
  tty.resize({ rows: 24, cols: 80 });
  say(`terminal said ${JSON.stringify((await new Response(tty.readable).text()).trim())}`);

  await runtime.pause(id);
  say(`state ${(await runtime.state(id)).status}`);
  await runtime.resume(id);
  await runtime.update(id, { pids: { limit: 64 } });
  const stats = await runtime.stats(id);
  say(`pids.current ${(stats.pids as { current: number }).current}`);
  for await (const event of runtime.events(id, { interval: 500 })) {
    say(`event ${event.type}`);
    break;
  }
  await runtime.kill(id, "SIGKILL");
} finally {
  await runtime.delete(id, { force: true }).catch(() => {});
  await Deno.remove(root, { recursive: true });
}
say("deleted");
