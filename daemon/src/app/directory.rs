//! The agent directory of the Sigilum surface: a tenant (the Sigilum "account") owns namespaces (the
//! `did:sigilum:<name>` identities of its agents) and services (the parties that submit claims), and each
//! service has up to two active API keys with which it authenticates.
//!
//! Rules kept here: namespace names follow the server's rule (upper case allowed) and are stored in lower case,
//! as the Sigilum SDK sends them, so `Acme` and `acme` are one namespace; slugs and namespaces are unique over
//! every tenant; at most [`SERVICE_LIMIT`] services per tenant and [`KEY_LIMIT`] active keys per service; a
//! service key (`sk_live_` + 48 hex) is returned once and stored only as its SHA-256. Validation failures are the
//! contract's `VALIDATION_ERROR` (see `http::sigilum`).

use std::sync::Arc;

use rand::RngCore;
use serde::Deserialize;
use serde_json::json;

use crate::actors::Runtime;
use crate::credentials;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::http::sigilum::{FieldError, validation_error};
use crate::ids::{ServiceId, ServiceKeyId, TenantScope, UserId};
use crate::secret::Secret;
use crate::store::{
    LimitRefusal, Limited, Namespace, NewService, Service, ServiceKey, ServiceKeyRecord,
    ServicePatch, Store, Window,
};

/// Services per tenant.
pub const SERVICE_LIMIT: u64 = 5;
/// Active keys per service.
pub const KEY_LIMIT: u64 = 2;
/// Longest service name, in characters.
pub const MAX_SERVICE_NAME: usize = 100;
/// Longest service description, in characters.
pub const MAX_DESCRIPTION: usize = 500;
/// Longest domain (a DNS name's limit).
pub const MAX_DOMAIN: usize = 253;
/// Longest key name, in characters.
pub const MAX_KEY_NAME: usize = 100;
/// Shortest webhook secret.
pub const MIN_WEBHOOK_SECRET: usize = 16;
/// Longest webhook secret.
pub const MAX_WEBHOOK_SECRET: usize = 256;
/// Longest webhook URL.
pub const MAX_WEBHOOK_URL: usize = 2048;
/// The prefix of every service key.
pub const SERVICE_KEY_PREFIX: &str = "sk_live_";
/// Random bytes in a service key (48 hex characters).
const SERVICE_KEY_BYTES: usize = 24;
/// The code of a webhook URL that is not an absolute http(s) URL.
pub const INVALID_WEBHOOK_URL: &str = "INVALID_WEBHOOK_URL";

/// A namespace name by the server's rule `^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}[a-zA-Z0-9]$`, in lower case.
pub fn namespace_name(raw: &str) -> Result<String, FieldError> {
    if dns_label(raw, |b| b.is_ascii_alphanumeric()) {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(FieldError::new(
            "namespace",
            "must be 3 to 64 letters, digits or hyphens, starting and ending with a letter or digit",
        ))
    }
}

/// A slug by `^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$`.
pub fn service_slug(raw: &str) -> Result<String, FieldError> {
    if dns_label(raw, |b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        Ok(raw.to_string())
    } else {
        Err(FieldError::new(
            "slug",
            "must be 3 to 64 lower-case letters, digits or hyphens, starting and ending with a letter or digit",
        ))
    }
}

/// 3..=64 bytes; the first and last `edge`, the others `edge` or `-`.
fn dns_label(raw: &str, edge: impl Fn(u8) -> bool) -> bool {
    let bytes = raw.as_bytes();
    (3..=64).contains(&bytes.len())
        && edge(bytes[0])
        && edge(bytes[bytes.len() - 1])
        && bytes[1..bytes.len() - 1]
            .iter()
            .all(|&b| edge(b) || b == b'-')
}

/// A human-readable field: trimmed, `min..=max` characters, no control or invisible characters.
fn text(field: &str, raw: &str, min: usize, max: usize) -> Result<String, FieldError> {
    let value = raw.trim();
    let count = value.chars().count();
    if count < min || count > max {
        let range = if min == 0 {
            format!("at most {max} characters")
        } else {
            format!("{min} to {max} characters")
        };
        return Err(FieldError::new(field, format!("must be {range}")));
    }
    if value.chars().any(crate::text::is_forbidden) {
        return Err(FieldError::new(
            field,
            "must not contain control or invisible formatting characters",
        ));
    }
    Ok(value.to_string())
}

/// A domain: 1..=253 characters without whitespace, control or invisible characters.
fn domain(raw: &str) -> Result<String, FieldError> {
    let value = text("domain", raw, 1, MAX_DOMAIN)?;
    if value.chars().any(char::is_whitespace) {
        return Err(FieldError::new("domain", "must not contain whitespace"));
    }
    Ok(value)
}

/// The body of `POST /v1/services`, as received.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRequest {
    /// Display name, 1..=100 characters.
    pub name: String,
    /// Slug.
    pub slug: String,
    /// Domain.
    pub domain: String,
    /// Description, up to 500 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// A webhook to register with the service.
    #[serde(default)]
    pub webhook: Option<WebhookRequest>,
}

/// The `webhook` of a service's create body, as received.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Absolute http(s) URL.
    pub url: String,
    /// HMAC secret, at least 16 characters.
    #[schema(value_type = String)]
    pub secret: Secret<String>,
    /// A header to send with every delivery.
    #[serde(default)]
    pub auth_header: Option<String>,
    /// Its value.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub auth_value: Option<Secret<String>>,
}

impl std::fmt::Debug for WebhookRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRequest")
            .field("url", &self.url)
            .field("auth_header", &self.auth_header)
            .finish_non_exhaustive()
    }
}

/// A validated webhook of a new service, for the webhook outbox.
#[derive(Debug, Clone)]
pub struct WebhookInput {
    /// Absolute http(s) URL. Only its syntax is checked here; the outbox applies the outbound address policy
    /// (sigil-netpolicy) when it resolves and connects.
    pub url: String,
    /// HMAC-SHA256 secret of `X-Sigilum-Signature`.
    pub secret: Secret<String>,
    /// Extra header sent with every delivery (a valid header name), with its value.
    pub auth: Option<(String, Secret<String>)>,
}

/// A validated `POST /v1/services` body.
#[derive(Debug, Clone)]
pub struct ServiceInput {
    /// The service's fields.
    pub service: NewService,
    /// The webhook to register once the service exists.
    pub webhook: Option<WebhookInput>,
}

impl ServiceInput {
    /// Validates every field of a create body; all broken rules are reported together. A webhook URL that is the
    /// only problem answers the contract's `INVALID_WEBHOOK_URL`.
    pub fn parse(request: ServiceRequest) -> ApiResult<ServiceInput> {
        let mut errors = Vec::new();
        let mut keep = |result: Result<String, FieldError>| match result {
            Ok(value) => value,
            Err(error) => {
                errors.push(error);
                String::new()
            }
        };
        let service = NewService {
            name: keep(text("name", &request.name, 1, MAX_SERVICE_NAME)),
            slug: keep(service_slug(&request.slug)),
            domain: keep(domain(&request.domain)),
            description: keep(text(
                "description",
                request.description.as_deref().unwrap_or(""),
                0,
                MAX_DESCRIPTION,
            )),
        };
        let webhook = match request.webhook {
            None => None,
            Some(webhook) => match parse_webhook(webhook) {
                Ok(webhook) => Some(webhook),
                Err(mut broken) => {
                    if errors.is_empty() && broken.iter().all(|e| e.field == "webhook.url") {
                        return Err(validation_error(broken).with_code(INVALID_WEBHOOK_URL));
                    }
                    errors.append(&mut broken);
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(ServiceInput { service, webhook })
        } else {
            Err(validation_error(errors))
        }
    }
}

fn parse_webhook(request: WebhookRequest) -> Result<WebhookInput, Vec<FieldError>> {
    let mut errors = Vec::new();
    if let Err(message) = webhook_url(&request.url) {
        errors.push(FieldError::new("webhook.url", message));
    }
    let secret_len = request.secret.expose().chars().count();
    if !(MIN_WEBHOOK_SECRET..=MAX_WEBHOOK_SECRET).contains(&secret_len) {
        errors.push(FieldError::new(
            "webhook.secret",
            format!("must be {MIN_WEBHOOK_SECRET} to {MAX_WEBHOOK_SECRET} characters"),
        ));
    }
    let auth = match (request.auth_header, request.auth_value) {
        (None, None) => None,
        (Some(name), Some(value)) => {
            let name_ok = http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                && !RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str())
                && !name.to_ascii_lowercase().starts_with("x-sigilum-");
            if !name_ok {
                errors.push(FieldError::new(
                    "webhook.auth_header",
                    "must be a header name, other than the ones every delivery sets",
                ));
            }
            if http::HeaderValue::from_str(value.expose()).is_err() || value.expose().len() > 1024 {
                errors.push(FieldError::new(
                    "webhook.auth_value",
                    "must be a header value of at most 1024 visible ASCII characters",
                ));
            }
            Some((name, value))
        }
        (Some(_), None) => {
            errors.push(FieldError::new(
                "webhook.auth_value",
                "is required with auth_header",
            ));
            None
        }
        (None, Some(_)) => {
            errors.push(FieldError::new(
                "webhook.auth_header",
                "is required with auth_value",
            ));
            None
        }
    };
    if errors.is_empty() {
        Ok(WebhookInput {
            url: request.url,
            secret: request.secret,
            auth,
        })
    } else {
        Err(errors)
    }
}

/// Headers a delivery sets itself, which a custom auth header must not replace.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
];

/// An absolute `http` or `https` URL with a host and no credentials.
fn webhook_url(raw: &str) -> Result<(), &'static str> {
    if raw.is_empty() || raw.len() > MAX_WEBHOOK_URL {
        return Err("must be an absolute http(s) URL of at most 2048 characters");
    }
    let uri: http::Uri = raw.parse().map_err(|_| "must be an absolute http(s) URL")?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err("must use http or https");
    }
    let Some(authority) = uri.authority() else {
        return Err("must name a host");
    };
    if authority.host().is_empty() {
        return Err("must name a host");
    }
    if authority.as_str().contains('@') {
        return Err("must not carry credentials; use auth_header and auth_value");
    }
    Ok(())
}

/// The body of `PATCH /v1/services/{id}`, as received.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicePatchRequest {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
}

impl ServicePatchRequest {
    /// Validates the given fields (at least one).
    pub fn parse(self) -> ApiResult<ServicePatch> {
        let mut errors = Vec::new();
        let mut check = |result: Option<Result<String, FieldError>>| match result {
            None => None,
            Some(Ok(value)) => Some(value),
            Some(Err(error)) => {
                errors.push(error);
                None
            }
        };
        let patch = ServicePatch {
            name: check(
                self.name
                    .as_deref()
                    .map(|n| text("name", n, 1, MAX_SERVICE_NAME)),
            ),
            domain: check(self.domain.as_deref().map(domain)),
            description: check(
                self.description
                    .as_deref()
                    .map(|d| text("description", d, 0, MAX_DESCRIPTION)),
            ),
        };
        if self.name.is_none() && self.domain.is_none() && self.description.is_none() {
            errors.push(FieldError::new(
                "body",
                "give at least one of name, domain, description",
            ));
        }
        if errors.is_empty() {
            Ok(patch)
        } else {
            Err(validation_error(errors))
        }
    }
}

/// A created service and the webhook its body asked for.
#[derive(Debug, Clone)]
pub struct CreatedService {
    /// The stored service.
    pub service: Service,
    /// The validated webhook, not yet registered: whoever calls [`DirectoryService::create_service`] hands it to
    /// the webhook outbox (`app::webhooks`), which registers it for this service. Until that glue exists
    /// (written by the claims/webhook integration, not here) the webhook is validated and dropped, and the 201
    /// carries no `webhook`.
    pub webhook: Option<WebhookInput>,
}

/// A new service key: the record, and the key itself, which is shown this once and never stored.
#[derive(Debug)]
pub struct CreatedServiceKey {
    /// The stored record.
    pub key: ServiceKey,
    /// The full key, `sk_live_` + 48 hex.
    pub secret: Secret<String>,
}

/// A freshly generated service key: `sk_live_` + 48 lower-case hex from 24 bytes of the OS's RNG.
pub fn generate_service_key() -> Secret<String> {
    let mut bytes = [0u8; SERVICE_KEY_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(format!("{SERVICE_KEY_PREFIX}{}", hex::encode(bytes)))
}

/// Whether a bearer token has the shape of a service key.
pub fn looks_like_service_key(token: &str) -> bool {
    token.strip_prefix(SERVICE_KEY_PREFIX).is_some_and(|hex| {
        hex.len() == 2 * SERVICE_KEY_BYTES
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// What lists show of a key: `...` and its last 4 characters.
pub fn key_prefix(secret: &str) -> String {
    let tail = &secret[secret.len().saturating_sub(4)..];
    format!("...{tail}")
}

/// The directory use cases.
#[derive(Clone)]
pub struct DirectoryService {
    runtime: Arc<Runtime>,
}

impl DirectoryService {
    /// A service over the runtime's store.
    pub fn new(runtime: Arc<Runtime>) -> Self {
        Self { runtime }
    }

    fn store(&self) -> &Store {
        &self.runtime.store
    }

    /// Creates a namespace for the tenant, owned by `user`; its name is stored in lower case. 409 `CONFLICT` when
    /// any tenant has it.
    pub async fn create_namespace(
        &self,
        scope: &TenantScope,
        user: &UserId,
        name: &str,
    ) -> ApiResult<Namespace> {
        let name = namespace_name(name).map_err(|e| validation_error(vec![e]))?;
        let namespace = self.store().create_namespace(scope, &name, user).await?;
        tracing::info!(tenant = %scope.tenant(), namespace = %namespace.name, "namespace created");
        Ok(namespace)
    }

    /// The tenant's namespaces.
    pub async fn list_namespaces(
        &self,
        scope: &TenantScope,
        window: Window,
    ) -> ApiResult<(Vec<Namespace>, u64)> {
        Ok(self.store().namespaces(scope, window).await?)
    }

    /// The namespace with this name (any case), whoever owns it: DIDs are public. 400 `VALIDATION_ERROR` for a
    /// name that breaks the rule; `None` when nobody has it.
    pub async fn namespace(&self, name: &str) -> ApiResult<Option<Namespace>> {
        let name = namespace_name(name).map_err(|e| validation_error(vec![e]))?;
        Ok(self.store().namespace_any_tenant(&name).await?)
    }

    /// Creates a service. 403 `SERVICE_LIMIT_REACHED` past [`SERVICE_LIMIT`], 409 `CONFLICT` for a slug any
    /// tenant has (or had: slugs of deleted services are not reused). The webhook comes back validated, for the
    /// caller to register (see [`CreatedService::webhook`]).
    pub async fn create_service(
        &self,
        scope: &TenantScope,
        input: ServiceInput,
    ) -> ApiResult<CreatedService> {
        let ServiceInput { service, webhook } = input;
        match self
            .store()
            .create_service(scope, &service, SERVICE_LIMIT)
            .await?
        {
            Limited::Created(service) => {
                tracing::info!(tenant = %scope.tenant(), service = %service.uid, slug = %service.slug, "service created");
                Ok(CreatedService { service, webhook })
            }
            Limited::Refused(LimitRefusal::Services(count) | LimitRefusal::Keys(count)) => {
                Err(ApiError::forbidden(format!(
                    "an account may have at most {SERVICE_LIMIT} services"
                ))
                .with_code("SERVICE_LIMIT_REACHED")
                .with_details(
                    json!({ "service_limit": SERVICE_LIMIT, "services_connected": count }),
                ))
            }
        }
    }

    /// The tenant's services.
    pub async fn list_services(&self, scope: &TenantScope) -> ApiResult<Vec<Service>> {
        Ok(self.store().services(scope).await?)
    }

    /// One of the tenant's services; 404 for another tenant's, as if it did not exist.
    pub async fn service(&self, scope: &TenantScope, id: &ServiceId) -> ApiResult<Service> {
        self.store()
            .service(scope, id)
            .await?
            .ok_or_else(|| ApiError::not_found("service"))
    }

    /// Changes name, domain or description of one of the tenant's services.
    pub async fn update_service(
        &self,
        scope: &TenantScope,
        id: &ServiceId,
        patch: ServicePatch,
    ) -> ApiResult<Service> {
        let service = self
            .store()
            .update_service(scope, id, &patch)
            .await?
            .ok_or_else(|| ApiError::not_found("service"))?;
        tracing::info!(tenant = %scope.tenant(), service = %id, "service updated");
        Ok(service)
    }

    /// Deletes one of the tenant's services and revokes its keys at once. Its slug stays taken.
    pub async fn delete_service(&self, scope: &TenantScope, id: &ServiceId) -> ApiResult<()> {
        if !self.store().delete_service(scope, id).await? {
            return Err(ApiError::not_found("service"));
        }
        tracing::info!(tenant = %scope.tenant(), service = %id, "service deleted, its keys revoked");
        Ok(())
    }

    /// Creates a key for one of the tenant's services (`name` defaults to `default`). 400 `KEY_LIMIT_REACHED`
    /// when the service has [`KEY_LIMIT`] active keys.
    pub async fn create_key(
        &self,
        scope: &TenantScope,
        service: &ServiceId,
        name: Option<&str>,
    ) -> ApiResult<CreatedServiceKey> {
        let name = match name {
            None => "default".to_string(),
            Some(name) => {
                text("name", name, 1, MAX_KEY_NAME).map_err(|e| validation_error(vec![e]))?
            }
        };
        let secret = generate_service_key();
        let hash = credentials::hash_api_key(secret.expose());
        let created = self
            .store()
            .create_service_key(
                scope,
                service,
                &name,
                &hash,
                &key_prefix(secret.expose()),
                KEY_LIMIT,
            )
            .await?;
        match created {
            Limited::Created(key) => {
                tracing::info!(tenant = %scope.tenant(), service = %service, key = %key.uid, "service key created");
                Ok(CreatedServiceKey { key, secret })
            }
            Limited::Refused(LimitRefusal::Keys(active) | LimitRefusal::Services(active)) => {
                Err(ApiError::new(
                    ErrorKind::InvalidRequest,
                    format!("a service may have at most {KEY_LIMIT} active keys; revoke one first"),
                )
                .with_code("KEY_LIMIT_REACHED")
                .with_details(json!({ "key_limit": KEY_LIMIT, "active_keys": active })))
            }
        }
    }

    /// The keys of one of the tenant's services, revoked ones included; never the keys themselves.
    pub async fn list_keys(
        &self,
        scope: &TenantScope,
        service: &ServiceId,
    ) -> ApiResult<Vec<ServiceKey>> {
        // 404 for a service that is not the tenant's, rather than an empty list.
        self.service(scope, service).await?;
        Ok(self.store().service_keys(scope, service).await?)
    }

    /// Revokes an active key of one of the tenant's services; it stops authenticating at once.
    pub async fn revoke_key(
        &self,
        scope: &TenantScope,
        service: &ServiceId,
        key: &ServiceKeyId,
    ) -> ApiResult<ServiceKey> {
        let revoked = self
            .store()
            .revoke_service_key(scope, service, key)
            .await?
            .ok_or_else(|| ApiError::not_found("active service key"))?;
        tracing::info!(tenant = %scope.tenant(), service = %service, key = %key, "service key revoked");
        Ok(revoked)
    }

    /// Marks an active key of one of the tenant's services as a gateway's key.
    pub async fn mark_gateway(
        &self,
        scope: &TenantScope,
        service: &ServiceId,
        key: &ServiceKeyId,
    ) -> ApiResult<ServiceKey> {
        self.store()
            .mark_service_key_gateway(scope, service, key)
            .await?
            .ok_or_else(|| ApiError::not_found("active service key"))
    }

    /// The active key a service presents as `Authorization: Bearer <key>`, with its service; `None` for anything
    /// else (wrong shape, unknown, revoked, service deleted). The hash is looked up across tenants by design and
    /// compared again in constant time.
    pub async fn authenticate_service_key(
        &self,
        token: &str,
    ) -> ApiResult<Option<ServiceKeyRecord>> {
        if !looks_like_service_key(token) {
            return Ok(None);
        }
        let hash = credentials::hash_api_key(token);
        let record = self.store().service_key_by_hash_any_tenant(&hash).await?;
        Ok(record.filter(|record| credentials::hashes_equal(&record.key.hash, &hash)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names() {
        let cases: &[(&str, Option<&str>)] = &[
            ("acme", Some("acme")),
            ("Acme-Corp", Some("acme-corp")),
            ("a1b", Some("a1b")),
            ("ABC", Some("abc")),
            ("0-9", Some("0-9")),
            (&"a".repeat(64), Some(&"a".repeat(64))),
            ("ab", None),
            ("", None),
            (&"a".repeat(65), None),
            ("-abc", None),
            ("abc-", None),
            ("a_b", None),
            ("a.b", None),
            ("a b", None),
            ("ümlaut", None),
            ("acme\n", None),
        ];
        for (raw, expected) in cases {
            let got = namespace_name(raw);
            match (got, expected) {
                (Ok(name), Some(want)) => assert_eq!(&name, want, "{raw:?}"),
                (Err(error), None) => assert_eq!(error.field, "namespace"),
                (got, want) => panic!("{raw:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn slugs() {
        let cases: &[(&str, bool)] = &[
            ("my-service", true),
            ("abc", true),
            ("a-1", true),
            (&"z".repeat(64), true),
            ("My-Service", false),
            ("ab", false),
            (&"z".repeat(65), false),
            ("-ab", false),
            ("ab-", false),
            ("a_b", false),
            ("a.bc", false),
            ("", false),
        ];
        for (raw, ok) in cases {
            assert_eq!(service_slug(raw).is_ok(), *ok, "{raw:?}");
        }
    }

    fn request(name: &str, slug: &str, domain: &str, description: Option<&str>) -> ServiceRequest {
        ServiceRequest {
            name: name.into(),
            slug: slug.into(),
            domain: domain.into(),
            description: description.map(String::from),
            webhook: None,
        }
    }

    #[test]
    fn service_fields_and_lengths() {
        let long = |n: usize| "x".repeat(n);
        let cases: Vec<(ServiceRequest, Vec<&str>)> = vec![
            (request("Shop", "shop", "shop.example", None), vec![]),
            (
                request(&long(100), "shop", "shop.example", Some(&long(500))),
                vec![],
            ),
            (
                request(&long(101), "shop", "shop.example", None),
                vec!["name"],
            ),
            (request("   ", "shop", "shop.example", None), vec!["name"]),
            (
                request("Shop", "shop", "shop.example", Some(&long(501))),
                vec!["description"],
            ),
            (request("Shop", "Shop", "shop.example", None), vec!["slug"]),
            (request("Shop", "shop", "", None), vec!["domain"]),
            (
                request("Shop", "shop", "shop example", None),
                vec!["domain"],
            ),
            (request("Shop", "shop", &long(254), None), vec!["domain"]),
            (
                request("Sh\u{202e}op", "s", "", None),
                vec!["name", "slug", "domain"],
            ),
        ];
        for (input, fields) in cases {
            let label = format!("{input:?}");
            match ServiceInput::parse(input) {
                Ok(parsed) => {
                    assert!(fields.is_empty(), "{label}: accepted");
                    assert!(parsed.webhook.is_none());
                }
                Err(error) => {
                    assert_eq!(error.code(), "VALIDATION_ERROR", "{label}");
                    let named: Vec<&str> = error
                        .details
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e["field"].as_str().unwrap())
                        .collect();
                    assert_eq!(named, fields, "{label}");
                }
            }
        }
    }

    fn with_webhook(url: &str, secret: &str, header: Option<(&str, &str)>) -> ServiceRequest {
        let mut request = request("Shop", "shop", "shop.example", None);
        request.webhook = Some(WebhookRequest {
            url: url.into(),
            secret: Secret::new(secret.into()),
            auth_header: header.map(|(name, _)| name.to_string()),
            auth_value: header.map(|(_, value)| Secret::new(value.to_string())),
        });
        request
    }

    /// Accepted, or refused with this code naming these fields.
    type Expected = Result<(), (&'static str, Vec<&'static str>)>;

    #[test]
    fn webhooks() {
        let secret = "0123456789abcdef";
        let cases: Vec<(ServiceRequest, Expected)> = vec![
            (
                with_webhook("https://hooks.example/x", secret, None),
                Ok(()),
            ),
            (
                with_webhook(
                    "http://hooks.example:8080/x?y=1",
                    secret,
                    Some(("X-Api-Key", "k")),
                ),
                Ok(()),
            ),
            (
                with_webhook("ftp://hooks.example/", secret, None),
                Err(("INVALID_WEBHOOK_URL", vec!["webhook.url"])),
            ),
            (
                with_webhook("/relative", secret, None),
                Err(("INVALID_WEBHOOK_URL", vec!["webhook.url"])),
            ),
            (
                with_webhook("https://user:pw@hooks.example/", secret, None),
                Err(("INVALID_WEBHOOK_URL", vec!["webhook.url"])),
            ),
            (
                with_webhook("not a url", secret, None),
                Err(("INVALID_WEBHOOK_URL", vec!["webhook.url"])),
            ),
            (
                with_webhook("https://hooks.example/", "short", None),
                Err(("VALIDATION_ERROR", vec!["webhook.secret"])),
            ),
            (
                with_webhook("bad", "short", None),
                Err(("VALIDATION_ERROR", vec!["webhook.url", "webhook.secret"])),
            ),
            (
                with_webhook("https://hooks.example/", secret, Some(("Bad Header", "v"))),
                Err(("VALIDATION_ERROR", vec!["webhook.auth_header"])),
            ),
            (
                with_webhook(
                    "https://hooks.example/",
                    secret,
                    Some(("X-Sigilum-Signature", "v")),
                ),
                Err(("VALIDATION_ERROR", vec!["webhook.auth_header"])),
            ),
            (
                with_webhook("https://hooks.example/", secret, Some(("X-Key", "a\nb"))),
                Err(("VALIDATION_ERROR", vec!["webhook.auth_value"])),
            ),
        ];
        for (input, expected) in cases {
            let label = format!("{input:?}");
            match (ServiceInput::parse(input), expected) {
                (Ok(parsed), Ok(())) => {
                    let webhook = parsed.webhook.expect("the webhook is handed on");
                    assert_eq!(webhook.secret.expose(), secret);
                }
                (Err(error), Err((code, fields))) => {
                    assert_eq!(error.code(), code, "{label}");
                    let named: Vec<&str> = error
                        .details
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e["field"].as_str().unwrap())
                        .collect();
                    assert_eq!(named, fields, "{label}");
                }
                (got, want) => panic!("{label}: got {:?}, want {want:?}", got.map(|_| ())),
            }
        }
        // The secret never shows in Debug output.
        let debug = format!("{:?}", with_webhook("https://h.example/", secret, None));
        assert!(!debug.contains(secret), "{debug}");
    }

    #[test]
    fn patches() {
        let patch = |name: Option<&str>, domain: Option<&str>, description: Option<&str>| {
            ServicePatchRequest {
                name: name.map(String::from),
                domain: domain.map(String::from),
                description: description.map(String::from),
            }
            .parse()
        };
        let ok = patch(Some(" New "), None, Some("")).unwrap();
        assert_eq!(ok.name.as_deref(), Some("New"));
        assert_eq!(ok.description.as_deref(), Some(""));
        assert!(ok.domain.is_none());
        assert_eq!(
            patch(None, None, None).unwrap_err().details[0]["field"],
            "body"
        );
        assert_eq!(
            patch(Some(""), Some("a b"), None).unwrap_err().details,
            json!([
                { "field": "name", "message": "must be 1 to 100 characters" },
                { "field": "domain", "message": "must not contain whitespace" }
            ])
        );
    }

    #[test]
    fn service_keys_have_the_contract_shape() {
        let first = generate_service_key();
        let second = generate_service_key();
        for key in [&first, &second] {
            assert!(looks_like_service_key(key.expose()), "{}", key.expose());
            assert_eq!(key.expose().len(), 8 + 48);
        }
        assert_ne!(first.expose(), second.expose());
        assert_eq!(key_prefix("sk_live_0123abcd"), "...abcd");
        assert!(!looks_like_service_key("sk_live_ABCDEF"));
        assert!(!looks_like_service_key(&format!(
            "sk_test_{}",
            "0".repeat(48)
        )));
        assert!(!looks_like_service_key(&format!(
            "sk_live_{}",
            "A".repeat(48)
        )));
        assert!(!looks_like_service_key(&format!(
            "sk_live_{}",
            "0".repeat(47)
        )));
    }

    async fn service() -> DirectoryService {
        let mut config = crate::config::Config::default();
        config.storage.url = Some("mem://".into());
        let store = Store::open(&config).await.expect("open mem:// store");
        DirectoryService::new(Arc::new(Runtime::new(store, config)))
    }

    fn scope(tenant: &str) -> TenantScope {
        TenantScope::authenticated(crate::ids::TenantId::new(tenant))
    }

    fn input(slug: &str) -> ServiceInput {
        ServiceInput::parse(request("Shop", slug, "shop.example", None)).unwrap()
    }

    #[tokio::test]
    async fn a_service_key_authenticates_until_revoked() {
        let directory = service().await;
        let (a, b) = (scope("tenant-a"), scope("tenant-b"));
        let shop = directory
            .create_service(&a, input("shop"))
            .await
            .unwrap()
            .service;
        let created = directory
            .create_key(&a, &shop.uid, Some("ci"))
            .await
            .unwrap();
        let secret = created.secret.expose().clone();
        assert_eq!(created.key.hash, credentials::hash_api_key(&secret));
        assert_eq!(created.key.key_prefix, key_prefix(&secret));
        let found = directory
            .authenticate_service_key(&secret)
            .await
            .unwrap()
            .expect("the new key authenticates");
        assert_eq!(found.service_slug, "shop");
        assert_eq!(
            (found.key.service.as_str(), found.key.tenant.as_str()),
            (shop.uid.as_str(), "tenant-a")
        );
        // Wrong shape, unknown key, or another tenant's attempt to revoke: nothing.
        for token in [
            "sk_live_short".to_string(),
            secret.to_uppercase(),
            generate_service_key().expose().clone(),
        ] {
            assert!(
                directory
                    .authenticate_service_key(&token)
                    .await
                    .unwrap()
                    .is_none(),
                "{token}"
            );
        }
        let foreign = directory.revoke_key(&b, &shop.uid, &created.key.uid).await;
        assert_eq!(foreign.unwrap_err().kind, ErrorKind::NotFound);
        directory
            .revoke_key(&a, &shop.uid, &created.key.uid)
            .await
            .unwrap();
        assert!(
            directory
                .authenticate_service_key(&secret)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn limits_answer_the_contract_codes() {
        let directory = service().await;
        let a = scope("tenant-a");
        let shop = directory
            .create_service(&a, input("shop"))
            .await
            .unwrap()
            .service;
        for n in 2..=SERVICE_LIMIT {
            directory
                .create_service(&a, input(&format!("shop-{n}")))
                .await
                .unwrap();
        }
        let refused = directory
            .create_service(&a, input("one-more"))
            .await
            .unwrap_err();
        assert_eq!(
            (refused.kind, refused.code()),
            (ErrorKind::Forbidden, "SERVICE_LIMIT_REACHED")
        );
        assert_eq!(
            refused.details,
            json!({ "service_limit": 5, "services_connected": 5 })
        );
        let taken = directory
            .create_service(&scope("tenant-b"), input("shop"))
            .await
            .unwrap_err();
        assert_eq!(taken.code(), "CONFLICT");
        for _ in 0..KEY_LIMIT {
            directory.create_key(&a, &shop.uid, None).await.unwrap();
        }
        let refused = directory.create_key(&a, &shop.uid, None).await.unwrap_err();
        assert_eq!(
            (refused.kind, refused.code()),
            (ErrorKind::InvalidRequest, "KEY_LIMIT_REACHED")
        );
        assert_eq!(refused.details, json!({ "key_limit": 2, "active_keys": 2 }));
        let user = UserId::new("user-a");
        let namespace = directory.create_namespace(&a, &user, "Acme").await.unwrap();
        assert_eq!(namespace.name, "acme");
        let again = directory
            .create_namespace(&scope("tenant-b"), &user, "ACME")
            .await
            .unwrap_err();
        assert_eq!(again.code(), "CONFLICT");
        assert_eq!(
            directory
                .namespace("AcMe")
                .await
                .unwrap()
                .unwrap()
                .tenant
                .as_str(),
            "tenant-a"
        );
        assert_eq!(
            directory.namespace("a").await.unwrap_err().code(),
            "VALIDATION_ERROR"
        );
    }
}
