#!/usr/bin/env bash
# The whole test run (`deno task test`, and CI through .ci/run).
#
#   scripts/test.sh [deno test args...]
#
# 1. scripts/install_test_deps.sh          (packages, deno, test user, rootfs)
# 2. deno task build                        (skipped while scripts/build.ts does not exist)
# 3. scripts/leftovers.sh snapshot
# 4. deno test -A                           every test module in the repo (unit tests beside the
#                                           code, tests/), one module at a time: Deno's default
#                                           (`--parallel=false` would turn parallel mode ON)
#    deno test -A --doc FILES...            the examples in every other .ts/.js/.md file, with
#                                           noUnusedLocals off (see below)
#    With arguments, only `deno test -A ARGS...` runs (add --doc yourself if wanted).
#    When a run prints no summary (one module that does not type-check stops all of Deno), it
#    is repeated file by file, so each file that cannot load counts as one failure and the
#    others still report (not after a timeout). A run with arguments that prints no summary
#    counts as one failure.
# 5. scripts/suites/*.sh                    extra result sources: static checks (check, lint,
#                                           fmt, doc --lint mod.ts), a quick benchmark run (it
#                                           must keep working; nothing is asserted of its numbers)
#                                           the cgroup v2 VM, the checkpoint tests in it
#                                           (criu_vm, ~6 min) and AppArmor in it
#                                           (apparmor_vm, ~1.5 min); not in
#                                           a run with arguments
# 6. scripts/leftovers.sh check             anything left behind counts as one failure
# 7. scripts/summary.ts sum                 the last line: `N passed, M failed[, K skipped]`
#
# Counts are of top-level tests (Deno's "(N steps)" are not added: a failed step fails its
# test); skipped is Deno's "ignored". Exit status: 0 only if nothing failed and nothing was
# left behind.
#
# Results: every source writes a JSON file of counts into $NSINIT_RESULTS_DIR (default
# .cache/test-results/$NSINIT_TEST_RUN, new for each run, with the logs; a directory given by
# the caller is kept as is, so results written there earlier are summed too):
# {"source","passed","failed","skipped","failures"?}.
# An extra suite (e.g. tests inside a qemu VM) is an executable scripts/suites/NAME.sh that
# writes $NSINIT_RESULTS_DIR/NAME.json, e.g. with
#   deno run -A scripts/summary.ts record --out "$NSINIT_RESULTS_DIR/NAME.json" --source NAME --passed 3
# or `summary.ts deno LOG --out ...` on a deno test log; a suite that exits non-zero without
# writing its file counts as one failure.
#
# Time: the test modules get NSINIT_TEST_TIMEOUT (default 65m), the doc examples 10m, so a whole
# run stays within CI's 90 minutes; a file-by-file retry stops at those same limits.
#
# Environment: NSINIT_TEST_RUN (marker exported to every test process and container; default
# a fresh id), NSINIT_TEST_TIMEOUT, NSINIT_RESULTS_DIR. Run one test.sh at a time on a machine:
# resources that other test processes create meanwhile are reported as leftovers too.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" || exit 1

export NSINIT_TEST_RUN=${NSINIT_TEST_RUN:-run-$(date +%Y%m%d-%H%M%S)-$$}
if [[ -n ${NSINIT_RESULTS_DIR:-} ]]; then
  results=$NSINIT_RESULTS_DIR
  mkdir -p "$results"
else
  # One directory per run (runs in the same checkout do not mix); the 5 newest are kept.
  mkdir -p "$repo/.cache/test-results"
  find "$repo/.cache/test-results" -maxdepth 1 -type f -delete
  results=$repo/.cache/test-results/$NSINIT_TEST_RUN
  rm -rf "$results"
  mkdir -p "$results"
  find "$repo/.cache/test-results" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' |
    sort -rn | tail -n +6 | cut -d' ' -f2- | while read -r old; do rm -rf -- "$old"; done
fi
export NSINIT_RESULTS_DIR=$results
timeout_for_tests=${NSINIT_TEST_TIMEOUT:-65m}
timeout_for_docs=10m
# seconds SPEC: a timeout(1) duration (e.g. 65m, 90s, 2h) in seconds.
seconds() {
  local n=${1%[smhd]}
  case $1 in
  *m) echo $((n * 60)) ;;
  *h) echo $((n * 3600)) ;;
  *d) echo $((n * 86400)) ;;
  *) echo "$n" ;;
  esac
}

say() { echo "test: $*"; }

# result_file SOURCE: where SOURCE's counts go ("deno test --doc" -> deno-test-doc.json).
result_file() { echo "$results/$(tr -cs 'A-Za-z0-9_.\n' '-' <<<"$1").json"; }

# record_failure SOURCE FAILED_COUNT [TEXT]: a result with failures only (needs no deno).
record_failure() {
  local source=$1 failed=$2 text=${3:-} file
  file=$(result_file "$source")
  text=${text//\\/\\\\}
  text=${text//\"/\\\"}
  printf '{"source":"%s","passed":0,"failed":%d,"skipped":0,"failures":["%s"]}\n' \
    "$source" "$failed" "$text" >"$file"
}

# --- 1. dependencies
if ! bash scripts/install_test_deps.sh </dev/null; then
  record_failure setup 1 "scripts/install_test_deps.sh failed"
fi
if ! command -v deno >/dev/null; then
  echo "test: deno is missing; nothing can run"
  echo "0 passed, 1 failed"
  exit 1
fi

# --- 2. build
if [[ -f scripts/build.ts ]]; then
  say "deno task build"
  if ! deno task build </dev/null; then
    record_failure build 1 "deno task build failed"
  fi
else
  say "scripts/build.ts does not exist yet; skipping the build"
fi

# --- 3. snapshot
snapshot=$results/leftovers.snapshot
LEFTOVERS_ANCESTOR=$$ bash scripts/leftovers.sh snapshot "$snapshot"

# --- 4. deno test
# run_deno_test SOURCE LOG TIMEOUT ARGS...: runs deno test, records SOURCE's counts. Returns 1
# when Deno printed no summary for a reason other than the timeout (a module failed to load or
# type-check), so the caller can retry module by module.
run_deno_test() {
  local source=$1 log=$2 limit=$3 rc
  shift 3
  say "deno test $*"
  timeout -k 60s "$limit" deno test "$@" </dev/null 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  deno run --allow-read --allow-write scripts/summary.ts deno "$log" --source "$source" \
    --out "$(result_file "$source")" --exit-code "$rc" ||
    record_failure "$source" 1 "could not read the summary of $source"
  if ((rc != 124 && rc != 137)) &&
    ! sed 's/\x1b\[[0-9;?]*[ -/]*[@-~]//g' "$log" | grep -qE '^(ok|FAILED) \| [0-9]+ passed'; then
    return 1
  fi
  return 0
}

# run_each SOURCE BUDGET DENO_ARGS -- FILES...: one deno test per file (after a run without a
# summary), so one module that does not compile fails alone. Stops after BUDGET seconds.
run_each() {
  local source=$1 deadline=$((SECONDS + $2)) f n=0 args=()
  shift 2
  while [[ $1 != -- ]]; do
    args+=("$1")
    shift
  done
  shift
  rm -f "$(result_file "$source")"
  mkdir -p "$results/modules"
  say "$source printed no summary: running each of its $# files on its own"
  for f in "$@"; do
    if ((SECONDS >= deadline - 5)); then
      record_failure "$source: rest" 1 "time budget spent before ${f#./} and the files after it"
      break
    fi
    n=$((n + 1))
    run_deno_test "$source ${f#./}" "$results/modules/$n.log" "$((deadline - SECONDS))s" \
      "${args[@]}" "$f" || true
  done
}

# Files under the repo root, skipping .git, .cache, dist and node_modules.
repo_files() {
  find . \( -path ./.git -o -path ./.cache -o -path ./dist -o -name node_modules \) -prune -o \
    -type f "$@" -print | sort
}

if (($# > 0)); then
  run_deno_test "deno test" "$results/deno-test.log" "$timeout_for_tests" -A "$@" || true
else
  # 4a. Test modules, under the project's own compiler options.
  mapfile -t test_files < <(repo_files \( -name '*_test.*' -o -name '*.test.*' -o -name 'test.ts' \) \
    \( -name '*.ts' -o -name '*.tsx' -o -name '*.js' -o -name '*.mjs' \))
  started=$SECONDS
  if ! run_deno_test "deno test" "$results/deno-test.log" "$timeout_for_tests" -A &&
    ((${#test_files[@]} > 1)); then
    run_each "deno test" "$(($(seconds "$timeout_for_tests") - (SECONDS - started)))" -A -- "${test_files[@]}"
  fi

  # 4b. Doc examples of every other module and markdown file that holds a code fence. Files
  # without one have nothing to run, and some are programs (examples/, test fixtures) that
  # `deno test --doc` would start by importing them; examples/ are run by their own tests. Deno injects an import of all
  # of a module's exports into each example (denoland/deno#26900), which fails under
  # noUnusedLocals, so this run uses a copy of deno.json with noUnusedLocals off.
  doc_config_dir=$(mktemp -d /tmp/nsinit-doc-config.XXXXXX)
  # shellcheck disable=SC2016 # TypeScript, not shell
  deno eval '
    const c = JSON.parse(Deno.readTextFileSync("deno.json"));
    for (const k of ["tasks", "fmt", "lint", "exclude", "include", "name", "version", "exports", "workspace"]) delete c[k];
    c.compilerOptions = { ...c.compilerOptions, noUnusedLocals: false };
    // The copy lives outside the repo: make relative import-map targets absolute.
    const abs = (m) => Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) =>
      [k, typeof v === "string" && v.startsWith(".") ? new URL(v, `file://${Deno.cwd()}/`).href : v]));
    if (c.imports) c.imports = abs(c.imports);
    if (c.scopes) c.scopes = Object.fromEntries(Object.entries(c.scopes).map(([k, v]) => [k, abs(v)]));
    Deno.writeTextFileSync(Deno.args[0], JSON.stringify(c, null, 2));
  ' "$doc_config_dir/deno.json"
  doc_args=(-A --doc --config "$doc_config_dir/deno.json")
  mapfile -t doc_files < <(repo_files \( -name '*.ts' -o -name '*.tsx' -o -name '*.js' -o -name '*.mjs' -o -name '*.md' \) \
    ! -name '*_test.*' ! -name '*.test.*' ! -name 'test.ts' ! -path './examples/*' |
    xargs -r grep -lF '```' --)
  started=$SECONDS
  if ((${#doc_files[@]} > 0)) &&
    ! run_deno_test "deno test --doc" "$results/deno-test-doc.log" "$timeout_for_docs" \
      "${doc_args[@]}" "${doc_files[@]}" &&
    ((${#doc_files[@]} > 1)); then
    run_each "deno test --doc" "$(($(seconds "$timeout_for_docs") - (SECONDS - started)))" \
      "${doc_args[@]}" -- "${doc_files[@]}"
  fi
  rm -rf -- "$doc_config_dir"
fi

# --- 5. extra suites (a run with arguments is a targeted one: no suites)
shopt -s nullglob
suites=(scripts/suites/*.sh)
if (($# > 0 && ${#suites[@]} > 0)); then
  say "deno test arguments given: skipping the suites ${suites[*]}"
  suites=()
fi
for suite in "${suites[@]}"; do
  name=$(basename "$suite" .sh)
  say "suite $name"
  if ! bash "$suite" </dev/null && [[ ! -f $results/$name.json ]]; then
    record_failure "$name" 1 "$suite failed and wrote no results"
  fi
done
shopt -u nullglob

# --- 6. leftovers
if ! bash scripts/leftovers.sh check "$snapshot"; then
  record_failure leftovers 1 "the run left resources behind (listed above)"
fi

# --- 7. summary
echo "test: results"
deno run --allow-read scripts/summary.ts sum "$results"
rc=$?
if ((rc > 1)); then
  echo "0 passed, 1 failed"
  exit 1
fi
exit "$rc"
