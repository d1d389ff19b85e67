#!/usr/bin/env bash
# Regenerates the OpenSSL-made seeds of corpus/{tsq,tsr,token,certificate}: a throwaway root CA and TSA
# (RSA and P-256 signers) in a temp dir, queries with `openssl ts -query`, replies with `openssl ts -reply`,
# certificates with `openssl req -x509`. Keys and serials are fresh on each run, so the files change; commit
# a regenerated corpus only when the seeds need new shapes. The JSON and TOML seeds are written by hand.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
corpus="$here/corpus"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p "$corpus"/{tsq,tsr,token,certificate}

days=3650
# Root CA (P-384) and two TSA certificates under it: RSA-2048 and P-256, extendedKeyUsage critical.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout root.key -out root.pem \
  -days "$days" -subj "/C=FR/O=Sigil Fuzz/CN=Sigil Fuzz Root" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
for kind in rsa ec; do
  case $kind in
    rsa) keyopts=(-newkey rsa:2048) ;;
    ec) keyopts=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
  esac
  openssl req -new "${keyopts[@]}" -nodes -keyout "tsa-$kind.key" -out "tsa-$kind.csr" \
    -subj "/C=FR/O=Sigil Fuzz/CN=Sigil Fuzz TSA $kind" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > ext.cnf
  openssl x509 -req -in "tsa-$kind.csr" -CA root.pem -CAkey root.key -CAcreateserial -days "$days" \
    -extfile ext.cnf -out "tsa-$kind.pem" 2>/dev/null
  cat "tsa-$kind.pem" root.pem > "chain-$kind.pem"
done

# Certificates: the PKI above, plus self-signed RSA, P-256, Ed25519 and one with many extensions.
openssl x509 -in root.pem -outform DER -out "$corpus/certificate/root-p384.der"
openssl x509 -in tsa-rsa.pem -outform DER -out "$corpus/certificate/tsa-rsa2048.der"
openssl x509 -in tsa-ec.pem -outform DER -out "$corpus/certificate/tsa-p256.der"
openssl req -x509 -newkey ed25519 -nodes -keyout ed.key -days 30 -subj "/CN=ed25519 self-signed" \
  -outform DER -out "$corpus/certificate/self-ed25519.der" 2>/dev/null
openssl req -x509 -newkey rsa:1024 -nodes -keyout rsa1024.key -days 30 -sha1 \
  -subj "/C=DE/ST=Berlin/L=Berlin/O=Multi, Valued+OU=RDN/CN=rsa1024 sha1" \
  -addext "subjectAltName=DNS:tsa.example,URI:http://tsa.example/tsr,email:ops@example.org,IP:127.0.0.1" \
  -addext "certificatePolicies=1.2.3.4.1" -addext "nameConstraints=permitted;DNS:example" \
  -outform DER -out "$corpus/certificate/self-rsa1024-sha1-many-ext.der" 2>/dev/null
# A PEM bundle, as `trust_roots_file` holds (the target reads every input as PEM too).
cat chain-ec.pem > "$corpus/certificate/bundle-ec-chain.pem"

# TSA configurations: RSA signer with ESS v1 (SHA-1 certificate id) and the full chain; P-256 signer with
# ESS v2, accuracy, ordering and the TSA name; a SHA-256-only TSA that refuses other imprints.
tsa_conf() { # name key cert certs ess_alg digests
  cat <<CONF
[ tsa ]
default_tsa = $1
[ $1 ]
dir = .
serial = ./serial-$1
crypto_device = builtin
signer_cert = ./$3
certs = ./$4
signer_key = ./$2
signer_digest = sha256
default_policy = 1.3.6.1.4.1.57264.3161.1
other_policies = 1.2.3.4.2
digests = $6
accuracy = secs:1, millisecs:500, microsecs:100
clock_precision_digits = 3
ordering = yes
tsa_name = yes
ess_cert_id_chain = yes
ess_cert_id_alg = $5
CONF
}
tsa_conf rsa tsa-rsa.key tsa-rsa.pem chain-rsa.pem sha1 "sha256, sha384, sha512" > rsa.cnf
tsa_conf ec tsa-ec.key tsa-ec.pem chain-ec.pem sha256 "sha256, sha384, sha512" > ec.cnf
tsa_conf strict tsa-ec.key tsa-ec.pem tsa-ec.pem sha256 "sha256" > strict.cnf
for c in rsa ec strict; do echo 01 > "serial-$c"; done

printf 'the document\n' > data.txt
q() { openssl ts -query -data data.txt "$@" 2>/dev/null; }
q -sha256 -cert -out "$corpus/tsq/sha256-cert-nonce.tsq"
q -sha384 -no_nonce -out "$corpus/tsq/sha384-no-nonce.tsq"
q -sha512 -cert -tspolicy 1.2.3.4.2 -out "$corpus/tsq/sha512-policy.tsq"
q -sha1 -cert -out "$corpus/tsq/sha1-refused.tsq"

reply() { # config query name [extra args]
  local conf=$1 query=$2 name=$3
  shift 3
  openssl ts -reply -config "$conf.cnf" -queryfile "$corpus/tsq/$query" -out "$corpus/tsr/$name.tsr" "$@" 2>/dev/null
  openssl ts -reply -config "$conf.cnf" -queryfile "$corpus/tsq/$query" -token_out \
    -out "$corpus/token/$name.token" "$@" 2>/dev/null || true
}
reply rsa sha256-cert-nonce.tsq rsa-ess-v1-chain
reply ec sha256-cert-nonce.tsq p256-ess-v2-chain
reply ec sha384-no-nonce.tsq p256-sha384-no-nonce-no-cert
reply ec sha512-policy.tsq p256-sha512-policy
reply strict sha384-no-nonce.tsq strict-refuses-sha384
rm -f "$corpus/token/strict-refuses-sha384.token"
# inspect and verify-hash take a bare token where a response is expected.
cp "$corpus/token/p256-ess-v2-chain.token" "$corpus/tsr/bare-token-p256.tsr"
