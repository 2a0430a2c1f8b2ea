#!/usr/bin/env bash
# Rebuilds the committed differential-test fixtures: kernels.bin (kernels.c + alu_ops.S + thunks.S
# linked at a fixed address) and kernels.json (base, size, symbol offsets). Needs gcc + binutils.
# The native harness (harness.c) is compiled by the tests themselves, in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")"
BASE=0x10000000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Xen's code generation options (xen/arch/x86/arch.mk): no SSE, no red zone, retpolines,
# return thunks, endbr64 landing pads.
CFLAGS="-O2 -ffreestanding -fno-pic -fno-pie -mcmodel=small -mno-red-zone -mno-sse -mno-mmx
  -mskip-rax-setup -fno-stack-protector -fno-asynchronous-unwind-tables -fno-jump-tables-unused
  -mindirect-branch=thunk-extern -mfunction-return=thunk-extern -fcf-protection=branch
  -fno-tree-loop-distribute-patterns -fno-builtin"
CFLAGS=${CFLAGS/-fno-jump-tables-unused/}
deno run gen_alu_ops.ts > alu_ops.S
gcc $CFLAGS -c kernels.c -o "$tmp/kernels.o"
gcc -c alu_ops.S -o "$tmp/alu_ops.o"
gcc -c thunks.S -o "$tmp/thunks.o"
ld -static -nostdlib -no-pie -z noexecstack -Ttext=$BASE -e 0 --no-warn-rwx-segments \
  "$tmp/kernels.o" "$tmp/alu_ops.o" "$tmp/thunks.o" -o "$tmp/kernels.elf"
objcopy -O binary "$tmp/kernels.elf" kernels.bin
last=$(nm -S "$tmp/kernels.elf" | awk 'NF == 4 {print $1, $2}' | sort | tail -n 1)
size=$(printf '0x%x' $(( (0x${last% *} + 0x${last#* } - BASE + 0x1000 + 0xfff) & ~0xfff )))
{
  printf '{\n  "base": "%s",\n  "size": "%s",\n  "symbols": {\n' "$BASE" "$size"
  sep=""
  while read -r addr kind name; do
    case "$kind:$name" in
      [tT]:k_* | [tT]:op_* | [tT]:__x86*)
        printf '%s    "%s": %d' "$sep" "$name" $((0x$addr - BASE))
        sep=$',\n' ;;
    esac
  done < <(nm "$tmp/kernels.elf")
  printf '\n  }\n}\n'
} > kernels.json
echo "kernels.bin: $(stat -c %s kernels.bin) bytes, map size $size"
