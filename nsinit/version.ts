/**
 * nsinit's version, as `nsinit --version` prints it (a constant, so the bundled CLI reads
 * no file for it; a test keeps it equal to deno.json's `version`).
 *
 * @module
 */

/** The version of this nsinit. */
export const VERSION = "0.1.0";
