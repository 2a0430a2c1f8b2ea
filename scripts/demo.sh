#!/usr/bin/env bash
# The whole lpkit story on the bundled example host, offline: inspect, check,
# sign, verify, host init, upload, list, apply, call, list, revert, call,
# replace, unload. Each step is printed as a user would type it, and the
# results that matter are checked (the demo fails if one is wrong).
#
#   bash scripts/demo.sh                  # lpkit from the sources (deno run)
#   bash scripts/demo.sh --bin dist/lpkit # the compiled binary (deno task compile)
#   deno task demo                        # the same as the first
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--bin" ]; then
  LPKIT=("$(realpath "$2")")
else
  LPKIT=(deno run --allow-read --allow-write --allow-env --allow-run --quiet packages/cli/main.ts)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/lpkit-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
export LPKIT_STATE="$work/host"
export NO_COLOR=1
keys=packages/signer/testdata

out="$work/out"
# Runs one step: prints it, runs it, shows its output; fails the demo on an unexpected exit code.
step() {
  local want=0
  if [ "$1" = "--exit" ]; then want=$2; shift 2; fi
  printf '\n$ lpkit %s\n' "$*"
  local rc=0
  "${LPKIT[@]}" "$@" >"$out" 2>&1 || rc=$?
  cat "$out"
  if [ "$rc" -ne "$want" ]; then
    echo "demo: 'lpkit $*' exited $rc, expected $want" >&2
    exit 1
  fi
}
# Checks that the last step's output contains this text.
expect() {
  if ! grep -qF -- "$1" "$out"; then
    echo "demo: expected the line '$1'" >&2
    exit 1
  fi
}

echo "# lpkit demo (state folder: \$LPKIT_STATE = $LPKIT_STATE)"

step inspect examples/bin/hello.livepatch
expect "funcs[0] xen_extra_version"

step --exit 1 check --example examples/bin/hello.livepatch examples/bin/bye.livepatch examples/bin/bad_version3.livepatch
expect "1 error, 0 warnings"

step sign --key $keys/rsa2048.key --cert $keys/rsa2048.crt -o "$work/hello.livepatch" examples/bin/hello.livepatch
step sign --key $keys/rsa2048.key --cert $keys/rsa2048.crt -o "$work/replace.livepatch" examples/bin/replace.livepatch
step verify --trust $keys/rsa2048.crt "$work/hello.livepatch"

step host init --example --cpus 4 --enforce-signatures --trust $keys/rsa2048.crt
expect "Signatures    enforced (trust: $(realpath $keys/rsa2048.crt))"

step --exit 1 upload hello examples/bin/hello.livepatch
expect "Error 13: Permission denied"
step upload hello "$work/hello.livepatch"
expect "Uploading $work/hello.livepatch... completed"

step list
expect "hello                                   | CHECKED    | LIVEPATCH_RULEZ"

step call xen_extra_version --string
expect "-minivisor"

step apply hello
expect "Applying hello... completed"

step call xen_extra_version --string
expect "Hello World"

step disasm xen_extra_version
step list
expect "hello                                   | APPLIED    | LIVEPATCH_RULEZ"

step --exit 1 unload hello
expect "Current state: APPLIED"

step revert hello
expect "Reverting hello... completed"

step call xen_extra_version --string
expect "-minivisor"

step apply hello
step upload replace "$work/replace.livepatch"
step replace replace
expect "Replacing all live patches with replace... completed"
step call xen_extra_version --string
expect "Hello Again World!"
step list
expect "hello                                   | CHECKED    | LIVEPATCH_RULEZ"
expect "replace                                 | APPLIED    | "

step unload hello
expect "Unloading hello... completed"
step cpus
step host status
step list
expect "replace                                 | APPLIED    | "

echo
echo "# demo complete"
