// A stand-in for `criu swrk 3` that answers VERSION and CHECK like CRIU 4.1.1 and, for
// RESTORE, sends the pid that $FAKE_CRIU_PID says where $FAKE_CRIU_WHERE says
// (`setup-namespaces`, `post-restore`, or `answer`): the runtime must refuse a pid of
// -1 or 0 before anything could signal it. With $FAKE_CRIU_RECORD, a RESTORE's options that
// tests check (the LSM ones, lazy pages) are written there as JSON; $FAKE_CRIU_WHERE=`fail`
// then answers the RESTORE with failure. Run through fake_criu.sh.
import { native } from "../../native/ffi.ts";
import {
  create,
  criu_optsSchema,
  criu_req_type,
  criu_reqSchema,
  criu_respSchema,
  fromBinary,
  isFieldSet,
  toBinary,
} from "../../criu/proto.ts";

const lib = native();
const SOCK = 3;
const buf = new Uint8Array(1 << 16);
const fdOut = new Int32Array(1);

async function recv() {
  const n = Number(
    await lib.nsi_recv_packet(SOCK, buf, BigInt(buf.length), new Uint8Array(fdOut.buffer)),
  );
  if (n <= 0) Deno.exit(0);
  return fromBinary(criu_reqSchema, buf.subarray(0, n));
}

async function send(init: Parameters<typeof create<typeof criu_respSchema>>[1]) {
  const bytes = toBinary(criu_respSchema, create(criu_respSchema, init));
  await lib.nsi_write(SOCK, bytes, BigInt(bytes.length));
}

const req = await recv();
const pid = Number(Deno.env.get("FAKE_CRIU_PID") ?? "-1");
const where = Deno.env.get("FAKE_CRIU_WHERE") ?? "post-restore";
switch (req.type) {
  case criu_req_type.VERSION:
    await send({
      type: req.type,
      success: true,
      version: { majorNumber: 4, minorNumber: 1, sublevel: 1 },
    });
    break;
  case criu_req_type.CHECK:
  case criu_req_type.FEATURE_CHECK:
    await send({ type: req.type, success: true });
    break;
  case criu_req_type.RESTORE: {
    const record = Deno.env.get("FAKE_CRIU_RECORD");
    if (record) {
      // Only the fields the request carries (proto2: an unset string reads as "").
      const o = req.opts ?? create(criu_optsSchema, {});
      const out: Record<string, unknown> = {};
      for (const f of ["lsmProfile", "lsmMountContext", "lazyPages"] as const) {
        if (isFieldSet(o, criu_optsSchema.field[f])) out[f] = o[f];
      }
      Deno.writeTextFileSync(record, JSON.stringify(out));
    }
    if (where === "fail") {
      await send({ type: req.type, success: false, crErrno: 1, crErrmsg: "fake criu: refused" });
      break;
    }
    let ok = true;
    if (where !== "answer") {
      await send({ type: criu_req_type.NOTIFY, success: true, notify: { script: where, pid } });
      ok = (await recv()).notifySuccess === true;
    }
    await send(
      ok
        ? { type: req.type, success: true, restore: { pid } }
        : { type: req.type, success: false, crErrno: 0, crErrmsg: "notify failed" },
    );
    break;
  }
  default:
    await send({ type: req.type, success: false, crErrno: 95, crErrmsg: "fake criu" });
}
