"""Schemathesis hooks for the Sigil API run (tests/openapi/schemathesis.sh).

`POST /tsr` takes a DER TimeStampReq (`application/timestamp-query`): send generated bodies as raw bytes, as
for `application/octet-stream`.
"""

import schemathesis

schemathesis.serializer.alias("application/timestamp-query", "application/octet-stream")
