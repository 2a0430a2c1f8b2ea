#!/usr/bin/env bash
# Fetch Debian's Xen 4.17.7 debug hypervisor (xen-syms) into .cache/xen/.
# The pinned version is the one whose build-id the tests assert (151b373f...);
# if the archive has moved on, the current candidate is fetched and the tests will say so.
set -euo pipefail
cd "$(dirname "$0")/.."

pkg=xen-hypervisor-4.17-amd64-dbg
version=4.17.7+13-g2445b30a44-0+deb12u1
dest=.cache/xen
out="$dest/xen-syms-4.17-amd64"

if [ -s "$out" ]; then
  echo "xen-syms: $out (cached)"
  exit 0
fi

mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download "$pkg=$version" >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then apt-get update >/dev/null; fi
  apt-get download "$pkg=$version" >/dev/null 2>&1 || {
    echo "xen-syms: $pkg=$version is not in the archive any more; fetching the candidate" >&2
    apt-get download "$pkg" >/dev/null
  }
fi
dpkg-deb -x ./*.deb root
cd - >/dev/null
cp "$work/root/usr/lib/debug/boot/xen-syms-4.17-amd64" "$out.tmp"
mv "$out.tmp" "$out"
echo "xen-syms: $out"
