// End-to-end: the module imported from a URL (as from JSR) builds its native helper
// from its own sources on first use and runs a container.
import assert from "node:assert/strict";
import { makeBundle } from "./helpers/bundle.ts";
import { makeTempDir, REPO_ROOT } from "./helpers/paths.ts";
import { hasCommand, isRoot, skipUnless } from "./helpers/skip.ts";

const ignore = skipUnless(isRoot(), "real containers need root") ||
  skipUnless(hasCommand("cc"), "no C compiler to build the native helper");

Deno.test({
  name:
    "remote module: imported over HTTP, it fetches and compiles its helper, then runs a container",
  ignore,
  async fn() {
    // A plain file server over the checkout, on loopback only.
    const ac = new AbortController();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
      (req) => {
        const path = decodeURIComponent(new URL(req.url).pathname);
        if (path.includes("..")) return new Response("no", { status: 400 });
        try {
          const body = Deno.readFileSync(`${REPO_ROOT}${path}`);
          const type = path.endsWith(".ts") ? "application/typescript" : "text/plain";
          return new Response(body, { headers: { "content-type": type } });
        } catch {
          return new Response("not found", { status: 404 });
        }
      },
    );
    await using cache = await makeTempDir("remote-cache");
    await using b = await makeBundle({ args: ["echo", "hello from a remote module"] });
    try {
      const url = `http://127.0.0.1:${server.addr.port}/mod.ts`;
      const script = `
        import { Factory } from "${url}";
        const f = new Factory({ root: ${JSON.stringify(b.stateRoot)} });
        const c = await f.run(${JSON.stringify(b.id)}, {
          bundle: ${JSON.stringify(b.dir)},
          stdio: { stdin: "null", stdout: "piped" },
        });
        const out = await new Response(c.init.stdout).text();
        await c.wait();
        await c.destroy();
        console.log(out.trim());`;
      const env = {
        ...Deno.env.toObject(),
        XDG_CACHE_HOME: cache.path,
        DENO_DIR: `${cache.path}/deno`,
      };
      delete (env as Record<string, string>).NSINIT_LIBDIR;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--no-check", "--no-lock", script],
        env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      assert.equal(new TextDecoder().decode(out.stdout).trim(), "hello from a remote module");
      // The helper was built in the cache, from sources fetched from the module's URL.
      const built = [...Deno.readDirSync(`${cache.path}/nsinit`)];
      assert.equal(built.length, 1);
      const dir = `${cache.path}/nsinit/${built[0].name}`;
      assert.ok(Deno.statSync(`${dir}/lib/libnsinit.so`).isFile);
      assert.ok(Deno.statSync(`${dir}/lib/nsinit-init`).isFile);
      assert.ok(Deno.statSync(`${dir}/src/init.c`).isFile);
    } finally {
      ac.abort();
      await server.finished;
    }
  },
});
