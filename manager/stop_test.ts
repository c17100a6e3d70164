import assert from "node:assert/strict";
import { StopError, stopLoop, type StopTarget } from "./stop.ts";

function fake(opts: { diesOn?: number; state?: string }): StopTarget & { sent: number[] } {
  let alive = true;
  const sent: number[] = [];
  return {
    id: "c1",
    pid: 4242,
    sent,
    signal: (sig) => {
      sent.push(sig);
      if (sig === opts.diesOn) alive = false;
      return Promise.resolve();
    },
    alive: () => alive,
    state: () => (alive ? opts.state ?? "S" : undefined),
    waitExit: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 5))),
  };
}

Deno.test("stopLoop: a process that dies of its stop signal gets no SIGKILL", async () => {
  const t = fake({ diesOn: 15 });
  await stopLoop(t, { stopSignal: 15, graceMs: 1000, killTimeoutMs: 1000 });
  assert.deepEqual(t.sent, [15]);
});

Deno.test("stopLoop: SIGKILL is retried with backoff until the timeout, then a D-state process is reported", async () => {
  const t = fake({ state: "D" });
  const err = await stopLoop(t, {
    stopSignal: 2,
    graceMs: 5,
    killTimeoutMs: 100,
    initialBackoffMs: 1,
    maxBackoffMs: 4,
  })
    .then(() => null, (e) => e);
  assert.ok(err instanceof StopError);
  assert.equal(err.state, "D");
  assert.equal(err.pid, 4242);
  assert.match(err.message, /blocked in uninterruptible sleep \(D\)/);
  assert.equal(t.sent[0], 2);
  assert.ok(t.sent.filter((s) => s === 9).length >= 3, `SIGKILL retried: ${t.sent}`);
});

Deno.test("stopLoop: a process that is already gone is left alone", async () => {
  const t = fake({});
  await t.signal(0);
  t.sent.length = 0;
  const gone = { ...t, alive: () => false };
  await stopLoop(gone, { stopSignal: 15, graceMs: 10, killTimeoutMs: 10 });
  assert.deepEqual(t.sent, []);
});
