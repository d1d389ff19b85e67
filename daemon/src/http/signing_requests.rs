//! The signing-request routes (seed 003, contract 04): an app's backend hands a `sigil://v1/request` link or
//! its envelope to `POST /v1/requests` with the tenant's API key and reads the outcome at
//! `GET /v1/requests/{id}`; owners set the routing policy (`/v1/requests/policy`) and keep the issuer registry
//! (`/v1/issuers`). Refusals of the protocol answer 400 with a machine-readable `reason` beside the common
//! error shape. `GET /v1/requests/keys` publishes the key that signs every result.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::{Value, json};

use super::AppState;
use super::extract::TenantCaller;
use crate::app::claims::iso;
use crate::app::signing_requests::{
    Intake, IssuerPatch, NewIssuerInput, RequestError, SigningPolicy,
};
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::store::{Approval, Issuer};

/// The routes that need a tenant (API key or session).
pub fn routes() -> Router<AppState> {
    Router::new()
        // A link is at most 8 KB of `d`: 16 KiB is room for it and its JSON wrapping, far below the default.
        .route(
            "/v1/requests",
            axum::routing::post(submit).layer(axum::extract::DefaultBodyLimit::max(16 * 1024)),
        )
        .route(
            "/v1/requests/policy",
            axum::routing::get(get_policy).put(put_policy),
        )
        .route("/v1/requests/{id}", axum::routing::get(get_request))
        .route(
            "/v1/issuers",
            axum::routing::get(list_issuers).post(add_issuer),
        )
        .route(
            "/v1/issuers/{id}",
            axum::routing::get(get_issuer)
                .patch(update_issuer)
                .delete(delete_issuer),
        )
}

/// Public: the keys that sign results.
pub fn public_routes() -> Router<AppState> {
    Router::new().route("/v1/requests/keys", axum::routing::get(keys))
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> Self {
        let message = error.to_string();
        match error {
            RequestError::Refused(refusal) => {
                let details = match &refusal.field {
                    Some(field) => json!({ "reason": refusal.reason, "field": field }),
                    None => json!({ "reason": refusal.reason }),
                };
                ApiError::new(ErrorKind::InvalidRequest, refusal.message)
                    .with_code("REQUEST_REFUSED")
                    .with_reason(refusal.reason)
                    .with_details(details)
            }
            RequestError::Blocked(level) => ApiError::new(ErrorKind::InvalidRequest, message)
                .with_code("REQUEST_REFUSED")
                .with_reason(level.as_str())
                .with_details(json!({ "reason": level.as_str(), "trust_level": level.as_str() })),
            RequestError::Invalid { field, message } => ApiError::invalid_field(&field, message),
            RequestError::NoPolicy => ApiError::new(ErrorKind::Conflict, message)
                .with_code("NO_POLICY")
                .with_reason("no_policy"),
            RequestError::NotFound(what) => ApiError::not_found(what),
            RequestError::Limit(message) => ApiError::conflict(message).with_code("LIMIT_REACHED"),
            RequestError::Unavailable(message) => ApiError::unavailable(message),
            RequestError::Store(error) => error.into(),
        }
    }
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let field = if path.is_empty() || path == "." {
            "body".to_string()
        } else {
            path
        };
        ApiError::invalid_field(&field, error.into_inner().to_string())
    })
}

/// `POST /v1/requests` `{"uri": "sigil://v1/request?d=..."}` or the envelope (or a bare request) itself.
async fn submit(
    State(state): State<AppState>,
    caller: TenantCaller,
    bytes: Bytes,
) -> ApiResult<Response> {
    let value: Value = body(&bytes)?;
    let intake = match value.get("uri") {
        Some(Value::String(uri)) => Intake::Uri(uri.clone()),
        Some(_) => return Err(ApiError::invalid_field("uri", "must be a string")),
        None if value.is_object() => Intake::Envelope(value),
        None => {
            return Err(ApiError::invalid_field(
                "body",
                "send {\"uri\": \"sigil://v1/request?d=...\"} or the envelope object",
            ));
        }
    };
    let created = state
        .signing_requests
        .submit(&caller.scope(), intake)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(request_json(&created))).into_response())
}

async fn get_request(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let request = state.signing_requests.get(&caller.scope(), &id).await?;
    Ok(axum::Json(request_json(&request)))
}

async fn get_policy(
    State(state): State<AppState>,
    caller: TenantCaller,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(
        state.signing_requests.policy_view(&caller.scope()).await?,
    ))
}

async fn put_policy(
    State(state): State<AppState>,
    caller: TenantCaller,
    bytes: Bytes,
) -> ApiResult<axum::Json<Value>> {
    caller.require_owner()?;
    let policy: SigningPolicy = body(&bytes)?;
    Ok(axum::Json(
        state
            .signing_requests
            .set_policy(&caller.scope(), policy)
            .await?,
    ))
}

async fn list_issuers(
    State(state): State<AppState>,
    caller: TenantCaller,
) -> ApiResult<axum::Json<Value>> {
    let issuers = state.signing_requests.issuers(&caller.scope()).await?;
    Ok(axum::Json(
        json!({ "issuers": issuers.iter().map(issuer_json).collect::<Vec<_>>() }),
    ))
}

async fn add_issuer(
    State(state): State<AppState>,
    caller: TenantCaller,
    bytes: Bytes,
) -> ApiResult<Response> {
    caller.require_owner()?;
    let input: NewIssuerInput = body(&bytes)?;
    let issuer = state
        .signing_requests
        .add_issuer(&caller.scope(), input)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(issuer_json(&issuer))).into_response())
}

async fn get_issuer(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let issuer = state.signing_requests.issuer(&caller.scope(), &id).await?;
    Ok(axum::Json(issuer_json(&issuer)))
}

async fn update_issuer(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult<axum::Json<Value>> {
    caller.require_owner()?;
    let patch: IssuerPatch = body(&bytes)?;
    let issuer = state
        .signing_requests
        .update_issuer(&caller.scope(), &id, patch)
        .await?;
    Ok(axum::Json(issuer_json(&issuer)))
}

async fn delete_issuer(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_owner()?;
    state
        .signing_requests
        .delete_issuer(&caller.scope(), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/requests/keys`: a JWKS with the key whose detached JWS every result carries.
async fn keys(State(state): State<AppState>) -> ApiResult<Response> {
    let identity = state
        .sigil_auth
        .identity()
        .ok_or_else(|| ApiError::unavailable("the server identity is not ready yet; retry"))?;
    let mut response = axum::Json(json!({ "keys": [identity.jwk()] })).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}

fn issuer_json(issuer: &Issuer) -> Value {
    json!({
        "id": issuer.uid,
        "issuer": issuer.issuer,
        "name": issuer.name,
        "origins": issuer.origins,
        "publicJwk": issuer.public_jwk,
        "keyId": issuer.key_id,
        "status": issuer.status,
        "addedAt": iso(issuer.added_at),
        "updatedAt": iso(issuer.updated_at),
    })
}

/// A request as its tenant sees it: state, trust, approvers, and once decided the result (the exact body the
/// callback receives, its signature, and for `redirect_uri` the URL to send the browser to).
fn request_json(request: &Approval) -> Value {
    let field = |name: &str| request.payload.get(name).cloned().unwrap_or(Value::Null);
    let status = match request.state {
        crate::store::ApprovalState::Pending => "pending",
        crate::store::ApprovalState::Approved => "approved",
        crate::store::ApprovalState::Rejected => "rejected",
        _ => "expired",
    };
    let body = request.payload.get("result_body").and_then(Value::as_str);
    let signature = request
        .payload
        .get("result_signature")
        .and_then(Value::as_str);
    let mut view = json!({
        "id": request.uid,
        "status": status,
        "type": field("type"),
        "nonce": field("nonce"),
        "app": field("app"),
        "trust_level": field("trust_level"),
        "issuer": field("issuer"),
        "algorithm": field("algorithm"),
        "identity": field("identity"),
        "approvers": field("approvers"),
        "approval_requests": field("children"),
        "callback": field("callback"),
        "redirect_uri": field("redirect_uri"),
        "created_at": iso(request.created_at),
        "expires_at": field("exp").as_i64().map(|exp| iso(exp * 1000)),
    });
    if let Some(decided_at) = request.decided_at {
        view["decided_at"] = json!(iso(decided_at));
    }
    if let Some(by) = &request.decided_by {
        view["decided_by"] = json!({ "actor": by.actor, "id": by.id, "reason": by.reason });
    }
    if let Some(body) = body {
        view["result"] = serde_json::from_str(body).unwrap_or(Value::Null);
        view["result_body"] = json!(body);
        view["result_signature"] = json!(signature);
        if let Some(redirect) = request.payload.get("redirect_uri").and_then(Value::as_str) {
            view["redirect_url"] = json!(redirect_url(redirect, body, signature));
        }
    }
    if let Some(endpoint) = request.payload.get("callback_endpoint") {
        view["callback_endpoint"] = endpoint.clone();
    }
    view
}

/// `<redirect_uri>?result=<base64url body>&signature=<detached JWS>` (joined with `&` when it has a query).
fn redirect_url(redirect: &str, body: &str, signature: Option<&str>) -> String {
    let (base, fragment) = match redirect.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (redirect, None),
    };
    let join = if base.contains('?') { '&' } else { '?' };
    let mut url = format!("{base}{join}result={}", B64URL.encode(body));
    if let Some(signature) = signature {
        url.push_str("&signature=");
        url.push_str(signature);
    }
    if let Some(fragment) = fragment {
        url.push('#');
        url.push_str(fragment);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_urls_keep_the_query_and_fragment() {
        assert_eq!(
            redirect_url("https://a.example/done", "{}", Some("h..s")),
            "https://a.example/done?result=e30&signature=h..s"
        );
        assert_eq!(
            redirect_url("https://a.example/done?x=1#top", "{}", None),
            "https://a.example/done?x=1&result=e30#top"
        );
    }
}
