/**
 * A console socket a test listens on, as runc's `--console-socket` clients do:
 * python3 accepts one connection, takes the pty master (SCM_RIGHTS), types
 * `input`, and prints what it reads (until `until` appears, or EOF / 5 s idle).
 * Deno's own API cannot receive an fd, hence the small python3 program.
 *
 * @module
 */

import { exists } from "../../util/fs.ts";

const RECEIVER = `
import array, os, select, socket, sys
path, data, until = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
s.settimeout(20)
c, _ = s.accept()
msg, anc, _, _ = c.recvmsg(1024, socket.CMSG_LEN(4))
fds = array.array("i")
for level, typ, d in anc:
    fds.frombytes(d[:4])
fd = fds[0]
if data:
    os.write(fd, data)
out = b""
while True:
    r, _, _ = select.select([fd], [], [], 5)
    if not r:
        break
    try:
        d = os.read(fd, 1024)
    except OSError:
        break
    if not d:
        break
    out += d
    if until and until in out:
        break
sys.stdout.write(out.decode(errors="replace"))
`;

/** A listening console socket; `await using` stops the receiver. */
export interface ConsoleSocket extends AsyncDisposable {
  /** What the receiver read from the pty (stdout), then its stderr. */
  output(): Promise<string>;
}

/**
 * Starts the receiver on `path` and waits until the socket exists.
 *
 * @example
 * ```ts ignore
 * import { consoleSocket } from "./console_socket.ts";
 * await using recv = await consoleSocket("/tmp/x/console.sock", "hello\n", "done");
 * // nsinit create --console-socket /tmp/x/console.sock ...
 * console.log(await recv.output());
 * ```
 */
export async function consoleSocket(path: string, input = "", until = ""): Promise<ConsoleSocket> {
  const child = new Deno.Command("python3", {
    args: ["-c", RECEIVER, path, input, until],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  for (let i = 0; i < 500 && !exists(path); i++) await new Promise((r) => setTimeout(r, 10));
  return {
    async output(): Promise<string> {
      const out = await child.output();
      return new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    },
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // exited
      }
      await child.status;
    },
  };
}
