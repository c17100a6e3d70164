/**
 * `nsinit restore [flags] ID`: restores a container from CRIU images, with runc's
 * flags, under the checkpointed id or a new one. The bundle is `--bundle`, else
 * the current directory when it holds a config.json, else the one saved beside
 * the images. This process's stdio becomes the restored process's where it had
 * pipes; a terminal goes to `--console-socket`. In the foreground it waits for the
 * container, forwards signals, deletes it and exits with its code; `--detach`
 * returns once it runs.
 *
 * @module
 */

import { join, resolve } from "../../util/path.ts";
import { exists } from "../../util/fs.ts";
import { Factory } from "../../core/factory.ts";
import { readBundleSpec } from "../../core/bundle_spec.ts";
import { validateId } from "../../core/state.ts";
import { parseSpec } from "../../spec/validate.ts";
import { ConfigError } from "../../errors.ts";
import type { Spec } from "../../spec/config.ts";
import { bool, checkArgs, type FlagSpecs, parseFlags, str } from "../flags.ts";
import type { GlobalOptions } from "../global.ts";
import type { RestoreOptions } from "../../criu/options.ts";
import { SAVED } from "../../criu/options.ts";
import { checkTerminal, consoleSocketSender } from "../terminal.ts";
import { SignalForwarder, waitForeground } from "../foreground.ts";
import { writePidFileOrDestroy } from "../launch.ts";
import { progressPrinter } from "../progress.ts";
import { commonCriuOptions, CRIU_FLAGS } from "./checkpoint.ts";

/** Flags of `nsinit restore` (runc's). */
export const RESTORE_FLAGS: FlagSpecs = {
  ...CRIU_FLAGS,
  bundle: { type: "string", short: "b" },
  "console-socket": { type: "string" },
  detach: { type: "boolean", short: "d" },
  "pid-file": { type: "string" },
  "no-subreaper": { type: "boolean" },
  "no-pivot": { type: "boolean" },
  "lsm-profile": { type: "string" },
  "lsm-mount-context": { type: "string" },
};

/** Runs `nsinit restore`; resolves to the exit code (the container's, in the foreground). */
export async function run(args: string[], g: GlobalOptions): Promise<number> {
  const { values, positionals } = parseFlags(args, RESTORE_FLAGS);
  checkArgs("restore", positionals, 1, "exact");
  const id = positionals[0];
  validateId(id);
  const opts: RestoreOptions = {
    ...commonCriuOptions(values, g),
    noPivot: bool(values, "no-pivot"),
    systemdCgroup: g.systemdCgroup,
  };
  const flagBundle = str(values, "bundle");
  let spec: Spec;
  if (flagBundle || exists(join(Deno.cwd(), "config.json"))) {
    opts.bundle = resolve(flagBundle || Deno.cwd());
    spec = await readBundleSpec(opts.bundle);
  } else {
    const file = join(opts.imagePath, SAVED.config);
    if (!exists(file)) {
      throw new ConfigError(
        opts.imagePath,
        "",
        `no bundle: pass --bundle (no config.json here, and no ${SAVED.config} beside the images)`,
      );
    }
    spec = parseSpec(await Deno.readTextFile(file), file);
  }
  opts.spec = spec;
  const detach = bool(values, "detach");
  const consoleSocket = str(values, "console-socket");
  checkTerminal({ terminal: spec.process?.terminal === true, detach, consoleSocket });
  if (consoleSocket) opts.onPty = consoleSocketSender(consoleSocket);
  const profile = str(values, "lsm-profile");
  if (profile) opts.lsmProfile = profile;
  const context = str(values, "lsm-mount-context");
  if (context) opts.lsmMountContext = context;

  const factory = new Factory({ root: g.root, onWarning: (m) => g.logger.warn(m) });
  using forwarder = detach
    ? undefined
    : new SignalForwarder((s) => g.logger.debug(`forwarding ${s} to ${id}`));
  using printer = progressPrinter(`restore ${id}`, g);
  opts.onProgress = printer.onProgress;
  const container = await factory.restore(id, opts);
  printer.finish();
  const init = container.init;
  g.logger.debug(`restore ${id}: init pid ${init?.pid}`);
  await writePidFileOrDestroy(container, str(values, "pid-file"));
  if (detach || !init || !forwarder) return 0;
  let code: number;
  try {
    code = await waitForeground(init, forwarder);
  } finally {
    await container.destroy({ force: true });
  }
  return code;
}
