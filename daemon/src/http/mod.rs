//! The axum front: shared state, the route table, and the middleware every request passes (request id, tracing,
//! metrics, panic catching, timeouts, body limits, per-IP limits on public routes, and JSON error bodies).

mod accounts;
mod claims;
pub mod connections;
mod directory;
pub mod extract;
mod form;
pub mod limits;
pub mod openapi;
mod operations;
mod seals;
mod sigil_auth;
pub mod sigilum;
mod signed;
mod signing_requests;
mod tenants;
mod timestamping;
pub mod webhooks;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

use crate::actors::Runtime;
use crate::actors::registry::TenantRegistry;
use crate::actors::tenant::TenantActor;
use crate::config::Config;
use crate::credentials::SessionKeys;
use crate::error::{ApiError, ErrorKind};
use crate::plugin_host::PluginHost;
use crate::store::ApiKey;
pub use limits::Limit;

/// What handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// The shared part of [`AppState`].
pub struct Inner {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) sessions: SessionKeys,
    pub(crate) registry: TenantRegistry,
    pub(crate) plugins: Addr<PluginHost>,
    pub(crate) metrics: PrometheusHandle,
    limiters: limits::Limiters,
    pub(crate) started: Instant,
    pub(crate) providers: crate::tsa::Providers,
    pub(crate) local_tsa: crate::tsa::local::LocalTsaCell,
    pub(crate) trust: crate::tsa::TrustCell,
    pub(crate) stamps: crate::app::timestamping::StampService,
    pub(crate) accounts: crate::app::accounts::AccountService,
    pub(crate) tenancy: crate::app::tenants::TenantService,
    pub(crate) seals: crate::app::seals::SealService,
    pub(crate) directory: crate::app::directory::DirectoryService,
    pub(crate) webhooks: crate::app::webhooks::WebhookService,
    pub(crate) approvals: crate::app::approvals::ApprovalEngine,
    pub(crate) claims: crate::app::claims::ClaimService,
    pub(crate) sigil_auth: crate::app::sigil_auth::SigilAuthService,
    pub(crate) signing_requests: crate::app::signing_requests::SigningRequestService,
    pub(crate) bound: std::net::SocketAddr,
    /// Agent certificates whose proof verified (see `http/signed.rs`).
    pub(crate) agent_certificates: sigil_httpsig::sigilum::CertificateCache,
}

/// Agent certificates remembered as verified, at most (a few MB at most; an agent's certificate is one entry).
const AGENT_CERTIFICATE_CACHE: usize = 16_384;

/// The approval parts of the state: the engine and the webhook outbox its events leave through.
pub struct ApprovalParts {
    /// The webhook outbox.
    pub webhooks: crate::app::webhooks::WebhookService,
    /// The approval engine.
    pub engine: crate::app::approvals::ApprovalEngine,
    /// The address the listener is bound to: the public base URL when `[approvals] public_base_url` is unset.
    pub bound: std::net::SocketAddr,
    /// The key that encrypts small secrets at rest (device push addresses).
    pub secrets: Arc<crate::secretbox::SecretBox>,
    /// Where the Sigil Auth server identity appears once the KMS made it.
    pub identity: crate::app::sigil_auth::IdentityCell,
}

/// The timestamping parts of the state.
#[derive(Clone)]
pub struct Timestamping {
    /// Active providers.
    pub providers: crate::tsa::Providers,
    /// The local TSA once ready.
    pub local_tsa: crate::tsa::local::LocalTsaCell,
    /// Trust for verification.
    pub trust: crate::tsa::TrustCell,
}

impl Timestamping {
    /// Brings trust and providers in line with a config; start-up and every reload go through here.
    pub fn apply(&self, config: &Config, plugins: &Addr<PluginHost>) {
        let local_anchors = self
            .local_tsa
            .get()
            .map(|tsa| tsa.anchors.clone())
            .unwrap_or_default();
        self.trust.rebuild(config, &local_anchors);
        self.providers
            .apply(config, plugins, &self.local_tsa, &self.trust);
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl AppState {
    /// State over a running runtime and registry.
    pub fn new(
        runtime: Arc<Runtime>,
        sessions: SessionKeys,
        registry: TenantRegistry,
        plugins: Addr<PluginHost>,
        metrics: PrometheusHandle,
        timestamping: Timestamping,
        approval_parts: ApprovalParts,
    ) -> Self {
        let ApprovalParts {
            webhooks,
            engine: approvals,
            bound,
            secrets,
            identity,
        } = approval_parts;
        let (generation, config) = runtime.settings();
        let limiters = limits::Limiters::new(generation, &config);
        let sigil_auth = crate::app::sigil_auth::SigilAuthService::new(
            approvals.clone(),
            runtime.clone(),
            secrets,
            identity,
            plugins.clone(),
        );
        let Timestamping {
            providers,
            local_tsa,
            trust,
        } = timestamping;
        let stamps = crate::app::timestamping::StampService::new(
            runtime.clone(),
            registry.clone(),
            providers.clone(),
        );
        let seals = crate::app::seals::SealService::new(
            runtime.clone(),
            plugins.clone(),
            stamps.clone(),
            crate::app::seal_platform::PlatformSealCell::default(),
            trust.clone(),
            local_tsa.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                seals,
                directory: crate::app::directory::DirectoryService::new(runtime.clone()),
                claims: crate::app::claims::ClaimService::new(approvals.clone(), runtime.clone()),
                signing_requests: crate::app::signing_requests::SigningRequestService::new(
                    approvals.clone(),
                    runtime.clone(),
                    sigil_auth.clone(),
                    webhooks.clone(),
                    crate::kms::KmsClients::new(plugins.clone()),
                ),
                sigil_auth,
                approvals,
                bound,
                agent_certificates: sigil_httpsig::sigilum::CertificateCache::new(
                    AGENT_CERTIFICATE_CACHE,
                ),
                webhooks,
                accounts: crate::app::accounts::AccountService::new(
                    runtime.clone(),
                    sessions.clone(),
                ),
                tenancy: crate::app::tenants::TenantService::new(runtime.clone(), registry.clone()),
                stamps,
                runtime,
                sessions,
                registry,
                plugins,
                metrics,
                limiters,
                started: Instant::now(),
                providers,
                local_tsa,
                trust,
            }),
        }
    }

    /// The current settings.
    pub fn config(&self) -> Arc<Config> {
        self.runtime.settings().1
    }

    /// The tenant's actor, started if needed.
    pub async fn tenant_actor(&self, tenant: &str) -> Result<Addr<TenantActor>, ApiError> {
        Ok(self.registry.lookup(tenant))
    }

    /// Counts a request against `limit` for `key` (a user id, an API key id, a tenant and user).
    pub fn admit(&self, limit: Limit, key: String) -> Result<(), ApiError> {
        self.limiters.with(self.runtime.settings(), |limiters| {
            limiters.check(limit, key)
        })
    }

    /// Forgets rate-limit buckets that are full again, so that the state stays bounded. Called periodically.
    pub fn sweep_limiters(&self) {
        self.limiters.sweep();
    }

    /// How many rate-limit buckets the limiters hold (for metrics and tests).
    pub fn limiter_buckets(&self) -> usize {
        self.limiters.buckets()
    }

    /// Counts a request against a per-client-IP limit.
    pub fn admit_ip(
        &self,
        parts: &axum::http::request::Parts,
        limit: Limit,
    ) -> Result<(), ApiError> {
        let settings = self.runtime.settings();
        let trust_forwarded_for = settings.1.server.trust_forwarded_for;
        self.limiters.with(settings, |limiters| {
            let ip = extract::client_ip(parts, trust_forwarded_for, &limiters.trusted_proxies);
            limiters.check(limit, format!("ip:{ip}"))
        })
    }

    /// Records API key use without delaying the request; the timestamp has minute precision to spare writes.
    pub fn note_api_key_use(&self, key: &ApiKey) {
        let stale = key
            .last_used_at
            .as_deref()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .is_none_or(|at| {
                chrono::Utc::now().signed_duration_since(at) > chrono::Duration::seconds(60)
            });
        if stale {
            let touch = self.runtime.store.touch_api_key(&key.uid);
            let uid = key.uid.clone();
            tokio::spawn(async move {
                if let Err(error) = touch.await {
                    tracing::warn!(key = %uid, error = %error, "could not record API key use");
                }
            });
        }
    }
}

/// The whole route table with its middleware.
pub fn router(state: AppState) -> Router {
    let config = state.config();
    let public = Router::new()
        .route("/auth/register", axum::routing::post(accounts::register))
        .route("/auth/login", axum::routing::post(accounts::login))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            limit_anonymous,
        ));
    // `POST /tsr` with an API key counts against that key's budget (the extractor admits it); without one, against
    // the client address like any anonymous request.
    let tsr = timestamping::tsr_route()
        .route_layer(middleware::from_fn_with_state(state.clone(), limit_tsr));
    let verification = timestamping::public_routes()
        .merge(seals::public_routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            limit_verification,
        ));
    let authenticated = Router::new()
        .route("/auth/refresh", axum::routing::post(accounts::refresh))
        .route("/auth/logout", axum::routing::post(accounts::logout))
        .route(
            "/auth/password",
            axum::routing::post(accounts::change_password),
        )
        .route("/auth/me", axum::routing::get(accounts::me))
        .merge(tenants::routes())
        .merge(timestamping::routes())
        .merge(seals::routes())
        .merge(directory::routes())
        .merge(claims::routes())
        .merge(signing_requests::routes())
        .route(
            "/api/admin/health",
            axum::routing::get(operations::admin_health),
        )
        .route("/api/plugins", axum::routing::get(operations::list_plugins))
        .route(
            "/api/plugins/{name}/probe",
            axum::routing::post(operations::probe_plugin),
        );
    let mut app = Router::new()
        .merge(public)
        .merge(tsr)
        .merge(verification)
        .merge(authenticated)
        .merge(directory::public_routes())
        .merge(claims::public_routes())
        .merge(sigil_auth::routes())
        .merge(signing_requests::public_routes())
        .route("/healthz", axum::routing::get(operations::healthz))
        .route("/readyz", axum::routing::get(operations::readyz))
        .route("/metrics", axum::routing::get(operations::metrics))
        .route("/openapi.json", axum::routing::get(openapi::serve));
    if config.testing.fault_injection {
        app = app.route(
            "/_test/panic",
            axum::routing::post(operations::inject_panic),
        );
    }
    let request_id = HeaderName::from_static("x-request-id");
    let request_timeout = config.server.request_timeout;
    app.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        // Layers run bottom-up for requests: the id is set first, so every log line and error body carries it.
        // The panic catcher sits inside the error normaliser, so a panic's 500 also carries the request id.
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(refuse_encodings))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(record_metrics))
        .layer(middleware::from_fn(move |request, next| with_timeout(request_timeout, request, next)))
        .layer(DefaultBodyLimit::max(config.server.max_body_bytes))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok());
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), id = id.unwrap_or("-"))
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorKind::MethodNotAllowed,
        "method not allowed on this endpoint",
    )
}

fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    metrics::counter!("sigil_handler_panics_total").increment(1);
    ApiError::new(
        ErrorKind::Internal,
        "internal error; see the daemon log for this request id",
    )
    .into_response()
}

async fn with_timeout(limit: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::unavailable(format!("request timed out after {}s", limit.as_secs_f64()))
                .with_details(serde_json::json!({ "reason": "timeout" }))
                .into_response()
        }
    }
}

async fn limit_by_ip(limit: Limit, state: AppState, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(error) = state.admit_ip(&parts, limit) {
        return error.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

async fn limit_anonymous(State(state): State<AppState>, request: Request, next: Next) -> Response {
    limit_by_ip(Limit::Anonymous, state, request, next).await
}

async fn limit_tsr(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request
        .headers()
        .contains_key(axum::http::header::AUTHORIZATION)
    {
        return next.run(request).await;
    }
    limit_by_ip(Limit::Anonymous, state, request, next).await
}

async fn limit_verification(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    limit_by_ip(Limit::Verification, state, request, next).await
}

/// Refuses bodies this server does not decode, rather than reading them as if they were plain: a
/// `Content-Encoding` other than `identity` (415), or a `Transfer-Encoding` other than `chunked` (400).
async fn refuse_encodings(request: Request, next: Next) -> Response {
    if let Some(error) = head_size_error(&request).or_else(|| encoding_error(request.headers())) {
        return error.into_response();
    }
    next.run(request).await
}

/// Longest request target (path and query) served; nginx's default buffer for it is 8 KiB too.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most request headers served. The connection's parser accepts more (see `connections.rs`), so that a request
/// over this limit still gets an answer in the API's error shape.
pub const MAX_HEADERS: usize = 100;
/// Largest total size of the request headers served (names, values and separators).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// 414 or 431 in the API's error shape for a request head over our limits.
fn head_size_error(request: &Request) -> Option<ApiError> {
    let uri = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if uri > MAX_URI_BYTES {
        return Some(
            ApiError::new(
                ErrorKind::UriTooLong,
                format!("the request target is longer than {MAX_URI_BYTES} bytes"),
            )
            .with_details(serde_json::json!({ "limit": MAX_URI_BYTES })),
        );
    }
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Some(
            ApiError::new(
                ErrorKind::HeadersTooLarge,
                format!(
                    "request headers over the limit ({MAX_HEADERS} headers, {MAX_HEADER_BYTES} bytes)"
                ),
            )
            .with_details(serde_json::json!({ "maxHeaders": MAX_HEADERS, "maxHeaderBytes": MAX_HEADER_BYTES })),
        );
    }
    None
}

fn encoding_error(headers: &axum::http::HeaderMap) -> Option<ApiError> {
    let tokens = |name: header::HeaderName| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .flat_map(|v| {
                v.to_str()
                    .unwrap_or("\u{0}")
                    .split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .collect::<Vec<_>>()
            })
            .filter(|t| !t.is_empty())
            .collect()
    };
    if tokens(header::CONTENT_ENCODING)
        .iter()
        .any(|t| t != "identity")
    {
        return Some(
            ApiError::new(
                ErrorKind::UnsupportedMediaType,
                "request bodies must not be compressed (`Content-Encoding` other than identity)",
            )
            .with_details(serde_json::json!({ "field": "Content-Encoding" })),
        );
    }
    if tokens(header::TRANSFER_ENCODING)
        .iter()
        .any(|t| t != "chunked")
    {
        return Some(ApiError::invalid_field(
            "Transfer-Encoding",
            "only `chunked` is accepted",
        ));
    }
    None
}

async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    // The matched route template keeps label values bounded; unmatched paths share one label.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("sigil_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("sigil_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Guarantees the error shape for responses produced outside our handlers (layers, extractors of other crates),
/// and adds the request id to every error body.
async fn json_errors(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // A body in a JSON-based format of its own (the DID resolution result's `application/ld+json`) is the
    // handler's deliberate answer, which its clients parse: it stays as it is.
    let own_json_format = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().to_ascii_lowercase().ends_with("+json"));
    if own_json_format {
        return response;
    }
    let is_json = extract::has_media_type(response.headers(), "application/json");
    let (mut parts, body) = response.into_parts();
    let mut error_body = if is_json {
        match axum::body::to_bytes(body, 64 * 1024)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
        {
            Some(value) => value,
            None => fallback_error(status),
        }
    } else {
        fallback_error(status)
    };
    if let (Some(id), Some(details)) = (
        request_id,
        error_body
            .get_mut("details")
            .and_then(|d| d.as_object_mut()),
    ) {
        details.insert("requestId".into(), serde_json::Value::String(id));
    }
    let bytes = serde_json::to_vec(&error_body).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    Response::from_parts(parts, Body::from(bytes))
}

fn fallback_error(status: StatusCode) -> serde_json::Value {
    let kind = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::PayloadTooLarge,
        StatusCode::UNAUTHORIZED => ErrorKind::Unauthorized,
        StatusCode::FORBIDDEN => ErrorKind::Forbidden,
        StatusCode::NOT_FOUND => ErrorKind::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorKind::MethodNotAllowed,
        StatusCode::CONFLICT => ErrorKind::Conflict,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorKind::UnsupportedMediaType,
        StatusCode::URI_TOO_LONG => ErrorKind::UriTooLong,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ErrorKind::HeadersTooLarge,
        StatusCode::TOO_MANY_REQUESTS => ErrorKind::RateLimited {
            retry_after_secs: 1,
        },
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => ErrorKind::Unavailable,
        StatusCode::BAD_GATEWAY => ErrorKind::BadGateway,
        status if status.is_server_error() => ErrorKind::Internal,
        _ => ErrorKind::InvalidRequest,
    };
    let message = status.canonical_reason().unwrap_or("error").to_string();
    ApiError::new(kind, message).body()
}
