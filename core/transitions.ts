/**
 * The container state machine, written once: which statuses each verb is allowed
 * from and the status it leads to. Every verb of `Container` checks its transition
 * here; a refusal is a `StateError` naming the status it was in (`from`), the verb,
 * where the verb leads (`to`) and the statuses it is allowed from.
 *
 * @module
 */

import { StateError, type Status } from "../errors.ts";

/** Every status, in lifecycle order. */
export const STATUSES: readonly Status[] = Object.freeze([
  "creating",
  "created",
  "running",
  "paused",
  "stopped",
]);

/** A verb's transition: allowed from, and leading to (absent: the status stays). */
export interface Transition {
  /** The statuses the verb is allowed from. */
  readonly from: readonly Status[];
  /** The status the verb leads to; absent when it keeps the status. */
  readonly to?: Status | "deleted";
}

/**
 * The transition table (runc's, plus `kill --all` on a stopped container to reach
 * leftover processes, and `delete --force` from anywhere).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TRANSITIONS } from "./transitions.ts";
 * assert.deepEqual(TRANSITIONS.start, { from: ["created"], to: "running" });
 * ```
 */
export const TRANSITIONS = Object.freeze(
  {
    start: { from: ["created"], to: "running" },
    signal: { from: ["created", "running", "paused"] },
    "kill --all": { from: STATUSES },
    pause: { from: ["created", "running"], to: "paused" },
    resume: { from: ["paused"], to: "running" },
    update: { from: ["created", "running", "paused"] },
    exec: { from: ["created", "running"] },
    // Without leaveRunning/preDump the processes end in the images (then: stopped).
    checkpoint: { from: ["running", "paused"] },
    delete: { from: ["stopped"], to: "deleted" },
    "delete --force": { from: STATUSES, to: "deleted" },
  } as const satisfies Record<string, Transition>,
);

/** A verb of the table. */
export type Verb = keyof typeof TRANSITIONS;

/**
 * Throws the `StateError` for `verb` from `status` unless the table allows it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkTransition } from "./transitions.ts";
 * checkTransition("c1", "running", "pause");
 * assert.throws(() => checkTransition("c1", "stopped", "resume"), /cannot resume a stopped container/);
 * ```
 */
export function checkTransition(id: string, status: Status, verb: Verb): void {
  const t: Transition = TRANSITIONS[verb];
  if (t.from.includes(status)) return;
  throw new StateError(id, status, verb, {
    ...(t.to !== undefined ? { to: t.to } : {}),
    allowed: t.from,
  });
}
