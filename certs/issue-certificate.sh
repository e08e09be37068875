#!/usr/bin/env bash
# Issues a certificate signed by the federation CA, with the role and identity in the SAN:
#   coordinator:  URI:tally://coordinator, DNS:localhost, IP:127.0.0.1, IP:::1 (+ extra DNS names
#                 and IP addresses)
#   participant:  URI:tally://participant/ID
#   operator:     URI:tally://operator/NAME (acts on a running coordinator's status server)
# The key (ECDSA P-256) is written with mode 600 and never leaves DIR/ROLE-ID/.
#   usage: certs/issue-certificate.sh DIR coordinator [DNS_NAME|IP_ADDRESS ...]
#          certs/issue-certificate.sh DIR participant ID [DAYS]
#          certs/issue-certificate.sh DIR operator NAME [DAYS]
set -euo pipefail
dir=${1:?usage: issue-certificate.sh DIR coordinator|participant|operator ...}
role=${2:?role: coordinator, participant or operator}
cd "$dir"
[ -e ca/ca.key ] || { echo "no federation CA in $dir (run create-federation-ca.sh first)" >&2; exit 2; }
days=365
case "$role" in
  coordinator)
    out=coordinator
    san="URI:tally://coordinator,DNS:localhost,IP:127.0.0.1,IP:::1"
    shift 2
    # Each extra name is an IP address (v4 dotted quad, or v6 with a colon) or a DNS name.
    for name in "$@"; do
      if [[ "$name" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ || "$name" == *:* ]]; then san="$san,IP:$name"
      elif [[ "$name" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]; then san="$san,DNS:$name"
      else echo "not an IP address or DNS name: $name" >&2; exit 2; fi
    done
    ext=coordinator_ext
    cn="Tally coordinator";;
  participant)
    id=${3:?participant id (a positive integer)}
    [[ "$id" =~ ^[0-9]+$ ]] && [ "$id" -ge 1 ] && [ "$id" -le 4294967295 ] || { echo "participant id must be 1...4294967295" >&2; exit 2; }
    days=${4:-365}
    out=participant-$id
    san="URI:tally://participant/$id"
    ext=participant_ext
    cn="Tally participant $id";;
  operator)
    name=${3:?operator name (a-z, 0-9, ".", "-", "_"; up to 64)}
    [[ "$name" =~ ^[a-z0-9][a-z0-9._-]{0,63}$ ]] || { echo "operator name must be 1-64 of a-z, 0-9, '.', '-', '_', starting with a letter or digit" >&2; exit 2; }
    days=${4:-365}
    out=operator-$name
    san="URI:tally://operator/$name"
    ext=operator_ext
    cn="Tally operator $name";;
  *) echo "role must be coordinator, participant or operator" >&2; exit 2;;
esac
umask 077
mkdir -p "$out"
openssl ecparam -name prime256v1 -genkey -noout -out "$out/key.pem.tmp"
openssl pkcs8 -topk8 -nocrypt -in "$out/key.pem.tmp" -out "$out/key.pem" && rm "$out/key.pem.tmp"
openssl req -new -sha256 -key "$out/key.pem" -subj "/O=Tally/CN=$cn" -out "$out/request.csr"
TALLY_SAN="$san" openssl ca -batch -notext -config ca/openssl.cnf -extensions "$ext" -days "$days" \
    -in "$out/request.csr" -out "$out/cert.pem" 2>/dev/null
rm "$out/request.csr"
cp ca/ca.crt "$out/ca.crt"
chmod 600 "$out/key.pem"
chmod 644 "$out/cert.pem" "$out/ca.crt"
echo "$role certificate: $dir/$out/cert.pem (key $dir/$out/key.pem, mode 600)"
