#!/usr/bin/env bash
# The whole test suite: installs what the tests need (OpenSSL, SoftHSM2, a C compiler), builds every crate
# (the black-box tests load the plugins the workspace builds), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)
command -v pkcs11-tool >/dev/null 2>&1 || missing+=(opensc)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v unzip >/dev/null 2>&1 || missing+=(unzip)
if ((${#missing[@]})); then
  echo "installing test dependencies: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

# The seal oracles (qpdf, pdfsig, pyHanko in a venv) and the real-PDF corpus.
./tests/oracles/setup.sh

cargo build --workspace --all-targets
cargo test --workspace
# Property-based API tests: schemathesis against a real sigild, over every operation of /openapi.json
# (about 4 minutes; tests/openapi/schemathesis.sh).
./tests/openapi/schemathesis.sh
# The fuzz corpora replayed through their targets (tests/fuzz/README.md); the config corpus runs in the
# black-box binary above.
./tests/fuzz/regress.sh
