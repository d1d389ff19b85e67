//! The timestamping API of the Sigill seed: stamp, restamp, verify, inspect, lookup, transactions, providers,
//! settings and TSA health, plus RFC 3161 over HTTP at `POST /tsr` for tools that speak the protocol itself.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::{Value, json};
use sigil_rfc3161::{HashAlgorithm, TimestampVerdict, TrustStatus, Verdict, VerifyError};

use super::AppState;
use super::extract::{Caller, Json, PagingParams, Query, TenantCaller};
use crate::actors::tenant::{InvalidateSettings, StampSelection};
use crate::app::timestamping::{StampError, StampOutcome, StampRequest};
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ids::{StampId, TenantId};
use crate::store::{PublicLookup, QuotaRefusal, Stamp, TenantSettings};
use crate::tsa::provider::AttemptFailure;

/// Longest label (seed: max 255).
const MAX_LABEL: usize = 255;
/// Records a public lookup returns at most.
const LOOKUP_LIMIT: u64 = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tsa/stamp-hash", post(stamp_hash))
        .route("/tsa/restamp", post(restamp))
        .route("/api/transactions/details", get(list_transactions))
        .route("/api/transactions/by-hash/{hash}", get(by_hash))
        .route("/api/transactions/{id}", get(transaction))
        .route(
            "/api/transactions/{id}/audit-package.zip",
            get(audit_package),
        )
        .route("/api/transactions/{id}/label", put(set_label))
        .route("/api/settings", get(settings).put(update_settings))
        .route("/api/tsa/health", get(tsa_health))
}

/// Routes that take no credentials (rate-limited per client IP by the caller of this function).
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/tsa/verify-hash", post(verify_hash))
        .route("/tsa/inspect", post(inspect))
        .route("/api/lookup/{hash}", get(lookup))
        .route("/proxy/services", get(services))
        .route("/proxy/services/{slug}/certificates", get(certificates))
}

/// `POST /tsr`, with its own access rule (`local_tsa.http`).
pub fn tsr_route() -> Router<AppState> {
    Router::new().route("/tsr", post(tsr))
}

/// Parses a hex digest: SHA-256/384/512 by length, either case.
fn parse_digest(field: &str, text: &str) -> ApiResult<(HashAlgorithm, Vec<u8>, String)> {
    parse_digest_of(field, text, false)
}

/// As [`parse_digest`], also taking a SHA-1 digest (40 characters) when `sha1` is true: verifying old tokens
/// under `[tsa] allow_sha1_verification`.
fn parse_digest_of(
    field: &str,
    text: &str,
    sha1: bool,
) -> ApiResult<(HashAlgorithm, Vec<u8>, String)> {
    let text = text.trim();
    let algorithm = match text.len() {
        40 if sha1 => HashAlgorithm::Sha1,
        64 => HashAlgorithm::Sha256,
        96 => HashAlgorithm::Sha384,
        128 => HashAlgorithm::Sha512,
        other => {
            return Err(ApiError::invalid_field(
                field,
                format!(
                    "must be a SHA-256, SHA-384 or SHA-512 hex digest (64, 96 or 128 characters), got {other}"
                ),
            ));
        }
    };
    let bytes = hex::decode(text)
        .map_err(|_| ApiError::invalid_field(field, "must contain only hex digits"))?;
    Ok((algorithm, bytes, text.to_ascii_lowercase()))
}

fn parse_label(label: Option<String>) -> ApiResult<Option<String>> {
    match label {
        Some(label) if label.chars().count() > MAX_LABEL => Err(ApiError::invalid_field(
            "label",
            format!("must be at most {MAX_LABEL} characters"),
        )),
        Some(label) if label.chars().any(crate::text::is_forbidden) => {
            Err(ApiError::invalid_field(
                "label",
                "must not contain control or invisible formatting characters",
            ))
        }
        other => Ok(other),
    }
}

fn decode_base64(field: &str, text: &str) -> ApiResult<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = BASE64
        .decode(compact)
        .map_err(|e| ApiError::invalid_field(field, format!("not valid base64: {e}")))?;
    if bytes.is_empty() {
        return Err(ApiError::invalid_field(field, "is empty"));
    }
    Ok(bytes)
}

/// A stored stamp as the API shows it.
/// The bare TimeStampToken (ContentInfo) inside a stored TimeStampResp, base64: what a PAdES document
/// time-stamp embeds (contract 01 §2 #1b). Null if the stored response does not parse (it always should).
fn token_base64(tsr_base64: &str) -> Option<String> {
    let tsr = BASE64.decode(tsr_base64).ok()?;
    // Stored responses were verified when they arrived: slicing out the token is enough, except for a BER one.
    match sigil_rfc3161::token_slice(&tsr) {
        Some(token) => Some(BASE64.encode(token)),
        None => Some(BASE64.encode(sigil_rfc3161::parse_response(&tsr).ok()?.token?.token_der)),
    }
}

fn stamp_json(stamp: &Stamp) -> Value {
    json!({
        "id": stamp.uid,
        "serial": stamp.record.serial,
        "genTime": stamp.record.gen_time,
        "hashAlgorithmOid": stamp.record.hash_alg_oid,
        "hashHex": stamp.record.hash_hex,
        "tsrBase64": stamp.record.tsr,
        "tokenBase64": token_base64(&stamp.record.tsr),
        "tsaName": stamp.record.tsa_name,
        "tsaSlug": stamp.record.provider,
        "qualified": stamp.record.qualified,
        "policyOid": stamp.record.qualified.then_some(&stamp.record.policy_oid),
        "tokenPolicyOid": stamp.record.policy_oid,
        "label": stamp.record.label,
        "parentTransactionId": stamp.record.parent,
        "certNotAfter": stamp.record.cert_not_after,
        "createdAt": stamp.created_at,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StampHashRequest {
    /// SHA-256, SHA-384 or SHA-512 digest, hex.
    #[schema(pattern = "^([0-9a-fA-F]{64}|[0-9a-fA-F]{96}|[0-9a-fA-F]{128})$")]
    hash_hex: String,
    tsa_slug: Option<String>,
    label: Option<String>,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    qualified: bool,
}

/// Seed bodies for 402 and 502 carry `message` (and for 502 the attempts); they also get the common error
/// fields, so clients of either document can read them.
fn quota_error(refusal: QuotaRefusal) -> Response {
    let message = match refusal {
        QuotaRefusal::Stamps(limit) => {
            format!("Monthly stamp limit of {limit} reached. Upgrade your plan to continue.")
        }
        QuotaRefusal::Qualified(limit) => {
            format!(
                "Monthly qualified stamp limit of {limit} reached. Upgrade your plan to continue."
            )
        }
    };
    let body = json!({
        "message": message,
        "error": message,
        "code": ErrorKind::PaymentRequired.code(),
        "details": {},
    });
    (StatusCode::PAYMENT_REQUIRED, axum::Json(body)).into_response()
}

/// The 502 of a stamp that no TSA made. The seed's message speaks of all enabled TSAs, which is what `auto`
/// tried; a request that named one TSA tried only that one, and says so.
fn all_failed(failures: Vec<AttemptFailure>, named: bool) -> Response {
    let message = if named {
        "The requested TSA failed."
    } else {
        "All enabled TSAs failed."
    };
    let body = json!({
        "message": message,
        "attemptsTried": failures.len(),
        "failures": failures,
        "error": message,
        "code": "ALL_TSAS_FAILED",
        "details": { "attemptsTried": failures.len() },
    });
    (StatusCode::BAD_GATEWAY, axum::Json(body)).into_response()
}

/// Renders a stamp service error; `named` is whether the request named one TSA (not `auto`).
fn stamp_error(error: StampError, named: bool) -> Response {
    match error {
        StampError::Invalid { field, reason } => {
            ApiError::invalid_field(field, reason).into_response()
        }
        StampError::Quota(refusal) => quota_error(refusal),
        StampError::AllFailed(failures) => all_failed(failures, named),
        StampError::Unavailable(reason) => ApiError::unavailable(reason).into_response(),
        StampError::NotFound(what) => ApiError::not_found(what).into_response(),
        StampError::Store(error) => ApiError::from(error).into_response(),
    }
}

fn selection(slug: Option<String>) -> StampSelection {
    match slug.as_deref().map(str::trim) {
        None | Some("") | Some("auto") => StampSelection::Auto,
        Some(slug) => StampSelection::Slug(slug.to_string()),
    }
}

fn outcome_json(outcome: StampOutcome) -> Value {
    let (stamp, existing) = match outcome {
        StampOutcome::Created(stamp) => (stamp, false),
        StampOutcome::Existing(stamp) => (stamp, true),
    };
    let mut body = stamp_json(&stamp);
    body["existing"] = json!(existing);
    body
}

/// POST /tsa/stamp-hash
async fn stamp_hash(
    State(state): State<AppState>,
    caller: TenantCaller,
    Json(request): Json<StampHashRequest>,
) -> Response {
    let parsed = parse_digest("hashHex", &request.hash_hex)
        .and_then(|digest| Ok((digest, parse_label(request.label)?)));
    let ((hash, digest, hash_hex), label) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return error.into_response(),
    };
    let selection = selection(request.tsa_slug);
    let named = matches!(selection, StampSelection::Slug(_));
    let stamp = StampRequest {
        hash,
        digest,
        hash_hex,
        selection,
        qualified: request.qualified,
        label,
        force: request.force,
    };
    match state.stamps.stamp(&caller.scope(), stamp).await {
        Ok(outcome) => (StatusCode::OK, axum::Json(outcome_json(outcome))).into_response(),
        Err(error) => stamp_error(error, named),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RestampRequest {
    transaction_id: String,
    tsa_slug: Option<String>,
}

/// POST /tsa/restamp: stamps the SHA-512 of the stored TSR bytes (RFC 3161 §4 archival chain).
async fn restamp(
    State(state): State<AppState>,
    caller: TenantCaller,
    Json(request): Json<RestampRequest>,
) -> Response {
    if let Err(error) = checked_stamp_id(&request.transaction_id, "transactionId") {
        return error.into_response();
    }
    let selection = selection(request.tsa_slug);
    let named = matches!(selection, StampSelection::Slug(_));
    let restamped = state
        .stamps
        .restamp(
            &caller.scope(),
            &StampId::new(request.transaction_id),
            selection,
        )
        .await;
    match restamped {
        Ok(stamp) => (StatusCode::OK, axum::Json(stamp_json(&stamp))).into_response(),
        Err(error) => stamp_error(error, named),
    }
}

/// A record id, checked for shape (see `tenants::checked_id`); the 404 names the field.
fn checked_stamp_id(id: &str, field: &str) -> ApiResult<()> {
    super::tenants::checked_id(id, "transaction")
        .map(|_| ())
        .map_err(|error| error.with_details(json!({ "field": field })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyHashRequest {
    /// SHA-256, SHA-384 or SHA-512 digest of the file, hex.
    #[schema(pattern = "^([0-9a-fA-F]{64}|[0-9a-fA-F]{96}|[0-9a-fA-F]{128})$")]
    file_hash_hex: String,
    tsr_base64: String,
}

fn trust_json(trust: &TrustStatus) -> Value {
    match trust {
        TrustStatus::Chained { .. } => json!("chained"),
        TrustStatus::SelfSigned { .. } => json!("self_signed"),
        TrustStatus::Untrusted { .. } => json!("untrusted"),
    }
}

/// POST /tsa/verify-hash (public). `valid` is true only for the ETSI indication `PASSED`: every check passed and
/// the signer chains to a configured anchor. Otherwise `indication`/`subIndication` and the message say which
/// check failed.
async fn verify_hash(
    State(state): State<AppState>,
    Json(request): Json<VerifyHashRequest>,
) -> ApiResult<Json<Value>> {
    // SHA-1 digests only where the operator allowed verifying SHA-1 tokens.
    let sha1 = state.config().tsa.allow_sha1_verification;
    let (_, digest, provided) = parse_digest_of("fileHashHex", &request.file_hash_hex, sha1)?;
    let tsr = decode_base64("tsrBase64", &request.tsr_base64)?;
    // A token that does not even parse is bad input, not a failed verification.
    let token = sigil_rfc3161::inspect(&tsr)
        .map_err(|e| ApiError::invalid_field("tsrBase64", format!("not a TSR: {e}")))?;
    let claimed = hex::encode(&token.message_imprint);
    let hash_match = claimed == provided;
    let mut details = json!({
        "serial": token.serial.to_decimal(),
        "genTime": token.gen_time.to_rfc3339(),
        "hashAlgorithmOid": token.hash_algorithm_oid.to_string(),
        "claimedHashHex": claimed,
        "providedHashHex": provided,
        "hashMatch": hash_match,
    });
    let trust = state.trust.get().for_verification();
    let verified = tokio::task::spawn_blocking(move || {
        sigil_rfc3161::verify_token_against_digest(&tsr, &digest, &trust)
    })
    .await
    .map_err(ApiError::internal)?;
    if let Err(VerifyError::Malformed(parse)) = &verified {
        return Err(ApiError::invalid_field(
            "tsrBase64",
            format!("not a TSR: {parse}"),
        ));
    }
    let verdict = Verdict::of_result(&verified);
    if let Ok(verified) = &verified {
        details["trust"] = trust_json(&verified.trust);
        details["signer"] = json!(verified.signer.subject);
        details["policyOid"] = json!(verified.token.policy.to_string());
    }
    let message = if verdict.passed() {
        format!(
            "File matches the timestamp, and the timestamp {}.",
            verdict.message
        )
    } else if !hash_match {
        "File does not match the timestamp: the hash differs from the one stamped.".to_string()
    } else {
        format!("The timestamp is not valid: {}.", verdict.message)
    };
    Ok(Json(json!({
        "valid": verdict.passed(),
        "indication": verdict.indication.as_str(),
        "subIndication": verdict.sub_indication.map(|sub| sub.as_str()),
        "message": message,
        "details": details,
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InspectRequest {
    tsr_base64: String,
}

/// POST /tsa/inspect (public): the token's contents, without verifying it.
async fn inspect(Json(request): Json<InspectRequest>) -> ApiResult<Json<Value>> {
    let tsr = decode_base64("tsrBase64", &request.tsr_base64)?;
    let token = sigil_rfc3161::inspect(&tsr)
        .map_err(|e| ApiError::invalid_field("tsrBase64", format!("not a TSR: {e}")))?;
    let signer = token.signer.as_ref();
    Ok(Json(json!({
        "genTime": token.gen_time.to_rfc3339(),
        "serial": token.serial.to_decimal(),
        "hashAlg": token.hash_algorithm_oid.to_string(),
        "hashHex": hex::encode(&token.message_imprint),
        "policyOid": token.policy.to_string(),
        "tsaName": token.tsa_name.clone().or_else(|| signer.map(|s| s.subject.clone())),
        "signerSubject": signer.map(|s| s.subject.clone()),
        "signerIssuer": signer.map(|s| s.issuer.clone()),
        "certNotBefore": signer.map(|s| s.not_before.clone()),
        "certNotAfter": signer.map(|s| s.not_after.clone()),
        "nonce": token.nonce.as_ref().map(|n| n.to_hex()),
        "certificates": token.certificates.len(),
    })))
}

/// GET /api/lookup/{hash} (public). The seed documents SHA-512; SHA-256 and SHA-384 digests are accepted too.
/// Each tenant decides what it discloses (`publicLookup`): nothing (`off`), that the hash was stamped, when, by
/// which TSA, with the token (`existence`, the default), or that plus the label and record id (`full`).
async fn lookup(State(state): State<AppState>, Path(hash): Path<String>) -> ApiResult<Json<Value>> {
    let (_, _, hash_hex) = parse_digest("hash", &hash)?;
    let store = &state.runtime.store;
    let stamps = store.stamps_by_hash(&hash_hex, LOOKUP_LIMIT).await?;
    let mut tenants: Vec<TenantId> = stamps.iter().map(|s| s.record.tenant.clone()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let disclosure = store.public_lookup_of(&tenants).await?;
    let records: Vec<Value> = stamps
        .iter()
        .filter_map(|s| {
            let level = disclosure
                .get(&s.record.tenant)
                .copied()
                .unwrap_or_default();
            let mut record = json!({ "tsaName": s.record.tsa_name, "genTime": s.record.gen_time,
                "certNotAfter": s.record.cert_not_after, "tsrBase64": s.record.tsr });
            match level {
                PublicLookup::Off => return None,
                PublicLookup::Existence => {}
                PublicLookup::Full => {
                    record["id"] = json!(s.uid);
                    record["label"] = json!(s.record.label);
                }
            }
            Some(record)
        })
        .collect();
    Ok(Json(json!({
        "found": !records.is_empty(),
        "count": records.len(),
        "latest": records.first(),
        "records": records,
    })))
}

/// GET /api/transactions/by-hash/{hash}: the tenant's newest record of a digest as an evidence record (the
/// public Python client's `get_evidence_record`); 404 when the tenant has none.
async fn by_hash(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(hash): Path<String>,
) -> ApiResult<Json<Value>> {
    let (_, _, hash_hex) = parse_digest("hash", &hash)?;
    let stamps = state
        .runtime
        .store
        .tenant_stamps_of(&caller.scope(), &hash_hex)
        .await?;
    let newest = stamps
        .first()
        .ok_or_else(|| ApiError::not_found("transaction"))?;
    let record = &newest.record;
    Ok(Json(json!({
        "id": newest.uid,
        "hash": record.hash_hex,
        "alg": record.hash_alg_oid,
        "genTime": record.gen_time,
        "createdAt": newest.created_at,
        "tsaName": record.tsa_name,
        "label": record.label,
        "certNotBefore": record.cert_not_before,
        "certNotAfter": record.cert_not_after,
        "isRestamp": record.parent.is_some(),
        "hasTsr": !record.tsr.is_empty(),
    })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionsQuery {
    tenant_id: Option<String>,
    search: Option<String>,
    #[serde(flatten)]
    paging: PagingParams,
}

/// GET /api/transactions/details
async fn list_transactions(
    State(state): State<AppState>,
    caller: TenantCaller,
    Query(query): Query<TransactionsQuery>,
) -> ApiResult<Json<Value>> {
    // The seed has the tenant in the query; the credentials decide it here, and another tenant is not visible.
    if let Some(requested) = &query.tenant_id
        && caller.tenant != requested.as_str()
    {
        return Err(ApiError::not_found("tenant"));
    }
    let paging = query.paging.resolve()?;
    let search = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.chars().count() > MAX_LABEL) {
        return Err(ApiError::invalid_field(
            "search",
            format!("must be at most {MAX_LABEL} characters"),
        ));
    }
    let (stamps, total) = state
        .runtime
        .store
        .stamps_page(&caller.scope(), search, paging.window())
        .await?;
    Ok(Json(
        paging.envelope(stamps.iter().map(stamp_json).collect(), total),
    ))
}

/// GET /api/transactions/{id}: one record with its restamp chain (each restamp of it, and theirs, in order).
async fn transaction(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> Response {
    if let Err(error) = checked_stamp_id(&id, "id") {
        return error.into_response();
    }
    match state.stamps.chain(&caller.scope(), &StampId::new(id)).await {
        Ok((stamp, restamps)) => {
            let mut body = stamp_json(&stamp);
            body["restamps"] = Value::Array(restamps.iter().map(stamp_json).collect());
            Json(body).into_response()
        }
        Err(error) => stamp_error(error, false),
    }
}

/// GET /api/transactions/{id}/audit-package.zip: the record's tokens, certificates, a verification report, the
/// custody log and a SHA-256 manifest, as a ZIP (see `StampService::audit_package`).
async fn audit_package(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> Response {
    if let Err(error) = checked_stamp_id(&id, "id") {
        return error.into_response();
    }
    let trust = state.trust.get().for_verification();
    match state
        .stamps
        .audit_package(&caller.scope(), &StampId::new(id.as_str()), trust)
        .await
    {
        Ok(zip) => (
            [
                (header::CONTENT_TYPE, "application/zip".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"audit-package-{id}.zip\""),
                ),
            ],
            zip,
        )
            .into_response(),
        Err(error) => stamp_error(error, false),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelRequest {
    label: String,
}

/// PUT /api/transactions/{id}/label
async fn set_label(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
    Json(request): Json<LabelRequest>,
) -> ApiResult<Json<Value>> {
    let label = parse_label(Some(request.label))?.unwrap_or_default();
    // The update is scoped to the tenant and answers NOT_FOUND itself: no separate read first.
    checked_stamp_id(&id, "id")?;
    state
        .runtime
        .store
        .set_stamp_label(&caller.scope(), &StampId::new(id.as_str()), &label)
        .await?;
    Ok(Json(json!({ "id": id, "label": label })))
}

fn settings_json(settings: &TenantSettings) -> Value {
    json!({
        "enabledTsaSlugs": settings.enabled_tsa_slugs,
        "publicLookup": settings.public_lookup.as_str(),
        "storeCadesSeals": settings.store_cades_seals,
    })
}

/// GET /api/settings
async fn settings(State(state): State<AppState>, caller: TenantCaller) -> ApiResult<Json<Value>> {
    let settings = state.runtime.store.tenant_settings(&caller.scope()).await?;
    Ok(Json(settings_json(&settings)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SettingsRequest {
    enabled_tsa_slugs: Option<Vec<String>>,
    public_lookup: Option<String>,
    store_cades_seals: Option<bool>,
}

/// PUT /api/settings (owner): fields left out keep their value.
async fn update_settings(
    State(state): State<AppState>,
    caller: TenantCaller,
    Json(request): Json<SettingsRequest>,
) -> ApiResult<Json<Value>> {
    caller.require_owner()?;
    let store = &state.runtime.store;
    let mut settings = store.tenant_settings(&caller.scope()).await?;
    if let Some(requested) = request.enabled_tsa_slugs {
        let known = state.config();
        let mut slugs: Vec<String> = Vec::new();
        for slug in requested {
            let exists = slug == crate::tsa::LOCAL_SLUG
                || known.tsa_providers.iter().any(|p| p.slug == slug);
            if !exists {
                return Err(ApiError::invalid_field(
                    "enabledTsaSlugs",
                    format!("unknown TSA `{slug}`"),
                ));
            }
            if !slugs.contains(&slug) {
                slugs.push(slug);
            }
        }
        settings.enabled_tsa_slugs = slugs;
    }
    if let Some(level) = request.public_lookup {
        settings.public_lookup = match level.as_str() {
            "off" => PublicLookup::Off,
            "existence" => PublicLookup::Existence,
            "full" => PublicLookup::Full,
            _ => {
                return Err(ApiError::invalid_field(
                    "publicLookup",
                    "must be `off`, `existence` or `full`",
                ));
            }
        };
    }
    if let Some(store_cades_seals) = request.store_cades_seals {
        settings.store_cades_seals = store_cades_seals;
    }
    store
        .set_tenant_settings(&caller.scope(), &settings)
        .await?;
    if let Ok(actor) = state.tenant_actor(caller.tenant.as_str()).await {
        let _ = actor.send(InvalidateSettings).await;
    }
    Ok(Json(settings_json(&settings)))
}

/// GET /api/tsa/health (owner): per provider, this tenant's stamps and failures, and the provider's health on
/// this node.
async fn tsa_health(State(state): State<AppState>, caller: TenantCaller) -> ApiResult<Json<Value>> {
    caller.require_owner()?;
    let store = &state.runtime.store;
    let usage = store.provider_usage(&caller.scope()).await?;
    let failures = store.failure_counts(&caller.scope()).await?;
    let recent = store.recent_tsa_failures(&caller.scope(), 50).await?;
    let mut providers = Vec::new();
    for provider in state.providers.list() {
        let slug = provider.info.slug.clone();
        let node = Some(provider.core.health());
        let used = usage.iter().find(|u| u.provider == slug);
        providers.push(json!({
            "slug": slug,
            "name": provider.info.name,
            "qualified": provider.info.qualified,
            "successCount": used.map_or(0, |u| u.count),
            "failureCount": failures.iter().find(|(p, _)| *p == slug).map_or(0, |(_, c)| *c),
            "meanLatencyMs": used.and_then(|u| u.mean_latency_ms),
            "circuit": node.as_ref().map(|h| h.circuit),
            "node": node,
            "recentFailures": recent.iter().filter(|f| f.provider == slug).take(10).collect::<Vec<_>>(),
        }));
    }
    Ok(Json(json!({ "providers": providers })))
}

/// GET /proxy/services (public): the configured, enabled providers. `isActive` says whether the provider can
/// be asked right now: a remote provider's plugin instance is loaded and healthy, the local TSA is set up.
async fn services(State(state): State<AppState>) -> Json<Value> {
    use crate::plugin_host::instance::Health;
    let statuses = state
        .plugins
        .send(crate::plugin_host::ListStatus)
        .await
        .unwrap_or_default();
    let config = state.config();
    let is_active = |slug: &str| {
        if slug == crate::tsa::LOCAL_SLUG {
            return state.local_tsa.get().is_some();
        }
        let Some(provider) = config.tsa_providers.iter().find(|p| p.slug == slug) else {
            return false;
        };
        let instance = provider.instance_name();
        statuses.iter().any(|status| {
            status.name == instance
                && status.generation > 0
                && matches!(status.health, Health::Up(_))
        })
    };
    let list: Vec<Value> = state
        .providers
        .list()
        .iter()
        .map(|p| {
            json!({
                "id": p.info.id,
                "name": p.info.name,
                "proxySlug": p.info.slug,
                "endpointUrl": p.info.endpoint_url,
                "preferredHashOid": p.info.preferred_hash_oid,
                "isActive": is_active(&p.info.slug),
                "qualified": p.info.qualified,
                "policyOid": p.info.policy_oid,
            })
        })
        .collect();
    Json(Value::Array(list))
}

/// GET /proxy/services/{slug}/certificates (public): the provider's chain as PEM.
async fn certificates(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult<Response> {
    let provider = state
        .providers
        .get(&slug)
        .ok_or_else(|| ApiError::not_found("TSA provider"))?;
    let pem = if slug == crate::tsa::LOCAL_SLUG {
        state
            .local_tsa
            .get()
            .map(|tsa| tsa.chain_pem.clone())
            .ok_or_else(|| ApiError::unavailable("the local TSA is not ready yet"))?
    } else {
        let chain = provider.core.known_chain();
        if chain.is_empty() {
            return Err(ApiError::not_found("certificate chain").with_details(
                json!({ "reason": "no token from this provider has been verified yet" }),
            ));
        }
        chain
            .iter()
            .filter_map(crate::tsa::local::certificate_pem)
            .collect()
    };
    Ok(([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}

/// POST /tsr: RFC 3161 over HTTP (`application/timestamp-query` → `application/timestamp-reply`).
async fn tsr(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Option<Caller>,
    body: Bytes,
) -> Response {
    let config = state.config();
    match config.local_tsa.http {
        crate::config::TsrAccess::Off => return ApiError::not_found("endpoint").into_response(),
        crate::config::TsrAccess::ApiKey if !matches!(caller, Some(Caller::ApiKey { .. })) => {
            return ApiError::unauthorized("POST /tsr needs a tenant API key on this instance")
                .into_response();
        }
        _ => {}
    }
    if !super::extract::has_media_type(&headers, "application/timestamp-query") {
        return ApiError::new(
            ErrorKind::UnsupportedMediaType,
            "expected `Content-Type: application/timestamp-query`",
        )
        .into_response();
    }
    let Some(tsa) = state.local_tsa.get() else {
        return ApiError::unavailable("the local TSA is not ready yet").into_response();
    };
    // The KMS is called on the key's signing lane; this task stops waiting at its deadline and answers a
    // refusal, so a hung KMS costs a client its deadline, never a hang.
    let deadline = tsa.sign_deadline();
    let lane = tsa.lane().clone();
    let issuing = lane.run(move || {
        match sigil_rfc3161::respond(
            &body,
            tsa.signer(),
            &tsa.policy,
            std::time::SystemTime::now(),
        ) {
            Ok(issued) => issued.response_der,
            // A refusal is still a well-formed TimeStampResp: RFC 3161 clients read the status from it.
            Err(refusal) => {
                let reason = refusal.error.failure_info().name();
                tracing::info!(error = %refusal.error, reason, "time-stamp request refused");
                metrics::counter!("sigil_tsr_refused_total", "reason" => reason).increment(1);
                refusal.response_der
            }
        }
    });
    let issued = match tokio::time::timeout(deadline, issuing).await {
        Ok(Ok(issued)) => Ok(issued),
        Ok(Err(crate::lane::LaneError::Full(waiting))) => {
            tracing::warn!(
                waiting,
                "time-stamp request refused: the signing queue is full"
            );
            Ok(system_failure("the signing key is busy; retry later"))
        }
        Ok(Err(error)) => Err(error),
        Err(_) => {
            tracing::warn!(
                deadline_ms = deadline.as_millis() as u64,
                "time-stamp request refused: the KMS did not sign in time"
            );
            Ok(system_failure("the signing key did not answer in time"))
        }
    };
    match issued {
        Ok(der) => ([(header::CONTENT_TYPE, "application/timestamp-reply")], der).into_response(),
        Err(error) => ApiError::internal(error).into_response(),
    }
}

/// A `systemFailure` refusal for `POST /tsr` (counted): a well-formed TimeStampResp, so RFC 3161 clients read
/// why from it.
fn system_failure(text: &str) -> Vec<u8> {
    metrics::counter!("sigil_tsr_refused_total", "reason" => "systemFailure").increment(1);
    sigil_rfc3161::reject(
        sigil_rfc3161::PkiStatus::Rejection,
        sigil_rfc3161::FailureInfo::SystemFailure,
        text,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_by_length() {
        let cases: &[(&str, Option<HashAlgorithm>)] = &[
            (&"a".repeat(64), Some(HashAlgorithm::Sha256)),
            (&"A".repeat(96), Some(HashAlgorithm::Sha384)),
            (&"0".repeat(128), Some(HashAlgorithm::Sha512)),
            (&"a".repeat(63), None),
            (&"a".repeat(40), None),
            (&"g".repeat(64), None),
            ("", None),
        ];
        for (text, expected) in cases {
            match (parse_digest("hashHex", text), expected) {
                (Ok((algorithm, bytes, hex)), Some(expected)) => {
                    assert_eq!(algorithm, *expected);
                    assert_eq!(bytes.len(), algorithm.output_len());
                    assert_eq!(hex, text.to_ascii_lowercase());
                }
                (Err(error), None) => assert_eq!(error.details["field"], "hashHex"),
                (got, want) => panic!("{text}: got {:?}, want {want:?}", got.map(|g| g.0)),
            }
        }
    }

    #[test]
    fn labels() {
        assert!(parse_label(Some("x".repeat(255))).is_ok());
        assert!(parse_label(Some("x".repeat(256))).is_err());
        assert!(parse_label(Some("a\u{0}b".into())).is_err());
        assert_eq!(parse_label(None).unwrap(), None);
    }
}
