//! Outbound webhooks: the endpoints an owner (e.g. `service:<uid>`) registers, the deliveries it can inspect and
//! redeliver, and the dispatcher that delivers the outbox (`dispatch.rs`), shared by every approval surface.
//!
//! **Invariants:** an event is written in the same transaction as the change that causes it
//! ([`crate::store::NewOutboxEvent::create_statement`]); delivery is at least once, with the event id as the
//! stable `webhook-id` receivers deduplicate on; endpoint secrets and auth header values are encrypted at rest
//! ([`crate::secretbox`]) and never appear in a view or a log; a delivery connects only to an address the
//! `[webhooks]` policy admits, checked after resolution, follows no redirect and uses no proxy.

pub mod dispatch;
pub mod signing;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Notify;

use crate::actors::Runtime;
use crate::ids::TenantScope;
use crate::secretbox::SecretBox;
use crate::store::{
    EndpointCreation, NewWebhookEndpoint, StoreError, WebhookAttempt, WebhookDelivery,
    WebhookEndpoint, Window,
};

/// Active endpoints one owner may have.
pub const MAX_ACTIVE_ENDPOINTS: usize = 5;
/// Shortest endpoint secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;
const MAX_SECRET_BYTES: usize = 512;
const MAX_URL_BYTES: usize = 2048;
const MAX_AUTH_VALUE_BYTES: usize = 4096;
/// Headers a custom auth header may not replace.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "user-agent",
];

/// Which API surface an endpoint belongs to: decides the extra headers of its deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The Sigilum API: Standard Webhooks headers plus `X-Sigilum-*`.
    Sigilum,
    /// The Sigil Auth surface (`X-Sigil-Timestamp`, `X-Sigil-Signature: v1,<hex>` besides Standard Webhooks).
    SigilAuth,
    /// Standard Webhooks headers only.
    Standard,
    /// A signing request's result to the app's callback (seed 003): the body as the app expects it, with the
    /// daemon's detached JWS in `Sigil-Signature` instead of a shared-secret signature.
    Connect,
}

impl Surface {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Sigilum => "sigilum",
            Surface::SigilAuth => "sigil_auth",
            Surface::Standard => "standard",
            Surface::Connect => "connect",
        }
    }

    fn parse(text: &str) -> Surface {
        match text {
            "sigilum" => Surface::Sigilum,
            "sigil_auth" => Surface::SigilAuth,
            "connect" => Surface::Connect,
            _ => Surface::Standard,
        }
    }
}

/// What an owner asks for when registering an endpoint. `Debug` redacts the secrets.
#[derive(Clone, Default, serde::Deserialize)]
pub struct NewEndpointInput {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Topics; empty means every allowed topic.
    #[serde(default)]
    pub events: Vec<String>,
    /// The signing secret, at least 16 bytes (`whsec_` + base64 for a Standard Webhooks key).
    pub secret: crate::secret::Secret<String>,
    /// A header sent with every delivery, e.g. `Authorization`.
    #[serde(default)]
    pub auth_header: Option<String>,
    /// Its value.
    #[serde(default)]
    pub auth_value: Option<crate::secret::Secret<String>>,
}

impl std::fmt::Debug for NewEndpointInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewEndpointInput")
            .field("url", &self.url)
            .field("events", &self.events)
            .field("auth_header", &self.auth_header)
            .finish_non_exhaustive()
    }
}

/// An endpoint as its owner sees it: never the secret.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EndpointView {
    /// `wh_` + 16 hex.
    pub id: String,
    /// URL.
    pub url: String,
    /// Topics.
    pub events: Vec<String>,
    /// False once deleted.
    pub active: bool,
    /// RFC 3339.
    pub created_at: String,
    /// `sigilum`, `sigil_auth` or `standard`.
    pub surface: String,
    /// The custom header's name, if any (never its value).
    pub auth_header: Option<String>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttemptView {
    /// RFC 3339.
    pub at: String,
    /// HTTP status, when an answer came.
    pub status: Option<i64>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Duration.
    pub duration_ms: i64,
}

/// A delivery as its owner sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeliveryView {
    /// `dlv_` + 32 hex.
    pub id: String,
    /// The event id (the `webhook-id` header).
    pub event_id: String,
    /// The topic.
    pub event: String,
    /// `pending`, `delivering`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// RFC 3339, while pending.
    pub next_attempt_at: Option<String>,
    /// The last HTTP status.
    pub last_status: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<AttemptView>,
}

/// Why a webhook request failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// A field is invalid (`VALIDATION_ERROR`).
    #[error("{field}: {message}")]
    Validation {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The URL is not an http(s) URL deliveries may reach (`INVALID_WEBHOOK_URL`).
    #[error("{0}")]
    InvalidUrl(String),
    /// The owner has the maximum number of active endpoints (`WEBHOOK_LIMIT_REACHED`).
    #[error("at most {MAX_ACTIVE_ENDPOINTS} active webhooks per owner")]
    LimitReached,
    /// No such endpoint or delivery for this owner.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> WebhookError {
    WebhookError::Validation {
        field,
        message: message.into(),
    }
}

/// Endpoint registration, delivery inspection and the dispatcher's wake-up. Cheap to clone.
#[derive(Clone)]
pub struct WebhookService {
    runtime: Arc<Runtime>,
    secrets: Arc<SecretBox>,
    notify: Arc<Notify>,
}

impl WebhookService {
    /// A service over the runtime's store and settings, sealing secrets with `secrets`.
    pub fn new(runtime: Arc<Runtime>, secrets: Arc<SecretBox>) -> Self {
        Self {
            runtime,
            secrets,
            notify: Arc::new(Notify::new()),
        }
    }

    /// The dispatcher's wake-up: poke it (`notify_one`) after committing events so they go out before the next
    /// poll.
    pub fn notify(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    /// Starts the dispatcher loop on the current runtime, claiming deliveries as `node`.
    pub fn spawn_dispatcher(&self, node: String) -> tokio::task::JoinHandle<()> {
        tokio::spawn(dispatch::run(self.clone(), node))
    }

    /// A random node id for this process, until the daemon has its own.
    pub fn random_node_id() -> String {
        format!("node-{}", uuid::Uuid::new_v4().simple())
    }

    /// Registers an endpoint for `owner`. Validates the URL (http(s), no credentials, a literal address must be
    /// one the policy admits), the secret (at least 16 bytes; `whsec_` + base64 when prefixed), the topics (a
    /// non-empty subset of `allowed_events`; none given means all) and the per-owner limit.
    pub async fn create_endpoint(
        &self,
        scope: &TenantScope,
        owner: &str,
        surface: Surface,
        input: NewEndpointInput,
        allowed_events: &[&str],
    ) -> Result<EndpointView, WebhookError> {
        let config = self.runtime.settings().1;
        let url = validate_url(&input.url, &config.webhooks.address_policy())?;
        let secret = input.secret.expose();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(invalid(
                "secret",
                format!("must be at least {MIN_SECRET_BYTES} bytes"),
            ));
        }
        if secret.len() > MAX_SECRET_BYTES {
            return Err(invalid(
                "secret",
                format!("must be at most {MAX_SECRET_BYTES} bytes"),
            ));
        }
        if signing::standard_key(secret).is_none() {
            return Err(invalid(
                "secret",
                "a secret starting with whsec_ must continue with base64",
            ));
        }
        let events = validate_events(&input.events, allowed_events)?;
        let auth = validate_auth(input.auth_header.as_deref(), input.auth_value.as_ref())?;
        // Each surface's id format: Sigilum's `wh_` + 16 hex, Sigil Auth's `whk_<uuid>`.
        let uid = match surface {
            Surface::SigilAuth => format!("whk_{}", uuid::Uuid::new_v4()),
            _ => format!("wh_{}", hex::encode(rand::random::<[u8; 8]>())),
        };
        let new = NewWebhookEndpoint {
            secret_enc: self.secrets.seal_str(secret, &secret_context(&uid)),
            auth_value_enc: auth
                .as_ref()
                .map(|(_, value)| self.secrets.seal_str(value, &auth_context(&uid))),
            auth_header: auth.map(|(name, _)| name),
            uid,
            owner: owner.to_string(),
            surface: surface.as_str().to_string(),
            url,
            events,
        };
        match self
            .runtime
            .store
            .create_webhook_endpoint(scope, &new, MAX_ACTIVE_ENDPOINTS)
            .await?
        {
            EndpointCreation::Created(endpoint) => Ok(endpoint_view(&endpoint)),
            EndpointCreation::LimitReached => Err(WebhookError::LimitReached),
        }
    }

    /// The owner's active endpoints.
    pub async fn list_endpoints(
        &self,
        scope: &TenantScope,
        owner: &str,
    ) -> Result<Vec<EndpointView>, WebhookError> {
        let endpoints = self.runtime.store.webhook_endpoints(scope, owner).await?;
        Ok(endpoints.iter().map(endpoint_view).collect())
    }

    /// Deletes (deactivates) an endpoint; its pending deliveries stop.
    pub async fn delete_endpoint(
        &self,
        scope: &TenantScope,
        owner: &str,
        endpoint_id: &str,
    ) -> Result<(), WebhookError> {
        if self
            .runtime
            .store
            .deactivate_webhook_endpoint(scope, owner, endpoint_id)
            .await?
        {
            Ok(())
        } else {
            Err(WebhookError::NotFound("webhook"))
        }
    }

    /// Deliveries to one of the owner's endpoints, newest first, each with its attempts, and the total.
    pub async fn deliveries(
        &self,
        scope: &TenantScope,
        owner: &str,
        endpoint_id: &str,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<DeliveryView>, u64), WebhookError> {
        let store = &self.runtime.store;
        if store
            .webhook_endpoint(scope, owner, endpoint_id)
            .await?
            .is_none()
        {
            return Err(WebhookError::NotFound("webhook"));
        }
        let window = Window {
            offset,
            limit: limit.clamp(1, 100),
        };
        let (deliveries, total) = store
            .webhook_deliveries(scope, owner, endpoint_id, window)
            .await?;
        let ids: Vec<String> = deliveries.iter().map(|d| d.uid.clone()).collect();
        let attempts = store.webhook_attempts(scope, &ids).await?;
        let views = deliveries
            .iter()
            .map(|delivery| delivery_view(delivery, &attempts))
            .collect();
        Ok((views, total))
    }

    /// Queues one delivery again now (state pending, attempts kept; the next attempt is recorded like any
    /// other). The endpoint must still be active.
    pub async fn redeliver(
        &self,
        scope: &TenantScope,
        owner: &str,
        endpoint_id: &str,
        delivery_id: &str,
    ) -> Result<DeliveryView, WebhookError> {
        let store = &self.runtime.store;
        match store.webhook_endpoint(scope, owner, endpoint_id).await? {
            Some(endpoint) if endpoint.active => {}
            _ => return Err(WebhookError::NotFound("webhook")),
        }
        let delivery = store
            .redeliver_webhook_delivery(
                scope,
                owner,
                endpoint_id,
                delivery_id,
                crate::store::now_ms(),
            )
            .await?
            .ok_or(WebhookError::NotFound("delivery"))?;
        self.notify.notify_one();
        let attempts = store
            .webhook_attempts(scope, std::slice::from_ref(&delivery.uid))
            .await?;
        Ok(delivery_view(&delivery, &attempts))
    }
}

/// The AAD of an endpoint's sealed secret.
fn secret_context(endpoint: &str) -> String {
    format!("webhook_endpoint:{endpoint}:secret")
}

/// The AAD of an endpoint's sealed auth header value.
fn auth_context(endpoint: &str) -> String {
    format!("webhook_endpoint:{endpoint}:auth_value")
}

/// Checks a webhook URL: http(s), a host, no credentials, and a literal address (including the numeric forms
/// the C resolver reads) the policy admits. Names are checked again after resolution at every delivery.
pub fn validate_url(
    url: &str,
    policy: &sigil_netpolicy::AddressPolicy,
) -> Result<String, WebhookError> {
    let bad = |reason: &str| WebhookError::InvalidUrl(format!("url: {reason}"));
    let url = url.trim();
    if url.len() > MAX_URL_BYTES {
        return Err(bad("is too long"));
    }
    let uri: http::Uri = url.parse().map_err(|_| bad("is not a valid URL"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(bad("must start with http:// or https://")),
    }
    let authority = uri.authority().ok_or_else(|| bad("must name a host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("must not contain credentials"));
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(bad("must name a host"));
    }
    if let Some(address) = sigil_netpolicy::host_address(host)
        && let Err(refused) = policy.check(address)
    {
        return Err(WebhookError::InvalidUrl(format!(
            "url: {refused}; deliveries go to public addresses only unless [webhooks] allow_private_networks admits it"
        )));
    }
    Ok(url.to_string())
}

fn validate_events(requested: &[String], allowed: &[&str]) -> Result<Vec<String>, WebhookError> {
    if requested.is_empty() {
        if allowed.is_empty() {
            return Err(invalid("events", "no event can be subscribed to here"));
        }
        return Ok(allowed.iter().map(|e| e.to_string()).collect());
    }
    let mut events: Vec<String> = Vec::new();
    for event in requested {
        if !allowed.contains(&event.as_str()) {
            return Err(invalid(
                "events",
                format!("unknown event; allowed: {}", allowed.join(", ")),
            ));
        }
        if !events.contains(event) {
            events.push(event.clone());
        }
    }
    Ok(events)
}

fn validate_auth(
    header: Option<&str>,
    value: Option<&crate::secret::Secret<String>>,
) -> Result<Option<(String, String)>, WebhookError> {
    let (header, value) = match (header.filter(|h| !h.is_empty()), value) {
        (None, None) => return Ok(None),
        (Some(header), Some(value)) => (header, value.expose()),
        (None, Some(_)) => return Err(invalid("auth_header", "is required with auth_value")),
        (Some(_), None) => return Err(invalid("auth_value", "is required with auth_header")),
    };
    let name = http::HeaderName::from_bytes(header.as_bytes())
        .map_err(|_| invalid("auth_header", "is not a valid header name"))?;
    let lower = name.as_str();
    if RESERVED_HEADERS.contains(&lower)
        || lower.starts_with("webhook-")
        || lower.starts_with("x-sigilum-")
    {
        return Err(invalid(
            "auth_header",
            "names a header the delivery sets itself",
        ));
    }
    if value.is_empty()
        || value.len() > MAX_AUTH_VALUE_BYTES
        || !value
            .bytes()
            .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
    {
        return Err(invalid(
            "auth_value",
            format!("must be 1 to {MAX_AUTH_VALUE_BYTES} visible ASCII characters"),
        ));
    }
    Ok(Some((header.to_string(), value.clone())))
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn endpoint_view(endpoint: &WebhookEndpoint) -> EndpointView {
    EndpointView {
        id: endpoint.uid.clone(),
        url: endpoint.url.clone(),
        events: endpoint.events.clone(),
        active: endpoint.active,
        created_at: rfc3339(endpoint.created_at),
        surface: endpoint.surface.clone(),
        auth_header: endpoint.auth_header.clone(),
    }
}

fn delivery_view(delivery: &WebhookDelivery, attempts: &[WebhookAttempt]) -> DeliveryView {
    DeliveryView {
        id: delivery.uid.clone(),
        event_id: delivery.event.clone(),
        event: delivery.topic.clone(),
        state: delivery.state.clone(),
        attempts: delivery.attempts,
        next_attempt_at: (delivery.state == "pending").then(|| rfc3339(delivery.next_attempt_at)),
        last_status: delivery.last_status,
        last_error: delivery.last_error.clone(),
        created_at: rfc3339(delivery.created_at),
        attempt_log: attempts
            .iter()
            .filter(|attempt| attempt.delivery == delivery.uid)
            .map(|attempt| AttemptView {
                at: rfc3339(attempt.at),
                status: attempt.status,
                error: attempt.error.clone(),
                duration_ms: attempt.duration_ms,
            })
            .collect(),
    }
}
