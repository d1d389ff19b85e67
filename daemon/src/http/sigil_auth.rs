//! The Sigil Auth routes (seed 002, contract 02): what the Go and Node SDKs call (`/challenge`, challenge
//! status, `/mpa/*`, with the tenant's `sgk_` API key), device registration, the device-facing routes
//! (`/respond`, `/mpa/respond`, polling; authenticated by the device's own signature), `/info`, and the
//! integrator's webhook configuration. Errors on these routes have the nested shape the SDKs parse:
//! `{"error": {"code", "message", "details"}}`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sigil_device::messages::Decision;

use super::AppState;
use super::extract::TenantCaller;
use crate::app::claims::iso;
use crate::app::sigil_auth::{
    AuthError, Group, Member, MpaInput, RegisterInput, payload_field, webhook_owner,
};
use crate::app::webhooks::Surface;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::store::{Approval, ApprovalState, Device};

/// The whole Sigil Auth surface, with its error shape.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/info", axum::routing::get(info))
        .route(
            "/devices/register/challenge",
            axum::routing::get(registration_challenge),
        )
        .route("/devices/register", axum::routing::post(register))
        .route("/v1/devices", axum::routing::get(list_devices))
        .route(
            "/v1/devices/{fingerprint}",
            axum::routing::delete(revoke_device),
        )
        .route(
            "/v1/devices/{fingerprint}/challenges",
            axum::routing::get(poll),
        )
        .route("/challenge", axum::routing::post(create_challenge))
        .route(
            "/v1/auth/challenge/{id}/status",
            axum::routing::get(challenge_status),
        )
        .route("/respond", axum::routing::post(respond))
        .route("/mpa/request", axum::routing::post(mpa_request))
        .route("/mpa/status/{request_id}", axum::routing::get(mpa_status))
        .route("/mpa/respond", axum::routing::post(mpa_respond))
        .route(
            "/v1/config/webhooks",
            axum::routing::get(list_webhooks).post(create_webhook),
        )
        .route(
            "/v1/config/webhooks/{id}",
            axum::routing::delete(delete_webhook),
        )
        .route_layer(middleware::from_fn(nest_errors))
}

/// Rewrites the common error body `{"error": msg, "code", "details"}` into the SDKs' nested shape.
async fn nest_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if !(response.status().is_client_error() || response.status().is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let flat: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let nested = match flat.get("error") {
        Some(Value::String(message)) => json!({ "error": {
            "code": flat.get("code").cloned().unwrap_or(json!("ERROR")),
            "message": message,
            "details": flat.get("details").cloned().unwrap_or(json!({})),
        }}),
        Some(Value::Object(_)) => flat,
        _ => {
            json!({ "error": { "code": "ERROR", "message": parts.status.canonical_reason().unwrap_or("error"),
                                "details": {} } })
        }
    };
    let bytes = serde_json::to_vec(&nested).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    parts.headers.insert(
        header::CONTENT_LENGTH,
        header::HeaderValue::from(bytes.len()),
    );
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let message = error.to_string();
        match error {
            AuthError::Device(device) => {
                let kind = match device.code() {
                    "SIGNATURE_INVALID" => ErrorKind::Unauthorized,
                    _ => ErrorKind::InvalidRequest,
                };
                ApiError::new(kind, message).with_code(device.code())
            }
            AuthError::Invalid { code, .. } => {
                ApiError::new(ErrorKind::InvalidRequest, message).with_code(code)
            }
            AuthError::NotFound(code, _) => {
                ApiError::new(ErrorKind::NotFound, message).with_code(code)
            }
            AuthError::Expired => {
                ApiError::new(ErrorKind::Gone, message).with_code("CHALLENGE_EXPIRED")
            }
            AuthError::Answered(code, _) => {
                ApiError::new(ErrorKind::Conflict, message).with_code(code)
            }
            AuthError::FingerprintMismatch(_) => {
                ApiError::new(ErrorKind::InvalidRequest, message).with_code("FINGERPRINT_MISMATCH")
            }
            AuthError::Revoked => {
                ApiError::new(ErrorKind::Forbidden, message).with_code("DEVICE_REVOKED")
            }
            AuthError::AlreadyRegistered => {
                ApiError::new(ErrorKind::Conflict, message).with_code("DEVICE_ALREADY_REGISTERED")
            }
            AuthError::NotReady => ApiError::unavailable(message).with_code("RELAY_UNAVAILABLE"),
            AuthError::Store(error) => error.into(),
        }
    }
}

fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidRequest, message).with_code(code)
}

/// A JSON body, refused with `INVALID_REQUEST` when it does not parse.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes)
        .map_err(|error| bad_request("INVALID_REQUEST", format!("invalid JSON body: {error}")))
}

/// Inserts `value` under `name` unless it has none (never `""`: the Go SDK cannot decode an empty time).
fn put_time(object: &mut serde_json::Map<String, Value>, name: &str, ms: Option<i64>) {
    if let Some(ms) = ms {
        object.insert(name.into(), json!(iso(ms)));
    }
}

async fn info(State(state): State<AppState>) -> ApiResult<axum::Json<Value>> {
    let identity = state
        .sigil_auth
        .identity()
        .ok_or_else(|| ApiError::from(AuthError::NotReady))?;
    let mut info = json!({
        "server_id": identity.server_id,
        "server_public_key": identity.public_key,
        "server_pictogram": identity.pictogram.emojis,
        "server_pictogram_speakable": identity.pictogram.speakable,
        "version": env!("CARGO_PKG_VERSION"),
        "mode": "operational",
        "features": { "mpa": true, "secure_decrypt": false, "mnemonic_generation": false, "webhooks": true },
    });
    // The applicationServerKey a web app subscribes with, when sigild signs Web Push credentials itself.
    if let Some(vapid) = &identity.vapid {
        info["vapid_public_key"] = json!(vapid.public_key);
    }
    Ok(axum::Json(info))
}

async fn registration_challenge(
    State(state): State<AppState>,
    caller: TenantCaller,
) -> ApiResult<axum::Json<Value>> {
    let (challenge_id, nonce) = state
        .sigil_auth
        .registration_challenge(&caller.scope())
        .await?;
    Ok(axum::Json(
        json!({ "challenge_id": challenge_id, "nonce": nonce }),
    ))
}

fn device_json(device: &Device) -> Value {
    let pictogram = sigil_device::pictogram_of_hex(&device.fingerprint).ok();
    let mut object = serde_json::Map::new();
    object.insert("fingerprint".into(), json!(device.fingerprint));
    object.insert("device_public_key".into(), json!(device.public_key));
    object.insert(
        "pictogram".into(),
        json!(pictogram.as_ref().map(|p| p.emojis.clone())),
    );
    object.insert(
        "pictogram_speakable".into(),
        json!(pictogram.map(|p| p.speakable)),
    );
    if let Some(name) = &device.name {
        object.insert("name".into(), json!(name));
    }
    if let Some(channel) = &device.push_channel {
        object.insert("push_channel".into(), json!(channel));
    }
    put_time(&mut object, "registered_at", Some(device.registered_at));
    put_time(&mut object, "revoked_at", device.revoked_at);
    Value::Object(object)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct RegisterBody {
    device_public_key: String,
    challenge_id: String,
    signature: String,
    #[serde(default)]
    push_channel: Option<String>,
    #[serde(default)]
    push_token: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

async fn register(
    State(state): State<AppState>,
    caller: TenantCaller,
    bytes: Bytes,
) -> ApiResult<Response> {
    let request: RegisterBody = body(&bytes)?;
    if let Some(channel) = &request.push_channel {
        let config = state.config();
        if !config.plugins.iter().any(|p| p.name == *channel) {
            return Err(bad_request(
                "INVALID_REQUEST",
                format!("no push channel instance `{channel}`"),
            ));
        }
    }
    if request.push_channel.is_some() != request.push_token.is_some() {
        return Err(bad_request(
            "INVALID_REQUEST",
            "push_channel and push_token go together",
        ));
    }
    let device = state
        .sigil_auth
        .register(
            &caller.scope(),
            RegisterInput {
                device_public_key: request.device_public_key,
                challenge_id: request.challenge_id,
                signature: request.signature,
                push_channel: request.push_channel,
                push_token: request.push_token,
                name: request.name,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(device_json(&device))).into_response())
}

async fn list_devices(
    State(state): State<AppState>,
    caller: TenantCaller,
) -> ApiResult<axum::Json<Value>> {
    let devices = state.sigil_auth.devices(&caller.scope()).await?;
    Ok(axum::Json(
        json!({ "devices": devices.iter().map(device_json).collect::<Vec<_>>() }),
    ))
}

async fn revoke_device(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(fingerprint): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    caller.require_owner()?;
    let device = state
        .sigil_auth
        .revoke_device(&caller.scope(), &fingerprint)
        .await?;
    Ok(axum::Json(device_json(&device)))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct ChallengeBody {
    fingerprint: String,
    device_public_key: String,
    #[serde(default)]
    action: Option<Value>,
}

async fn create_challenge(
    State(state): State<AppState>,
    caller: TenantCaller,
    bytes: Bytes,
) -> ApiResult<Response> {
    let request: ChallengeBody = body(&bytes)?;
    if request
        .action
        .as_ref()
        .is_some_and(|action| !action.is_object() && !action.is_null())
    {
        return Err(bad_request("INVALID_REQUEST", "action must be an object"));
    }
    let challenge = state
        .sigil_auth
        .create_challenge(
            &caller.scope(),
            &request.fingerprint,
            &request.device_public_key,
            request.action,
        )
        .await?;
    let field = |name: &str| challenge.payload.get(name).cloned().unwrap_or(Value::Null);
    let mut object = serde_json::Map::new();
    object.insert("challenge_id".into(), json!(challenge.uid));
    object.insert("fingerprint".into(), field("fingerprint"));
    object.insert("pictogram".into(), field("pictogram"));
    object.insert("pictogram_speakable".into(), field("pictogram_speakable"));
    put_time(&mut object, "expires_at", challenge.expires_at);
    Ok((StatusCode::CREATED, axum::Json(Value::Object(object))).into_response())
}

/// A challenge's status: `pending | verified | rejected | expired`, times only when they have a value.
fn challenge_status_json(challenge: &Approval) -> Value {
    let field = |name: &str| challenge.payload.get(name).cloned().unwrap_or(Value::Null);
    let status = match challenge.state {
        ApprovalState::Pending => "pending",
        ApprovalState::Approved => "verified",
        ApprovalState::Rejected => "rejected",
        _ => "expired",
    };
    let mut object = serde_json::Map::new();
    object.insert("challenge_id".into(), json!(challenge.uid));
    object.insert("status".into(), json!(status));
    object.insert("fingerprint".into(), field("fingerprint"));
    object.insert("pictogram".into(), field("pictogram"));
    object.insert("pictogram_speakable".into(), field("pictogram_speakable"));
    if let Some(decision) = challenge.payload.get("decision") {
        object.insert("decision".into(), decision.clone());
    }
    let responded = challenge
        .payload
        .get("responded_at")
        .and_then(Value::as_i64);
    put_time(&mut object, "created_at", Some(challenge.created_at));
    put_time(&mut object, "expires_at", challenge.expires_at);
    put_time(&mut object, "responded_at", responded);
    if challenge.state == ApprovalState::Approved {
        put_time(&mut object, "verified_at", responded);
    }
    Value::Object(object)
}

async fn challenge_status(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let challenge = state.sigil_auth.challenge(&caller.scope(), &id).await?;
    Ok(axum::Json(challenge_status_json(&challenge)))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct RespondBody {
    challenge_id: String,
    fingerprint: String,
    decision: String,
    signature: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /respond`: a device answers; its signature is its credential.
async fn respond(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    bytes: Bytes,
) -> ApiResult<axum::Json<Value>> {
    state.admit_ip(&parts, super::limits::Limit::Anonymous)?;
    let request: RespondBody = body(&bytes)?;
    let decision = match request.decision.as_str() {
        "approve" | "approved" => Decision::Approve,
        "reject" | "rejected" | "deny" => Decision::Deny,
        _ => {
            return Err(bad_request(
                "INVALID_REQUEST",
                "decision must be approve or reject",
            ));
        }
    };
    if request
        .reason
        .as_ref()
        .is_some_and(|r| r.len() > 200 || r.chars().any(char::is_control))
    {
        return Err(bad_request(
            "INVALID_REQUEST",
            "reason: at most 200 characters without control characters",
        ));
    }
    let challenge = state
        .sigil_auth
        .respond(
            &request.challenge_id,
            &request.fingerprint,
            decision,
            &request.signature,
            request.reason,
        )
        .await?;
    let mut answer = challenge_status_json(&challenge);
    answer["verified"] = json!(challenge.state == ApprovalState::Approved);
    Ok(axum::Json(answer))
}

/// `POST /mpa/request` body in either form in use: members or approvers, with or without names.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct MpaBody {
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    action: Option<Value>,
    required: i64,
    groups: Vec<GroupBody>,
    #[serde(default)]
    reject_policy: Option<String>,
    #[serde(default)]
    expires_in_seconds: Option<i64>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct GroupBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    members: Option<Vec<Member>>,
    #[serde(default)]
    approvers: Option<Vec<Member>>,
}

async fn mpa_request(
    State(state): State<AppState>,
    caller: TenantCaller,
    bytes: Bytes,
) -> ApiResult<Response> {
    let request: MpaBody = body(&bytes)?;
    let groups: Vec<Group> = request
        .groups
        .into_iter()
        .map(|group| Group {
            name: group.name,
            members: group.members.or(group.approvers).unwrap_or_default(),
        })
        .collect();
    if groups.is_empty()
        || groups.len() > 20
        || groups
            .iter()
            .any(|g| g.members.is_empty() || g.members.len() > 50)
    {
        return Err(bad_request(
            "INVALID_REQUEST",
            "1 to 20 groups of 1 to 50 members each",
        ));
    }
    if request.required < 1 || request.required as usize > groups.len() {
        return Err(bad_request(
            "INVALID_REQUEST",
            "required must be between 1 and the number of groups",
        ));
    }
    let expires_in = request.expires_in_seconds.unwrap_or(300);
    if !(60..=900).contains(&expires_in) {
        return Err(bad_request(
            "INVALID_REQUEST",
            "expires_in_seconds must be between 60 and 900",
        ));
    }
    let reject_first = match request.reject_policy.as_deref() {
        None | Some("continue") => false,
        Some("reject_on_first") => true,
        Some(_) => {
            return Err(bad_request(
                "INVALID_REQUEST",
                "reject_policy must be continue or reject_on_first",
            ));
        }
    };
    let request_id = match request.request_id {
        Some(id)
            if !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            id
        }
        Some(_) => {
            return Err(bad_request(
                "INVALID_REQUEST",
                "request_id: 1 to 128 visible ASCII characters",
            ));
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    if request_id.starts_with("sr_") {
        // The ids of signing requests' multi-party requests: a client's would share their slot.
        return Err(bad_request(
            "INVALID_REQUEST",
            "request_id: the prefix sr_ is reserved for signing requests",
        ));
    }
    let action = request.action.unwrap_or_else(|| json!({}));
    if !action.is_object() {
        return Err(bad_request("INVALID_REQUEST", "action must be an object"));
    }
    let created = state
        .sigil_auth
        .mpa_request(
            &caller.scope(),
            MpaInput {
                request_id,
                action,
                required: request.required as usize,
                groups,
                reject_first,
                expires_in: std::time::Duration::from_secs(expires_in as u64),
            },
        )
        .await?;
    let mut answer = mpa_status_json(&created);
    answer["challenges_sent"] = created
        .payload
        .get("member_fingerprints")
        .and_then(Value::as_array)
        .map_or(json!(0), |m| json!(m.len()));
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

/// A multi-party request's status: the union of the seed page's and the SDK code's fields.
fn mpa_status_json(request: &Approval) -> Value {
    let field = |name: &str| request.payload.get(name).cloned().unwrap_or(Value::Null);
    let groups: Vec<Group> = payload_field(&request.payload, "groups");
    let satisfied: Vec<usize> = payload_field(&request.payload, "satisfied");
    let names: Vec<String> = satisfied
        .iter()
        .map(|index| {
            groups
                .get(*index)
                .and_then(|g| g.name.clone())
                .unwrap_or_else(|| format!("group {index}"))
        })
        .collect();
    let status = match request.state {
        ApprovalState::Pending => "pending",
        ApprovalState::Approved => "approved",
        ApprovalState::Rejected => "rejected",
        _ => "timeout",
    };
    let mut object = serde_json::Map::new();
    object.insert("request_id".into(), field("request_id"));
    object.insert("status".into(), json!(status));
    object.insert("groups_required".into(), field("required"));
    object.insert("groups_total".into(), json!(groups.len()));
    object.insert("groups_satisfied".into(), json!(satisfied));
    object.insert("groups_satisfied_names".into(), json!(names));
    put_time(&mut object, "created_at", Some(request.created_at));
    put_time(&mut object, "expires_at", request.expires_at);
    put_time(
        &mut object,
        "completed_at",
        request
            .payload
            .get("completed_at")
            .and_then(Value::as_i64)
            .or((request.state == ApprovalState::Expired).then_some(request.updated_at)),
    );
    Value::Object(object)
}

async fn mpa_status(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(request_id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let request = state.sigil_auth.mpa(&caller.scope(), &request_id).await?;
    Ok(axum::Json(mpa_status_json(&request)))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct MpaRespondBody {
    request_id: String,
    fingerprint: String,
    approved: bool,
    signature: String,
}

/// `POST /mpa/respond`: a member device answers; its signature is its credential.
async fn mpa_respond(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    bytes: Bytes,
) -> ApiResult<axum::Json<Value>> {
    state.admit_ip(&parts, super::limits::Limit::Anonymous)?;
    let request: MpaRespondBody = body(&bytes)?;
    let changed = state
        .sigil_auth
        .mpa_respond(
            &request.request_id,
            &request.fingerprint,
            request.approved,
            &request.signature,
        )
        .await?;
    Ok(axum::Json(mpa_status_json(&changed)))
}

/// `GET /v1/devices/{fingerprint}/challenges`: what waits for a device, with `X-Sigil-Device-Timestamp` and
/// `X-Sigil-Device-Signature` (the poll message).
async fn poll(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    Path(fingerprint): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    state.admit_ip(&parts, super::limits::Limit::Anonymous)?;
    let header = |headers: &HeaderMap, name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (Some(timestamp), Some(signature)) = (
        header(&parts.headers, "x-sigil-device-timestamp"),
        header(&parts.headers, "x-sigil-device-signature"),
    ) else {
        return Err(ApiError::unauthorized(
            "X-Sigil-Device-Timestamp and X-Sigil-Device-Signature are required",
        ));
    };
    Ok(axum::Json(
        state
            .sigil_auth
            .poll(&fingerprint, &timestamp, &signature)
            .await?,
    ))
}

/// `POST /v1/config/webhooks` `{url, events, secret?}`: an endpoint for the tenant's Sigil Auth events; a
/// secret is generated (and shown once) when none is given.
async fn create_webhook(
    State(state): State<AppState>,
    caller: TenantCaller,
    bytes: Bytes,
) -> ApiResult<Response> {
    let mut request: Value = body(&bytes)?;
    if !request.is_object() {
        return Err(bad_request(
            "INVALID_REQUEST",
            "the body must be a JSON object",
        ));
    }
    let generated = match request.get("secret") {
        Some(Value::String(_)) => None,
        None | Some(Value::Null) => {
            let secret = format!(
                "whsec_{}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    rand::random::<[u8; 32]>()
                )
            );
            request["secret"] = json!(secret);
            Some(secret)
        }
        Some(_) => return Err(bad_request("INVALID_REQUEST", "secret must be a string")),
    };
    let scope = caller.scope();
    let owner = webhook_owner(scope.tenant());
    let mut endpoint = super::webhooks::create_endpoint(
        &state,
        &scope,
        &owner,
        Surface::SigilAuth,
        &request,
        crate::app::sigil_auth::EVENTS,
    )
    .await?;
    endpoint["webhook_id"] = endpoint["id"].clone();
    if let Some(secret) = generated {
        endpoint["secret"] = json!(secret);
    }
    Ok((StatusCode::CREATED, axum::Json(endpoint)).into_response())
}

async fn list_webhooks(
    State(state): State<AppState>,
    caller: TenantCaller,
) -> ApiResult<axum::Json<Value>> {
    let scope = caller.scope();
    Ok(axum::Json(
        super::webhooks::list_endpoints(&state, &scope, &webhook_owner(scope.tenant())).await?,
    ))
}

async fn delete_webhook(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let scope = caller.scope();
    Ok(axum::Json(
        super::webhooks::delete_endpoint(&state, &scope, &webhook_owner(scope.tenant()), &id)
            .await?,
    ))
}
