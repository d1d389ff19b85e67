//! The agent-authorization routes of the Sigilum surface: claims (submit, read, approve, reject, revoke),
//! verification, the approved-claims feed, a namespace's claims, policy and public view, and DID documents.
//! Handlers parse, authenticate (signed headers, service key or owner session), call one `ClaimService`
//! method and render in Sigilum's shapes.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::TenantCaller;
use super::limits::Limit;
use super::sigilum::{FieldError, PageParams, invalid_json, validation_error};
use super::signed::{Binding, authenticate_agent, authenticate_service};
use crate::app::claims::{self, ClaimError, ClaimSubmission, NamespacePolicy, field, iso};
use crate::error::{ApiError, ApiResult};
use crate::ids::ApprovalId;
use crate::store::{Approval, ApprovalState};

/// Routes that authenticate themselves (signed headers, service keys) or need no credentials.
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/claims", axum::routing::post(submit))
        .route("/v1/verify", axum::routing::get(verify))
        .route("/v1/namespaces/claims", axum::routing::get(approved_feed))
        .route("/v1/namespaces/{ns}", axum::routing::get(namespace_view))
        .route("/.well-known/did/{did}", axum::routing::get(did_document))
        .route("/1.0/identifiers/{did}", axum::routing::get(did_resolution))
}

/// Routes of a namespace owner's session.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/claims/{id}", axum::routing::get(get_claim))
        .route("/v1/claims/{id}/audit", axum::routing::get(claim_audit))
        .route("/v1/claims/{id}/approve", axum::routing::post(approve))
        .route("/v1/claims/{id}/reject", axum::routing::post(reject))
        .route("/v1/claims/{id}/revoke", axum::routing::post(revoke))
        .route(
            "/v1/namespaces/{ns}/claims",
            axum::routing::get(namespace_claims),
        )
        .route(
            "/v1/namespaces/{ns}/policy",
            axum::routing::get(get_policy).put(put_policy),
        )
}

impl From<ClaimError> for ApiError {
    fn from(error: ClaimError) -> Self {
        match error {
            ClaimError::NamespaceNotFound => ApiError::not_found("namespace"),
            ClaimError::NotFound => ApiError::not_found("claim"),
            ClaimError::NonceReplay => {
                ApiError::conflict("this nonce was already used by the service")
                    .with_code("NONCE_REPLAY")
            }
            ClaimError::State(state) => ApiError::conflict(format!("the claim is {state}"))
                .with_details(json!({ "status": state.as_str() })),
            ClaimError::AgentLimit { limit, current } => ApiError::conflict(
                "the service already has the most approved agents in this namespace",
            )
            .with_code("AGENT_LIMIT_REACHED")
            .with_details(json!({ "agent_limit": limit, "current": current })),
            ClaimError::ServiceLimit { limit, connected } => {
                ApiError::forbidden("the namespace already has the most connected services")
                    .with_code("SERVICE_LIMIT_REACHED")
                    .with_details(
                        json!({ "service_limit": limit, "services_connected": connected }),
                    )
            }
            ClaimError::Busy => ApiError::unavailable("the namespace is busy; retry"),
            ClaimError::Store(error) => error.into(),
        }
    }
}

/// A claim as the owner's routes show it (Sigilum's row, plus the decision).
pub fn claim_json(claim: &Approval) -> Value {
    json!({
        "claim_id": claim.uid,
        "namespace": field(claim, "namespace"),
        "service": field(claim, "service"),
        "public_key": field(claim, "public_key"),
        "agent_ip": field(claim, "agent_ip"),
        "subject": field(claim, "subject"),
        "agent_id": field(claim, "agent_id"),
        "agent_name": field(claim, "agent_name"),
        "status": claim.state.as_str(),
        "created_at": iso(claim.created_at),
        "updated_at": iso(claim.updated_at),
        "expires_at": claim.expires_at.map(iso),
        "approved_at": claim.approved_at.map(iso),
        "revoked_at": claim.revoked_at.map(iso),
        "decided_by": claim.decided_by,
    })
}

fn message_of(state: ApprovalState, created: bool) -> &'static str {
    match (state, created) {
        (ApprovalState::Pending, true) => {
            "Authorization request submitted; waiting for the namespace owner"
        }
        (ApprovalState::Pending, false) => {
            "An authorization request for this agent is already pending"
        }
        (ApprovalState::Approved, true) => "Authorization approved by the namespace policy",
        (ApprovalState::Approved, false) => "This agent is already authorized",
        (ApprovalState::Rejected, _) => "Authorization request rejected by the namespace policy",
        _ => "Authorization request recorded",
    }
}

/// `POST /v1/claims` body, as the service sends it.
#[derive(Debug, Deserialize)]
struct SubmitBody {
    namespace: Option<Value>,
    public_key: Option<Value>,
    service: Option<Value>,
    agent_ip: Option<Value>,
    nonce: Option<Value>,
    subject: Option<Value>,
    agent_id: Option<Value>,
    agent_name: Option<Value>,
}

fn text(
    errors: &mut Vec<FieldError>,
    name: &str,
    value: &Option<Value>,
    (min, max): (usize, usize),
    required: bool,
) -> Option<String> {
    match value {
        None | Some(Value::Null) if !required => None,
        None | Some(Value::Null) => {
            errors.push(FieldError::new(name, "is required"));
            None
        }
        Some(Value::String(text)) => {
            let text = text.trim();
            let length = text.chars().count();
            if length < min || length > max || text.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    name,
                    format!("must be {min} to {max} characters without control characters"),
                ));
                None
            } else {
                Some(text.to_string())
            }
        }
        Some(_) => {
            errors.push(FieldError::new(name, "must be a string"));
            None
        }
    }
}

fn parse_submission(body: &[u8]) -> ApiResult<ClaimSubmission> {
    let body: SubmitBody = serde_json::from_slice(body).map_err(invalid_json)?;
    let mut errors = Vec::new();
    let namespace = text(&mut errors, "namespace", &body.namespace, (3, 64), true);
    let namespace = namespace.and_then(|ns| {
        if sigil_httpsig::sigilum::is_valid_namespace(&ns) {
            Some(ns.to_ascii_lowercase())
        } else {
            errors.push(FieldError::new(
                "namespace",
                "must match ^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}[a-zA-Z0-9]$",
            ));
            None
        }
    });
    let public_key =
        text(&mut errors, "public_key", &body.public_key, (1, 256), true).and_then(|key| {
            if sigil_httpsig::sigilum::parse_agent_key(&key).is_some() {
                Some(key)
            } else {
                errors.push(FieldError::new(
                    "public_key",
                    "must be ed25519:<base64 of 32 bytes>",
                ));
                None
            }
        });
    let service = text(&mut errors, "service", &body.service, (1, 64), true);
    let agent_ip = text(&mut errors, "agent_ip", &body.agent_ip, (1, 64), true);
    let nonce = text(&mut errors, "nonce", &body.nonce, (8, 256), true);
    let subject = text(&mut errors, "subject", &body.subject, (1, 256), false);
    let agent_id = text(&mut errors, "agent_id", &body.agent_id, (1, 128), false);
    let agent_name = text(&mut errors, "agent_name", &body.agent_name, (1, 128), false);
    match (namespace, public_key, service, agent_ip, nonce) {
        (Some(namespace), Some(public_key), Some(service), Some(agent_ip), Some(nonce))
            if errors.is_empty() =>
        {
            Ok(ClaimSubmission {
                namespace,
                public_key,
                service,
                agent_ip,
                nonce,
                subject,
                agent_id,
                agent_name,
            })
        }
        _ => Err(validation_error(errors)),
    }
}

/// `POST /v1/claims`: signed headers (bound to the body's namespace and, unless `X-Sigilum-Claim-Binding:
/// namespace-only`, its public key) and the service's key.
async fn submit(State(state): State<AppState>, parts: Parts, body: Bytes) -> ApiResult<Response> {
    // The body names what the signature is bound to, so it is read first; the signature covers its digest.
    let submission = parse_submission(&body);
    let namespace_only = parts
        .headers
        .get("x-sigilum-claim-binding")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("namespace-only"));
    let binding = match &submission {
        Ok(submission) => Binding {
            namespace: Some(&submission.namespace),
            public_key: (!namespace_only).then_some(submission.public_key.as_str()),
        },
        Err(_) => Binding::NONE,
    };
    authenticate_agent(&state, &parts, &body, binding).await?;
    let service = authenticate_service(&state, &parts).await?;
    let submission = submission?;
    if service.service_slug != submission.service {
        return Err(ApiError::forbidden(
            "the service API key belongs to another service",
        ));
    }
    let namespace = state
        .directory
        .namespace(&submission.namespace)
        .await?
        .ok_or_else(|| ApiError::not_found("namespace"))?;
    let outcome = state
        .claims
        .submit(&service, &namespace, submission)
        .await?;
    let status = if outcome.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let claim = &outcome.claim;
    Ok((
        status,
        axum::Json(json!({
            "claim_id": claim.uid,
            "status": claim.state.as_str(),
            "service": claim.party,
            "message": message_of(claim.state, outcome.created),
            "reason": claim.decided_by.as_ref().and_then(|by| by.reason.clone())
                .filter(|_| claim.state == ApprovalState::Rejected),
        })),
    )
        .into_response())
}

/// `GET /v1/verify?namespace=&public_key=&service=`: the caller must sign as the queried namespace.
#[derive(Debug, Deserialize)]
struct VerifyQuery {
    namespace: Option<String>,
    public_key: Option<String>,
    service: Option<String>,
}

async fn verify(
    State(state): State<AppState>,
    parts: Parts,
    Query(query): Query<VerifyQuery>,
) -> ApiResult<Response> {
    let mut errors = Vec::new();
    for (name, value) in [
        ("namespace", &query.namespace),
        ("public_key", &query.public_key),
        ("service", &query.service),
    ] {
        if value
            .as_deref()
            .is_none_or(|v| v.trim().is_empty() || v.len() > 256)
        {
            errors.push(FieldError::new(name, "is required"));
        }
    }
    if !errors.is_empty() {
        return Err(validation_error(errors));
    }
    let (namespace, public_key, service) = (
        query.namespace.unwrap_or_default(),
        query.public_key.unwrap_or_default(),
        query.service.unwrap_or_default(),
    );
    authenticate_agent(
        &state,
        &parts,
        &[],
        Binding {
            namespace: Some(&namespace),
            public_key: None,
        },
    )
    .await?;
    state.admit(Limit::Verification, format!("verify:{namespace}"))?;
    let namespace = namespace.to_ascii_lowercase();
    let found = state
        .claims
        .verify(&namespace, public_key.trim(), &service)
        .await
        .map_err(|error| match error {
            ClaimError::Store(_) => {
                ApiError::unavailable("the store is unavailable; retry").with_code("DB_UNAVAILABLE")
            }
            other => other.into(),
        })?;
    let body = match found {
        Some(claim) => json!({
            "authorized": true,
            "claim_id": claim.uid,
            "approved_at": claim.approved_at.map(iso),
        }),
        None => json!({ "authorized": false, "reason": "no_approved_claim" }),
    };
    Ok(axum::Json(body).into_response())
}

/// `GET /v1/namespaces/claims?service=&limit=&offset=`: the approved claims of the calling service (signed
/// headers and its key); `service`, when given, must be the key's.
#[derive(Debug, Deserialize)]
struct FeedQuery {
    service: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

async fn approved_feed(
    State(state): State<AppState>,
    parts: Parts,
    Query(query): Query<FeedQuery>,
) -> ApiResult<Response> {
    authenticate_agent(&state, &parts, &[], Binding::NONE).await?;
    let service = authenticate_service(&state, &parts).await?;
    if query
        .service
        .as_deref()
        .is_some_and(|slug| slug != service.service_slug)
    {
        return Err(ApiError::forbidden(
            "the service API key belongs to another service",
        ));
    }
    let page = query.page.resolve(500, 2000)?;
    let (claims, total) = state
        .claims
        .approved_feed(&service.service_slug, page.window())
        .await?;
    let rows: Vec<Value> = claims
        .iter()
        .map(|claim| {
            json!({
                "claim_id": claim.uid,
                "namespace": claim.realm,
                "public_key": claim.principal,
                "service": claim.party,
                "subject": field(claim, "subject"),
                "agent_id": field(claim, "agent_id"),
                "agent_name": field(claim, "agent_name"),
                "approved_at": claim.approved_at.map(iso),
            })
        })
        .collect();
    Ok(axum::Json(json!({ "claims": rows, "pagination": page.pagination(total) })).into_response())
}

/// `GET /v1/namespaces/{ns}`: signed for that namespace.
async fn namespace_view(
    State(state): State<AppState>,
    Path(ns): Path<String>,
    parts: Parts,
) -> ApiResult<Response> {
    authenticate_agent(
        &state,
        &parts,
        &[],
        Binding {
            namespace: Some(&ns),
            public_key: None,
        },
    )
    .await?;
    let name = ns.to_ascii_lowercase();
    let namespace = state
        .directory
        .namespace(&name)
        .await?
        .ok_or_else(|| ApiError::not_found("namespace"))?;
    let active = state.claims.approved_in_namespace(&name).await?.len();
    let mut response = axum::Json(json!({
        "did": format!("did:sigilum:{}", namespace.name),
        "namespace": namespace.name,
        "owner": namespace.created_by,
        "created_at": namespace.created_at,
        "active": true,
        "active_claims": active,
    }))
    .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}

/// Resolves a namespace the caller's tenant owns, or 404 (another tenant's namespace is not revealed).
async fn owned_namespace(state: &AppState, caller: &TenantCaller, ns: &str) -> ApiResult<String> {
    let name = ns.to_ascii_lowercase();
    match state.directory.namespace(&name).await? {
        Some(namespace) if namespace.tenant == caller.tenant => Ok(namespace.name),
        _ => Err(ApiError::not_found("namespace")),
    }
}

#[derive(Debug, Deserialize)]
struct NamespaceClaimsQuery {
    status: Option<String>,
    service: Option<String>,
    #[serde(flatten)]
    page: PageParams,
}

/// `GET /v1/namespaces/{ns}/claims?status=&service=&limit=&offset=`: the owner's view.
async fn namespace_claims(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(ns): Path<String>,
    Query(query): Query<NamespaceClaimsQuery>,
) -> ApiResult<Response> {
    let page = query.page.resolve(50, 200)?;
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(ApprovalState::parse(text).ok_or_else(|| {
            validation_error(vec![FieldError::new(
                "status",
                "must be pending, approved, rejected, expired or revoked",
            )])
        })?),
    };
    let name = owned_namespace(&state, &caller, &ns).await?;
    let (claims, total) = state
        .claims
        .namespace_claims(
            &caller.scope(),
            &name,
            status,
            query.service.as_deref(),
            page.window(),
        )
        .await?;
    let rows: Vec<Value> = claims.iter().map(claim_json).collect();
    Ok(axum::Json(json!({ "claims": rows, "pagination": page.pagination(total) })).into_response())
}

async fn get_claim(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let claim = state
        .claims
        .claim(&caller.scope(), &ApprovalId::new(id))
        .await?;
    Ok(axum::Json(claim_json(&claim)))
}

async fn claim_audit(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let trail = state
        .claims
        .audit(&caller.scope(), &ApprovalId::new(id.clone()))
        .await?;
    let trail: Vec<Value> = trail
        .into_iter()
        .map(|mut entry| {
            if let Some(at) = entry.get("at").and_then(Value::as_i64) {
                entry["at"] = Value::String(iso(at));
            }
            entry
        })
        .collect();
    Ok(axum::Json(json!({ "claim_id": id, "audit": trail })))
}

/// An optional `{reason}` body of a decision.
fn reason_of(body: &[u8]) -> ApiResult<Option<String>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Decision {
        reason: Option<String>,
    }
    let decision: Decision = serde_json::from_slice(body).map_err(invalid_json)?;
    match decision.reason.map(|reason| reason.trim().to_string()) {
        Some(reason) if reason.chars().count() > 500 || reason.chars().any(char::is_control) => {
            Err(validation_error(vec![FieldError::new(
                "reason",
                "at most 500 characters without control characters",
            )]))
        }
        Some(reason) if reason.is_empty() => Ok(None),
        other => Ok(other),
    }
}

async fn approve(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    let user = caller.require_owner()?.clone();
    let reason = reason_of(&body)?;
    let (claim, approved) = state
        .claims
        .approve(&caller.scope(), &user, &ApprovalId::new(id), reason)
        .await?;
    Ok(axum::Json(json!({
        "claim_id": claim.uid,
        "status": "approved",
        "agents_approved": approved,
        "agents_limit": claims::AGENT_LIMIT,
        // Sigilum anchors approvals on a chain; Sigil keeps them in its own audit trail instead.
        "blockchain_tx_status": "not_applicable",
    })))
}

async fn reject(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    let user = caller.require_owner()?.clone();
    let reason = reason_of(&body)?;
    let claim = state
        .claims
        .reject(&caller.scope(), &user, &ApprovalId::new(id), reason)
        .await?;
    Ok(axum::Json(
        json!({ "claim_id": claim.uid, "status": "rejected" }),
    ))
}

async fn revoke(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    let user = caller.require_owner()?.clone();
    let reason = reason_of(&body)?;
    let claim = state
        .claims
        .revoke(&caller.scope(), &user, &ApprovalId::new(id), reason)
        .await?;
    Ok(axum::Json(json!({
        "claim_id": claim.uid,
        "status": "revoked",
        "blockchain_tx_status": "not_applicable",
    })))
}

async fn get_policy(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(ns): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let name = owned_namespace(&state, &caller, &ns).await?;
    let policy = state.claims.policy(&caller.scope(), &name).await?;
    Ok(axum::Json(
        serde_json::to_value(policy).unwrap_or(Value::Null),
    ))
}

async fn put_policy(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(ns): Path<String>,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    caller.require_owner()?;
    let name = owned_namespace(&state, &caller, &ns).await?;
    let policy: NamespacePolicy = serde_json::from_slice(&body).map_err(invalid_json)?;
    policy
        .validate()
        .map_err(|(field, message)| validation_error(vec![FieldError::new(field, message)]))?;
    state
        .claims
        .set_policy(&caller.scope(), &name, &policy)
        .await?;
    Ok(axum::Json(
        serde_json::to_value(policy).unwrap_or(Value::Null),
    ))
}

/// The namespace of a `did:sigilum:<ns>`, if well formed.
fn namespace_of_did(did: &str) -> Option<String> {
    let ns = did.strip_prefix("did:sigilum:")?;
    sigil_httpsig::sigilum::is_valid_namespace(ns).then(|| ns.to_ascii_lowercase())
}

/// The DID document of a namespace: one Ed25519 verification method per distinct approved agent key.
/// `None` when the namespace does not exist; `Some(None)` when it has no owner but had claims (deactivated).
async fn document_of(state: &AppState, namespace: &str) -> ApiResult<Option<(Value, Value)>> {
    let owner = state.directory.namespace(namespace).await?;
    let did = format!("did:sigilum:{namespace}");
    if owner.is_none() {
        if state.claims.namespace_has_history(namespace).await? {
            let empty = json!({ "@context": "https://www.w3.org/ns/did/v1", "id": did });
            return Ok(Some((empty, json!({ "deactivated": true }))));
        }
        return Ok(None);
    }
    let approved = state.claims.approved_in_namespace(namespace).await?;
    let base = super::signed::public_base(state);
    let mut keys: Vec<[u8; 32]> = Vec::new();
    let mut services: Vec<String> = Vec::new();
    let (mut created, mut updated) = (i64::MAX, 0i64);
    for claim in &approved {
        if let Some(key) = sigil_httpsig::sigilum::parse_agent_key(&claim.principal)
            && !keys.contains(&key)
        {
            keys.push(key);
        }
        if !services.contains(&claim.party) {
            services.push(claim.party.clone());
        }
        created = created.min(claim.created_at);
        updated = updated.max(claim.updated_at);
    }
    let ids: Vec<String> = (1..=keys.len()).map(|n| format!("{did}#key-{n}")).collect();
    let methods: Vec<Value> = keys
        .iter()
        .zip(&ids)
        .map(|(key, id)| {
            json!({
                "id": id,
                "type": "Ed25519VerificationKey2020",
                "controller": did,
                // As Sigilum does: the raw key in base58btc without the 0xed01 multicodec prefix that
                // Ed25519VerificationKey2020 normally carries (docs/API.md).
                "publicKeyMultibase": format!("z{}", base58btc(key)),
            })
        })
        .collect();
    let mut document = json!({
        "@context": "https://www.w3.org/ns/did/v1",
        "id": did,
        "controller": did,
        "verificationMethod": methods,
        "authentication": ids,
        "assertionMethod": ids,
    });
    if !services.is_empty() {
        document["service"] = Value::Array(
            services
                .iter()
                .map(|slug| {
                    json!({
                        "id": format!("{did}#agent-runtime-{slug}"),
                        "type": "AgentEndpoint",
                        "serviceEndpoint": format!("{base}/v1/verify?namespace={namespace}&service={slug}"),
                    })
                })
                .collect(),
        );
    }
    let metadata = json!({
        "created": (created != i64::MAX).then(|| iso(created)),
        "updated": (updated != 0).then(|| iso(updated)),
        "deactivated": false,
    });
    Ok(Some((document, metadata)))
}

/// `GET /.well-known/did/{did}`.
async fn did_document(
    State(state): State<AppState>,
    parts: Parts,
    Path(did): Path<String>,
) -> ApiResult<Response> {
    state.admit_ip(&parts, Limit::Verification)?;
    let Some(namespace) = namespace_of_did(&did) else {
        return Err(validation_error(vec![FieldError::new(
            "did",
            "must be did:sigilum:<namespace>",
        )]));
    };
    let Some((document, _)) = document_of(&state, &namespace).await? else {
        return Err(ApiError::not_found("DID"));
    };
    let mut response = axum::Json(document).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/did+ld+json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}

/// `GET /1.0/identifiers/{did}`: a DID resolution result (W3C DID Resolution), errors included.
async fn did_resolution(
    State(state): State<AppState>,
    parts: Parts,
    Path(did): Path<String>,
) -> Response {
    if let Err(error) = state.admit_ip(&parts, Limit::Verification) {
        return error.into_response();
    }
    let (status, document, metadata, resolution) = match namespace_of_did(&did) {
        None => (
            StatusCode::BAD_REQUEST,
            Value::Null,
            json!({}),
            json!({ "error": "invalidDid", "message": "expected did:sigilum:<namespace>" }),
        ),
        Some(namespace) => match document_of(&state, &namespace).await {
            Ok(Some((document, metadata))) => (
                StatusCode::OK,
                document,
                metadata,
                json!({ "contentType": "application/did+ld+json" }),
            ),
            Ok(None) => (
                StatusCode::NOT_FOUND,
                Value::Null,
                json!({}),
                json!({ "error": "notFound", "message": "no such DID" }),
            ),
            Err(error) => {
                tracing::warn!(%error, "DID resolution failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Value::Null,
                    json!({}),
                    json!({ "error": "internalError", "message": "resolution failed; retry" }),
                )
            }
        },
    };
    let body = json!({
        "@context": "https://w3id.org/did-resolution/v1",
        "didDocument": document,
        "didDocumentMetadata": metadata,
        "didResolutionMetadata": resolution,
    });
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/ld+json;profile=\"https://w3id.org/did-resolution\""),
    );
    response
}

/// Base58 (Bitcoin alphabet) of a byte string.
fn base58btc(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    // Repeated division of the big-endian number by 58, digits least significant first.
    let mut digits: Vec<u8> = Vec::with_capacity(bytes.len() * 138 / 100 + 1);
    for &byte in bytes {
        let mut carry = byte as u32;
        for digit in digits.iter_mut() {
            carry += (*digit as u32) << 8;
            *digit = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut out = String::with_capacity(zeros + digits.len());
    out.extend(std::iter::repeat_n('1', zeros));
    out.extend(digits.iter().rev().map(|d| ALPHABET[*d as usize] as char));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base58btc_matches_known_values() {
        // Vectors from the Base58 draft (draft-msporny-base58).
        assert_eq!(base58btc(b"Hello World!"), "2NEpo7TZRRrLZSi2U");
        assert_eq!(
            base58btc(b"The quick brown fox jumps over the lazy dog."),
            "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z"
        );
        assert_eq!(base58btc(&[0, 0, 0x28, 0x7f, 0xb4, 0xcd]), "11233QC4");
        assert_eq!(base58btc(&[]), "");
    }

    #[test]
    fn dids_name_a_valid_namespace() {
        assert_eq!(
            namespace_of_did("did:sigilum:Alice-1").as_deref(),
            Some("alice-1")
        );
        for bad in [
            "did:sigilum:",
            "did:web:alice",
            "did:sigilum:a",
            "did:sigilum:al/ce",
            "alice",
        ] {
            assert_eq!(namespace_of_did(bad), None, "{bad}");
        }
    }
}
