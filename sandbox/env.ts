/**
 * The environment a sandboxed command gets: the caller's, minus variables that
 * look like secrets (tokens, keys, passwords, credentials, agent sockets), plus
 * what `--env` passes explicitly.
 *
 * @module
 */

/** Names (case-insensitive) that mark a variable as a secret. */
const SECRET_WORDS =
  /(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|PASS|PWD_?KEY|API_?KEY|APIKEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?|AUTH|SESSION|COOKIE|KEY)($|_)/i;

/** Whole names that are secrets or lead to them (agents, credential files). */
const SECRET_NAMES = new Set([
  "SSH_AUTH_SOCK",
  "SSH_AGENT_PID",
  "GPG_AGENT_INFO",
  "GNUPGHOME",
  "AWS_PROFILE",
  "AWS_SHARED_CREDENTIALS_FILE",
  "AWS_CONFIG_FILE",
  "GOOGLE_APPLICATION_CREDENTIALS",
  "KUBECONFIG",
  "DOCKER_CONFIG",
  "NETRC",
  "PGPASSFILE",
  "DBUS_SESSION_BUS_ADDRESS",
]);

/** Prefixes of provider variables that are all sensitive. */
const SECRET_PREFIXES = ["AWS_", "AZURE_", "GCP_", "GOOGLE_", "GITHUB_", "GH_", "NPM_", "VAULT_"];

/**
 * Whether a variable name looks like it holds a secret.
 *
 * @example
 * ```ts
 * import { looksSecret } from "./env.ts";
 * import assert from "node:assert/strict";
 * assert.equal(looksSecret("GITHUB_TOKEN"), true);
 * assert.equal(looksSecret("OPENAI_API_KEY"), true);
 * assert.equal(looksSecret("SSH_AUTH_SOCK"), true);
 * assert.equal(looksSecret("PATH"), false);
 * assert.equal(looksSecret("KEYBOARD_LAYOUT"), false);
 * ```
 */
export function looksSecret(name: string): boolean {
  const up = name.toUpperCase();
  return SECRET_NAMES.has(up) || SECRET_PREFIXES.some((p) => up.startsWith(p)) ||
    SECRET_WORDS.test(up);
}

/**
 * The sandbox's environment: `base` without secret-looking variables, then each
 * `pass` entry: `NAME=value` sets it, a bare `NAME` keeps the caller's value.
 *
 * @example
 * ```ts
 * import { sandboxEnv } from "./env.ts";
 * import assert from "node:assert/strict";
 * const env = sandboxEnv({ PATH: "/bin", API_TOKEN: "t", HOME: "/h" }, ["API_TOKEN", "X=1"]);
 * assert.deepEqual(env, ["PATH=/bin", "HOME=/h", "API_TOKEN=t", "X=1"]);
 * ```
 */
export function sandboxEnv(base: Record<string, string>, pass: string[] = []): string[] {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(base)) if (!looksSecret(k)) out.set(k, v);
  for (const e of pass) {
    const eq = e.indexOf("=");
    if (eq === 0) throw new RangeError(`env "${e}": empty name`);
    if (eq > 0) out.set(e.slice(0, eq), e.slice(eq + 1));
    else if (base[e] !== undefined) out.set(e, base[e]);
  }
  return [...out].map(([k, v]) => `${k}=${v}`);
}
