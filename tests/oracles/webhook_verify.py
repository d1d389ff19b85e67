"""Verifies webhook deliveries with libraries nobody here wrote: the Standard Webhooks reference library for
`webhook-id` / `webhook-timestamp` / `webhook-signature`, and a plain HMAC-SHA256 of the body for Sigilum's
`X-Sigilum-Signature: sha256=<hex>`.

Input (JSON on stdin): {"secret": str, "deliveries": [{"headers": {lower-case name: value}, "body": str}],
"sigilum": bool (default true: also check X-Sigilum-Signature)}.
Prints "verified <n>" and exits 0 when every delivery verifies both ways; otherwise says which and exits 1.
"""

import base64
import hashlib
import hmac
import json
import sys

from standardwebhooks import Webhook


def main():
    spec = json.load(sys.stdin)
    secret = spec["secret"].encode()
    # A plain secret's bytes are the Standard Webhooks key (docs/API.md): receivers wrap them as whsec_.
    webhook = Webhook("whsec_" + base64.b64encode(secret).decode())
    for index, delivery in enumerate(spec["deliveries"]):
        headers, body = delivery["headers"], delivery["body"]
        webhook.verify(body, headers)
        if not spec.get("sigilum", True):
            continue
        expected = "sha256=" + hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("x-sigilum-signature", "")):
            print(f"delivery {index}: X-Sigilum-Signature does not match the body")
            sys.exit(1)
    print(f"verified {len(spec['deliveries'])}")


if __name__ == "__main__":
    main()
