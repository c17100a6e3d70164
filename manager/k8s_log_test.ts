import assert from "node:assert/strict";
import { KubernetesLogWriter, parseKubernetesLog, readContainerLog } from "./k8s_log.ts";

const enc = new TextEncoder();

Deno.test("KubernetesLogWriter: full and partial lines per stream, in order, timestamps increasing", async () => {
  const path = await Deno.makeTempFile();
  try {
    const w = await KubernetesLogWriter.open(path);
    await w.write("stdout", enc.encode("abc"));
    await w.write("stderr", enc.encode("e1\ne2\n"));
    await w.write("stdout", enc.encode("def\n\nx"));
    await w.close();
    const entries = parseKubernetesLog(await Deno.readTextFile(path));
    assert.deepEqual(entries.map((e) => `${e.stream} ${e.tag} ${e.content}`), [
      "stdout P abc",
      "stderr F e1",
      "stderr F e2",
      "stdout F def",
      "stdout F ",
      "stdout P x",
    ]);
    const times = entries.map((e) => e.time);
    assert.deepEqual([...times].sort(), times);
    assert.deepEqual(await readContainerLog(path), { stdout: "abcdef\n\nx", stderr: "e1\ne2\n" });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("KubernetesLogWriter: a log over its size limit starts again; reopen follows a rotation", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/c.log`;
    const w = await KubernetesLogWriter.open(path, 200);
    for (let i = 0; i < 20; i++) await w.write("stdout", enc.encode(`line ${i}\n`));
    assert.ok((await Deno.stat(path)).size <= 200);
    assert.match(await Deno.readTextFile(path), /line 19/);
    await Deno.rename(path, `${path}.1`);
    await w.reopen();
    await w.write("stdout", enc.encode("after\n"));
    await w.close();
    assert.deepEqual(await readContainerLog(path), { stdout: "after\n", stderr: "" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
