#!/usr/bin/env bash
# Creates a federation CA (ECDSA P-256) under DIR/ca. Run once per federation, on the
# operator's machine; keep DIR/ca/ca.key offline in production.
#   usage: certs/create-federation-ca.sh DIR [NAME] [DAYS]
set -euo pipefail
dir=${1:?usage: create-federation-ca.sh DIR [NAME] [DAYS]}
name=${2:-Tally Federation CA}
days=${3:-3650}
here=$(cd "$(dirname "$0")" && pwd)
umask 077
mkdir -p "$dir/ca/issued"
cd "$dir"
if [ -e ca/ca.key ]; then echo "refusing to overwrite existing CA in $dir/ca" >&2; exit 2; fi
openssl ecparam -name prime256v1 -genkey -noout -out ca/ca.key
openssl req -new -x509 -sha256 -key ca/ca.key -days "$days" -subj "/O=Tally/CN=$name" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca/ca.crt
: > ca/index.txt
openssl rand -hex 16 > ca/serial
echo 1000 > ca/crlnumber
cp "$here/openssl-ca.cnf" ca/openssl.cnf
# An empty revocation list from the start, so the coordinator always has one to honour.
TALLY_SAN=none openssl ca -batch -config ca/openssl.cnf -gencrl -out ca/crl.pem 2>/dev/null
chmod 600 ca/ca.key
chmod 644 ca/ca.crt ca/crl.pem
echo "federation CA: $dir/ca/ca.crt (key $dir/ca/ca.key, mode 600)"
