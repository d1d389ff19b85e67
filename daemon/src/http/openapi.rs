//! The OpenAPI 3.1 document of the HTTP API, served at `GET /openapi.json` and printed by `sigild openapi`.
//!
//! Request bodies take their schemas from the handlers' own request types (`#[derive(utoipa::ToSchema)]` beside
//! `Deserialize`), so a renamed or added field changes the document. Most handlers answer bodies built with
//! `json!`, so their response schemas are declared here, next to the route table; the schemathesis run in CI
//! (`tests/openapi/schemathesis.sh`) checks every answer of a real daemon against them, and the tests of this
//! module keep the table equal to the router's paths. `docs/openapi.json` is a copy that a black-box test keeps
//! equal to what the daemon serves.

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::{accounts, directory, operations, seals, sigil_auth, tenants, timestamping};

/// The document as served (pretty JSON with a final newline, so that `docs/openapi.json` diffs well).
pub fn document_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
        text.push('\n');
        text
    })
}

/// `GET /openapi.json`: public and cacheable; it changes only with the binary.
pub async fn serve() -> Response {
    let mut response = document_text().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// Who may call an operation; each maps to the document's security requirements.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// No credentials.
    None,
    /// A session JWT only.
    Session,
    /// A session JWT or a tenant API key.
    SessionOrKey,
    /// A tenant API key only (the Sigil Auth integrator routes; a session is also accepted where noted).
    ApiKey,
    /// `POST /tsr`: none or an API key, as `[local_tsa] http` says.
    Tsr,
    /// RFC 9421 signed agent headers and a service key.
    SignedService,
    /// RFC 9421 signed agent headers.
    Signed,
    /// A device's own signature in the body or its headers (no bearer credential).
    Device,
}

/// Which error body an operation answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `{"error", "code", "details"}` (+ `reason`).
    Common,
    /// Sigil Auth's `{"error": {"code", "message", "details"}}`.
    Nested,
}

/// One operation of the route table, built up with the methods below.
struct Op {
    method: &'static str,
    path: &'static str,
    value: Map<String, Value>,
    auth: Auth,
    shape: Shape,
    has_body: bool,
    limited: bool,
    errors: Vec<(u16, Option<Value>)>,
    responses: Map<String, Value>,
    parameters: Vec<Value>,
}

fn op(method: &'static str, path: &'static str, id: &str, tag: &str, summary: &str) -> Op {
    let mut value = Map::new();
    value.insert("tags".into(), json!([tag]));
    value.insert("summary".into(), json!(summary));
    value.insert("operationId".into(), json!(id));
    Op {
        method,
        path,
        value,
        auth: Auth::None,
        shape: Shape::Common,
        has_body: false,
        limited: true,
        errors: Vec::new(),
        responses: Map::new(),
        parameters: Vec::new(),
    }
}

impl Op {
    fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    fn nested(mut self) -> Self {
        self.shape = Shape::Nested;
        self
    }

    /// Not rate limited (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`).
    fn unlimited(mut self) -> Self {
        self.limited = false;
        self
    }

    fn describe(mut self, text: &str) -> Self {
        self.value.insert("description".into(), json!(text));
        self
    }

    fn body_content(mut self, required: bool, content: Value) -> Self {
        self.has_body = true;
        self.value.insert(
            "requestBody".into(),
            json!({ "required": required, "content": content }),
        );
        self
    }

    /// A required JSON body.
    fn json(self, schema: Value) -> Self {
        self.body_content(true, json!({ "application/json": { "schema": schema } }))
    }

    /// A required JSON body with an example from docs/API.md.
    fn json_example(self, schema: Value, example: Value) -> Self {
        self.body_content(
            true,
            json!({ "application/json": { "schema": schema, "example": example } }),
        )
    }

    /// An optional JSON body (an empty body is allowed).
    fn json_optional(self, schema: Value) -> Self {
        self.body_content(false, json!({ "application/json": { "schema": schema } }))
    }

    fn query(mut self, name: &str, schema: Value, description: &str) -> Self {
        self.parameters.push(json!({
            "name": name, "in": "query", "required": false, "schema": schema, "description": description,
        }));
        self
    }

    fn required_query(mut self, name: &str, schema: Value, description: &str) -> Self {
        self.parameters.push(json!({
            "name": name, "in": "query", "required": true, "schema": schema, "description": description,
        }));
        self
    }

    fn header(mut self, name: &str, description: &str) -> Self {
        self.parameters.push(json!({
            "name": name, "in": "header", "required": false, "schema": { "type": "string" },
            "description": description,
        }));
        self
    }

    /// The seeds' two pagination styles.
    fn paged(self) -> Self {
        self.query(
            "page",
            json!({"type": "integer", "minimum": 1}),
            "page number (page style)",
        )
        .query(
            "pageSize",
            json!({"type": "integer", "minimum": 1, "maximum": 200}),
            "items per page (page style)",
        )
        .query(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": 200}),
            "items (limit style)",
        )
        .query(
            "offset",
            json!({"type": "integer", "minimum": 0}),
            "items skipped (limit style)",
        )
    }

    /// Sigilum's `limit`/`offset`.
    fn limit_offset(self, max: u32) -> Self {
        self.query(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": max}),
            "items",
        )
        .query(
            "offset",
            json!({"type": "integer", "minimum": 0}),
            "items skipped",
        )
    }

    fn response(mut self, status: u16, value: Value) -> Self {
        self.responses.insert(status.to_string(), value);
        self
    }

    /// A JSON success.
    fn ok(self, status: u16, description: &str, schema: Value) -> Self {
        self.response(
            status,
            json!({ "description": description, "content": { "application/json": { "schema": schema } } }),
        )
    }

    /// A success with another media type.
    fn ok_media(self, status: u16, description: &str, media: &str, schema: Value) -> Self {
        self.response(
            status,
            json!({ "description": description, "content": { media: { "schema": schema } } }),
        )
    }

    fn no_content(self, description: &str) -> Self {
        self.response(204, json!({ "description": description }))
    }

    /// Documented error statuses beyond the ones every operation of its kind has, in the operation's shape.
    fn err(mut self, statuses: &[u16]) -> Self {
        self.errors
            .extend(statuses.iter().map(|status| (*status, None)));
        self
    }

    /// An error status with its own body schema.
    fn err_body(mut self, status: u16, schema: Value) -> Self {
        self.errors.push((status, Some(schema)));
        self
    }

    /// A link from a success to another operation (schemathesis follows them in stateful runs).
    fn link(mut self, status: u16, name: &str, operation: &str, parameters: Value) -> Self {
        if let Some(response) = self
            .responses
            .get_mut(&status.to_string())
            .and_then(Value::as_object_mut)
        {
            let links = response.entry("links").or_insert_with(|| json!({}));
            links[name] = json!({ "operationId": operation, "parameters": parameters });
        }
        self
    }

    /// The operation object, with its path parameters, security and every error status it can answer.
    fn finish(mut self) -> Value {
        for name in path_parameters(self.path) {
            self.parameters.insert(
                0,
                json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }),
            );
        }
        if !self.parameters.is_empty() {
            self.value
                .insert("parameters".into(), Value::Array(self.parameters.clone()));
        }
        let security = match self.auth {
            Auth::None | Auth::Device | Auth::Signed => json!([]),
            Auth::Session => json!([{ "session": [] }]),
            Auth::SessionOrKey => json!([{ "session": [] }, { "apiKey": [] }]),
            Auth::ApiKey => json!([{ "apiKey": [] }]),
            Auth::Tsr => json!([{}, { "apiKey": [] }]),
            Auth::SignedService => json!([{ "serviceKey": [] }]),
        };
        self.value.insert("security".into(), security);
        // Every request can be refused by the HTTP layer: a bad header, an over-long target or head, a store
        // failure, a timeout.
        let mut statuses: Vec<(u16, Option<Value>)> = vec![
            (400, None),
            (414, None),
            (431, None),
            (500, None),
            (503, None),
        ];
        if self.has_body {
            statuses.extend([(413, None), (415, None)]);
        }
        if !matches!(self.auth, Auth::None) {
            statuses.push((401, None));
        }
        // A credential can be refused for the request: a member doing an owner action, an API key on a
        // session-only route, a session whose membership of its tenant has ended.
        if matches!(
            self.auth,
            Auth::Session | Auth::SessionOrKey | Auth::ApiKey | Auth::SignedService
        ) {
            statuses.push((403, None));
        }
        if self.limited {
            statuses.push((429, None));
        }
        if !path_parameters(self.path).is_empty() {
            statuses.push((404, None));
        }
        statuses.append(&mut self.errors);
        statuses.sort_by_key(|(status, body)| (*status, body.is_none()));
        statuses.dedup_by_key(|(status, _)| *status);
        for (status, body) in statuses {
            let response = match body {
                Some(schema) => json!({
                    "description": status_description(status),
                    "content": { "application/json": { "schema": schema } },
                }),
                None => {
                    json!({ "$ref": format!("#/components/responses/{}{status}", self.shape.prefix()) })
                }
            };
            self.responses.entry(status.to_string()).or_insert(response);
        }
        let mut responses: Vec<(String, Value)> =
            std::mem::take(&mut self.responses).into_iter().collect();
        responses.sort_by(|a, b| a.0.cmp(&b.0));
        self.value.insert(
            "responses".into(),
            Value::Object(responses.into_iter().collect()),
        );
        Value::Object(self.value)
    }
}

/// The error statuses that have a shared response in `components.responses`.
const ERROR_STATUSES: [u16; 15] = [
    400, 401, 402, 403, 404, 409, 410, 413, 414, 415, 429, 431, 500, 502, 503,
];

impl Shape {
    /// The name prefix of the shape's shared responses.
    fn prefix(self) -> &'static str {
        match self {
            Shape::Common => "Error",
            Shape::Nested => "NestedError",
        }
    }

    /// The error body of a status. The Sigil Auth routes nest their errors, except those made by the HTTP layer
    /// around them (a refused head or encoding, a body over the limit, a panic, a timeout), which keep the
    /// common shape.
    fn error_schema(self, status: u16) -> Value {
        match (self, status) {
            (Shape::Common, _) => r("Error"),
            (Shape::Nested, 400 | 413 | 414 | 415 | 431 | 500 | 503) => {
                json!({ "anyOf": [r("NestedError"), r("Error")] })
            }
            (Shape::Nested, _) => r("NestedError"),
        }
    }
}

fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

fn status_description(status: u16) -> &'static str {
    match status {
        400 => {
            "invalid request: malformed JSON, a missing or mistyped field, a bad parameter or header"
        }
        401 => "missing, malformed, expired or revoked credentials",
        402 => "a monthly quota is used up",
        403 => {
            "authenticated but not allowed: an owner action by a member, an API key on a session-only route, a session whose tenant membership ended"
        }
        404 => "no such object, or one not visible to the caller",
        409 => "already exists, or a state conflict",
        410 => "it existed and is over",
        413 => "body over the limit",
        414 => "request target over 8 KiB",
        415 => "wrong Content-Type, or a compressed body",
        429 => "over a rate limit; retry after `Retry-After` seconds",
        431 => "too many or too large request headers",
        500 => "a bug or a store failure; the cause is in the daemon log under the request id",
        502 => "an upstream (TSA, plugin) failed",
        503 => "temporarily unavailable: store down, timeout, not ready",
        _ => "error",
    }
}

/// A `$ref` to a request type's schema, registering it (and the types it uses) in `components`.
fn request<T: ToSchema>(components: &mut Map<String, Value>) -> Value {
    let mut nested = Vec::new();
    T::schemas(&mut nested);
    let name = T::name().into_owned();
    nested.push((name.clone(), T::schema()));
    for (name, schema) in nested {
        let schema = serde_json::to_value(schema).unwrap_or_default();
        // Two types of one name would silently replace each other's schema.
        if let Some(existing) = components.get(&name) {
            assert_eq!(existing, &schema, "two OpenAPI schemas are named {name}");
        }
        components.insert(name, schema);
    }
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

const STRING: &str = "string";

fn s() -> Value {
    json!({ "type": STRING })
}

fn ns() -> Value {
    json!({ "type": [STRING, "null"] })
}

fn b() -> Value {
    json!({ "type": "boolean" })
}

fn int() -> Value {
    json!({ "type": "integer" })
}

fn any() -> Value {
    json!({})
}

fn array(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

/// An object with these properties, the `required` ones always present.
fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

/// A page in either pagination style (the style follows the request's).
fn page_of(item: Value) -> Value {
    json!({ "oneOf": [
        object(&["total", "page", "pageSize", "items"], json!({
            "total": int(), "page": int(), "pageSize": int(), "items": array(item.clone()),
        })),
        object(&["items", "pagination"], json!({ "items": array(item), "pagination": r("Pagination") })),
    ] })
}

/// The shared schemas of answers.
fn response_schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    let mut add = |name: &str, schema: Value| {
        schemas.insert(name.to_string(), schema);
    };
    add(
        "Error",
        json!({
            "type": "object",
            "description": "The common error body. `details.requestId` repeats the request id; `details.field` and `details.reason` name the offending input. On the Sigilum directory and claims routes `details` of `VALIDATION_ERROR` is a list of `{field, message}`.",
            "required": ["error", "code", "details"],
            "properties": {
                "error": { "type": STRING, "description": "human-readable message" },
                "code": { "type": STRING, "description": "stable machine-readable code, e.g. `INVALID_REQUEST`" },
                "details": { "oneOf": [{ "type": "object" }, { "type": "array", "items": { "type": "object" } }] },
                "reason": { "type": STRING, "description": "a machine-readable reason beside the code (signing-request refusals)" },
            },
            "example": { "error": "invalid `hashHex`: not hex", "code": "INVALID_REQUEST",
                         "details": { "field": "hashHex", "reason": "not hex", "requestId": "2b0c5f8e-3f0e-4a47-9b1e-8d1f0e6c9a10" } },
        }),
    );
    add(
        "NestedError",
        json!({
            "type": "object",
            "description": "The error body of the Sigil Auth routes, as its SDKs decode it.",
            "required": ["error"],
            "properties": { "error": object(&["code", "message"], json!({
                "code": { "type": STRING, "description": "e.g. `CHALLENGE_EXPIRED`, `INVALID_SIGNATURE`" },
                "message": s(), "details": any(),
            })) },
            "example": { "error": { "code": "CHALLENGE_NOT_FOUND", "message": "challenge not found", "details": {} } },
        }),
    );
    add(
        "QuotaExceeded",
        json!({
            "type": "object",
            "description": "402 of a stamp over the monthly quota: the seed's `message` and the common error fields.",
            "required": ["message", "error", "code", "details"],
            "properties": { "message": s(), "error": s(), "code": { "const": "QUOTA_EXCEEDED" }, "details": { "type": "object" } },
            "example": { "message": "Monthly stamp limit of 1000 reached. Upgrade your plan to continue.",
                         "error": "Monthly stamp limit of 1000 reached. Upgrade your plan to continue.",
                         "code": "QUOTA_EXCEEDED", "details": {} },
        }),
    );
    add(
        "AllTsasFailed",
        json!({
            "type": "object",
            "description": "502 when no TSA produced a verified token: the seed's body and the common error fields.",
            "required": ["message", "attemptsTried", "failures", "error", "code", "details"],
            "properties": {
                "message": { "type": STRING, "enum": ["All enabled TSAs failed.", "The requested TSA failed."] },
                "attemptsTried": int(),
                "failures": array(object(&["tsa", "errorClass", "message"], json!({
                    "tsa": s(),
                    "errorClass": { "type": STRING, "enum": ["network", "timeout", "http_status", "parse", "unknown"] },
                    "statusCode": { "type": ["integer", "null"] },
                    "message": s(),
                    "latencyMs": { "type": ["integer", "null"] },
                }))),
                "error": s(),
                "code": { "const": "ALL_TSAS_FAILED" },
                "details": { "type": "object" },
            },
        }),
    );
    add(
        "Pagination",
        object(
            &["limit", "offset", "total", "has_more"],
            json!({
                "limit": int(), "offset": int(), "total": int(), "has_more": b(),
            }),
        ),
    );
    add(
        "Token",
        object(
            &["token"],
            json!({ "token": { "type": STRING, "description": "session JWT" } }),
        ),
    );
    add(
        "Stamp",
        json!({
            "type": "object",
            "required": ["id", "serial", "genTime", "hashAlgorithmOid", "hashHex", "tsrBase64", "tsaName", "tsaSlug", "qualified", "createdAt"],
            "properties": {
                "id": s(), "serial": s(), "genTime": s(), "hashAlgorithmOid": s(), "hashHex": s(),
                "tsrBase64": { "type": STRING, "contentEncoding": "base64", "description": "the DER TimeStampResp" },
                "tokenBase64": { "type": [STRING, "null"], "contentEncoding": "base64", "description": "the bare TimeStampToken" },
                "tsaName": s(), "tsaSlug": s(), "qualified": b(), "policyOid": ns(), "tokenPolicyOid": ns(),
                "label": ns(), "parentTransactionId": ns(), "certNotAfter": ns(), "createdAt": s(),
                "existing": { "type": "boolean", "description": "true when an earlier stamp of the digest answered a retry" },
                "restamps": array(json!({ "type": "object" })),
            },
            "example": { "id": "0d9b5e0c-64a4-4bb1-8f2e-6b1d2c5b7d11", "serial": "42",
                "genTime": "2026-01-01T12:00:00Z", "hashAlgorithmOid": "2.16.840.1.101.3.4.2.1",
                "hashHex": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "tsrBase64": "MIIE...", "tokenBase64": "MIIE...", "tsaName": "CN=Sigil Local TSA", "tsaSlug": "local",
                "qualified": false, "policyOid": null, "tokenPolicyOid": "1.3.6.1.4.1.99999.1", "label": "invoice 17",
                "parentTransactionId": null, "certNotAfter": "2036-01-01T00:00:00Z", "createdAt": "2026-01-01T12:00:00Z",
                "existing": false },
        }),
    );
    add(
        "Settings",
        object(
            &["enabledTsaSlugs", "publicLookup", "storeCadesSeals"],
            json!({
                "enabledTsaSlugs": array(s()),
                "publicLookup": { "type": STRING, "enum": ["off", "existence", "full"] },
                "storeCadesSeals": b(),
            }),
        ),
    );
    add(
        "ApiKey",
        object(
            &["id", "name", "environment", "prefix", "createdAt"],
            json!({
                "id": s(), "name": s(), "environment": { "type": STRING, "enum": ["live", "test"] }, "prefix": s(),
                "createdAt": s(), "lastUsedAt": ns(),
                "key": { "type": STRING, "description": "the key itself; only in the answer to its creation" },
            }),
        ),
    );
    add(
        "TenantMember",
        object(
            &["userId", "email", "role"],
            json!({
                "userId": s(), "email": s(), "name": s(), "role": { "type": STRING, "enum": ["owner", "member"] }, "createdAt": s(),
            }),
        ),
    );
    add(
        "SealCertificate",
        object(
            &["id", "status"],
            json!({
                "id": s(), "label": ns(), "status": { "type": STRING, "enum": ["provisioning", "active", "revoked"] },
                "source": { "type": STRING, "enum": ["byoc", "platform"] }, "keyAlgorithm": ns(), "certSubject": ns(),
                "certNotBefore": ns(), "certNotAfter": ns(), "kmsKeyArn": ns(), "csrPem": ns(),
            }),
        ),
    );
    add(
        "SealVerification",
        json!({
            "type": "object",
            "description": "The verification node of `/seal/verify` and `/seal/verify-hash` (see docs/API.md, Document seals).",
            "properties": {
                "signaturePresent": b(), "hashMatch": { "type": ["boolean", "null"] }, "signatureValid": { "type": ["boolean", "null"] },
                "certificate": { "type": ["object", "null"] }, "timestamp": { "type": ["object", "null"] },
                "indication": ns(), "subIndication": ns(), "valid": b(), "warnings": array(s()), "error": ns(),
                "revocation": {
                    "type": "object",
                    "description": "What the embedded OCSP responses or CRLs (CMS RevocationInfoChoices, a PDF's DSS) say about the signer certificate; a revoked signer is never PASSED.",
                    "properties": {
                        "status": { "type": STRING, "enum": ["none", "good", "revoked", "unknown", "stale"] },
                        "source": { "type": ["string", "null"], "enum": ["ocsp", "crl", null] },
                        "producedAt": ns(), "revokedAt": ns(), "reasonCode": { "type": ["integer", "null"] },
                    },
                },
            },
        }),
    );
    add(
        "Namespace",
        object(
            &["did", "namespace", "active"],
            json!({
                "did": s(), "namespace": s(), "owner": ns(), "created_at": s(), "active": b(), "active_claims": int(),
            }),
        ),
    );
    add(
        "Service",
        object(
            &["id", "name", "slug", "domain"],
            json!({
                "id": s(), "name": s(), "slug": s(), "domain": s(), "description": ns(), "created_at": s(),
                "registration_tx_hash": { "type": "null" },
                "webhook": { "type": "object", "title": "InlineServiceWebhook",
                             "description": "the webhook registered with the service, when one was" },
            }),
        ),
    );
    add(
        "ServiceKey",
        object(
            &["id", "name", "key_prefix", "gateway", "active"],
            json!({
                "id": s(), "name": s(), "key": { "type": STRING, "description": "only in the answer to its creation" },
                "key_prefix": s(), "gateway": b(), "created_at": s(), "revoked_at": ns(), "active": b(), "message": s(),
            }),
        ),
    );
    add(
        "Claim",
        object(
            &["claim_id", "status"],
            json!({
                "claim_id": s(), "namespace": s(), "service": s(), "public_key": s(), "agent_ip": ns(), "subject": ns(),
                "agent_id": ns(), "agent_name": ns(),
                "status": { "type": STRING, "enum": ["pending", "approved", "rejected", "revoked", "expired"] },
                "created_at": s(), "updated_at": ns(), "expires_at": ns(), "approved_at": ns(), "revoked_at": ns(),
                "decided_by": { "type": ["object", "null"] },
            }),
        ),
    );
    add(
        "ClaimPolicy",
        object(
            &[],
            json!({
                "autoApproveTrusted": b(), "trustedServices": array(s()), "autoApproveIP": b(),
                "trustedIPRanges": array(s()), "maxPendingLimit": b(), "autoExpire": b(),
            }),
        ),
    );
    add(
        "ServiceWebhook",
        object(
            &["id", "url", "events", "active"],
            json!({
                "id": s(), "url": s(), "events": array(s()), "active": b(), "created_at": s(),
            }),
        ),
    );
    add(
        "Delivery",
        object(
            &["id", "state", "attempts"],
            json!({
                "id": s(), "event_id": s(), "event": s(), "state": s(), "attempts": int(), "next_attempt_at": ns(),
                "last_status": { "type": ["integer", "null"] }, "created_at": s(), "attempt_log": array(json!({ "type": "object" })),
            }),
        ),
    );
    add(
        "Device",
        object(
            &["fingerprint", "device_public_key"],
            json!({
                "fingerprint": s(), "device_public_key": s(), "pictogram": any(), "pictogram_speakable": s(),
                "name": ns(), "push_channel": ns(), "registered_at": s(), "revoked_at": ns(),
            }),
        ),
    );
    add(
        "ChallengeStatus",
        object(
            &["challenge_id", "status"],
            json!({
                "challenge_id": s(),
                "status": { "type": STRING, "enum": ["pending", "verified", "rejected", "expired"] },
                "fingerprint": s(), "pictogram": any(), "pictogram_speakable": s(),
                "decision": { "type": STRING, "enum": ["approved", "rejected"] },
                "created_at": s(), "expires_at": s(), "responded_at": s(), "verified_at": s(), "verified": b(),
            }),
        ),
    );
    add(
        "MpaStatus",
        object(
            &["request_id", "status"],
            json!({
                "request_id": s(), "status": { "type": STRING, "enum": ["pending", "approved", "rejected", "timeout"] },
                "groups_required": int(), "groups_total": int(), "groups_satisfied": array(int()),
                "groups_satisfied_names": array(any()), "created_at": s(), "expires_at": s(), "completed_at": s(),
                "challenges_sent": int(),
            }),
        ),
    );
    add(
        "TenantWebhook",
        object(
            &["id", "url", "events"],
            json!({
                "webhook_id": s(), "id": s(), "url": s(), "events": array(s()), "active": b(), "created_at": s(),
                "secret": { "type": STRING, "description": "a generated secret, shown once" },
            }),
        ),
    );
    add(
        "SigningRequest",
        json!({
            "type": "object",
            "required": ["id", "status", "type", "nonce", "app", "trust_level", "algorithm", "identity",
                         "approvers", "created_at"],
            "description": "A signing request and its state (see docs/API.md, Signing requests). `result` is the \
                            body the callback receives, `result_body` its exact text, `result_signature` the \
                            daemon's detached JWS over it.",
            "properties": {
                "id": s(),
                "status": { "type": STRING, "enum": ["pending", "approved", "rejected", "expired"] },
                "type": { "type": STRING, "enum": ["transfer", "sc_call", "sign_message", "verify_message", "connect"] },
                "nonce": s(),
                "app": object(&["origin"], json!({ "name": s(), "origin": s(), "icon": ns() })),
                "trust_level": { "type": STRING, "enum": ["legacy_unverified", "signed_untrusted", "verified_registry"] },
                "issuer": ns(),
                "algorithm": { "type": STRING, "enum": ["ed25519", "ecdsa-p256"] },
                "identity": s(),
                "approvers": { "type": "object" },
                "approval_requests": { "type": ["array", "null"], "items": s() },
                "callback": ns(),
                "redirect_uri": ns(),
                "created_at": s(),
                "expires_at": ns(),
                "decided_at": s(),
                "decided_by": object(&["actor"], json!({ "actor": s(), "id": ns(), "reason": ns() })),
                "result": { "type": "object" },
                "result_body": s(),
                "result_signature": ns(),
                "redirect_url": s(),
                "callback_endpoint": s(),
            },
        }),
    );
    add(
        "Issuer",
        object(
            &[
                "id",
                "issuer",
                "name",
                "origins",
                "publicJwk",
                "status",
                "addedAt",
                "updatedAt",
            ],
            json!({
                "id": s(), "issuer": s(), "name": s(), "origins": array(s()), "publicJwk": { "type": "object" },
                "keyId": ns(), "status": { "type": STRING, "enum": ["active", "revoked"] }, "addedAt": s(),
                "updatedAt": s(),
            }),
        ),
    );
    add(
        "SigningPolicy",
        object(
            &["approvers", "signingKey"],
            json!({
                "approvers": { "type": "object", "description": "`{\"devices\": [fingerprint]}` or `{\"mpa\": {\"required\", \"groups\": [{\"name\", \"members\"}], \"rejectPolicy\"}}`" },
                "signingKey": object(&["algorithm"], json!({ "algorithm": { "type": STRING, "enum": ["ed25519", "ecdsa-p256"] } })),
                "issuers": { "type": "object" },
                "keys": { "type": "object", "description": "in answers: each algorithm's `publicKey` and `identity`" },
            }),
        ),
    );
    schemas
}

/// The whole document.
pub fn document() -> Value {
    let mut components = response_schemas();
    let c = &mut components;
    let ops: Vec<Op> = vec![
        // Accounts.
        op("post", "/auth/register", "register", "Accounts", "Create an account and start a session")
            .json_example(request::<accounts::RegisterRequest>(c), json!({"name": "Ann", "email": "ann@example.org", "password": "correct horse battery"}))
            .ok(200, "the account and a session token", object(&["token", "userId", "email"], json!({"token": s(), "userId": s(), "email": s()})))
            .err(&[403, 409]),
        op("post", "/auth/login", "login", "Accounts", "Start a session")
            .json_example(request::<accounts::LoginRequest>(c), json!({"email": "ann@example.org", "password": "correct horse battery"}))
            .ok(200, "a session token", object(&["token", "userId", "email", "tenantId"], json!({"token": s(), "userId": s(), "email": s(), "tenantId": ns()})))
            .err(&[401]),
        op("post", "/auth/refresh", "refresh", "Accounts", "A new token of the same session, optionally switching tenant")
            .auth(Auth::Session)
            .json_optional(request::<accounts::RefreshRequest>(c))
            .ok(200, "a new token", r("Token"))
            .err(&[403, 404]),
        op("post", "/auth/logout", "logout", "Accounts", "End the presented session")
            .auth(Auth::Session)
            .no_content("the session ended")
            .err(&[403]),
        op("post", "/auth/password", "changePassword", "Accounts", "Change the password; every session ends")
            .auth(Auth::Session)
            .json(request::<accounts::ChangePasswordRequest>(c))
            .ok(200, "a token of a new session", r("Token"))
            .err(&[403]),
        op("get", "/auth/me", "me", "Accounts", "The caller's profile")
            .auth(Auth::Session)
            .ok(200, "the profile", object(&["userId", "email", "name", "isAdmin", "createdAt"], json!({
                "userId": s(), "email": s(), "name": s(), "tenantId": ns(), "role": ns(), "isAdmin": b(), "createdAt": s(),
            })))
            .err(&[403]),
        // Tenants, members, API keys.
        op("get", "/api/tenants", "listTenants", "Tenants", "The caller's tenants")
            .auth(Auth::Session).paged()
            .ok(200, "a page of tenants", page_of(object(&["id", "name", "role"], json!({"id": s(), "name": s(), "role": s(), "createdAt": s()}))))
            .err(&[403]),
        op("post", "/api/tenants", "createTenant", "Tenants", "Create a tenant owned by the caller")
            .auth(Auth::Session)
            .json_example(request::<tenants::CreateTenant>(c), json!({"name": "Acme"}))
            .ok(201, "the tenant", object(&["id", "name", "role"], json!({"id": s(), "name": s(), "role": {"const": "owner"}})))
            .err(&[403]),
        op("get", "/api/tenants/{id}/members", "listMembers", "Tenants", "The tenant's members")
            .auth(Auth::Session).paged()
            .ok(200, "a page of members", page_of(r("TenantMember")))
            .err(&[403]),
        op("post", "/api/tenants/{id}/members", "addMember", "Tenants", "Add a member (owner)")
            .auth(Auth::Session)
            .json(request::<tenants::AddMember>(c))
            .ok(201, "the member", r("TenantMember"))
            .err(&[403, 409]),
        op("delete", "/api/tenants/{id}/members/{user_id}", "removeMember", "Tenants", "Remove a member (owner, or the member themself)")
            .auth(Auth::Session)
            .no_content("removed")
            .err(&[403, 409]),
        op("get", "/api/api-keys", "listApiKeys", "API keys", "The tenant's API keys")
            .auth(Auth::SessionOrKey).paged()
            .ok(200, "a page of keys", page_of(r("ApiKey")))
            .err(&[403]),
        op("post", "/api/api-keys", "createApiKey", "API keys", "Create an API key (owner session); the key is shown once")
            .auth(Auth::SessionOrKey)
            .json_example(request::<tenants::CreateApiKey>(c), json!({"name": "ci", "environment": "live"}))
            .ok(201, "the key, with `key`", r("ApiKey"))
            .err(&[403]),
        op("delete", "/api/api-keys/{id}", "revokeApiKey", "API keys", "Revoke an API key (owner session)")
            .auth(Auth::SessionOrKey)
            .no_content("revoked")
            .err(&[403]),
        // Operations.
        op("get", "/healthz", "healthz", "Operations", "Liveness")
            .unlimited()
            .ok(200, "serving", object(&["status"], json!({"status": {"const": "ok"}}))),
        op("get", "/readyz", "readyz", "Operations", "Readiness: the store answers and the local TSA can sign")
            .unlimited()
            .ok(200, "ready", object(&["status", "store"], json!({"status": {"const": "ready"}, "store": s(), "tenantActors": int(), "localTsa": s()}))),
        op("get", "/metrics", "metrics", "Operations", "Prometheus metrics")
            .unlimited()
            .ok_media(200, "Prometheus text exposition", "text/plain", s()),
        op("get", "/openapi.json", "openapi", "Operations", "This document")
            .unlimited()
            .ok(200, "the OpenAPI 3.1 document", json!({"type": "object"})),
        op("get", "/api/admin/health", "adminHealth", "Operations", "Instance health (instance administrators)")
            .auth(Auth::Session)
            .ok(200, "health", object(&["version", "uptimeSeconds"], json!({"version": s(), "uptimeSeconds": any(), "store": {"type": "object"}, "tenantActors": int(), "configGeneration": int()})))
            .err(&[403]),
        op("get", "/api/plugins", "listPlugins", "Operations", "Plugin instances (instance administrators)")
            .auth(Auth::Session)
            .ok(200, "the instances", object(&["instances"], json!({"pluginDir": ns(), "instances": array(json!({"type": "object"}))})))
            .err(&[403]),
        op("post", "/api/plugins/{name}/probe", "probePlugin", "Operations", "Run a plugin instance's read-only operation (instance administrators)")
            .auth(Auth::Session)
            .json_optional(request::<operations::ProbeRequest>(c))
            .ok(200, "the plugin's answer", object(&["instance", "generation", "response"], json!({"instance": s(), "generation": int(), "response": any()})))
            .err(&[403, 502]),
        // Timestamping.
        op("post", "/tsa/stamp-hash", "stampHash", "Timestamping", "Time-stamp a digest")
            .describe("Makes (or, for a retry without `force`, finds) an RFC 3161 time-stamp of a SHA-256, SHA-384 or SHA-512 hex digest; the token is verified and must chain to the provider's anchors before it is stored.")
            .auth(Auth::SessionOrKey)
            .json_example(request::<timestamping::StampHashRequest>(c), json!({"hashHex": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "tsaSlug": "auto", "label": "invoice 17"}))
            .ok(200, "the stamp record", r("Stamp"))
            .err_body(402, r("QuotaExceeded"))
            .err_body(502, r("AllTsasFailed"))
            .err(&[403])
            .link(200, "transaction", "getTransaction", json!({"id": "$response.body#/id"}))
            .link(200, "restamp", "restamp", json!({}))
            .link(200, "lookup", "lookup", json!({"hash": "$response.body#/hashHex"})),
        op("post", "/tsa/restamp", "restamp", "Timestamping", "Time-stamp a stored token again (SHA-512 of its TSR)")
            .auth(Auth::SessionOrKey)
            .json_example(request::<timestamping::RestampRequest>(c), json!({"transactionId": "0d9b5e0c-64a4-4bb1-8f2e-6b1d2c5b7d11"}))
            .ok(200, "the new record, `parentTransactionId` the original", r("Stamp"))
            .err_body(402, r("QuotaExceeded"))
            .err_body(502, r("AllTsasFailed"))
            .err(&[403, 404]),
        op("post", "/tsa/verify-hash", "verifyHash", "Timestamping", "Verify a time-stamp against a file digest")
            .json(request::<timestamping::VerifyHashRequest>(c))
            .ok(200, "the verdict", object(&["valid", "indication", "message", "details"], json!({
                "valid": b(), "indication": {"type": STRING, "enum": ["PASSED", "INDETERMINATE", "FAILED"]},
                "subIndication": ns(), "message": s(), "details": {"type": "object"},
            }))),
        op("post", "/tsa/inspect", "inspect", "Timestamping", "Decode a time-stamp without verifying it")
            .json(request::<timestamping::InspectRequest>(c))
            .ok(200, "the token's fields", object(&["genTime", "serial", "hashAlg", "hashHex", "policyOid", "certificates"], json!({
                "genTime": s(), "serial": s(), "hashAlg": s(), "hashHex": s(), "policyOid": s(), "tsaName": ns(),
                "signerSubject": ns(), "signerIssuer": ns(), "certNotBefore": ns(), "certNotAfter": ns(), "nonce": ns(),
                "certificates": int(),
            }))),
        op("get", "/api/lookup/{hash}", "lookup", "Timestamping", "Public lookup of a digest's stamps")
            .ok(200, "what the tenants disclose", object(&["found", "count", "latest", "records"], json!({
                "found": b(), "count": int(), "latest": {"type": ["object", "null"]}, "records": array(json!({"type": "object"})),
            }))),
        op("get", "/api/transactions/by-hash/{hash}", "transactionByHash", "Timestamping", "The tenant's newest stamp of a digest")
            .auth(Auth::SessionOrKey)
            .ok(200, "the evidence record", object(&["id", "hash", "alg", "genTime", "isRestamp", "hasTsr"], json!({
                "id": s(), "hash": s(), "alg": s(), "genTime": s(), "createdAt": s(), "tsaName": s(), "label": ns(),
                "certNotBefore": ns(), "certNotAfter": ns(), "isRestamp": b(), "hasTsr": b(),
            }))),
        op("get", "/api/transactions/details", "listTransactions", "Timestamping", "The tenant's stamps")
            .auth(Auth::SessionOrKey).paged()
            .query("search", s(), "a label substring or a hash prefix")
            .query("tenantId", s(), "the seed's parameter; only the caller's tenant")
            .ok(200, "a page of stamp records", page_of(r("Stamp")))
            .err(&[404]),
        op("get", "/api/transactions/{id}", "getTransaction", "Timestamping", "A stamp record with its restamp chain")
            .auth(Auth::SessionOrKey)
            .ok(200, "the record", r("Stamp"))
            .link(200, "auditPackage", "auditPackage", json!({"id": "$response.body#/id"})),
        op("get", "/api/transactions/{id}/audit-package.zip", "auditPackage", "Timestamping", "The record's audit package")
            .auth(Auth::SessionOrKey)
            .ok_media(200, "a ZIP of tokens, certificates, verification, custody and manifest", "application/zip", json!({"type": STRING, "contentMediaType": "application/zip"})),
        op("put", "/api/transactions/{id}/label", "setLabel", "Timestamping", "Change a record's label")
            .auth(Auth::SessionOrKey)
            .json(request::<timestamping::LabelRequest>(c))
            .ok(200, "the label", object(&["id", "label"], json!({"id": s(), "label": s()}))),
        op("get", "/api/settings", "getSettings", "Timestamping", "The tenant's settings")
            .auth(Auth::SessionOrKey)
            .ok(200, "the settings", r("Settings")),
        op("put", "/api/settings", "updateSettings", "Timestamping", "Change the tenant's settings (owner session)")
            .auth(Auth::SessionOrKey)
            .json_example(request::<timestamping::SettingsRequest>(c), json!({"enabledTsaSlugs": ["local"], "publicLookup": "existence"}))
            .ok(200, "the settings", r("Settings"))
            .err(&[403]),
        op("get", "/api/tsa/health", "tsaHealth", "Timestamping", "Per-provider health for the tenant (owner)")
            .auth(Auth::SessionOrKey)
            .ok(200, "per provider", object(&["providers"], json!({"providers": array(json!({"type": "object"}))})))
            .err(&[403]),
        op("get", "/proxy/services", "listTsaProviders", "Timestamping", "The enabled TSA providers")
            .ok(200, "the providers", array(object(&["id", "name", "proxySlug", "isActive", "qualified"], json!({
                "id": s(), "name": s(), "proxySlug": s(), "endpointUrl": ns(), "preferredHashOid": ns(),
                "isActive": b(), "qualified": b(), "policyOid": ns(),
            })))),
        op("get", "/proxy/services/{slug}/certificates", "tsaCertificates", "Timestamping", "A provider's certificate chain")
            .ok_media(200, "PEM certificates, TSA first", "application/x-pem-file", s()),
        op("post", "/tsr", "tsr", "Timestamping", "RFC 3161 over HTTP")
            .describe("A DER TimeStampReq in, a DER TimeStampResp out. A refused request is a granted-less reply with a failInfo (200), as RFC 3161 prescribes. Credentials follow `[local_tsa] http`: none, or a tenant API key; `off` answers 404.")
            .auth(Auth::Tsr)
            .body_content(true, json!({"application/timestamp-query": {"schema": {"type": STRING, "contentMediaType": "application/timestamp-query"}}}))
            .ok_media(200, "the TimeStampResp", "application/timestamp-reply", json!({"type": STRING, "contentMediaType": "application/timestamp-reply"}))
            .err(&[404]),
        // Seals.
        op("get", "/seal/certificates", "listSealCertificates", "Seals", "The tenant's seal certificates, the platform one last")
            .auth(Auth::SessionOrKey)
            .ok(200, "the certificates", array(r("SealCertificate"))),
        op("post", "/seal/certificates", "provisionSealCertificate", "Seals", "Generate a KMS key and its CSR (owner session)")
            .auth(Auth::SessionOrKey)
            .json_example(request::<seals::ProvisionBody>(c), json!({"commonName": "Acme Seal", "organization": "Acme", "countryCode": "DE"}))
            .ok(200, "the certificate, provisioning, with `csrPem`", r("SealCertificate"))
            .err(&[403, 502]),
        op("post", "/seal/certificates/{id}/activate", "activateSealCertificate", "Seals", "Install the CA's chain (owner session)")
            .auth(Auth::SessionOrKey)
            .json(request::<seals::ActivateBody>(c))
            .ok(200, "the certificate, active", r("SealCertificate"))
            .err(&[403, 409]),
        op("delete", "/seal/certificates/{id}", "revokeSealCertificate", "Seals", "Revoke a certificate (owner session)")
            .auth(Auth::SessionOrKey)
            .ok(200, "revoked", object(&["message"], json!({"message": s()})))
            .err(&[403, 409]),
        op("post", "/seal/sign", "seal", "Seals", "Seal an uploaded file: PAdES for a PDF, a detached CAdES `.p7s` otherwise")
            .auth(Auth::SessionOrKey)
            .body_content(true, json!({"multipart/form-data": {"schema": object(&["file"], json!({
                "file": {"type": STRING, "contentMediaType": "application/octet-stream"},
                "certificateId": s(), "label": s(), "qualified": {"type": STRING, "enum": ["true", "false"]},
                "reason": s(), "location": s(), "level": {"type": STRING, "enum": ["B-B", "B-T", "B-LTA"]},
            }))}}))
            .err(&[404])
            .response(200, json!({"description": "the sealed PDF or the `.p7s`; headers `X-Seal-*` describe it",
                "headers": seal_headers(),
                "content": {"application/pdf": {"schema": {"type": STRING, "contentMediaType": "application/pdf"}},
                            "application/pkcs7-signature": {"schema": {"type": STRING, "contentMediaType": "application/pkcs7-signature"}}}})),
        op("post", "/seal/sign-hash", "sealHash", "Seals", "Seal a SHA-256 digest (CAdES or JAdES)")
            .auth(Auth::SessionOrKey)
            .json(request::<seals::SignHashBody>(c))
            .err(&[404])
            .response(200, json!({"description": "the `.p7s` or the detached JAdES", "headers": seal_headers(),
                "content": {"application/pkcs7-signature": {"schema": {"type": STRING, "contentMediaType": "application/pkcs7-signature"}},
                            "application/jose+json": {"schema": {"type": "object"}}}})),
        op("post", "/seal/sign-pades-hash", "sealPadesHash", "Seals", "The CMS for a PDF's `/Contents`, from its ByteRange digest")
            .auth(Auth::SessionOrKey)
            .json(request::<seals::SignPadesHashBody>(c))
            .err(&[404])
            .ok(200, "the CMS", object(&["cmsBase64", "operationId", "certificateId"], json!({
                "cmsBase64": s(), "operationId": s(), "certificateId": s(), "timestampedBy": ns(), "qualified": b(),
                "level": s(), "certChainDers": array(s()), "ocspDers": array(s()),
            }))),
        op("post", "/seal/sign-hashes", "sealHashes", "Seals", "A JAdES seal over an envelope and its objects")
            .auth(Auth::SessionOrKey)
            .json(request::<seals::SignHashesBody>(c))
            .err(&[404])
            .ok(200, "the General JWS JSON and its operation", object(&["signature", "operationId", "certificateId", "format"], json!({
                "signature": {"type": "object"}, "operationId": s(), "certificateId": s(), "format": {"const": "jades"},
                "level": s(), "timestampedBy": ns(), "qualified": b(), "pqc": b(),
            }))),
        op("get", "/seal/operations", "listSealOperations", "Seals", "The tenant's seal operations")
            .auth(Auth::SessionOrKey).paged()
            .query("search", s(), "a label or hash prefix")
            .ok(200, "a page of operations", page_of(object(&["id"], json!({"id": s()})))),
        op("get", "/seal/operations/{id}/p7s", "sealOperationSignature", "Seals", "The kept signature of an operation")
            .auth(Auth::SessionOrKey)
            .response(200, json!({"description": "the kept signature",
                "content": {"application/pkcs7-signature": {"schema": {"type": STRING, "contentMediaType": "application/pkcs7-signature"}},
                            "application/jose+json": {"schema": {"type": "object"}}}})),
        op("post", "/seal/verify", "verifySeal", "Seals", "Verify a seal: `file` and `p7s` (and `tsr`), or a sealed PDF alone")
            .body_content(true, json!({"multipart/form-data": {"schema": object(&["file"], json!({
                "file": {"type": STRING, "contentMediaType": "application/octet-stream"},
                "p7s": {"type": STRING, "contentMediaType": "application/pkcs7-signature"},
                "tsr": {"type": STRING, "contentMediaType": "application/timestamp-reply"},
            }))}}))
            .ok(200, "the verdict", object(&["format"], json!({"format": {"type": STRING, "enum": ["cades", "pades"]}, "cades": r("SealVerification"), "pades": r("SealVerification"), "signatures": array(json!({"type": "object"}))}))),
        op("post", "/seal/verify-hash", "verifySealHash", "Seals", "Verify a `.p7s` or JAdES against a digest")
            .json(request::<seals::VerifyHashBody>(c))
            .ok(200, "the verdict", object(&[], json!({"cades": r("SealVerification"), "jades": r("SealVerification")}))),
        op("post", "/seal/verify-objects", "verifySealObjects", "Seals", "Verify a `/seal/sign-hashes` seal against object digests")
            .json(request::<seals::VerifyObjectsBody>(c))
            .ok(200, "the verdict", object(&["objects"], json!({"objects": {"type": "object"}}))),
        // Agent directory.
        op("get", "/health", "sigilumHealth", "Agent directory", "Liveness (Sigilum)")
            .ok(200, "serving", object(&["status", "timestamp"], json!({"status": {"const": "ok"}, "timestamp": s()}))),
        op("get", "/v1/namespaces", "listNamespaces", "Agent directory", "The tenant's namespaces")
            .auth(Auth::SessionOrKey).limit_offset(200)
            .ok(200, "a page", object(&["namespaces", "pagination"], json!({"namespaces": array(r("Namespace")), "pagination": r("Pagination")}))),
        op("post", "/v1/namespaces", "createNamespace", "Agent directory", "Claim a namespace (owner session)")
            .auth(Auth::SessionOrKey)
            .json_example(request::<directory::CreateNamespace>(c), json!({"namespace": "acme"}))
            .ok(201, "the namespace", r("Namespace"))
            .err(&[403, 409]),
        op("get", "/v1/services", "listServices", "Agent directory", "The tenant's services")
            .auth(Auth::SessionOrKey)
            .ok(200, "the services", object(&["services"], json!({"services": array(r("Service"))}))),
        op("post", "/v1/services", "createService", "Agent directory", "Create a service (owner session)")
            .auth(Auth::SessionOrKey)
            .json(request::<crate::app::directory::ServiceRequest>(c))
            .ok(201, "the service", r("Service"))
            .err(&[403, 409])
            .link(201, "service", "getService", json!({"id": "$response.body#/id"}))
            .link(201, "keys", "createServiceKey", json!({"id": "$response.body#/id"})),
        op("get", "/v1/services/{id}", "getService", "Agent directory", "A service")
            .auth(Auth::SessionOrKey)
            .ok(200, "the service", r("Service")),
        op("patch", "/v1/services/{id}", "updateService", "Agent directory", "Change a service (owner session)")
            .auth(Auth::SessionOrKey)
            .json(request::<crate::app::directory::ServicePatchRequest>(c))
            .ok(200, "the service", r("Service"))
            .err(&[403]),
        op("delete", "/v1/services/{id}", "deleteService", "Agent directory", "Delete a service and revoke its keys (owner session)")
            .auth(Auth::SessionOrKey)
            .ok(200, "deleted", object(&["id", "deleted"], json!({"id": s(), "deleted": b()})))
            .err(&[403]),
        op("get", "/v1/services/{id}/keys", "listServiceKeys", "Agent directory", "A service's keys")
            .auth(Auth::SessionOrKey)
            .ok(200, "the keys", object(&["keys"], json!({"keys": array(r("ServiceKey"))}))),
        op("post", "/v1/services/{id}/keys", "createServiceKey", "Agent directory", "Create a service key (owner session); shown once")
            .auth(Auth::SessionOrKey)
            .json_optional(request::<directory::CreateKey>(c))
            .ok(201, "the key, with `key`", r("ServiceKey"))
            .err(&[403]),
        op("delete", "/v1/services/{id}/keys/{key_id}", "revokeServiceKey", "Agent directory", "Revoke a service key (owner session)")
            .auth(Auth::SessionOrKey)
            .ok(200, "revoked", object(&["id", "revoked"], json!({"id": s(), "revoked": b(), "revoked_at": s()})))
            .err(&[403]),
        op("post", "/v1/services/{id}/keys/{key_id}/mark-gateway", "markGatewayKey", "Agent directory", "Mark a key as the gateway's (owner session)")
            .auth(Auth::SessionOrKey)
            .ok(200, "the key", r("ServiceKey"))
            .err(&[403]),
        op("get", "/v1/services/{id}/webhooks", "listServiceWebhooks", "Agent directory", "A service's webhooks")
            .auth(Auth::SessionOrKey)
            .ok(200, "the webhooks", object(&["webhooks"], json!({"webhooks": array(r("ServiceWebhook"))}))),
        op("post", "/v1/services/{id}/webhooks", "createServiceWebhook", "Agent directory", "Register a webhook (owner session)")
            .auth(Auth::SessionOrKey)
            .json(object(&["url", "events", "secret"], json!({"url": s(), "events": array(s()), "secret": {"type": STRING, "minLength": 16}, "auth_header": s(), "auth_value": s()})))
            .ok(201, "the webhook", r("ServiceWebhook"))
            .err(&[403]),
        op("delete", "/v1/services/{id}/webhooks/{wh_id}", "deleteServiceWebhook", "Agent directory", "Remove a webhook (owner session)")
            .auth(Auth::SessionOrKey)
            .ok(200, "deleted", object(&["id", "deleted"], json!({"id": s(), "deleted": b()})))
            .err(&[403]),
        op("get", "/v1/services/{id}/webhooks/{wh_id}/deliveries", "listDeliveries", "Agent directory", "A webhook's deliveries")
            .auth(Auth::SessionOrKey).limit_offset(100)
            .ok(200, "a page", object(&["deliveries", "pagination"], json!({"deliveries": array(r("Delivery")), "pagination": r("Pagination")}))),
        op("post", "/v1/services/{id}/webhooks/{wh_id}/deliveries/{delivery_id}/redeliver", "redeliver", "Agent directory", "Queue a delivery again (owner session)")
            .auth(Auth::SessionOrKey)
            .ok(200, "the delivery", r("Delivery"))
            .err(&[403]),
        // Agent authorization.
        op("post", "/v1/claims", "submitClaim", "Agent authorization", "Ask that an agent key may act for a namespace")
            .auth(Auth::SignedService)
            .json(object(&["namespace", "public_key", "service", "agent_ip", "nonce"], json!({
                "namespace": s(), "public_key": s(), "service": s(), "agent_ip": s(), "nonce": s(),
                "subject": s(), "agent_id": s(), "agent_name": s(),
            })))
            .ok(200, "an active claim of the same namespace, service and key", r("Claim"))
            .ok(201, "the new claim", r("Claim"))
            .err(&[403, 409]),
        op("get", "/v1/verify", "verifyAgent", "Agent authorization", "Whether an agent key is approved for a service")
            .auth(Auth::Signed)
            .required_query("namespace", s(), "the namespace")
            .required_query("public_key", s(), "the agent key")
            .required_query("service", s(), "the service slug")
            .ok(200, "the answer", object(&["authorized"], json!({"authorized": b(), "claim_id": s(), "approved_at": s(), "reason": s()})))
            .err(&[401, 403, 409]),
        op("get", "/v1/namespaces/claims", "approvedClaims", "Agent authorization", "A service's approved claims")
            .auth(Auth::SignedService).limit_offset(2000)
            .query("service", s(), "the key's service")
            .ok(200, "a page", object(&["claims", "pagination"], json!({"claims": array(r("Claim")), "pagination": r("Pagination")})))
            .err(&[403, 409]),
        op("get", "/v1/namespaces/{ns}", "namespaceView", "Agent authorization", "A namespace, for its own agents")
            .auth(Auth::Signed)
            .ok(200, "the namespace", r("Namespace"))
            .err(&[401, 403, 409]),
        op("get", "/v1/namespaces/{ns}/claims", "namespaceClaims", "Agent authorization", "A namespace's claims")
            .auth(Auth::SessionOrKey).limit_offset(200)
            .query("status", s(), "claim status")
            .query("service", s(), "service slug")
            .ok(200, "a page", object(&["claims", "pagination"], json!({"claims": array(r("Claim")), "pagination": r("Pagination")}))),
        op("get", "/v1/namespaces/{ns}/policy", "getClaimPolicy", "Agent authorization", "A namespace's approval policy")
            .auth(Auth::SessionOrKey)
            .ok(200, "the policy", r("ClaimPolicy")),
        op("put", "/v1/namespaces/{ns}/policy", "putClaimPolicy", "Agent authorization", "Change the approval policy (owner session)")
            .auth(Auth::SessionOrKey)
            .json(r("ClaimPolicy"))
            .ok(200, "the policy", r("ClaimPolicy"))
            .err(&[403]),
        op("get", "/v1/claims/{id}", "getClaim", "Agent authorization", "A claim")
            .auth(Auth::SessionOrKey)
            .ok(200, "the claim", r("Claim")),
        op("get", "/v1/claims/{id}/audit", "claimAudit", "Agent authorization", "A claim's audit trail")
            .auth(Auth::SessionOrKey)
            .ok(200, "the trail", object(&["claim_id", "audit"], json!({"claim_id": s(), "audit": array(json!({"type": "object"}))}))),
        claim_decision("approve", "approveClaim", "Approve a pending claim (owner session)"),
        claim_decision("reject", "rejectClaim", "Reject a pending claim (owner session)"),
        claim_decision("revoke", "revokeClaim", "Revoke an approved claim (owner session)"),
        op("get", "/.well-known/did/{did}", "didDocument", "Agent authorization", "A namespace's DID document")
            .ok_media(200, "the DID document", "application/did+ld+json", json!({"type": "object"})),
        op("get", "/1.0/identifiers/{did}", "didResolution", "Agent authorization", "DID resolution")
            .ok_media(200, "the resolution result", "application/ld+json", json!({"type": "object"}))
            .response(400, json!({"description": "not a `did:sigilum` DID", "content": {"application/ld+json": {"schema": {"type": "object"}}}}))
            .response(404, json!({"description": "unknown DID", "content": {"application/ld+json": {"schema": {"type": "object"}}}}))
            .response(500, json!({"description": "resolution failed (`internalError`), or a bug", "content": {
                "application/ld+json": {"schema": {"type": "object"}}, "application/json": {"schema": r("Error")}}})),
        // Device approvals (Sigil Auth).
        op("get", "/info", "serverInfo", "Device approvals", "The server identity")
            .nested()
            .ok(200, "the identity", object(&["server_id", "server_public_key", "version", "mode"], json!({
                "server_id": s(), "server_public_key": s(), "server_pictogram": any(), "server_pictogram_speakable": s(),
                "version": s(), "mode": s(), "features": any(),
            }))),
        op("get", "/devices/register/challenge", "registrationChallenge", "Device approvals", "A registration nonce")
            .nested().auth(Auth::ApiKey)
            .ok(200, "the nonce", object(&["challenge_id", "nonce"], json!({"challenge_id": s(), "nonce": s()})))
            .err(&[403]),
        op("post", "/devices/register", "registerDevice", "Device approvals", "Register a device")
            .nested().auth(Auth::ApiKey)
            .json(request::<sigil_auth::RegisterBody>(c))
            .ok(201, "the device", r("Device"))
            .err(&[403, 404, 409, 410]),
        op("get", "/v1/devices", "listDevices", "Device approvals", "The tenant's devices")
            .nested().auth(Auth::SessionOrKey)
            .ok(200, "the devices", object(&["devices"], json!({"devices": array(r("Device"))}))),
        op("delete", "/v1/devices/{fingerprint}", "revokeDevice", "Device approvals", "Revoke a device (owner session)")
            .nested().auth(Auth::SessionOrKey)
            .ok(200, "the device, revoked", r("Device"))
            .err(&[403]),
        op("get", "/v1/devices/{fingerprint}/challenges", "pollChallenges", "Device approvals", "A device's pending challenges")
            .nested().auth(Auth::Device)
            .header("X-Sigil-Device-Timestamp", "Unix seconds, within 60 s")
            .header("X-Sigil-Device-Signature", "the device's signature over `SIGIL-POLL-V1\\0 ‖ fingerprint ‖ timestamp`")
            .ok(200, "pending challenges and multi-party requests", object(&["challenges", "mpa_requests"], json!({"challenges": array(json!({"type": "object"})), "mpa_requests": array(json!({"type": "object"}))})))
            .err(&[401, 403]),
        op("post", "/challenge", "createChallenge", "Device approvals", "Ask a device to approve an action")
            .nested().auth(Auth::ApiKey)
            .json(request::<sigil_auth::ChallengeBody>(c))
            .ok(201, "the challenge", object(&["challenge_id", "fingerprint", "expires_at"], json!({"challenge_id": s(), "fingerprint": s(), "pictogram": any(), "pictogram_speakable": s(), "expires_at": s()})))
            .err(&[403, 404])
            .link(201, "status", "challengeStatus", json!({"id": "$response.body#/challenge_id"})),
        op("get", "/v1/auth/challenge/{id}/status", "challengeStatus", "Device approvals", "A challenge's status")
            .nested().auth(Auth::ApiKey)
            .ok(200, "the status", r("ChallengeStatus"))
            .err(&[403]),
        op("post", "/respond", "respond", "Device approvals", "A device's answer to a challenge")
            .nested().auth(Auth::Device)
            .json(request::<sigil_auth::RespondBody>(c))
            .ok(200, "the status with `verified`", r("ChallengeStatus"))
            .err(&[403, 404, 409, 410]),
        op("post", "/mpa/request", "mpaRequest", "Device approvals", "Ask groups of devices for a quorum")
            .nested().auth(Auth::ApiKey)
            .json(request::<sigil_auth::MpaBody>(c))
            .ok(201, "the status with `challenges_sent`", r("MpaStatus"))
            .err(&[403, 404, 409])
            .link(201, "status", "mpaStatus", json!({"request_id": "$response.body#/request_id"})),
        op("get", "/mpa/status/{request_id}", "mpaStatus", "Device approvals", "A multi-party request's status")
            .nested().auth(Auth::ApiKey)
            .ok(200, "the status", r("MpaStatus"))
            .err(&[403]),
        op("post", "/mpa/respond", "mpaRespond", "Device approvals", "A device's answer to a multi-party request")
            .nested().auth(Auth::Device)
            .json(request::<sigil_auth::MpaRespondBody>(c))
            .ok(200, "the status", r("MpaStatus"))
            .err(&[403, 404, 409, 410]),
        op("get", "/v1/config/webhooks", "listTenantWebhooks", "Device approvals", "The tenant's webhooks")
            .nested().auth(Auth::ApiKey)
            .ok(200, "the webhooks", object(&["webhooks"], json!({"webhooks": array(r("TenantWebhook"))})))
            .err(&[403]),
        op("post", "/v1/config/webhooks", "createTenantWebhook", "Device approvals", "Register a webhook")
            .nested().auth(Auth::ApiKey)
            .json(object(&["url", "events"], json!({"url": s(), "events": array(s()), "secret": s()})))
            .ok(201, "the webhook (a generated secret shown once)", r("TenantWebhook"))
            .err(&[403]),
        op("delete", "/v1/config/webhooks/{id}", "deleteTenantWebhook", "Device approvals", "Remove a webhook")
            .nested().auth(Auth::ApiKey)
            .ok(200, "removed", json!({"type": "object"}))
            .err(&[403]),
        // Signing requests.
        op("post", "/v1/requests", "submitSigningRequest", "Signing requests", "Submit a `sigil://` link or envelope")
            .auth(Auth::SessionOrKey)
            .json(json!({"type": "object"}))
            .ok(201, "the request", r("SigningRequest"))
            .err(&[403, 409]),
        op("get", "/v1/requests/{id}", "getSigningRequest", "Signing requests", "A signing request")
            .auth(Auth::SessionOrKey)
            .ok(200, "the request", r("SigningRequest")),
        op("get", "/v1/requests/policy", "getSigningPolicy", "Signing requests", "The routing policy")
            .auth(Auth::SessionOrKey)
            .ok(200, "the policy", r("SigningPolicy"))
            .err(&[409]),
        op("put", "/v1/requests/policy", "putSigningPolicy", "Signing requests", "Change the routing policy (owner session)")
            .auth(Auth::SessionOrKey)
            .json(r("SigningPolicy"))
            .ok(200, "the policy", r("SigningPolicy"))
            .err(&[403]),
        op("get", "/v1/requests/keys", "signingResultKeys", "Signing requests", "The keys that sign results (JWKS)")
            .ok(200, "the JWK set", object(&["keys"], json!({"keys": array(json!({"type": "object"}))}))),
        op("get", "/v1/issuers", "listIssuers", "Signing requests", "The issuer registry")
            .auth(Auth::SessionOrKey)
            .ok(200, "the issuers", object(&["issuers"], json!({"issuers": array(r("Issuer"))}))),
        op("post", "/v1/issuers", "addIssuer", "Signing requests", "Register an issuer (owner session)")
            .auth(Auth::SessionOrKey)
            .json(json!({"type": "object"}))
            .ok(201, "the issuer", r("Issuer"))
            .err(&[403, 409]),
        op("get", "/v1/issuers/{id}", "getIssuer", "Signing requests", "An issuer")
            .auth(Auth::SessionOrKey)
            .ok(200, "the issuer", r("Issuer")),
        op("patch", "/v1/issuers/{id}", "updateIssuer", "Signing requests", "Change an issuer (owner session)")
            .auth(Auth::SessionOrKey)
            .json(json!({"type": "object"}))
            .ok(200, "the issuer", r("Issuer"))
            .err(&[403]),
        op("delete", "/v1/issuers/{id}", "deleteIssuer", "Signing requests", "Remove an issuer (owner session)")
            .auth(Auth::SessionOrKey)
            .no_content("removed")
            .err(&[403]),
    ];
    let mut paths = Map::new();
    for op in ops {
        let (path, method) = (op.path, op.method);
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method] = op.finish();
    }
    let mut schemas: Vec<(String, Value)> = components.into_iter().collect();
    schemas.sort_by(|a, b| a.0.cmp(&b.0));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Sigil",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The HTTP API of sigild, the Sigil trust daemon. docs/API.md is the narrative reference: rules, choices and error cases in prose.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "tags": [
            { "name": "Accounts" }, { "name": "Tenants" }, { "name": "API keys" }, { "name": "Operations" },
            { "name": "Timestamping" }, { "name": "Seals" }, { "name": "Agent directory" },
            { "name": "Agent authorization" }, { "name": "Device approvals" }, { "name": "Signing requests" },
        ],
        "paths": paths,
        "components": {
            "schemas": Value::Object(schemas.into_iter().collect()),
            "responses": error_responses(),
            "headers": {
                "RetryAfter": { "description": "seconds until a retry can succeed", "schema": { "type": "integer" } },
            },
            "securitySchemes": {
                "session": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "A session JWT from `/auth/register`, `/auth/login` or `/auth/refresh`." },
                "apiKey": { "type": "http", "scheme": "bearer", "bearerFormat": "sgk_live_<64 hex> or sgk_test_<64 hex>",
                    "description": "A tenant API key; acts in its tenant with member rights." },
                "serviceKey": { "type": "http", "scheme": "bearer", "bearerFormat": "sk_live_<48 hex>",
                    "description": "A Sigilum service key, together with the RFC 9421 signed agent headers (see docs/API.md)." },
            },
        },
    })
}

/// The shared error responses, one per status and shape.
fn error_responses() -> Value {
    let mut responses = Map::new();
    for shape in [Shape::Common, Shape::Nested] {
        for status in ERROR_STATUSES {
            let mut response = json!({
                "description": status_description(status),
                "content": { "application/json": { "schema": shape.error_schema(status) } },
            });
            if status == 429 {
                response["headers"] =
                    json!({ "Retry-After": { "$ref": "#/components/headers/RetryAfter" } });
            }
            responses.insert(format!("{}{status}", shape.prefix()), response);
        }
    }
    Value::Object(responses)
}

fn claim_decision(action: &'static str, id: &str, summary: &str) -> Op {
    let path = match action {
        "approve" => "/v1/claims/{id}/approve",
        "reject" => "/v1/claims/{id}/reject",
        _ => "/v1/claims/{id}/revoke",
    };
    op("post", path, id, "Agent authorization", summary)
        .auth(Auth::SessionOrKey)
        .json_optional(object(&[], json!({"reason": {"type": STRING, "maxLength": 500}})))
        .ok(200, "the decision", object(&["claim_id", "status"], json!({
            "claim_id": s(), "status": s(), "agents_approved": int(), "agents_limit": int(), "blockchain_tx_status": s(),
        })))
        .err(&[403, 409])
}

fn seal_headers() -> Value {
    let header =
        |description: &str| json!({ "description": description, "schema": { "type": STRING } });
    json!({
        "X-Seal-Operation-Id": header("the operation"),
        "X-Seal-Certificate-Id": header("the certificate used (`platform` for the platform certificate)"),
        "X-Seal-Timestamped-By": header("the TSA's name, percent-encoded, or `none`"),
        "X-Seal-Format": header("`pades`, `cades` or `jades`"),
        "X-Seal-Qualified": header("`true` when a qualified TSA time-stamped it"),
        "X-Seal-Level": header("`B-B`, `B-T` or `B-LTA`: the level reached"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path the route modules register is in the document (the test-only `/_test/panic` aside), and the
    /// document names no path that the modules do not register.
    #[test]
    fn document_covers_every_route() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
        let mut routed = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let mut rest = text.as_str();
            while let Some(at) = rest.find(".route(") {
                rest = rest[at + ".route(".len()..].trim_start();
                if let Some(path) = rest.strip_prefix('"').filter(|path| path.starts_with('/')) {
                    routed.insert(path[..path.find('"').unwrap()].to_string());
                }
            }
        }
        routed.remove("/_test/panic");
        let document = document();
        let documented: std::collections::BTreeSet<String> = document["paths"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let missing: Vec<_> = routed.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routed).collect();
        assert!(
            missing.is_empty(),
            "routes without an OpenAPI entry (add them to http/openapi.rs): {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "OpenAPI paths that no route serves: {extra:?}"
        );
    }

    /// Every `$ref` points at a schema that exists, and every operation has an id, security and responses.
    #[test]
    fn references_resolve_and_operations_are_complete() {
        let document = document();
        let schemas = document["components"]["schemas"].as_object().unwrap();
        let text = serde_json::to_string(&document).unwrap();
        for piece in text.split("\"#/components/schemas/").skip(1) {
            let name = &piece[..piece.find('"').unwrap()];
            assert!(schemas.contains_key(name), "dangling $ref {name}");
        }
        let responses = document["components"]["responses"].as_object().unwrap();
        for piece in text.split("\"#/components/responses/").skip(1) {
            let name = &piece[..piece.find('"').unwrap()];
            assert!(responses.contains_key(name), "dangling $ref {name}");
        }
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(
                    ids.insert(id.to_string()),
                    "{method} {path}: duplicate operationId {id}"
                );
                assert!(
                    operation["security"].is_array(),
                    "{method} {path}: no security"
                );
                let responses = operation["responses"].as_object().unwrap();
                assert!(
                    responses.keys().any(|s| s.starts_with('2')),
                    "{method} {path}: no success"
                );
                assert!(responses.contains_key("500"), "{method} {path}: no 500");
            }
        }
    }
}
