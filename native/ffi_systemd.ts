/**
 * libsystemd (sd-bus) through FFI, for the systemd cgroup driver: only the non-variadic
 * calls. Apart from `ffi.ts` (which re-exports it) so that only the commands that talk
 * to systemd load its symbol table. With `ffi.ts`, the only `Deno.dlopen` calls.
 *
 * @module
 */

const LIBSYSTEMD_SYMBOLS = {
  // int sd_bus_new(sd_bus **ret)
  sd_bus_new: { parameters: ["buffer"], result: "i32" },
  // int sd_bus_set_address(sd_bus *bus, const char *address)
  sd_bus_set_address: { parameters: ["pointer", "buffer"], result: "i32" },
  // int sd_bus_set_bus_client(sd_bus *bus, int b)
  sd_bus_set_bus_client: { parameters: ["pointer", "i32"], result: "i32" },
  // int sd_bus_start(sd_bus *bus)
  sd_bus_start: { parameters: ["pointer"], result: "i32" },
  // sd_bus *sd_bus_close_unref(sd_bus *bus)
  sd_bus_close_unref: { parameters: ["pointer"], result: "pointer" },
  // int sd_bus_is_ready(sd_bus *bus)
  sd_bus_is_ready: { parameters: ["pointer"], result: "i32" },
  // int sd_bus_is_open(sd_bus *bus)
  sd_bus_is_open: { parameters: ["pointer"], result: "i32" },
  // int sd_bus_message_new_method_call(sd_bus *bus, sd_bus_message **m, const char *destination,
  //                                    const char *path, const char *interface, const char *member)
  sd_bus_message_new_method_call: {
    parameters: ["pointer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  // int sd_bus_message_append_basic(sd_bus_message *m, char type, const void *p)
  sd_bus_message_append_basic: { parameters: ["pointer", "u8", "buffer"], result: "i32" },
  // int sd_bus_message_open_container(sd_bus_message *m, char type, const char *contents)
  sd_bus_message_open_container: { parameters: ["pointer", "u8", "buffer"], result: "i32" },
  // int sd_bus_message_close_container(sd_bus_message *m)
  sd_bus_message_close_container: { parameters: ["pointer"], result: "i32" },
  // int sd_bus_call(sd_bus *bus, sd_bus_message *m, uint64_t usec, sd_bus_error *ret_error,
  //                 sd_bus_message **reply)
  sd_bus_call: {
    parameters: ["pointer", "pointer", "u64", "buffer", "buffer"],
    result: "i32",
    nonblocking: true,
  },
  // int sd_bus_process(sd_bus *bus, sd_bus_message **r)
  sd_bus_process: { parameters: ["pointer", "buffer"], result: "i32" },
  // int sd_bus_wait(sd_bus *bus, uint64_t timeout_usec)
  sd_bus_wait: { parameters: ["pointer", "u64"], result: "i32", nonblocking: true },
  // int sd_bus_message_peek_type(sd_bus_message *m, char *type, const char **contents)
  sd_bus_message_peek_type: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  // int sd_bus_message_read_basic(sd_bus_message *m, char type, void *p)
  sd_bus_message_read_basic: { parameters: ["pointer", "u8", "buffer"], result: "i32" },
  // int sd_bus_message_enter_container(sd_bus_message *m, char type, const char *contents)
  sd_bus_message_enter_container: { parameters: ["pointer", "u8", "buffer"], result: "i32" },
  // int sd_bus_message_exit_container(sd_bus_message *m)
  sd_bus_message_exit_container: { parameters: ["pointer"], result: "i32" },
  // int sd_bus_message_is_signal(sd_bus_message *m, const char *interface, const char *member)
  sd_bus_message_is_signal: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  // const char *sd_bus_message_get_path(sd_bus_message *m)
  sd_bus_message_get_path: { parameters: ["pointer"], result: "pointer" },
  // sd_bus_message *sd_bus_message_unref(sd_bus_message *m)
  sd_bus_message_unref: { parameters: ["pointer"], result: "pointer" },
  // void sd_bus_error_free(sd_bus_error *e)
  sd_bus_error_free: { parameters: ["buffer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** libsystemd's sd-bus symbols, as {@link libsystemd} returns them. */
export type Libsystemd = Deno.DynamicLibrary<typeof LIBSYSTEMD_SYMBOLS>["symbols"];

let configuredLibsystemd: string | undefined;
let loadedLibsystemd: Libsystemd | undefined;

/**
 * Sets the path of `libsystemd.so` to load, before first use (then `$NSINIT_LIBSYSTEMD`,
 * then `libsystemd.so.0` from the dynamic linker's search path).
 *
 * @example
 * ```ts
 * import { configureLibsystemd } from "./ffi_systemd.ts";
 * configureLibsystemd({ libraryPath: "/usr/lib/x86_64-linux-gnu/libsystemd.so.0" });
 * configureLibsystemd({}); // back to the default search
 * ```
 */
export function configureLibsystemd(opts: { libraryPath?: string }): void {
  configuredLibsystemd = opts.libraryPath;
}

/**
 * libsystemd's sd-bus calls, loaded on first use (never at import: a host without
 * libsystemd imports this module fine and gets this error only when it asks for D-Bus).
 * Throws an `Error` naming every path tried.
 */
export function libsystemd(): Libsystemd {
  if (loadedLibsystemd) return loadedLibsystemd;
  const paths: string[] = [];
  if (configuredLibsystemd) paths.push(configuredLibsystemd);
  let env: string | undefined;
  try {
    env = Deno.env.get("NSINIT_LIBSYSTEMD");
  } catch {
    env = undefined; // no --allow-env
  }
  if (env) paths.push(env);
  paths.push("libsystemd.so.0");
  const tried: string[] = [];
  for (const path of new Set(paths)) {
    try {
      loadedLibsystemd = Deno.dlopen(path, LIBSYSTEMD_SYMBOLS).symbols;
      return loadedLibsystemd;
    } catch (e) {
      tried.push(`${path} (${(e as Error).message})`);
    }
  }
  throw new Error(`cannot load libsystemd (sd-bus) for D-Bus; tried: ${tried.join("; ")}`);
}
