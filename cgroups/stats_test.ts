import assert from "node:assert/strict";
import { emptyStats, parseBlkioFile, parseKeyedFile, readStatsV1, readStatsV2 } from "./stats.ts";

async function tree(files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "nsinit-test-" });
  for (const [path, text] of Object.entries(files)) {
    const full = `${root}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(full, text);
  }
  return root;
}

Deno.test("readStatsV1 reads every controller in runc's shape", async () => {
  const root = await tree({
    "cpuacct/cpuacct.usage": "3000\n",
    "cpuacct/cpuacct.usage_percpu": "1000 2000 \n",
    "cpuacct/cpuacct.usage_all": "cpu user system\n0 600 400\n1 1500 500\n",
    "cpuacct/cpuacct.stat": "user 7\nsystem 3\n",
    "cpu/cpu.stat": "nr_periods 10\nnr_throttled 2\nthrottled_time 500\n",
    "memory/memory.stat": "cache 4096\nrss 8192\ntotal_cache 4096\n",
    "memory/memory.usage_in_bytes": "12288\n",
    "memory/memory.max_usage_in_bytes": "16384\n",
    "memory/memory.failcnt": "1\n",
    "memory/memory.limit_in_bytes": "67108864\n",
    "memory/memory.memsw.usage_in_bytes": "12288\n",
    "memory/memory.memsw.limit_in_bytes": "134217728\n",
    "memory/memory.kmem.usage_in_bytes": "100\n",
    "memory/memory.kmem.tcp.usage_in_bytes": "5\n",
    "pids/pids.current": "2\n",
    "pids/pids.max": "20\n",
    "blkio/blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n",
    "blkio/blkio.throttle.io_serviced_recursive": "8:0 Read 1\n8:0 Write 0\nTotal 1\n",
    "blkio/blkio.io_service_bytes_recursive": "Total 0\n", // empty CFQ file: falls through
    "unified/hugetlb.2MB.current": "2097152\n",
    "unified/hugetlb.2MB.max": "4194304\n",
    "unified/hugetlb.2MB.events": "max 3\n",
    "unified/hugetlb.2MB.rsvd.current": "0\n",
  });
  try {
    const d = (c: string) => `${root}/${c}`;
    const s = await readStatsV1(
      {
        cpuacct: d("cpuacct"),
        cpu: d("cpu"),
        memory: d("memory"),
        pids: d("pids"),
        blkio: d("blkio"),
      },
      { unified: d("unified") },
    );
    assert.deepEqual(s.cpu.usage, {
      total: 3000,
      percpu: [1000, 2000],
      percpu_kernel: [400, 500],
      percpu_user: [600, 1500],
      kernel: 30_000_000,
      user: 70_000_000,
    });
    assert.deepEqual(s.cpu.throttling, { periods: 10, throttledPeriods: 2, throttledTime: 500 });
    assert.equal(s.memory.cache, 4096);
    assert.deepEqual(s.memory.usage, { usage: 12288, max: 16384, failcnt: 1, limit: 67108864 });
    assert.equal(s.memory.swap.limit, 134217728);
    assert.equal(s.memory.kernel.usage, 100);
    assert.equal(s.memory.kernelTCP.usage, 5);
    assert.equal(s.memory.raw.rss, 8192);
    assert.deepEqual(s.pids, { current: 2, limit: 20 });
    assert.deepEqual(s.blkio.ioServiceBytesRecursive, [
      { major: 8, minor: 0, op: "Read", value: 4096 },
      { major: 8, minor: 0, op: "Write", value: 0 },
    ]);
    assert.equal(s.blkio.ioServicedRecursive.length, 2);
    assert.deepEqual(s.hugetlb, { "2MB": { usage: 2097152, max: 0, failcnt: 3 } });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("readStatsV1: missing controllers and files leave zeros", async () => {
  const s = await readStatsV1({ memory: "/nonexistent/memory" });
  assert.deepEqual(s, emptyStats());
});

Deno.test("readStatsV2 reads one directory, swap reported as v1's memory+swap", async () => {
  const root = await tree({
    "cpu.stat":
      "usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 5\nnr_throttled 1\nthrottled_usec 7\n",
    "memory.stat": "anon 8192\nfile 4096\n",
    "memory.current": "12288\n",
    "memory.max": "65536\n",
    "memory.peak": "20000\n",
    "memory.events": "low 0\nhigh 0\nmax 4\noom 0\noom_kill 0\n",
    "memory.swap.current": "100\n",
    "memory.swap.max": "max\n",
    "pids.current": "3\n",
    "pids.max": "max\n",
    "io.stat": "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
    "hugetlb.1GB.current": "0\n",
    "hugetlb.2MB.current": "2097152\n",
    "hugetlb.2MB.events": "max 0\n",
  });
  try {
    const s = await readStatsV2(root);
    assert.deepEqual(s.cpu.usage, {
      total: 100_000,
      percpu: [],
      percpu_kernel: [],
      percpu_user: [],
      kernel: 40_000,
      user: 60_000,
    });
    assert.deepEqual(s.cpu.throttling, { periods: 5, throttledPeriods: 1, throttledTime: 7000 });
    assert.equal(s.memory.cache, 4096);
    assert.deepEqual(s.memory.usage, { usage: 12288, limit: 65536, max: 20000, failcnt: 4 });
    assert.equal(s.memory.swap.usage, 12388);
    assert.equal(s.memory.swap.limit, 18446744073709551615);
    assert.deepEqual(s.pids, { current: 3, limit: 0 });
    assert.deepEqual(s.blkio.ioServiceBytesRecursive.map((e) => `${e.op}=${e.value}`), [
      "Read=10",
      "Write=20",
      "Discard=0",
    ]);
    assert.deepEqual(s.blkio.ioServicedRecursive.map((e) => `${e.op}=${e.value}`), [
      "Read=1",
      "Write=2",
      "Discard=0",
    ]);
    assert.deepEqual(Object.keys(s.hugetlb), ["1GB", "2MB"]);
    assert.equal(s.hugetlb["2MB"]!.usage, 2097152);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("stats serialize with runc's property names", () => {
  const json = JSON.stringify(emptyStats());
  for (
    const key of [
      "throttledPeriods",
      "throttledTime",
      "percpu_kernel",
      "kernelTCP",
      "ioServiceBytesRecursive",
      "ioQueueRecursive",
    ]
  ) {
    assert.ok(json.includes(`"${key}"`), key);
  }
});

Deno.test("parsers tolerate junk", () => {
  assert.deepEqual(parseKeyedFile("a 1\n\nbad\nb x\n"), { a: 1, b: 0 });
  assert.deepEqual(parseBlkioFile("8:16 5\nnonsense\n"), [{
    major: 8,
    minor: 16,
    op: "",
    value: 5,
  }]);
});
