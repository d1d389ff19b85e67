#!/usr/bin/env bash
# Property-based API testing against the OpenAPI document: starts the built sigild on an ephemeral loopback
# port with a throwaway data directory, prepares a user with a tenant, a session scoped to it and a tenant API
# key, then runs schemathesis (pinned in the oracle venv by tests/oracles/setup.sh) over every operation of
# /openapi.json: examples, coverage, fuzzing and, where the document has links, stateful sequences. It fails on
# a server error, an undocumented status code, a response that does not match its schema or a wrong
# Content-Type. Bounded: SIGIL_ST_EXAMPLES cases per operation and phase (default 12), SIGIL_ST_MAX_TIME seconds
# for the main run (default 180; fuzzing and stateful sequences repeat until it is spent), then 30 s for the two
# operations that end the session.
#   SIGILD             the binary (default: $CARGO_TARGET_DIR/debug/sigild)
#   SIGIL_ORACLE_VENV  the venv with `st` (default: $HOME/.cache/sigil-oracles/venv)
#   SIGIL_ST_REPORT    a directory to keep the reports (JUnit, NDJSON) and the daemon log in
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-$HOME/.cache/sigil-target}"
sigild="${SIGILD:-$target/debug/sigild}"
venv="${SIGIL_ORACLE_VENV:-$HOME/.cache/sigil-oracles/venv}"
examples="${SIGIL_ST_EXAMPLES:-12}"
max_time="${SIGIL_ST_MAX_TIME:-180}"
[ -x "$sigild" ] || { echo "no sigild at $sigild: run cargo build --workspace first" >&2; exit 2; }
[ -x "$venv/bin/st" ] || { echo "no schemathesis in $venv: run tests/oracles/setup.sh first" >&2; exit 2; }

work=$(mktemp -d)
report="${SIGIL_ST_REPORT:-$work/report}"
mkdir -p "$report"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Limits out of reach (the run would otherwise mostly meet 429s), the cheapest argon2 cost, no file watching.
cat > "$work/sigild.toml" <<'EOF'
[plugin_host]
watch = false

[auth]
argon2_memory_kib = 8192
argon2_iterations = 1

[limits]
api_key_per_minute = 1000000
session_per_minute = 1000000
verification_per_minute = 1000000
unauthenticated_per_minute = 1000000
EOF

"$sigild" serve --config "$work/sigild.toml" --listen 127.0.0.1:0 --data-dir "$work/data" \
  </dev/null >/dev/null 2>"$report/sigild.log" &
pid=$!
address=""
for _ in $(seq 1 600); do
  address=$(sed -n 's/.*"message":"sigild listening".*"address":"\([^"]*\)".*/\1/p' "$report/sigild.log" | head -n 1)
  [ -n "$address" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "sigild exited before listening; its log:" >&2; cat "$report/sigild.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$address" ] || { echo "sigild did not start listening; its log:" >&2; cat "$report/sigild.log" >&2; exit 1; }
base="http://$address"

# A user, a tenant, a session scoped to it and a live API key, as a client would make them.
credentials=$("$venv/bin/python" - "$base" <<'EOF'
import json, sys, urllib.request

base = sys.argv[1]

def call(path, body=None, token=None):
    request = urllib.request.Request(base + path, method="POST", data=json.dumps(body or {}).encode())
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request) as response:
        return json.load(response)

token = call("/auth/register", {"name": "Schemathesis", "email": "st@example.org", "password": "schemathesis-pass"})["token"]
call("/api/tenants", {"name": "Schemathesis"}, token)
session = call("/auth/refresh", None, token)["token"]
key = call("/api/api-keys", {"name": "schemathesis", "environment": "live"}, session)["key"]
print(session, key)
EOF
)
read -r SIGIL_ST_SESSION SIGIL_ST_API_KEY <<<"$credentials"
export SIGIL_ST_SESSION SIGIL_ST_API_KEY

# Each security scheme gets its credential; the service key and device signatures are not prepared, so those
# operations are exercised for their refusals.
cat > "$work/schemathesis.toml" <<'EOF'
[auth]
auto-signup = false

[auth.openapi.session]
bearer = "${SIGIL_ST_SESSION}"

[auth.openapi.apiKey]
bearer = "${SIGIL_ST_API_KEY}"
EOF

checks=not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance,response_headers_conformance
started=$(date +%s)
# The hooks teach schemathesis to send RFC 3161 bodies.
export PYTHONPATH="$PWD/tests/openapi${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=hooks
run() {
  local name=$1 seconds=$2
  shift 2
  # From the scratch directory: schemathesis keeps a cache in its working directory.
  (cd "$work" && "$venv/bin/st" --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
    --checks "$checks" --max-examples "$examples" --max-time "$seconds" --workers 2 --seed 15 \
    --request-timeout 30 --generation-database none --no-color \
    --report junit,ndjson --report-dir "$report" \
    --report-junit-path "$report/$name.junit.xml" --report-ndjson-path "$report/$name.ndjson" "$@")
}
status=0
# Logging out, changing the password, leaving the tenant and revoking API keys take away the credentials every
# other operation uses: they run last, on their own.
ending=(--operation-id logout --operation-id changePassword --operation-id removeMember --operation-id revokeApiKey)
run main "$max_time" "${ending[@]/#--operation-id/--exclude-operation-id}" || status=$?
run credential-ending 30 --phases examples,coverage,fuzzing "${ending[@]/#--operation-id/--include-operation-id}" \
  || status=$?
# What the daemon counted (`sigil_http_requests_total`), for the figures in docs/API.md.
requests=$("$venv/bin/python" -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
  "$base/metrics" | awk '/^sigil_http_requests_total/ { n += $NF } END { print n + 0 }')
echo "schemathesis: $(( $(date +%s) - started ))s, $requests requests served; reports in $report"
if [ "$status" -ne 0 ]; then
  echo "schemathesis found failures; the daemon's log:" >&2
  tail -n 50 "$report/sigild.log" >&2
fi
exit "$status"
