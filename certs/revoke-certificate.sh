#!/usr/bin/env bash
# Revokes an issued certificate and regenerates DIR/ca/crl.pem, which the coordinator reloads.
#   usage: certs/revoke-certificate.sh DIR CERT_PEM
set -euo pipefail
dir=${1:?usage: revoke-certificate.sh DIR CERT_PEM}
cert=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
cd "$dir"
TALLY_SAN=none openssl ca -batch -config ca/openssl.cnf -revoke "$cert" 2>/dev/null
TALLY_SAN=none openssl ca -batch -config ca/openssl.cnf -gencrl -out ca/crl.pem 2>/dev/null
chmod 644 ca/crl.pem
echo "revoked $(openssl x509 -in "$cert" -noout -serial); CRL: $dir/ca/crl.pem"
