#!/usr/bin/env bash
# examples/build.sh - rebuild the minivisor and its live-patch payloads from
# source with gcc + binutils, the way Xen builds xen-syms and its in-tree
# test payloads (xen/test/livepatch/Makefile).  See examples/README.md.
#
#   bash examples/build.sh            build into examples/bin/, regenerate
#                                     examples/manifest.json
#   bash examples/build.sh --check    build into a temporary directory and
#                                     compare with examples/bin/ and
#                                     examples/manifest.json (exit 1 on drift)
#   bash examples/build.sh --out DIR  build into DIR (manifest left alone)
#
# The output is byte-for-byte reproducible on a given toolchain: no
# timestamps, relative source paths, intermediate files in a temp dir.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODE=build
OUT="$HERE/bin"
while [ $# -gt 0 ]; do
    case "$1" in
    --check) MODE=check ;;
    --out) MODE=out; OUT=$(mkdir -p "$2" && cd "$2" && pwd); shift ;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "build.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

CC=${CC:-gcc}
LD=${LD:-ld}
OBJCOPY=${OBJCOPY:-objcopy}
NM=${NM:-nm}
READELF=${READELF:-readelf}
OBJDUMP=${OBJDUMP:-objdump}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lpkit-examples.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
[ "$MODE" = check ] && OUT="$TMP/check-bin"
STAGE="$TMP/stage"          # finished files, copied to $OUT at the end
mkdir -p "$STAGE" "$TMP/mv" "$TMP/lp" "$OUT"

die() { echo "build.sh: $*" >&2; exit 1; }

# Flags shared by the minivisor and the payloads (Xen-like code generation).
CFLAGS=(
    -O2 -std=gnu11 -Wall -Werror
    -nostdinc -ffreestanding -fno-builtin
    -fpie -fno-common -fno-strict-aliasing -fno-stack-protector
    -fcf-protection=full
    -mindirect-branch=thunk-extern -mfunction-return=thunk-extern
    -mindirect-branch-register
    -mno-red-zone -mgeneral-regs-only
    -fno-asynchronous-unwind-tables -fno-unwind-tables -fno-jump-tables
    -fno-tree-loop-distribute-patterns -fno-reorder-blocks-and-partition
    -fno-ipa-icf
    "-ffile-prefix-map=$HERE/="
)

###############################################################################
# 1. The minivisor (ET_EXEC at 0xffff82d040200000, like xen-syms).
###############################################################################
MV_SRCS=(
    arch/x86/entry.S
    arch/x86/indirect-thunk.S
    arch/x86/setup.c
    arch/x86/domain.c
    arch/x86/smp.c
    arch/x86/hypercall.c
    common/version.c
    common/kernel.c
    common/console.c
    common/sched.c
    common/softirq.c
    common/tasklet.c
    common/livepatch.c
    common/domctl.c
    lib/memcpy.c
    lib/memset.c
    lib/memcmp.c
    lib/strlen.c
    lib/strcmp.c
    lib/strlcpy.c
    lib/sort.c
)

cd "$HERE/minivisor"
mv_objs=()
for src in "${MV_SRCS[@]}"; do
    obj="$TMP/mv/${src%.*}.o"
    mkdir -p "$(dirname "$obj")"
    case "$src" in
    *.S) "$CC" "${CFLAGS[@]}" -D__ASSEMBLY__ -Iinclude -c "$src" -o "$obj" ;;
    *.c)
        "$CC" "${CFLAGS[@]}" -Iinclude -c "$src" -o "$obj"
        # Like Xen with CONFIG_ENFORCE_UNIQUE_SYMBOLS: the STT_FILE symbol
        # becomes the path relative to the tree (common/version.c), so
        # statics are known as "common/sched.c#init_one".
        "$OBJCOPY" --redefine-sym "$(basename "$src")=$src" "$obj"
        ;;
    esac
    mv_objs+=("$obj")
done

# No 32-bit absolute relocations: the image lives above 4 GiB.
if "$READELF" -rW "${mv_objs[@]}" | grep -qE 'R_X86_64_(32|32S) '; then
    die "minivisor objects contain R_X86_64_32/32S relocations"
fi

"$CC" -nostdlib -static -no-pie \
    -Wl,-T,xen.lds -Wl,--build-id=sha1 \
    -Wl,-z,max-page-size=0x1000 -Wl,-z,noexecstack \
    -o "$STAGE/minivisor" "${mv_objs[@]}"
MV="$STAGE/minivisor"

###############################################################################
# 2. Payloads.
###############################################################################
cd "$HERE/payloads"
LP="$TMP/lp"
PCFLAGS=("${CFLAGS[@]}" -fno-toplevel-reorder -Iinclude -Ibad "-I$LP")

cc_lp() { # <src> <obj> [extra flags...]
    local src=$1 obj=$2
    shift 2
    case "$src" in
    *.S) "$CC" "${PCFLAGS[@]}" -D__ASSEMBLY__ "$@" -c "$src" -o "$obj" ;;
    *) "$CC" "${PCFLAGS[@]}" "$@" -c "$src" -o "$obj" ;;
    esac
}

# Bad payloads whose replacement function is bad/bad_func.c, compiled with
# -DBAD_FN=xen_<name>_world.
BAD_STD=(
    bad_no_xen_depends bad_xen_depends_mismatch bad_version3 bad_old_size_zero
    bad_too_small bad_too_small_endbr bad_unresolvable_name bad_wx_section
    bad_funcs_size bad_reloc_32 bad_reloc_32s bad_modinfo_unterminated
)
bad_defs() { echo "-DBAD_FN=xen_${1}_world"; }

# 2a. Replacement functions first: their sizes go into config.h.
FUNC_SRCS=(hello bye replace expect_ok expect_fail hooks data v1 multi)
for p in "${FUNC_SRCS[@]}"; do
    cc_lp "${p}_func.c" "$LP/${p}_func.o"
done
for p in "${BAD_STD[@]}"; do
    cc_lp bad/bad_func.c "$LP/${p}_func.o" "$(bad_defs "$p")" "-DBAD_STR=\"$p\""
done
cc_lp bad/bad_undefined_symbol_func.c "$LP/bad_undefined_symbol_func.o"

# 2b. config.h, as Xen's Makefile generates it from nm output.
sym_field() { # <elf> <symbol> <field: 1=addr 2=size>
    "$NM" --defined-only -S "$1" | awk -v s="$2" -v f="$3" \
        'NF == 4 && $4 == s { print $f; n++ } END { if (n != 1) exit 1 }'
}
stext=0x$(sym_field "$MV" _start 1)
"$OBJCOPY" -O binary --only-section=.text "$MV" "$TMP/text.bin"
image_bytes() { # <symbol> <count> -> "f3 0f 1e fa ..."
    local addr=0x$(sym_field "$MV" "$1" 1)
    od -An -tx1 -v -j $((addr - stext)) -N "$2" "$TMP/text.bin" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'
}

# NOP length for bump_event_counter: every byte before its final
# "jmp __x86_return_thunk", measured from the function start.
nop_len() { # <symbol>
    local addr=0x$(sym_field "$MV" "$1" 1) size=0x$(sym_field "$MV" "$1" 2) jmp
    jmp=$("$OBJDUMP" -d --start-address=$((addr)) --stop-address=$((addr + size)) "$MV" |
        awk '/jmp +[0-9a-f]+ <__x86_return_thunk>/ { sub(":", "", $1); print $1 }')
    [ "$(echo "$jmp" | wc -l)" = 1 ] && [ -n "$jmp" ] || die "$1: expected exactly one return-thunk jmp"
    [ $((0x$jmp + 5)) = $((addr + size)) ] || die "$1: return-thunk jmp is not the last instruction"
    echo $((0x$jmp - addr))
}

{
    echo "/* Generated by examples/build.sh from nm/objdump output. Do not edit. */"
    for s in xen_extra_version xen_major_version xen_minor_version xen_compile_date \
        xen_changeset bump_event_counter small_ret0 small_endbr_ret0; do
        echo "#define OLD_ADDR_$s 0x$(sym_field "$MV" "$s" 1)UL"
        echo "#define OLD_SZ_$s 0x$(sym_field "$MV" "$s" 2)"
    done
    echo "#define NOP_LEN_bump_event_counter $(nop_len bump_event_counter)"
    echo "#define EXPECT8_xen_extra_version $(image_bytes xen_extra_version 8 | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g; s/,$//')"
    for o in "$LP"/*_func.o; do
        "$NM" --defined-only -S "$o" | awk 'NF == 4 && $3 == "T" { print "#define NEW_SZ_" $4 " 0x" $2 }'
    done
} >"$LP/config.h"

nl=$(awk '/NOP_LEN_bump_event_counter/ { print $3 }' "$LP/config.h")
[ "$nl" -gt 4 ] && [ "$nl" -le 31 ] || die "bad NOP length $nl"

# 2c. The funcs tables (and hooks).
for p in hello bye replace nop expect_ok expect_fail hooks hooks_only data v1 multi; do
    cc_lp "$p.c" "$LP/$p.o"
done
for p in "${BAD_STD[@]}"; do
    cc_lp "bad/$p.c" "$LP/$p.o" "$(bad_defs "$p")"
done
cc_lp bad/bad_undefined_symbol.c "$LP/bad_undefined_symbol.o" -DBAD_FN=xen_bad_undefined_symbol_world
cc_lp bad/bad_reloc_32_asm.S "$LP/bad_reloc_32_asm.o"
cc_lp bad/bad_reloc_32s_asm.S "$LP/bad_reloc_32s_asm.o"
cc_lp bad/bad_funcs_empty.S "$LP/bad_funcs_empty.o"
cc_lp bad/bad_nothing_to_patch.c "$LP/bad_nothing_to_patch.o"
cc_lp bad/bad_hook_size.c "$LP/bad_hook_size.o"

# 2d. Note and .modinfo objects, exactly as Xen's Makefile makes them:
# "objcopy -O binary --only-section=.note.gnu.build-id" gives the whole
# note (header + "GNU\0" + desc), re-wrapped as an alloc/readonly section.
wrap_section() { # <bin> <section> <obj>
    "$OBJCOPY" -I binary -O elf64-x86-64 -B i386:x86-64 \
        --rename-section ".data=$2,alloc,load,readonly,data,contents" -S "$1" "$3"
}
note_of() { # <elf> <bin>
    "$OBJCOPY" -O binary --only-section=.note.gnu.build-id "$1" "$2"
    [ -s "$2" ] || die "no build-id note in $1"
}
note_of "$MV" "$LP/xen_note.bin"
wrap_section "$LP/xen_note.bin" .livepatch.depends "$LP/note.o"
wrap_section "$LP/xen_note.bin" .livepatch.xen_depends "$LP/xen_note.o"

# A well-formed NT_GNU_BUILD_ID note of some other "hypervisor": the SHA-1
# of a fixed string.
fake_id=$(printf 'lpkit: not the minivisor' | sha1sum | cut -c1-40)
{
    printf '\004\000\000\000\024\000\000\000\003\000\000\000GNU\000'
    printf '%b' "$(echo "$fake_id" | sed 's/../\\x&/g')"
} >"$LP/fake_note.bin"
wrap_section "$LP/fake_note.bin" .livepatch.xen_depends "$LP/fake_xen_note.o"

modinfo() { # <obj> <strings...>  (each string NUL-terminated)
    local obj=$1
    shift
    printf '%s\0' "$@" >"$obj.bin"
    wrap_section "$obj.bin" .modinfo "$obj"
}
modinfo "$LP/hello_modinfo.o" LIVEPATCH_RULEZ
modinfo "$LP/bye_modinfo.o" PAYLOAD=bye STACKED_ON=hello
modinfo "$LP/replace_modinfo.o" PAYLOAD=replace ACTION=replace
modinfo "$LP/hooks_modinfo.o" PAYLOAD=hooks HOOKS=load,unload,preapply,postapply,prerevert,postrevert
modinfo "$LP/hooks_only_modinfo.o" PAYLOAD=hooks_only
modinfo "$LP/data_modinfo.o" PAYLOAD=data
modinfo "$LP/multi_modinfo.o" PAYLOAD=multi FUNCS=2
printf 'LIVEPATCH_RULEZ' >"$LP/unterminated_modinfo.bin"
wrap_section "$LP/unterminated_modinfo.bin" .modinfo "$LP/unterminated_modinfo.o"

# 2e. Link: ld -r --build-id=sha1, like Xen.
link() { # <name> <objs...>
    local name=$1
    shift
    "$LD" -m elf_x86_64 -r --build-id=sha1 -z noexecstack -o "$STAGE/$name.livepatch" "$@"
}
L=$LP
link hello "$L/hello_func.o" "$L/hello.o" "$L/note.o" "$L/xen_note.o" "$L/hello_modinfo.o"
note_of "$STAGE/hello.livepatch" "$LP/hello_note.bin"
wrap_section "$LP/hello_note.bin" .livepatch.depends "$LP/hello_note.o"
link bye "$L/bye_func.o" "$L/bye.o" "$L/hello_note.o" "$L/xen_note.o" "$L/bye_modinfo.o"
link replace "$L/replace_func.o" "$L/replace.o" "$L/note.o" "$L/xen_note.o" "$L/replace_modinfo.o"
link nop "$L/nop.o" "$L/note.o" "$L/xen_note.o"
link expect_ok "$L/expect_ok_func.o" "$L/expect_ok.o" "$L/note.o" "$L/xen_note.o"
link expect_fail "$L/expect_fail_func.o" "$L/expect_fail.o" "$L/note.o" "$L/xen_note.o"
link hooks "$L/hooks_func.o" "$L/hooks.o" "$L/note.o" "$L/xen_note.o" "$L/hooks_modinfo.o"
link hooks_only "$L/hooks_only.o" "$L/note.o" "$L/xen_note.o" "$L/hooks_only_modinfo.o"
link data "$L/data_func.o" "$L/data.o" "$L/note.o" "$L/xen_note.o" "$L/data_modinfo.o"
link v1 "$L/v1_func.o" "$L/v1.o" "$L/note.o"
link multi "$L/multi_func.o" "$L/multi.o" "$L/note.o" "$L/xen_note.o" "$L/multi_modinfo.o"

# Broken payloads: each fails exactly one check (see manifest.json).
std() { echo "$L/$1_func.o" "$L/$1.o"; }
# shellcheck disable=SC2046
{
    link bad_no_xen_depends $(std bad_no_xen_depends) "$L/note.o"
    link bad_xen_depends_mismatch $(std bad_xen_depends_mismatch) "$L/note.o" "$L/fake_xen_note.o"
    link bad_version3 $(std bad_version3) "$L/note.o" "$L/xen_note.o"
    link bad_old_size_zero $(std bad_old_size_zero) "$L/note.o" "$L/xen_note.o"
    link bad_too_small $(std bad_too_small) "$L/note.o" "$L/xen_note.o"
    link bad_too_small_endbr $(std bad_too_small_endbr) "$L/note.o" "$L/xen_note.o"
    link bad_unresolvable_name $(std bad_unresolvable_name) "$L/note.o" "$L/xen_note.o"
    link bad_wx_section $(std bad_wx_section) "$L/note.o" "$L/xen_note.o"
    link bad_undefined_symbol $(std bad_undefined_symbol) "$L/note.o" "$L/xen_note.o"
    link bad_funcs_size $(std bad_funcs_size) "$L/note.o" "$L/xen_note.o"
    link bad_reloc_32 $(std bad_reloc_32) "$L/bad_reloc_32_asm.o" "$L/note.o" "$L/xen_note.o"
    link bad_reloc_32s $(std bad_reloc_32s) "$L/bad_reloc_32s_asm.o" "$L/note.o" "$L/xen_note.o"
    link bad_modinfo_unterminated $(std bad_modinfo_unterminated) "$L/note.o" "$L/xen_note.o" \
        "$L/unterminated_modinfo.o"
    link bad_funcs_empty "$L/bad_funcs_empty.o" "$L/note.o" "$L/xen_note.o"
    link bad_nothing_to_patch "$L/bad_nothing_to_patch.o" "$L/note.o" "$L/xen_note.o"
    link bad_hook_size "$L/bad_hook_size.o" "$L/note.o" "$L/xen_note.o"
}

# A truncated copy of hello: the section header table is cut off.
TRUNC=512
shoff=$("$READELF" -hW "$STAGE/hello.livepatch" | awk '/Start of section headers/ { print $5 }')
[ "$shoff" -ge "$TRUNC" ] || die "hello.livepatch e_shoff $shoff < $TRUNC"
head -c "$TRUNC" "$STAGE/hello.livepatch" >"$STAGE/bad_truncated.livepatch"

# Payload relocations must be R_X86_64_{NONE,64,PC32,PLT32}, except in the
# two payloads that exist to break that rule.
for f in "$STAGE"/*.livepatch; do
    case "$(basename "$f")" in bad_reloc_32*|bad_truncated*) continue ;; esac
    if "$READELF" -rW "$f" | awk '$3 ~ /^R_X86_64_/ && $3 !~ /^R_X86_64_(NONE|64|PC32|PLT32)$/' | grep -q .; then
        die "$(basename "$f"): unsupported relocation type"
    fi
done

###############################################################################
# 3. Install, manifest.
###############################################################################
rm -f "$OUT"/minivisor "$OUT"/*.livepatch
cp "$STAGE"/minivisor "$STAGE"/*.livepatch "$OUT/"

GEN=("${DENO:-deno}" run --quiet --no-config --allow-read --allow-run --allow-write "$HERE/gen_manifest.ts")
case "$MODE" in
build)
    "${GEN[@]}" "$OUT" "$HERE/manifest.json"
    (cd "$HERE/.." && "${DENO:-deno}" fmt --quiet examples/manifest.json)
    echo "build.sh: built $(ls "$OUT" | wc -l) files into $OUT; minivisor build-id $(od -An -tx1 -v -j 16 "$LP/xen_note.bin" | tr -d ' \n')"
    ;;
check)
    "${GEN[@]}" "$OUT" "$TMP/manifest.json"
    status=0
    for f in "$OUT"/*; do
        cmp -s "$f" "$HERE/bin/$(basename "$f")" || { echo "build.sh: differs: bin/$(basename "$f")" >&2; status=1; }
    done
    [ "$(ls "$OUT" | wc -l)" = "$(ls "$HERE/bin" | wc -l)" ] || { echo "build.sh: bin/ has a different file list" >&2; status=1; }
    cmp -s "$TMP/manifest.json" "$HERE/manifest.json" || { echo "build.sh: differs: manifest.json" >&2; status=1; }
    [ $status = 0 ] && echo "build.sh: bin/ and manifest.json are up to date"
    exit $status
    ;;
out)
    echo "build.sh: built $(ls "$OUT" | wc -l) files into $OUT"
    ;;
esac
