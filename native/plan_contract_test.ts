// The contract between the plan builder (native/plan.ts) and nsinit-init (native/src/plan.h):
// this test parses plan.h and fails when an op's number or argument kinds, a message type or
// the message struct disagree with the TypeScript tables. It proves once, on mutated copies of
// plan.h, that each kind of disagreement is caught.
import assert from "node:assert/strict";
import {
  CloneFlag,
  EARLY_CLONE_NS,
  Msg,
  MSG_FIELDS,
  MSG_SIZE,
  Op,
  OPS,
  PlanBuilder,
} from "./plan.ts";
import { PASS_FDS_MAX, spawnPlan } from "./spawn.ts";
import { SyscallError } from "../errors.ts";

const HEADER = Deno.readTextFileSync(new URL("./src/plan.h", import.meta.url));

function stripComments(c: string): string {
  return c.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/.*$/gm, "");
}

/** What plan.h defines: ops (name -> [number, kinds]), message types, struct nsi_msg. */
function parseHeader(text: string) {
  const c = stripComments(text);
  const ops = new Map<string, [number, string]>();
  const table = c.match(/#define\s+NSI_OPS\(X\)((?:[^\n]*\\\n)*[^\n]*)/);
  for (const m of (table?.[1] ?? "").matchAll(/X\(\s*NSI_(\w+)\s*,\s*(\d+)\s*,\s*"([^"]*)"\s*\)/g)) {
    ops.set(m[1], [Number(m[2]), m[3]]);
  }
  // enum nsi_op must come from the table, not list numbers of its own.
  const opEnum = c.match(/enum\s+nsi_op\s*\{([^}]*)\}/)?.[1] ?? "";
  const ownOps = [...opEnum.matchAll(/NSI_[HC]_\w+\s*=/g)].map((m) => m[0]);
  const msgEnum = c.match(/enum\s+nsi_msg_type\s*\{([^}]*)\}/)?.[1] ?? "";
  const msgs = new Map<string, number>();
  for (const m of msgEnum.matchAll(/NSI_MSG_(\w+)\s*=\s*(\d+)/g)) msgs.set(m[1], Number(m[2]));
  const struct = c.match(/struct\s+nsi_msg\s*\{([^}]*)\}/)?.[1] ?? "";
  const fields: { name: string; c: string; size: number; align: number }[] = [];
  for (const m of struct.matchAll(/(u?int(?:8|16|32|64)_t|char)\s+(\w+)\s*(?:\[(\d+)\])?\s*;/g)) {
    const base = m[1] === "char" ? 1 : Number(m[1].match(/\d+/)![0]) / 8;
    const n = m[3] ? Number(m[3]) : 1;
    fields.push({ name: m[2], c: m[3] ? `${m[1]}[${n}]` : m[1], size: base * n, align: base });
  }
  return { ops, ownOps, msgs, fields };
}

/** Every disagreement between plan.h's text and the TypeScript tables (empty: they agree). */
function disagreements(text: string): string[] {
  const h = parseHeader(text);
  const out: string[] = [];
  const ts = new Map(Object.entries(OPS).map(([n, [code, kinds]]) => [n, [code, kinds] as const]));
  for (const [name, [code, kinds]] of h.ops) {
    const mine = ts.get(name);
    if (!mine) out.push(`op ${name} (${code}) is in plan.h but not in OPS`);
    else {
      if (mine[0] !== code) out.push(`op ${name}: plan.h says ${code}, OPS says ${mine[0]}`);
      if (mine[1] !== kinds) {
        out.push(`op ${name}: plan.h takes "${kinds}", OPS "${mine[1]}"`);
      }
    }
  }
  for (const name of ts.keys()) if (!h.ops.has(name)) out.push(`op ${name} is in OPS but not in plan.h`);
  const codes = [...h.ops.values()].map(([c]) => c);
  if (new Set(codes).size !== codes.length) out.push("plan.h gives two ops the same number");
  for (const e of h.ownOps) out.push(`enum nsi_op defines ${e} itself instead of from NSI_OPS`);
  const msgs = new Map(Object.entries(Msg));
  for (const [name, code] of h.msgs) {
    if (msgs.get(name) !== code) out.push(`message ${name}: plan.h says ${code}, Msg says ${msgs.get(name)}`);
  }
  for (const name of msgs.keys()) if (!h.msgs.has(name)) out.push(`message ${name} is not in plan.h`);
  let offset = 0, align = 1;
  const fields = new Map<string, { c: string; offset: number }>(Object.entries(MSG_FIELDS));
  for (const f of h.fields) {
    offset = Math.ceil(offset / f.align) * f.align;
    align = Math.max(align, f.align);
    const mine = fields.get(f.name);
    if (!mine) out.push(`struct nsi_msg field ${f.name} is not in MSG_FIELDS`);
    else if (mine.c !== f.c || mine.offset !== offset) {
      out.push(`struct nsi_msg.${f.name}: plan.h ${f.c} at ${offset}, MSG_FIELDS ${mine.c} at ${mine.offset}`);
    }
    offset += f.size;
  }
  for (const name of fields.keys()) {
    if (!h.fields.some((f) => f.name === name)) out.push(`MSG_FIELDS.${name} is not in struct nsi_msg`);
  }
  const size = Math.ceil(offset / align) * align;
  if (size !== MSG_SIZE) out.push(`struct nsi_msg is ${size} bytes in plan.h, MSG_SIZE ${MSG_SIZE}`);
  return out;
}

Deno.test("plan.h and native/plan.ts agree on ops, argument kinds, messages and struct nsi_msg", () => {
  const h = parseHeader(HEADER);
  assert.ok(h.ops.size >= 40, `parsed only ${h.ops.size} ops from plan.h: has its table changed form?`);
  assert.equal(h.fields.length, 6);
  assert.deepEqual(disagreements(HEADER), []);
});

Deno.test("plan.h and native/spawn.ts agree on how many fds a helper started ahead of its plan takes", () => {
  const m = /^#define NSI_PASS_FDS_MAX (\d+)$/m.exec(HEADER);
  assert.ok(m, "plan.h defines NSI_PASS_FDS_MAX");
  assert.equal(Number(m[1]), PASS_FDS_MAX);
});

Deno.test("init.c and native/plan.ts agree on the namespaces a helper may clone ahead of its plan", () => {
  const init = Deno.readTextFileSync(new URL("./src/init.c", import.meta.url));
  const m = /#define NSI_EARLY_NS \\\s*\(\(uint64_t\)\(([^)]*)\)\)/.exec(init);
  assert.ok(m, "init.c defines NSI_EARLY_NS");
  const names = m[1].split("|").map((n) => n.trim().replace(/^CLONE_/, ""));
  const flags = names.reduce((f, n) => {
    assert.ok(n in CloneFlag, `CloneFlag has ${n}`);
    return f | CloneFlag[n as keyof typeof CloneFlag];
  }, 0);
  assert.equal(flags, EARLY_CLONE_NS);
});

Deno.test("the contract check catches each kind of disagreement (on mutated copies of plan.h)", () => {
  const mutate = (from: string | RegExp, to: string) => {
    const copy = HEADER.replace(from, to);
    assert.notEqual(copy, HEADER, `mutation ${from} did not apply`);
    return disagreements(copy);
  };
  // One op number changed.
  assert.deepEqual(mutate("X(NSI_C_HOSTNAME, 77,", "X(NSI_C_HOSTNAME, 177,"), [
    "op C_HOSTNAME: plan.h says 177, OPS says 77",
  ]);
  // An argument dropped, and a kind changed.
  assert.deepEqual(mutate('X(NSI_C_MOUNT, 67, "sssusuu")', 'X(NSI_C_MOUNT, 67, "sssusu")'), [
    'op C_MOUNT: plan.h takes "sssusu", OPS "sssusuu"',
  ]);
  assert.deepEqual(mutate('X(NSI_H_JOIN, 2, "su")', 'X(NSI_H_JOIN, 2, "ss")'), [
    'op H_JOIN: plan.h takes "ss", OPS "su"',
  ]);
  // An op C knows and TypeScript does not, and the reverse.
  assert.deepEqual(mutate("X(NSI_C_NNP, 85,", "X(NSI_C_NNP2, 85,"), [
    "op C_NNP2 (85) is in plan.h but not in OPS",
    "op C_NNP is in OPS but not in plan.h",
  ]);
  // A message type, and the struct's layout.
  assert.deepEqual(mutate("NSI_MSG_GO = 5", "NSI_MSG_GO = 7"), ["message GO: plan.h says 7, Msg says 5"]);
  assert.deepEqual(mutate("int64_t pid;", "int32_t pid;"), [
    "struct nsi_msg.pid: plan.h int32_t at 16, MSG_FIELDS int64_t at 16",
    "struct nsi_msg.text: plan.h char[480] at 20, MSG_FIELDS char[480] at 24",
    "struct nsi_msg is 500 bytes in plan.h, MSG_SIZE 504",
  ]);
});

Deno.test("PlanBuilder refuses arguments that disagree with the op's kinds (untyped callers)", () => {
  const plan = new PlanBuilder();
  const add = plan.add.bind(plan) as unknown as (op: number, step: string, ...args: unknown[]) => void;
  assert.throws(() => add(Op.C_HOSTNAME, "set hostname", 5), /argument 0: expected kind s/);
  assert.throws(() => add(Op.C_HOSTNAME, "set hostname"), /takes 1 arguments, got 0/);
  assert.throws(() => add(63, "bogus"), /unknown op 63/);
  assert.equal(plan.length, 0);
});

Deno.test("nsinit-init refuses a plan whose record disagrees with plan.h before running any step", async () => {
  // Records encoded by hand, as a builder with a stale table would: the hostname as a u64.
  const dir = await Deno.makeTempDir({ prefix: "nsinit-plan-contract-" });
  try {
    const marker = `${dir}/ran`;
    await Deno.writeTextFile(marker, "");
    const good = new PlanBuilder()
      .add(Op.H_CLONE, "clone", 0)
      .add(Op.C_WRITE, "write the marker", marker, "ran");
    const bytes = good.encode();
    const bad = new Uint8Array(bytes.length + 16);
    bad.set(bytes);
    const dv = new DataView(bad.buffer);
    dv.setUint32(4, bad.length, true);
    dv.setUint16(bytes.length, Op.C_HOSTNAME, true);
    dv.setUint16(bytes.length + 2, 1, true);
    dv.setUint32(bytes.length + 4, 16, true);
    dv.setUint32(bytes.length + 8, 4, true); // a 4-byte argument, not NUL-terminated
    dv.setUint32(bytes.length + 12, 0x41414141, true);
    const plan = {
      steps: [...good.steps, "set hostname"],
      length: 3,
      encode: () => bad,
    } as unknown as PlanBuilder;
    const err = await spawnPlan(plan, { fds: [0, 1, 2], until: "exec" }).catch((e) => e);
    assert.ok(err instanceof SyscallError, String(err));
    assert.match(err.message, /set hostname/);
    assert.match(err.message, /op 77 argument 0: not a string/);
    assert.equal(await Deno.readTextFile(marker), "", "a step ran before the plan was checked");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
