//! Request extractors that fail with the API's error shape: JSON bodies and query strings (naming the bad field),
//! the caller's credentials, and both pagination styles of the seeds.

use std::net::SocketAddr;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{AppState, Limit};
use crate::actors::ActorError;
use crate::actors::tenant::RoleOf;
use crate::credentials;
use crate::error::{ApiError, ErrorKind};
use crate::ids::{ApiKeyId, TenantId, UserId};
use crate::store::{Role, Session};

/// A JSON body; malformed JSON, a wrong content type, or a missing/mistyped field gets 400 `INVALID_REQUEST`.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        read_json(request, state, None).await.map(Json)
    }
}

/// A JSON body that may be absent: an empty body is `T::default()`; a present one must be JSON with
/// `Content-Type: application/json`, like any other body.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        read_json(request, state, Some(T::default))
            .await
            .map(OptionalJson)
    }
}

impl<T: Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// Reads a JSON body with the API's errors: 415 without `Content-Type: application/json`, 413 over the body
/// limit, 400 naming the field for a missing or mistyped one. With `empty`, a blank body is that value.
async fn read_json<T: DeserializeOwned, S: Send + Sync>(
    request: Request,
    state: &S,
    empty: Option<fn() -> T>,
) -> Result<T, ApiError> {
    let is_json = has_media_type(request.headers(), "application/json");
    let not_json = || {
        ApiError::new(
            ErrorKind::UnsupportedMediaType,
            "expected `Content-Type: application/json`",
        )
    };
    // A required body is refused for its content type before it is read.
    if !is_json && empty.is_none() {
        return Err(not_json());
    }
    let body = axum::body::Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorKind::PayloadTooLarge, "request body too large")
            } else {
                ApiError::new(ErrorKind::InvalidRequest, rejection.body_text())
            }
        })?;
    if let Some(empty) = empty
        && body.iter().all(u8::is_ascii_whitespace)
    {
        return Ok(empty());
    }
    if !is_json {
        return Err(not_json());
    }
    let mut deserializer = serde_json::Deserializer::from_slice(&body);
    let value = serde_path_to_error::deserialize::<_, T>(&mut deserializer).map_err(|error| {
        if error.inner().is_data() {
            // serde_path_to_error formats as "path: message"; keep both parts for the client.
            let detail = error.to_string();
            let (field, reason) = split_field(&detail);
            ApiError::new(
                ErrorKind::InvalidRequest,
                format!("invalid request body: {detail}"),
            )
            .with_details(json!({ "field": field, "reason": reason }))
        } else {
            ApiError::new(ErrorKind::InvalidRequest, "request body is not valid JSON")
                .with_details(json!({ "reason": error.inner().to_string() }))
        }
    })?;
    // Nothing may follow the value.
    deserializer.end().map_err(|error| {
        ApiError::new(ErrorKind::InvalidRequest, "request body is not valid JSON")
            .with_details(json!({ "reason": error.to_string() }))
    })?;
    Ok(value)
}

/// Splits serde_path_to_error's "path: message" ("email: invalid type ...") into the field and the reason; a
/// top-level message ("missing field `email` ...") names the field in backticks.
fn split_field(detail: &str) -> (Value, String) {
    if let Some((path, reason)) = detail.split_once(": ")
        && !path.is_empty()
        && path != "."
        && !path.contains(' ')
    {
        return (Value::String(path.to_string()), reason.to_string());
    }
    (field_from_serde_message(detail), detail.to_string())
}

/// Pulls the field name out of serde messages such as "missing field `email`".
fn field_from_serde_message(message: &str) -> Value {
    if let Some(start) = message.find('`')
        && let Some(len) = message[start + 1..].find('`')
    {
        return Value::String(message[start + 1..start + 1 + len].to_string());
    }
    Value::Null
}

/// A query string; a bad parameter gets 400 `INVALID_REQUEST`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(error)) => {
                let text = error.body_text();
                let detail = text
                    .trim_start_matches("Failed to deserialize query string: ")
                    .to_string();
                Err(ApiError::new(
                    ErrorKind::InvalidRequest,
                    format!("invalid query string: {detail}"),
                )
                .with_details(
                    json!({ "field": field_from_serde_message(&detail), "reason": detail }),
                ))
            }
            Err(other) => Err(ApiError::new(ErrorKind::InvalidRequest, other.body_text())),
        }
    }
}

/// Who is calling, after credentials were checked and the rate limit admitted the request.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A signed-in user (session JWT).
    Session {
        /// User id.
        user: UserId,
        /// Tenant context and the user's current role in it; `None` before a tenant is chosen.
        tenant: Option<(TenantId, Role)>,
        /// The stored session the token belongs to.
        session: Session,
    },
    /// A tenant's API key. Keys act with member rights: owner-only actions need a session.
    ApiKey {
        /// Key id.
        key: ApiKeyId,
        /// The key's tenant.
        tenant: TenantId,
    },
}

impl Caller {
    /// The tenant context, if any.
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Caller::Session { tenant, .. } => tenant.as_ref().map(|(id, _)| id),
            Caller::ApiKey { tenant, .. } => Some(tenant),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate(parts, state).await {
            // Failed credentials count against the client IP's unauthenticated budget: guessing keys or
            // tokens (each guess costs a store lookup) is throttled like any other anonymous traffic.
            Err(error) if error.kind == ErrorKind::Unauthorized => {
                state.admit_ip(parts, Limit::Anonymous)?;
                Err(error)
            }
            other => other,
        }
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let token = bearer_token(parts)?;
    if credentials::looks_like_api_key(token) {
        return api_key_caller(state, token).await;
    }
    let rejected = |rejection: credentials::SessionRejection| {
        ApiError::unauthorized(rejection.message())
            .with_details(json!({ "reason": rejection.reason() }))
    };
    let claims = state.sessions.verify(token).map_err(rejected)?;
    // Tokens from before sessions were stored name no session: they end like expired ones.
    let Some(sid) = claims.sid.as_deref() else {
        return Err(rejected(credentials::SessionRejection::Expired));
    };
    // The session must still exist (logout and password changes end it), and so must its account.
    let session = state
        .runtime
        .store
        .session(sid)
        .await?
        .filter(|session| session.user == claims.sub.as_str())
        .ok_or_else(|| {
            ApiError::unauthorized("session ended").with_details(json!({ "reason": "ended" }))
        })?;
    // The absolute lifetime is checked here too, so that lowering `auth.max_session` applies at once.
    let max_session = state.config().auth.max_session.as_secs();
    if credentials::now_secs() >= session.started_at.saturating_add(max_session) {
        return Err(rejected(credentials::SessionRejection::Expired));
    }
    let user = UserId::new(claims.sub);
    match claims.tenant_id.map(TenantId::new) {
        Some(tenant) => {
            let actor = state.tenant_actor(&tenant).await?;
            let role = actor
                .send(RoleOf { user: user.clone() })
                .await
                .map_err(ActorError::from)?;
            let role = role.map_err(actor_error)?;
            // Membership is re-checked on every request: a removed member loses access at once.
            let Some(role) = role else {
                return Err(ApiError::forbidden(
                    "you are no longer a member of this session's tenant",
                ));
            };
            state.admit(Limit::TenantSession, format!("{tenant}/{user}"))?;
            Ok(Caller::Session {
                user,
                tenant: Some((tenant, role)),
                session,
            })
        }
        None => {
            state.admit(Limit::Session, user.to_string())?;
            Ok(Caller::Session {
                user,
                tenant: None,
                session,
            })
        }
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// No `Authorization` header is `None`; a present but bad one is still an error.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        if !parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            return Ok(None);
        }
        <Caller as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

async fn api_key_caller(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let hash = credentials::hash_api_key(token);
    let Some(key) = state.runtime.store.api_key_by_hash(&hash).await? else {
        return Err(ApiError::unauthorized("invalid or revoked API key"));
    };
    // The index lookup already matched; the constant-time check guards against a store that matches loosely.
    if !credentials::hashes_equal(&key.hash, &hash) {
        return Err(ApiError::unauthorized("invalid or revoked API key"));
    }
    state.admit(Limit::ApiKey, key.uid.to_string())?;
    state.note_api_key_use(&key);
    Ok(Caller::ApiKey {
        key: key.uid,
        tenant: key.tenant,
    })
}

/// Maps an actor failure to the API error.
pub fn actor_error(error: ActorError) -> ApiError {
    match error {
        ActorError::Panicked => ApiError::internal("tenant actor panicked"),
        ActorError::Unavailable => ApiError::unavailable("the tenant's actor is restarting; retry"),
        ActorError::Store(message) => {
            tracing::error!(error = %message, "store unavailable");
            ApiError::unavailable("the store is unavailable; retry later")
        }
    }
}

impl From<ActorError> for ApiError {
    fn from(error: ActorError) -> Self {
        actor_error(error)
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let mut values = parts
        .headers
        .get_all(axum::http::header::AUTHORIZATION)
        .iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            // Which one would count is ambiguous (proxies and servers disagree): refuse rather than pick.
            return Err(ApiError::invalid_field(
                "Authorization",
                "the header must appear at most once",
            ));
        }
        return Err(ApiError::unauthorized(
            "missing `Authorization: Bearer <token>` header",
        ));
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::unauthorized(
            "Authorization header must be `Bearer <token>`",
        )),
    }
}

/// A caller with a tenant context; 403 when there is none.
pub struct TenantCaller {
    /// Tenant id.
    pub tenant: TenantId,
    /// The full caller.
    pub caller: Caller,
}

impl TenantCaller {
    /// The tenant scope the application services take.
    pub fn scope(&self) -> crate::app::TenantScope {
        crate::app::TenantScope::authenticated(self.tenant.clone())
    }

    /// Requires the owner role, which only sessions can have.
    pub fn require_owner(&self) -> Result<&UserId, ApiError> {
        match &self.caller {
            Caller::Session {
                user,
                tenant: Some((_, Role::Owner)),
                ..
            } => Ok(user),
            Caller::Session { .. } => Err(ApiError::forbidden("this action needs the owner role")),
            Caller::ApiKey { .. } => Err(ApiError::forbidden(
                "this action needs a signed-in owner, not an API key",
            )),
        }
    }
}

impl FromRequestParts<AppState> for TenantCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match caller.tenant() {
            Some(tenant) => Ok(TenantCaller {
                tenant: tenant.clone(),
                caller,
            }),
            None => Err(ApiError::forbidden(
                "no tenant selected: create one with POST /api/tenants, then call POST /auth/refresh",
            )),
        }
    }
}

/// A signed-in user (any tenant context), for routes that are not tenant-scoped.
pub struct SessionUser(pub UserId);

impl FromRequestParts<AppState> for SessionUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Session { user, .. } => Ok(SessionUser(user)),
            Caller::ApiKey { .. } => Err(ApiError::forbidden(
                "this endpoint needs a signed-in user, not an API key",
            )),
        }
    }
}

/// A signed-in user with their session, for the routes that act on the session itself.
pub struct SignedIn {
    /// User id.
    pub user: UserId,
    /// The session of the presented token.
    pub session: Session,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Session { user, session, .. } => Ok(SignedIn { user, session }),
            Caller::ApiKey { .. } => Err(ApiError::forbidden(
                "this endpoint needs a signed-in user, not an API key",
            )),
        }
    }
}

/// Whether the `Content-Type` of these headers is `expected` (a bare `type/subtype`), compared without regard to
/// case and ignoring parameters, as RFC 9110 says media types are.
pub fn has_media_type(headers: &axum::http::HeaderMap, expected: &str) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(expected))
}

/// The client's rate-limit key: its address, with an IPv6 client keyed by its /64 (one host usually holds a
/// whole /64, so keying single addresses would let it mint buckets at will). Behind a trusted reverse proxy
/// (`[server] trust_forwarded_for`), the client is the rightmost `X-Forwarded-For` entry not in
/// `trusted_proxies`: entries left of it were written by the client and prove nothing.
pub fn client_ip(
    parts: &Parts,
    trust_forwarded_for: bool,
    trusted_proxies: &[sigil_netpolicy::Cidr],
) -> String {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client = if trust_forwarded_for {
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        forwarded_client(&forwarded, trusted_proxies).or(peer)
    } else {
        peer
    };
    client.map_or_else(|| "unknown".to_string(), limit_key)
}

/// The rightmost entry of `X-Forwarded-For` that is not a trusted proxy (the leftmost if all are trusted);
/// `None` when the header is absent or an entry right of the client does not parse (then nothing in it can be
/// trusted, and the peer address is used).
fn forwarded_client(
    entries: &[&str],
    trusted: &[sigil_netpolicy::Cidr],
) -> Option<std::net::IpAddr> {
    let mut client = None;
    for entry in entries.iter().rev() {
        let ip: std::net::IpAddr = entry.trim().parse().ok()?;
        client = Some(ip);
        if !trusted.iter().any(|proxy| proxy.contains(ip)) {
            break;
        }
    }
    client
}

/// IPv4 as is (an IPv4-mapped IPv6 address as its IPv4), IPv6 by its /64.
fn limit_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let network = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{network}/64")
            }
        },
    }
}

/// Pagination in either style of the seeds: `page`/`pageSize` (default) or `limit`/`offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `page` from 1, `pageSize` 1..=200 (default 50). Answered as `{total, page, pageSize, items}`.
    Pages {
        /// 1-based page.
        page: u64,
        /// Items per page.
        page_size: u64,
    },
    /// `offset` from 0, `limit` 1..=200 (default 50). Answered as `{items, pagination{limit,offset,total,has_more}}`.
    Offsets {
        /// Items to return.
        limit: u64,
        /// Items to skip.
        offset: u64,
    },
}

/// Raw pagination parameters.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PagingParams {
    page: Option<String>,
    page_size: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

/// Largest page of the seeds' "most endpoints".
pub const MAX_PAGE_SIZE: u64 = 200;
/// Default page size.
pub const DEFAULT_PAGE_SIZE: u64 = 50;

impl PagingParams {
    /// Validates into a [`Paging`]; mixing the styles is refused.
    pub fn resolve(&self) -> Result<Paging, ApiError> {
        let number = |field: &str,
                      raw: &Option<String>,
                      min: u64,
                      max: u64,
                      default: u64|
         -> Result<u64, ApiError> {
            match raw {
                None => Ok(default),
                Some(text) => match text.parse::<u64>() {
                    Ok(value) if (min..=max).contains(&value) => Ok(value),
                    _ => Err(ApiError::invalid_field(
                        field,
                        format!("must be an integer from {min} to {max}"),
                    )),
                },
            }
        };
        let pages = self.page.is_some() || self.page_size.is_some();
        let offsets = self.limit.is_some() || self.offset.is_some();
        if pages && offsets {
            return Err(ApiError::invalid_field(
                "limit",
                "use either page/pageSize or limit/offset, not both",
            ));
        }
        if offsets {
            Ok(Paging::Offsets {
                limit: number("limit", &self.limit, 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE)?,
                offset: number("offset", &self.offset, 0, u64::MAX / 2, 0)?,
            })
        } else {
            Ok(Paging::Pages {
                page: number("page", &self.page, 1, u64::MAX / (2 * MAX_PAGE_SIZE), 1)?,
                page_size: number(
                    "pageSize",
                    &self.page_size,
                    1,
                    MAX_PAGE_SIZE,
                    DEFAULT_PAGE_SIZE,
                )?,
            })
        }
    }
}

impl Paging {
    /// The store window.
    pub fn window(self) -> crate::store::Window {
        match self {
            Paging::Pages { page, page_size } => crate::store::Window {
                offset: (page - 1) * page_size,
                limit: page_size,
            },
            Paging::Offsets { limit, offset } => crate::store::Window { offset, limit },
        }
    }

    /// The response envelope of this style.
    pub fn envelope<T: Serialize>(self, items: Vec<T>, total: u64) -> Value {
        match self {
            Paging::Pages { page, page_size } => {
                json!({ "total": total, "page": page, "pageSize": page_size, "items": items })
            }
            Paging::Offsets { limit, offset } => json!({
                "items": items,
                "pagination": { "limit": limit, "offset": offset, "total": total,
                                "has_more": offset.saturating_add(limit) < total },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(
        page: Option<&str>,
        page_size: Option<&str>,
        limit: Option<&str>,
        offset: Option<&str>,
    ) -> PagingParams {
        PagingParams {
            page: page.map(String::from),
            page_size: page_size.map(String::from),
            limit: limit.map(String::from),
            offset: offset.map(String::from),
        }
    }

    #[test]
    fn paging_table() {
        let cases: &[(PagingParams, Result<Paging, &str>)] = &[
            (
                params(None, None, None, None),
                Ok(Paging::Pages {
                    page: 1,
                    page_size: 50,
                }),
            ),
            (
                params(Some("3"), Some("200"), None, None),
                Ok(Paging::Pages {
                    page: 3,
                    page_size: 200,
                }),
            ),
            (
                params(None, None, Some("10"), Some("20")),
                Ok(Paging::Offsets {
                    limit: 10,
                    offset: 20,
                }),
            ),
            (
                params(None, None, None, Some("5")),
                Ok(Paging::Offsets {
                    limit: 50,
                    offset: 5,
                }),
            ),
            (params(Some("0"), None, None, None), Err("page")),
            (params(None, Some("201"), None, None), Err("pageSize")),
            (params(None, None, Some("0"), None), Err("limit")),
            (params(None, None, Some("abc"), None), Err("limit")),
            (params(None, None, None, Some("-1")), Err("offset")),
            (params(Some("1"), None, Some("1"), None), Err("limit")),
        ];
        for (input, expected) in cases {
            match (input.resolve(), expected) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{input:?}"),
                (Err(error), Err(field)) => assert_eq!(error.details["field"], *field, "{input:?}"),
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn envelopes() {
        let pages = Paging::Pages {
            page: 2,
            page_size: 1,
        }
        .envelope(vec![1], 3);
        assert_eq!(
            pages,
            json!({ "total": 3, "page": 2, "pageSize": 1, "items": [1] })
        );
        let offsets = Paging::Offsets {
            limit: 2,
            offset: 0,
        }
        .envelope(vec![1, 2], 3);
        assert_eq!(
            offsets["pagination"],
            json!({ "limit": 2, "offset": 0, "total": 3, "has_more": true })
        );
        let last = Paging::Offsets {
            limit: 2,
            offset: 2,
        }
        .envelope(vec![3], 3);
        assert_eq!(last["pagination"]["has_more"], false);
        assert_eq!(
            Paging::Pages {
                page: 3,
                page_size: 10
            }
            .window()
            .offset,
            20
        );
    }
}

#[cfg(test)]
mod client_ip_tests {
    use super::{forwarded_client, limit_key};

    #[test]
    fn the_client_is_the_rightmost_untrusted_entry() {
        let trusted = vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8:ff::/48".parse().unwrap(),
        ];
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        // What the client wrote on the left is ignored.
        assert_eq!(
            forwarded_client(&["1.2.3.4", "203.0.113.7", "10.0.0.1"], &trusted),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            forwarded_client(&["203.0.113.7", "2001:db8:ff::1"], &trusted),
            Some(ip("203.0.113.7"))
        );
        // No trusted proxies: the rightmost entry, the one our proxy appended.
        assert_eq!(
            forwarded_client(&["1.2.3.4", " 198.51.100.2 "], &[]),
            Some(ip("198.51.100.2"))
        );
        // All trusted: the leftmost.
        assert_eq!(
            forwarded_client(&["10.1.1.1", "10.0.0.1"], &trusted),
            Some(ip("10.1.1.1"))
        );
        // Garbage right of the client: nothing in the header is usable.
        assert_eq!(
            forwarded_client(&["203.0.113.7", "nonsense"], &trusted),
            None
        );
        assert_eq!(forwarded_client(&[], &trusted), None);
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let key = |s: &str| limit_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(key("192.0.2.1"), "192.0.2.1");
    }
}
