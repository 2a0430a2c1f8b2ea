#!/usr/bin/env bash
# Regenerates the certificate-chain test data (TEST ONLY, never trust it),
# separately from generate.sh so that the other keys stay as they are:
#
#   chain-root        self-signed root CA (CA:TRUE, SKID, AKID keyid)
#   chain-intermediate  CA signed by the root (CA:TRUE, SKID, AKID keyid)
#   chain-leaf        RSA-2048 signing key signed by the intermediate (CA:FALSE)
#   chain-leaf-ec     P-256 signing key signed by the intermediate, AKID keyid
#                     and issuer+serial (the kernel's other way to find the issuer)
#   chain-noakid      RSA-2048 signing key signed by the intermediate, no AKID
#   chain-leaf-sha1   RSA-2048 signing key the intermediate signed with SHA-1
#   chain-other-root  an unrelated self-signed root with the root's very name
#   chain-forged-intermediate  a forgery of the intermediate: its subject,
#                     issuer name, serial and SKID, another key (signed by
#                     chain-other-root); chain-forged-leaf is signed by it
#
# and detached PKCS#7 signatures of chain-payload.bin made by OpenSSL the way
# the README describes (no signed attributes, not -nodetach):
#
#   chain-leaf.p7s       leaf + intermediate embedded, signer by issuer+serial
#   chain-leaf-only.p7s  leaf embedded, the intermediate left out
#   chain-leaf-ec.p7s    EC leaf + intermediate
#   chain-noakid.p7s     no-AKID leaf + intermediate
#   chain-leaf-sha1.p7s  SHA-1-certified leaf + intermediate (the payload digest is SHA-256)
#   chain-keyid.p7s      leaf + intermediate, signer by key id (-keyid, SignedData v3)
#   chain-forged.p7s     forged leaf + forged intermediate
set -euo pipefail
cd "$(dirname "$0")"

conf() { # name CN extensions...
  local name=$1 cn=$2; shift 2
  {
    printf '[ req ]\ndistinguished_name = dn\nprompt = no\nstring_mask = utf8only\n'
    printf '\n[ dn ]\nO = lpkit test\nCN = %s\n\n[ exts ]\n' "$cn"
    printf '%s\n' "$@"
  } > "$name.cnf"
}

serial() { echo "${SERIAL:-0x$(openssl rand -hex 16)}"; }

root() { # name CN
  conf "$1" "$2" "basicConstraints=critical,CA:TRUE" "keyUsage=critical,keyCertSign,cRLSign" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid:always"
  openssl req -new -nodes -utf8 -sha256 -days 36500 -batch -x509 -config "$1.cnf" \
    -extensions exts -set_serial "$(serial)" -newkey rsa:2048 -keyout "$1.key" -out "$1.crt" \
    2>/dev/null
  rm "$1.cnf"
}

issue() { # name CN issuer newkey-args -- extensions...
  local name=$1 cn=$2 issuer=$3; shift 3
  local newkey=()
  while [ "$1" != "--" ]; do newkey+=("$1"); shift; done
  shift
  conf "$name" "$cn" "$@"
  openssl req -new -nodes -utf8 -sha256 -batch -config "$name.cnf" "${newkey[@]}" \
    -keyout "$name.key" -out "$name.csr" 2>/dev/null
  openssl x509 -req "-${DIGEST:-sha256}" -days 36500 -in "$name.csr" -CA "$issuer.crt" \
    -CAkey "$issuer.key" -set_serial "$(serial)" -extfile "$name.cnf" -extensions exts \
    -out "$name.crt" 2>/dev/null
  rm "$name.cnf" "$name.csr"
}

LEAF=("basicConstraints=critical,CA:FALSE" "keyUsage=digitalSignature" "subjectKeyIdentifier=hash")

root chain-root "lpkit test root CA (TEST ONLY)"
issue chain-intermediate "lpkit test intermediate CA (TEST ONLY)" chain-root -newkey rsa:2048 -- \
  "basicConstraints=critical,CA:TRUE,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign" \
  "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid:always"
issue chain-leaf "lpkit test chain signing key (RSA-2048)" chain-intermediate -newkey rsa:2048 -- \
  "${LEAF[@]}" "authorityKeyIdentifier=keyid:always"
issue chain-leaf-ec "lpkit test chain signing key (P-256)" chain-intermediate \
  -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -- \
  "${LEAF[@]}" "authorityKeyIdentifier=keyid:always,issuer:always"
issue chain-noakid "lpkit test chain signing key without AKID" chain-intermediate \
  -newkey rsa:2048 -- "${LEAF[@]}" "authorityKeyIdentifier=none"
DIGEST=sha1 issue chain-leaf-sha1 "lpkit test chain signing key (SHA-1 certificate)" \
  chain-intermediate -newkey rsa:2048 -- "${LEAF[@]}" "authorityKeyIdentifier=keyid:always"
# Same name as chain-root, another key: a root the chain does not lead to.
root chain-other-root "lpkit test root CA (TEST ONLY)"
# A forged intermediate: what identifies the real one (issuer name, serial,
# SKID), another key; and a leaf signed by that key.
SERIAL=0x$(openssl x509 -in chain-intermediate.crt -noout -serial | cut -d= -f2) \
  issue chain-forged-intermediate "lpkit test intermediate CA (TEST ONLY)" chain-other-root \
  -newkey rsa:2048 -- \
  "basicConstraints=critical,CA:TRUE,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign" \
  "subjectKeyIdentifier=$(openssl x509 -in chain-intermediate.crt -noout -ext subjectKeyIdentifier |
    tail -1 | tr -d ' ')" "authorityKeyIdentifier=keyid:always"
issue chain-forged-leaf "lpkit test chain signing key (RSA-2048)" chain-forged-intermediate \
  -newkey rsa:2048 -- "${LEAF[@]}" "authorityKeyIdentifier=keyid:always"
chmod 644 chain-*.key

# The payload: 1 KiB starting like an ELF file.
{ printf '\177ELF'; openssl rand 1020; } > chain-payload.bin

p7s() { # out signer certfile|- [cms flags...]
  local out=$1 signer=$2 certfile=$3; shift 3
  local extra=()
  [ "$certfile" != "-" ] && extra=(-certfile "$certfile.crt")
  openssl cms -sign -binary -noattr -nosmimecap -md sha256 -outform DER -signer "$signer.crt" \
    -inkey "$signer.key" "${extra[@]}" "$@" -in chain-payload.bin -out "$out"
}

p7s chain-leaf.p7s chain-leaf chain-intermediate
p7s chain-leaf-only.p7s chain-leaf -
p7s chain-leaf-ec.p7s chain-leaf-ec chain-intermediate
p7s chain-noakid.p7s chain-noakid chain-intermediate
p7s chain-leaf-sha1.p7s chain-leaf-sha1 chain-intermediate
p7s chain-keyid.p7s chain-leaf chain-intermediate -keyid
p7s chain-forged.p7s chain-forged-leaf chain-forged-intermediate
