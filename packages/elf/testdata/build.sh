#!/usr/bin/env bash
# Rebuilds the reader's fixtures: an ELF32 relocatable object (REL relocations),
# an ELF64 one (RELA) and an ELF64 shared object (dynamic symbols, PT_NOTE build-id).
set -euo pipefail
cd "$(dirname "$0")"
flags=(-O1 -fno-asynchronous-unwind-tables -ffile-prefix-map="$PWD"=.)
gcc -m32 -c "${flags[@]}" sample.c -o sample32.o
gcc -c "${flags[@]}" sample.c -o sample64.o
gcc -shared -fPIC -nostdlib -Wl,--build-id=sha1 "${flags[@]}" sample.c -o sample64.so
