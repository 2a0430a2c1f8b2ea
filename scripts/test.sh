#!/usr/bin/env bash
# The project's whole check, as the README's test command runs it:
# format, lint, type check of every package, then every test.
# Ends with the plain line "N passed, N failed" (a failed fmt/lint/check step counts as one failure).
set -uo pipefail
cd "$(dirname "$0")/.."

failed_steps=0
step() {
  echo "== $*"
  if ! "$@"; then
    failed_steps=$((failed_steps + 1))
    echo "== FAILED: $*"
  fi
}

# Debian's xen-syms for the tests that need it (CI fails those tests when it is missing).
bash scripts/fetch_xen_syms.sh || echo "== xen-syms unavailable; tests that need it are skipped outside CI"

step deno fmt --check
step deno lint
step deno check

out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "== deno test"
# --doc: every @example in JSDoc and every ts block of the READMEs runs too.
deno test --allow-read --allow-write --allow-env --allow-run --allow-sys --doc --parallel 2>&1 | tee "$out"
test_rc=${PIPESTATUS[0]}

# deno test closes with "ok | 12 passed (30 steps) | 0 failed (1s)" or "FAILED | ...",
# coloured on a terminal: strip the colour codes first.
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1)
passed=$(echo "$summary" | sed -nE 's/^(ok|FAILED) \| ([0-9]+) passed.*/\2/p')
failed=$(echo "$summary" | sed -nE 's/.*\| ([0-9]+) failed.*/\1/p')
passed=${passed:-0}
failed=${failed:-0}
if [ "$test_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
failed=$((failed + failed_steps))
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
