"""An independent Sigil Auth device, written from docs/DEVICES.md with the `cryptography` package, so the
tests can show that a device built from the documentation is accepted by the `sigil-device` crate.

  device.py keygen [--private-key-hex HEX]
      prints {"private_key_hex", "public_key_b64", "fingerprint", "pictogram"} as JSON
  device.py message <purpose> [inputs]     prints the message to sign, in hex
  device.py sign <purpose> --key HEX [inputs]
      prints the signature: base64 of r||s, low-S, RFC 6979 deterministic

Purposes and their inputs:
  register                  --nonce B64
  approve | deny            --challenge-hex HEX64 [--action JSON]
  mpa-approve | mpa-deny    --request-id ID [--action JSON]
  poll                      --fingerprint HEX64 --timestamp SECONDS
"""

import argparse
import base64
import decimal
import hashlib
import json
import math
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
TAGS = {
    "register": b"SIGIL-REGISTER-V1\0",
    "approve": b"SIGIL-AUTH-V1\0",
    "deny": b"SIGIL-DENY-V1\0",
    "mpa-approve": b"SIGIL-MPA-V1\0",
    "mpa-deny": b"SIGIL-MPA-DENY-V1\0",
    "poll": b"SIGIL-POLL-V1\0",
}
WORDS = (
    "apple banana grapes orange lemon cherry strawberry kiwi carrot corn broccoli mushroom pepper avocado "
    "onion peanut pizza burger taco donut cookie cake cupcake popcorn car taxi bus rocket plane helicopter "
    "sailboat bicycle dog cat fish butterfly bee fox lion elephant tree sunflower cactus clover blossom "
    "rainbow star moon house mountain peak volcano island moai tent castle key bell books guitar anchor "
    "crown diamond fire"
).split()
assert len(WORDS) == 64


# RFC 8785 (JCS), written independently of the Rust one.
def jcs(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if abs(value) > 2**53:
            raise ValueError("integer beyond 2^53")
        return str(value)
    if isinstance(value, float):
        return es_number(value)
    if isinstance(value, str):
        return jcs_string(value)
    if isinstance(value, list):
        return "[" + ",".join(jcs(item) for item in value) + "]"
    if isinstance(value, dict):
        names = sorted(value, key=lambda name: name.encode("utf-16-be"))
        return "{" + ",".join(jcs_string(name) + ":" + jcs(value[name]) for name in names) + "}"
    raise TypeError(type(value))


def jcs_string(text):
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20:
            out.append("\\u%04x" % ord(char))
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def es_number(value):
    """ECMAScript Number::toString. Python's repr is the shortest round-trip, closest, ties to even."""
    if not math.isfinite(value):
        raise ValueError("non-finite number")
    if value == 0:
        return "0"
    _, all_digits, exponent = decimal.Decimal(repr(abs(value))).as_tuple()
    n = exponent + len(all_digits)  # value = 0.d1d2...dk x 10^n
    digits = "".join(map(str, all_digits)).rstrip("0")
    k = len(digits)
    prefix = "-" if value < 0 else ""
    if k <= n <= 21:
        return prefix + digits + "0" * (n - k)
    if 0 < n <= 21:
        return prefix + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return prefix + "0." + "0" * (-n) + digits
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return prefix + mantissa + "e" + ("+" if n - 1 >= 0 else "-") + str(abs(n - 1))


def action_digest(action_json):
    canonical = "{}" if action_json is None else jcs(json.loads(action_json))
    return hashlib.sha256(canonical.encode("utf-8")).digest()


def message(args):
    tag = TAGS[args.purpose]
    if args.purpose == "register":
        nonce = base64.b64decode(args.nonce, validate=True)
        return tag + nonce
    if args.purpose in ("approve", "deny"):
        challenge = bytes.fromhex(args.challenge_hex)
        assert len(challenge) == 32, "a challenge is 32 bytes"
        return tag + challenge + action_digest(args.action)
    if args.purpose in ("mpa-approve", "mpa-deny"):
        return tag + args.request_id.encode("utf-8") + action_digest(args.action)
    assert len(args.fingerprint) == 64
    return tag + args.fingerprint.encode("ascii") + str(int(args.timestamp)).encode("ascii")


def public_key_bytes(private_key):
    return private_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


def sign(private_key, data):
    try:
        algorithm = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    except TypeError:  # cryptography < 44: randomized, still valid
        algorithm = ec.ECDSA(hashes.SHA256())
    r, s = decode_dss_signature(private_key.sign(data, algorithm))
    if s > ORDER // 2:
        s = ORDER - s
    return base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode("ascii")


def pictogram(fingerprint):
    v = int(fingerprint[:8], 16)
    return " ".join(WORDS[(v >> shift) & 63] for shift in (26, 20, 14, 8, 2))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen")
    keygen.add_argument("--private-key-hex")
    for name in ("message", "sign"):
        command = commands.add_parser(name)
        command.add_argument("purpose", choices=sorted(TAGS))
        if name == "sign":
            command.add_argument("--key", required=True, help="private key scalar, 64 hex digits")
        command.add_argument("--nonce")
        command.add_argument("--challenge-hex")
        command.add_argument("--action")
        command.add_argument("--request-id")
        command.add_argument("--fingerprint")
        command.add_argument("--timestamp")
    args = parser.parse_args()

    if args.command == "keygen":
        if args.private_key_hex:
            private_key = ec.derive_private_key(int(args.private_key_hex, 16), ec.SECP256R1())
        else:
            private_key = ec.generate_private_key(ec.SECP256R1())
        public = public_key_bytes(private_key)
        fingerprint = hashlib.sha256(public).hexdigest()
        print(json.dumps({
            "private_key_hex": "%064x" % private_key.private_numbers().private_value,
            "public_key_b64": base64.b64encode(public).decode("ascii"),
            "fingerprint": fingerprint,
            "pictogram": pictogram(fingerprint),
        }))
    elif args.command == "message":
        print(message(args).hex())
    else:
        private_key = ec.derive_private_key(int(args.key, 16), ec.SECP256R1())
        print(sign(private_key, message(args)))


if __name__ == "__main__":
    sys.exit(main())
