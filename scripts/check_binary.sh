#!/usr/bin/env bash
# CI for the single binary: build dist/lpkit (`deno task compile`), run the
# end-to-end demo with it, then the CLI's end-to-end tests against it
# (LPKIT_BIN). Needs deno, node and npx (postject comes from the npm registry).
# Ends with the plain line "N passed, N failed" (the demo counts as one test).
#
#   bash scripts/check_binary.sh           # Node SEA (default)
#   bash scripts/check_binary.sh --bun     # Bun executable
set -uo pipefail
cd "$(dirname "$0")/.."
DENO=${DENO:-deno}

"$DENO" run --allow-read --allow-write --allow-env --allow-run scripts/compile.ts "$@" || {
  echo "0 passed, 1 failed"
  exit 1
}

demo_failed=0
if bash scripts/demo.sh --bin dist/lpkit >/tmp/lpkit-demo-binary.log 2>&1; then
  echo "== demo with dist/lpkit: ok"
else
  demo_failed=1
  echo "== demo with dist/lpkit: FAILED"
  tail -n 20 /tmp/lpkit-demo-binary.log
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
LPKIT_BIN=dist/lpkit "$DENO" test --allow-read --allow-write --allow-env --allow-run --allow-sys \
  --parallel tests/cli_*_test.ts 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1)
passed=$(echo "$summary" | sed -nE 's/^(ok|FAILED) \| ([0-9]+) passed.*/\2/p')
failed=$(echo "$summary" | sed -nE 's/.*\| ([0-9]+) failed.*/\1/p')
passed=${passed:-0}
failed=${failed:-0}
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
[ "$demo_failed" -eq 0 ] && passed=$((passed + 1))
failed=$((failed + demo_failed))
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
