#!/usr/bin/env bash
# Installs the independent oracles and the third-party inputs the seal tests use, idempotently:
#   - qpdf and poppler-utils (apt): `qpdf --check`, `pdfsig`; nodejs (the sigil:// link builder oracle);
#   - a Python venv with pyHanko (`pyhanko sign validate`, `adesverify`), jwcrypto (JWS for JAdES),
#     http-message-signatures (RFC 9421), standardwebhooks and schemathesis (property-based API tests against
#     the OpenAPI document, tests/openapi/schemathesis.sh), pinned;
#   - a corpus of real PDFs nobody here made: the 72 PDFs of the pypdf 7.1.1 source distribution;
#   - a second corpus, the 132 PDFs of the pyhanko 0.38.0 source distribution (34 already signed,
#     with xref streams, hybrid files and DSS), for the PDF layer's seal tests.
# Prints nothing on a second run. Tests find them through the environment this script documents:
#   SIGIL_ORACLE_VENV  (default: $HOME/.cache/sigil-oracles/venv)   the venv; pyhanko is $SIGIL_ORACLE_VENV/bin/pyhanko
#   SIGIL_PDF_CORPUS   (default: $HOME/.cache/sigil-oracles/pdf-corpus)  a directory of *.pdf
#   SIGIL_PDF_CORPUS_SIGNED (default: $HOME/.cache/sigil-oracles/pdf-corpus-pyhanko)  the pyhanko sdist's *.pdf
set -euo pipefail
root="${SIGIL_ORACLES_DIR:-$HOME/.cache/sigil-oracles}"
venv="${SIGIL_ORACLE_VENV:-$root/venv}"
corpus="${SIGIL_PDF_CORPUS:-$root/pdf-corpus}"
corpus_signed="${SIGIL_PDF_CORPUS_SIGNED:-$root/pdf-corpus-pyhanko}"

missing=()
command -v qpdf >/dev/null 2>&1 || missing+=(qpdf)
command -v pdfsig >/dev/null 2>&1 || missing+=(poppler-utils)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# Node runs the independent re-implementation of the sigil:// link builder (tests/oracles/connect_builder.mjs).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
if ((${#missing[@]})); then
  echo "installing oracle packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

if [ ! -x "$venv/bin/pyhanko" ] \
  || ! "$venv/bin/python" -c 'import jwcrypto, http_message_signatures, standardwebhooks, requests, http_ece, py_vapid, cryptography, Crypto.Hash.KangarooTwelve' >/dev/null 2>&1 \
  || [ "$("$venv/bin/st" --version 2>/dev/null)" != "st, version 4.32.5" ]; then
  echo "preparing the oracle venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # pyHanko (PAdES/CAdES), jwcrypto (JAdES), http-message-signatures (RFC 9421 signer for agent requests, with
  # requests for its request objects), standardwebhooks (verifies webhook deliveries), http-ece and py-vapid
  # (decrypt Web Push payloads, check VAPID), cryptography (the device simulator's P-256), pycryptodome
  # (KangarooTwelve, for Qubic identities in signing-request results), schemathesis (the OpenAPI run).
  "$venv/bin/pip" install -q --disable-pip-version-check pyhanko==0.38.0 pyhanko-cli==0.6.0 jwcrypto==1.6.1 \
    http-message-signatures==3.0.0 requests==2.34.2 standardwebhooks==1.1.0 http-ece==1.2.1 py-vapid==1.9.6 \
    cryptography==50.0.2 pycryptodome==3.23.0 schemathesis==4.32.5
fi

if [ ! -f "$corpus/.complete" ]; then
  echo "fetching the PDF corpus (pypdf 7.1.1 sdist)"
  tmp=$(mktemp -d)
  "$venv/bin/pip" download -q --disable-pip-version-check --no-binary :all: --no-deps pypdf==7.1.1 -d "$tmp"
  mkdir -p "$corpus"
  tar -xzf "$tmp"/pypdf-7.1.1.tar.gz -C "$tmp"
  find "$tmp" -name '*.pdf' -exec cp {} "$corpus"/ \;
  rm -rf "$tmp"
  touch "$corpus/.complete"
fi

if [ ! -f "$corpus_signed/.complete" ]; then
  echo "fetching the signed PDF corpus (pyhanko 0.38.0 sdist)"
  tmp=$(mktemp -d)
  "$venv/bin/pip" download -q --disable-pip-version-check --no-binary :all: --no-deps pyhanko==0.38.0 -d "$tmp"
  mkdir -p "$corpus_signed"
  tar -xzf "$tmp"/pyhanko-0.38.0.tar.gz -C "$tmp"
  # Names are unique only per directory: keep the relative path in the file name.
  (cd "$tmp"/pyhanko-0.38.0 && find . -name '*.pdf' | while read -r f; do n="${f#./}"; n="${n#pyhanko_testing_commons/test_data/data/pdf/}"; cp "$f" "$corpus_signed/$(echo "$n" | tr / _)"; done)
  rm -rf "$tmp"
  touch "$corpus_signed/.complete"
fi
