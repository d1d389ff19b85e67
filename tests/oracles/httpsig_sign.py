"""Signs one HTTP request with the independent Python `http-message-signatures` library (RFC 9421, Ed25519),
for the black-box tests: Sigil must accept what a standard RFC 9421 signer produces.

Input (JSON on stdin): {"method", "url", "headers": {name: value}, "body": str | null, "seed_b64",
"key_id", "created", "nonce", "components": [...]}.
Output (JSON on stdout): {"signature-input": ..., "signature": ...}.
"""

import base64
import datetime
import json
import sys

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms


class Keys(HTTPSignatureKeyResolver):
    def __init__(self, seed):
        self.key = Ed25519PrivateKey.from_private_bytes(seed)

    def resolve_private_key(self, key_id):
        return self.key

    def resolve_public_key(self, key_id):
        return self.key.public_key()


def main():
    spec = json.load(sys.stdin)
    body = spec["body"].encode() if spec["body"] is not None else None
    request = requests.Request(spec["method"], spec["url"], headers=spec["headers"], data=body).prepare()
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=Keys(base64.b64decode(spec["seed_b64"])),
    )
    signer.sign(
        request,
        key_id=spec["key_id"],
        created=datetime.datetime.fromtimestamp(spec["created"], tz=datetime.timezone.utc),
        nonce=spec["nonce"],
        label="sig1",
        covered_component_ids=spec["components"],
        # The Sigilum profile sends its own content-digest: the library checks it against the body and signs it.
        body=body,
        use_existing_digest=body is not None,
    )
    print(json.dumps({
        "signature-input": request.headers["Signature-Input"],
        "signature": request.headers["Signature"],
    }))


if __name__ == "__main__":
    main()
