#!/usr/bin/env bash
# Regenerates the test keys and certificates (TEST ONLY, never trust them)
# with the kernel's recipe (certs/Makefile, certs/default_x509.genkey):
# self-signed, CA:FALSE, keyUsage=digitalSignature, SKID and AKID.
set -euo pipefail
cd "$(dirname "$0")"

genkey() { # name O CN [extensions section] [email]
  cat > "$1.genkey" <<CONF
[ req ]
distinguished_name = req_distinguished_name
prompt = no
string_mask = utf8only
x509_extensions = ${4:-myexts}

[ req_distinguished_name ]
O = $2
CN = $3
emailAddress = ${5:-$1@lpkit.invalid}

[ myexts ]
basicConstraints=critical,CA:FALSE
keyUsage=digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid

[ noskid ]
basicConstraints=critical,CA:FALSE
keyUsage=digitalSignature
subjectKeyIdentifier=none
CONF
}

req() { # name newkey-args...
  local name=$1; shift
  openssl req -new -nodes -utf8 -sha256 -days 36500 -batch -x509 -config "$name.genkey" \
    "$@" -outform PEM -out "$name.crt" -keyout "$name.key" 2>/dev/null
  rm "$name.genkey"
}

genkey rsa2048 "lpkit test" "lpkit test signing key (RSA-2048)"; req rsa2048 -newkey rsa:2048
genkey rsa3072 "lpkit tests" "RSA-3072 signer"; req rsa3072 -newkey rsa:3072
genkey rsa4096 "lpkit test" "lpkit test signing key (RSA-4096)"; req rsa4096 -newkey rsa:4096
genkey ecp256 "lpkit test" "lpkit test signing key (P-256)"
req ecp256 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1
genkey ecp384 "lpkit test" "lpkit test signing key (P-384)"
req ecp384 -newkey ec -pkeyopt ec_paramgen_curve:secp384r1
# Same subject (and issuer) as rsa2048 but another serial and key: a look-alike.
genkey other2048 "lpkit test" "lpkit test signing key (RSA-2048)" myexts rsa2048@lpkit.invalid
req other2048 -newkey rsa:2048
# Unsupported keys: too small an RSA modulus, a curve outside P-256/P-384.
genkey rsa1024 "lpkit test" "lpkit test signing key (RSA-1024)"; req rsa1024 -newkey rsa:1024
genkey ecp521 "lpkit test" "lpkit test signing key (P-521)"
req ecp521 -newkey ec -pkeyopt ec_paramgen_curve:secp521r1
# No subjectKeyIdentifier: cannot sign with -k or the legacy layout.
genkey noskid "lpkit test" "lpkit test key without SKID" noskid; req noskid -newkey rsa:2048

# DER variants of one key and one certificate.
openssl x509 -in rsa2048.crt -outform DER -out rsa2048.crt.der
openssl pkey -in ecp256.key -outform DER -out ecp256.key.der
