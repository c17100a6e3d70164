/**
 * The library side of the soak: one Deno process (this one) creates, runs and deletes
 * containers through `Factory`/`Container` from `N` concurrent workers in a loop, and
 * measures itself (fds, RSS, threads) at intervals and at drain points.
 *
 *   deno run -A --v8-flags=--expose-gc scripts/soak/library.ts --bundle DIR --root DIR \
 *     --duration SECONDS --containers N --drain-every SECONDS --prefix ID_PREFIX --marker M \
 *     [--rootless]
 *
 * `--rootless`: the bundle is a rootless one and this process an unprivileged user's, without
 * a cgroup: containers get no cgroupsPath, and the exec cycle skips pause and resume.
 *
 * Prints one JSON object per line: `{"sample": Sample}`, `{"drain": Sample, "leftovers":
 * Leftovers}` (no container in flight), `{"error": "..."}` and last `{"done": {cycles, errors}}`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Factory } from "../../mod.ts";
import type { Spec } from "../../spec/config.ts";
import { countLeftovers, measure, type Sample } from "./measure.ts";
import { cycleKind, sleep } from "./shared.ts";

const { values: o } = parseArgs({
  options: {
    bundle: { type: "string" },
    root: { type: "string" },
    duration: { type: "string", default: "60" },
    containers: { type: "string", default: "100" },
    "drain-every": { type: "string", default: "10" },
    "sample-every": { type: "string", default: "1" },
    prefix: { type: "string", default: "soak" },
    marker: { type: "string", default: "" },
    rootless: { type: "boolean", default: false },
  },
});
if (!o.bundle || !o.root) throw new Error("library.ts: --bundle and --root are required");
const bundle = o.bundle;
const duration = Number(o.duration) * 1000;
const containers = Number(o.containers);
const drainEvery = Number(o["drain-every"]) * 1000;
const sampleEvery = Number(o["sample-every"]) * 1000;
const base = JSON.parse(Deno.readTextFileSync(`${bundle}/config.json`)) as Spec;

const factory = new Factory({ root: o.root });
const t0 = performance.now();
let inflight = 0, cycles = 0, errors = 0;
let gate: PromiseWithResolvers<void> | undefined; // set while draining: workers wait on it
let stopping = false;

const emit = (o: unknown) => console.log(JSON.stringify(o));
const now = () => Math.round((performance.now() - t0) / 100) / 10;
const sample = (): Sample => ({ t: now(), ...measure(), inflight, cycles });

function spec(id: string, args: string[]): Spec {
  const s = structuredClone(base);
  s.process!.args = args;
  if (!o.rootless) s.linux!.cgroupsPath = `nsinit-test-${id}`;
  return s;
}

async function text(s?: ReadableStream<Uint8Array>): Promise<string> {
  return s ? await new Response(s).text() : "";
}

function expect(what: string, got: unknown, want: unknown): void {
  if (got !== want) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

/** One container's life; whatever happens, it is deleted. */
async function cycle(id: string, k: number): Promise<void> {
  const kind = cycleKind(k);
  const args = kind === "exec" ? ["sleep", "60"] : ["sh", "-c", "echo ok"];
  const opts = {
    bundle,
    spec: spec(id, args),
    stdio: { stdin: "null" as const, stdout: "piped" as const, stderr: "null" as const },
  };
  const c = kind === "create-start" || kind === "create-delete"
    ? await factory.create(id, opts)
    : await factory.run(id, opts);
  try {
    switch (kind) {
      case "create-start": {
        expect("status after create", await c.status(), "created");
        await c.start();
        const [out, status] = await Promise.all([text(c.init!.stdout), c.wait()]);
        expect("output", out, "ok\n");
        expect("exit code", status.code, 0);
        break;
      }
      case "run": {
        const [out, status] = await Promise.all([text(c.init!.stdout), c.wait()]);
        expect("output", out, "ok\n");
        expect("exit code", status.code, 0);
        break;
      }
      case "exec": {
        const p = await c.exec({
          args: ["sh", "-c", "echo ok"],
          cwd: "/",
          user: { uid: 0, gid: 0 },
        }, {
          stdio: { stdin: "null", stdout: "piped", stderr: "null" },
        });
        const [out, code] = await Promise.all([text(p.stdout), p.exitCode()]);
        expect("exec output", out, "ok\n");
        expect("exec exit code", code, 0);
        if (!o.rootless) {
          await c.pause();
          expect("status after pause", await c.status(), "paused");
          await c.resume();
        }
        await c.signal(9);
        expect("init's end", (await c.wait()).signal, 9);
        c.init!.stdout?.cancel().catch(() => {});
        break;
      }
      case "create-delete":
        c.init!.stdout?.cancel().catch(() => {});
        break;
    }
  } finally {
    await c.destroy({ force: true });
  }
  expect("state directory after delete", (await factory.list()).includes(id), false);
}

async function worker(w: number): Promise<void> {
  for (let k = 0; !stopping; k++) {
    while (gate) await gate.promise;
    if (stopping) break;
    inflight++;
    const id = `${o.prefix}-${w}-${k}`;
    try {
      await cycle(id, k + w);
      cycles++;
    } catch (e) {
      errors++;
      emit({ error: `${id}: ${e instanceof Error ? e.stack ?? e.message : e}` });
      try {
        await (await factory.load(id)).destroy({ force: true });
      } catch { /* not there */ }
    } finally {
      inflight--;
    }
  }
}

/** Stops new cycles, waits until none is in flight, collects garbage, measures, resumes. */
async function drain(): Promise<void> {
  gate = Promise.withResolvers<void>();
  while (inflight > 0) await sleep(20);
  // Let closed streams and finished promises settle before measuring.
  await sleep(200);
  (globalThis as { gc?: () => void }).gc?.();
  emit({
    drain: sample(),
    leftovers: countLeftovers({ root: factory.root, prefix: o.prefix!, marker: o.marker! }),
  });
  const g = gate;
  gate = undefined;
  g.resolve();
}

const sampler = setInterval(() => emit({ sample: sample() }), sampleEvery);
const workers = Array.from({ length: containers }, (_, w) => worker(w));
// A first drain after one warm-up round (the native library, the poller and the pools
// exist), or a sixth of the time on a slow machine.
while (cycles < containers && now() * 1000 < duration / 6) await sleep(50);
await drain();
let next = performance.now() + drainEvery;
while (performance.now() - t0 < duration) {
  await sleep(Math.max(0, Math.min(next, t0 + duration) - performance.now()));
  if (performance.now() >= next) {
    await drain();
    next = performance.now() + drainEvery;
  }
}
stopping = true;
gate?.resolve();
await Promise.all(workers);
clearInterval(sampler);
await drain();
emit({ done: { cycles, errors, seconds: now() } });
