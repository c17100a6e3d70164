import assert from "node:assert/strict";
import { checkTerminal } from "./terminal.ts";

Deno.test("checkTerminal: runc's rules for terminal, detach and console socket", () => {
  checkTerminal({ terminal: true, detach: true, consoleSocket: "/s" });
  checkTerminal({ terminal: true, detach: false });
  checkTerminal({ terminal: false, detach: true });
  checkTerminal({ terminal: false, detach: false });
  assert.throws(() => checkTerminal({ terminal: true, detach: true }), /cannot allocate tty/);
  assert.throws(
    () => checkTerminal({ terminal: false, detach: true, consoleSocket: "/s" }),
    /cannot use console socket/,
  );
  assert.throws(
    () => checkTerminal({ terminal: true, detach: false, consoleSocket: "/s" }),
    /cannot use console socket/,
  );
});
