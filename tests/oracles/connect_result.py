"""Checks what Sigil returns for a signing request with libraries nobody here wrote, as an app would:

  connect_result.py verify-jws --jwks JSON --body TEXT --jws COMPACT
      the detached JWS (RFC 7515 Appendix F) over the exact result body, with jwcrypto and the published
      JWKS; prints the protected header (JSON)
  connect_result.py verify-signature --algorithm ed25519|ecdsa-p256 --public-key B64 --message-b64 B64
                                     --signature B64
      a raw signature with `cryptography` (P-256: r||s over SHA-256); prints "ok"
  connect_result.py qubic-identity --bytes-hex HEX64
      the 60-letter Qubic identity of 32 bytes, with pycryptodome's KangarooTwelve; prints it

Exits non-zero with the reason on any failure.
"""

import argparse
import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def verify_jws(args):
    from jwcrypto import jwk, jws

    keys = jwk.JWKSet.from_json(args.jwks)
    token = jws.JWS()
    token.deserialize(args.jws)
    header = token.jose_header
    key = keys.get_key(header["kid"])
    if key is None:
        sys.exit("no key with kid %s in the JWKS" % header["kid"])
    token.verify(key, alg="ES256", detached_payload=args.body.encode("utf-8"))
    print(json.dumps(header))


def verify_signature(args):
    public = base64.b64decode(args.public_key)
    message = base64.b64decode(args.message_b64)
    signature = base64.b64decode(args.signature)
    try:
        if args.algorithm == "ed25519":
            ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
        else:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public)
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        sys.exit("signature does not verify")
    print("ok")


def qubic_identity(args):
    from Crypto.Hash import KangarooTwelve

    key = bytes.fromhex(args.bytes_hex)
    assert len(key) == 32
    letters = []
    for fragment in range(4):
        value = int.from_bytes(key[fragment * 8:(fragment + 1) * 8], "little")
        for _ in range(14):
            letters.append(chr(ord("A") + value % 26))
            value //= 26
    checksum = int.from_bytes(KangarooTwelve.new(data=key).read(3), "little") & 0x3FFFF
    for _ in range(4):
        letters.append(chr(ord("A") + checksum % 26))
        checksum //= 26
    print("".join(letters))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("verify-jws")
    p.add_argument("--jwks", required=True)
    p.add_argument("--body", required=True)
    p.add_argument("--jws", required=True)
    p = sub.add_parser("verify-signature")
    p.add_argument("--algorithm", required=True, choices=["ed25519", "ecdsa-p256"])
    p.add_argument("--public-key", required=True)
    p.add_argument("--message-b64", required=True)
    p.add_argument("--signature", required=True)
    p = sub.add_parser("qubic-identity")
    p.add_argument("--bytes-hex", required=True)
    args = parser.parse_args()
    {"verify-jws": verify_jws, "verify-signature": verify_signature, "qubic-identity": qubic_identity}[
        args.command
    ](args)


if __name__ == "__main__":
    main()
