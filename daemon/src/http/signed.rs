//! Sigilum signed-header authentication (RFC 9421 with the Sigilum profile, checked by `sigil-httpsig`) and
//! service API keys, for the agent-authorization routes. The target URI a signature covers is rebuilt from
//! `[approvals] public_base_url` and the request's path and query, never from the client's `Host` header.
//! A nonce is remembered in the store (shared by nodes, kept across restarts) only after the signature and the
//! route's bindings passed, so a refused request cannot burn an agent's nonce.

use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use serde_json::json;
use sigil_httpsig::Message;
use sigil_httpsig::sigilum::{self, SigilumError, VerifiedAgent};

use super::AppState;
use super::limits::Limit;
use crate::error::{ApiError, ErrorKind};
use crate::store::{ServiceKeyRecord, now_ms};

/// What a route binds a signature to: the namespace it must be signed for, and optionally the agent key.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// Expected namespace (URL-decoded and compared exactly).
    pub namespace: Option<&'a str>,
    /// Expected agent key, `ed25519:<base64>`.
    pub public_key: Option<&'a str>,
}

impl Binding<'_> {
    /// No route binding (the signature must still be valid).
    pub const NONE: Binding<'static> = Binding {
        namespace: None,
        public_key: None,
    };
}

/// The API error of a refused signature: the profile's status and code.
pub fn signature_error(error: SigilumError) -> ApiError {
    let kind = match error.status() {
        403 => ErrorKind::Forbidden,
        409 => ErrorKind::Conflict,
        _ => ErrorKind::Unauthorized,
    };
    ApiError::new(kind, error.to_string()).with_code(error.code())
}

/// The base URL clients reach this daemon at (`[approvals] public_base_url`, else `http://` + the address
/// the listener is bound to), without a trailing slash.
pub fn public_base(state: &AppState) -> String {
    let config = state.config();
    config
        .approvals
        .public_base_url
        .as_deref()
        .and_then(crate::config::public_base)
        .map(str::to_string)
        .unwrap_or_else(|| format!("http://{}", state.bound))
}

/// The absolute URI a client signed: the public base plus the request's path and query.
pub fn target_uri(state: &AppState, parts: &Parts) -> String {
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    format!("{}{path}", public_base(state))
}

/// Verifies the signed headers of a request with its exact body, checks the route's binding, and records the
/// nonce (409 `SIGNATURE_NONCE_REPLAY` for a replay within `[approvals] nonce_ttl`).
pub async fn authenticate_agent(
    state: &AppState,
    parts: &Parts,
    body: &[u8],
    binding: Binding<'_>,
) -> Result<VerifiedAgent, ApiError> {
    let config = state.config();
    let target = target_uri(state, parts);
    let headers = header_pairs(&parts.headers);
    let borrowed: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    // Sigilum ignores a GET or HEAD body; the profile then expects no content-digest.
    let body = (parts.method != Method::GET && parts.method != Method::HEAD).then_some(body);
    let message = Message {
        method: parts.method.as_str(),
        target_uri: &target,
        headers: &borrowed,
        body,
    };
    let policy = sigilum::Policy {
        max_age_secs: config.approvals.signature_max_age.as_secs(),
        future_skew_secs: config.approvals.signature_clock_skew.as_secs(),
        ..sigilum::Policy::default()
    };
    let now = chrono::Utc::now().timestamp();
    // A repeated certificate's proof is not verified again: one Ed25519 verification per request, not two.
    let agent = match sigilum::verify_sigilum_cached(
        &message,
        &policy,
        now,
        Some(&state.agent_certificates),
    ) {
        Ok(agent) => agent,
        Err(error) => {
            metrics::counter!("sigil_signed_requests_total", "outcome" => error.code())
                .increment(1);
            // Failed signatures count against the client address's unauthenticated budget, like bad keys.
            state.admit_ip(parts, Limit::Anonymous)?;
            return Err(signature_error(error));
        }
    };
    if let Some(namespace) = binding.namespace {
        agent.check_namespace(namespace).map_err(signature_error)?;
    }
    if let Some(public_key) = binding.public_key {
        agent
            .check_public_key(public_key)
            .map_err(signature_error)?;
    }
    let expires = now_ms() + config.approvals.nonce_ttl.as_millis() as i64;
    let fresh = state
        .runtime
        .store
        .record_nonce(&format!("sig:{}", agent.namespace), &agent.nonce, expires)
        .await
        .map_err(|error| {
            tracing::error!(%error, "nonce store unavailable");
            ApiError::unavailable("the nonce store is unavailable; retry")
                .with_code("NONCE_STORE_UNAVAILABLE")
        })?;
    if !fresh {
        return Err(signature_error(SigilumError::NonceReplay));
    }
    metrics::counter!("sigil_signed_requests_total", "outcome" => "accepted").increment(1);
    Ok(agent)
}

/// Header fields as text; a field that is not visible ASCII/UTF-8 is kept out (a signature covering it then
/// fails as a missing component, which is the honest outcome).
fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|value| (name.as_str().to_string(), value.to_string()))
        })
        .collect()
}

/// The service behind `Authorization: Bearer sk_live_…`: 401 `UNAUTHORIZED` without a valid active key.
/// Counts against the key's per-minute budget (`[limits] api_key_per_minute`).
pub async fn authenticate_service(
    state: &AppState,
    parts: &Parts,
) -> Result<ServiceKeyRecord, ApiError> {
    let token = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        state.admit_ip(parts, Limit::Anonymous)?;
        return Err(ApiError::unauthorized(
            "missing `Authorization: Bearer <service API key>` header",
        ));
    };
    match state.directory.authenticate_service_key(token).await? {
        Some(record) => {
            state.admit(Limit::ApiKey, format!("svc:{}", record.key.uid))?;
            Ok(record)
        }
        None => {
            state.admit_ip(parts, Limit::Anonymous)?;
            Err(ApiError::unauthorized("invalid or revoked service API key")
                .with_details(json!({})))
        }
    }
}
