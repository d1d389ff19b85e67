//! The document-seal API of the Sigill seed: seal certificates (list, provision, activate, revoke), sealing an
//! uploaded file or a digest, the operation log with `.p7s` downloads, and public verification. Handlers parse
//! (multipart uploads are streamed and hashed, never held whole in memory), call one `SealService` method and
//! render.

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha384, Sha512};
use sigil_seal::{ContentDigest, CsrSubject, HashAlgorithm, SealCheck, SealReport};

use super::AppState;
use super::extract::{Json, PagingParams, Query, TenantCaller};
use super::form::{Form, FormError, Part};
use crate::app::seals::{CertificateView, ProvisionRequest, SealError, SealRequest, Sealed};
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::kms::KeyKind;
use crate::store::SealOperation;
use crate::text::checked_text;

/// Longest label (as stamps).
const MAX_LABEL: usize = 255;
/// Largest text field of a multipart form.
const MAX_FORM_FIELD: usize = 4 * 1024;
/// Largest `.p7s` (or `.tsr`) part of a verification.
const MAX_SIGNATURE_BYTES: usize = 1024 * 1024;
/// Most parts in one form: a form of endless small parts is refused early.
const MAX_FORM_PARTS: usize = 32;
/// The `.p7s` download's 404 message, as the seed words it.
const P7S_NOT_STORED: &str = ".p7s not stored — enable Store CAdES seals in Settings, or download immediately after sealing.";

/// Routes for members and API keys (owner checks inside).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/seal/certificates",
            get(list_certificates).post(provision_certificate),
        )
        .route(
            "/seal/certificates/{id}/activate",
            post(activate_certificate),
        )
        .route(
            "/seal/certificates/{id}",
            axum::routing::delete(revoke_certificate),
        )
        // The seal limit is enforced while streaming (413 in the API's shape); the JSON body limit does not
        // apply to uploads.
        .route("/seal/sign", post(sign).layer(DefaultBodyLimit::disable()))
        .route("/seal/sign-hash", post(sign_hash))
        .route("/seal/sign-pades-hash", post(sign_pades_hash))
        .route("/seal/sign-hashes", post(sign_hashes))
        .route("/seal/operations", get(list_operations))
        .route("/seal/operations/{id}/p7s", get(operation_p7s))
}

/// Public routes (rate-limited per client IP by the caller of this function).
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/seal/verify",
            post(verify).layer(DefaultBodyLimit::disable()),
        )
        .route("/seal/verify-hash", post(verify_hash))
        .route("/seal/verify-objects", post(verify_objects))
}

impl From<SealError> for ApiError {
    fn from(error: SealError) -> Self {
        match error {
            SealError::Invalid { field, reason } => ApiError::invalid_field(field, reason),
            SealError::NotFound(what) => ApiError::not_found(what),
            SealError::Conflict(message) => ApiError::conflict(message),
            SealError::Unavailable(message) => ApiError::unavailable(message),
            SealError::Store(error) => error.into(),
        }
    }
}

fn certificate_json(view: &CertificateView) -> Value {
    json!({
        "id": view.id,
        "label": view.label,
        "status": view.status,
        "source": view.source,
        "keyAlgorithm": view.key_algorithm,
        "certSubject": view.subject,
        "certNotBefore": view.not_before,
        "certNotAfter": view.not_after,
    })
}

/// GET /seal/certificates
async fn list_certificates(
    State(state): State<AppState>,
    caller: TenantCaller,
) -> ApiResult<Json<Value>> {
    let views = state.seals.certificates(&caller.scope()).await?;
    Ok(Json(Value::Array(
        views.iter().map(certificate_json).collect(),
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProvisionBody {
    common_name: String,
    organization: String,
    country_code: String,
    organizational_unit: Option<String>,
    locality: Option<String>,
    state: Option<String>,
    email: Option<String>,
    label: Option<String>,
    key_algorithm: Option<String>,
}

/// POST /seal/certificates (owner session)
async fn provision_certificate(
    State(state): State<AppState>,
    caller: TenantCaller,
    Json(body): Json<ProvisionBody>,
) -> ApiResult<Json<Value>> {
    caller.require_owner()?;
    let optional = |field: &str, value: Option<String>| -> ApiResult<Option<String>> {
        value.map(|v| checked_text(field, &v, 64)).transpose()
    };
    let country = body.country_code.trim();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::invalid_field(
            "countryCode",
            "must be an ISO 3166 alpha-2 code: two upper-case letters such as NO",
        ));
    }
    let key_kind = match body.key_algorithm.as_deref().unwrap_or("rsa-4096") {
        "rsa-4096" => KeyKind::Rsa(4096),
        "rsa-3072" => KeyKind::Rsa(3072),
        "ecdsa-p256" => KeyKind::EcdsaP256,
        _ => {
            return Err(ApiError::invalid_field(
                "keyAlgorithm",
                "must be `rsa-4096` (default), `rsa-3072` or `ecdsa-p256`",
            ));
        }
    };
    let email = optional("email", body.email)?;
    if email
        .as_deref()
        .is_some_and(|e| !e.is_ascii() || !e.contains('@'))
    {
        return Err(ApiError::invalid_field(
            "email",
            "must be an ASCII email address",
        ));
    }
    let request = ProvisionRequest {
        subject: CsrSubject {
            common_name: checked_text("commonName", &body.common_name, 64)?,
            organization: checked_text("organization", &body.organization, 64)?,
            country: country.to_string(),
            organizational_unit: optional("organizationalUnit", body.organizational_unit)?,
            locality: optional("locality", body.locality)?,
            state: optional("state", body.state)?,
            email,
        },
        label: body
            .label
            .map(|l| checked_text("label", &l, MAX_LABEL))
            .transpose()?,
        key_kind,
    };
    let provisioned = state.seals.provision(&caller.scope(), request).await?;
    let mut answer = certificate_json(&provisioned.certificate);
    answer["kmsKeyArn"] = json!(provisioned.key_uri);
    answer["csrPem"] = json!(provisioned.csr_pem);
    Ok(Json(answer))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ActivateBody {
    certificate_pem: String,
}

/// POST /seal/certificates/{id}/activate (owner session)
async fn activate_certificate(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
    Json(body): Json<ActivateBody>,
) -> ApiResult<Json<Value>> {
    caller.require_owner()?;
    let view = state
        .seals
        .activate(&caller.scope(), &id, &body.certificate_pem)
        .await?;
    Ok(Json(certificate_json(&view)))
}

/// DELETE /seal/certificates/{id} (owner session)
async fn revoke_certificate(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require_owner()?;
    state.seals.revoke(&caller.scope(), &id).await?;
    Ok(Json(
        json!({ "message": "Certificate revoked. KMS key deletion scheduled." }),
    ))
}

/// The form's next part, refusing a form of more than [`MAX_FORM_PARTS`] parts (`parts` counts them).
async fn next_part(form: &mut Form, parts: &mut usize) -> ApiResult<Option<Part>> {
    let Some(part) = form.next_part().await.map_err(form_error)? else {
        return Ok(None);
    };
    *parts += 1;
    if *parts > MAX_FORM_PARTS {
        return Err(ApiError::invalid_field(
            "file",
            format!("the form has more than {MAX_FORM_PARTS} parts"),
        ));
    }
    Ok(Some(part))
}

fn form_error(error: FormError) -> ApiError {
    ApiError::new(
        ErrorKind::InvalidRequest,
        format!("malformed multipart body: {error}"),
    )
}

/// A streamed upload: its size, digests, and a PDF's bytes (decided by the magic number `%PDF-`).
struct Upload {
    file_name: Option<String>,
    size: u64,
    sha256: Vec<u8>,
    sha384: Vec<u8>,
    sha512: Vec<u8>,
    /// A PDF is kept whole (the PDF layer parses it in memory), under one of the `[seal] max_concurrent_pdf`
    /// permits; anything else is only hashed.
    pdf: Option<(Vec<u8>, tokio::sync::OwnedSemaphorePermit)>,
}

/// Reads a file part chunk by chunk, hashing as it goes: memory stays one chunk per upload whatever the
/// file's size, except for a PDF, which is kept (at most `[seal] max_concurrent_pdf` at once; further ones wait
/// for a permit). Over `limit` bytes: 413.
async fn hash_file(
    state: &AppState,
    form: &mut Form,
    part: Part,
    limit: u64,
    all_hashes: bool,
) -> ApiResult<Upload> {
    let file_name = part.file_name;
    let (mut sha256, mut sha384, mut sha512) = (Sha256::new(), Sha384::new(), Sha512::new());
    let mut size = 0u64;
    // The first bytes, until the magic number decides; they are all in `head` until then (it decides at 5).
    let mut head = Vec::with_capacity(8);
    // A PDF's bytes and its permit, once the magic number said PDF; anything else is never copied.
    let mut pdf: Option<(Vec<u8>, tokio::sync::OwnedSemaphorePermit)> = None;
    let mut decided = false;
    while let Some(chunk) = form.chunk().await.map_err(form_error)? {
        size += chunk.len() as u64;
        if size > limit {
            return Err(ApiError::new(
                ErrorKind::PayloadTooLarge,
                format!("the file is larger than the seal limit of {limit} bytes"),
            )
            .with_details(json!({ "field": "file", "limit": limit })));
        }
        let earlier = head.len();
        if head.len() < 8 {
            let take = (8 - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        sha256.update(&chunk);
        if all_hashes {
            sha384.update(&chunk);
            sha512.update(&chunk);
        }
        if let Some((bytes, _)) = pdf.as_mut() {
            bytes.extend_from_slice(&chunk);
        } else if !decided && head.len() >= 5 {
            decided = true;
            if is_pdf(&head) {
                let permit = state
                    .seals
                    .pdf_permits()
                    .acquire_owned()
                    .await
                    .map_err(ApiError::internal)?;
                // Earlier chunks held fewer than 5 bytes in all: they are `head[..earlier]`.
                let mut bytes = Vec::with_capacity(earlier + chunk.len());
                bytes.extend_from_slice(&head[..earlier]);
                bytes.extend_from_slice(&chunk);
                pdf = Some((bytes, permit));
            }
        }
    }
    // A file too short to decide (under 5 bytes) is not a PDF.
    Ok(Upload {
        file_name,
        size,
        sha256: sha256.finalize().to_vec(),
        sha384: sha384.finalize().to_vec(),
        sha512: sha512.finalize().to_vec(),
        pdf,
    })
}

async fn small_bytes(form: &mut Form, name: &str, limit: usize) -> ApiResult<Vec<u8>> {
    let mut bytes = Vec::new();
    while let Some(chunk) = form.chunk().await.map_err(form_error)? {
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::new(
                ErrorKind::PayloadTooLarge,
                format!("the `{name}` part is larger than {limit} bytes"),
            )
            .with_details(json!({ "field": name, "limit": limit })));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

async fn text_field(form: &mut Form, name: &str) -> ApiResult<String> {
    let bytes = small_bytes(form, name, MAX_FORM_FIELD).await?;
    String::from_utf8(bytes).map_err(|_| ApiError::invalid_field(name, "must be UTF-8 text"))
}

fn parse_bool(field: &str, text: &str) -> ApiResult<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "on" => Ok(true),
        "false" | "0" | "off" | "" => Ok(false),
        _ => Err(ApiError::invalid_field(field, "must be `true` or `false`")),
    }
}

fn is_pdf(head: &[u8]) -> bool {
    head.starts_with(b"%PDF-")
}

fn sealed_response(sealed: Sealed) -> Response {
    let mut response = Response::new(Body::from(sealed.p7s));
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    let content_type = match sealed.format {
        "jades" => "application/jose+json",
        "pades" => "application/pdf",
        _ => "application/pkcs7-signature",
    };
    set("content-type", content_type.into());
    set("x-seal-operation-id", sealed.operation_id.to_string());
    set("x-seal-certificate-id", sealed.certificate_id);
    // Header values are ASCII: a TSA name with other characters is sent percent-encoded.
    set(
        "x-seal-timestamped-by",
        sealed
            .timestamped_by
            .map(|name| ascii_header(&name))
            .unwrap_or_else(|| "none".into()),
    );
    set("x-seal-format", sealed.format.into());
    set("x-seal-qualified", sealed.qualified.to_string());
    set("x-seal-level", sealed.level.into());
    response
}

fn ascii_header(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c.to_string()
            } else {
                let mut buffer = [0u8; 4];
                c.encode_utf8(&mut buffer)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect()
}

/// POST /seal/sign (multipart): a file in, a detached CAdES `.p7s` out (PDFs: PAdES, when available).
async fn sign(
    State(state): State<AppState>,
    caller: TenantCaller,
    mut form: Form,
) -> ApiResult<Response> {
    let limit = state.config().seal.max_file_bytes;
    let mut upload = None;
    let (mut certificate_id, mut label, mut qualified) = (None, None, false);
    let (mut reason, mut location) = (None, None);
    let mut lta = false;
    let mut parts = 0;
    while let Some(part) = next_part(&mut form, &mut parts).await? {
        let name = part.name.clone();
        match name.as_str() {
            "file" if upload.is_none() => {
                upload = Some(hash_file(&state, &mut form, part, limit, false).await?)
            }
            "file" => return Err(ApiError::invalid_field("file", "only one file per seal")),
            "certificateId" => {
                let text = text_field(&mut form, "certificateId").await?;
                let text = text.trim();
                certificate_id = (!text.is_empty()).then(|| text.to_string());
            }
            "label" => {
                let text = text_field(&mut form, "label").await?;
                if !text.trim().is_empty() {
                    label = Some(checked_text("label", &text, MAX_LABEL)?);
                }
            }
            "qualified" => {
                qualified = parse_bool("qualified", &text_field(&mut form, "qualified").await?)?
            }
            // PDF only (`/Reason`, `/Location`); ignored for other files.
            "reason" => {
                let text = text_field(&mut form, "reason").await?;
                if !text.trim().is_empty() {
                    reason = Some(checked_text("reason", &text, MAX_LABEL)?);
                }
            }
            "location" => {
                let text = text_field(&mut form, "location").await?;
                if !text.trim().is_empty() {
                    location = Some(checked_text("location", &text, MAX_LABEL)?);
                }
            }
            // `B-B` and `B-T` both ask for the usual seal (B-T, B-B when every TSA fails); `B-LTA` adds a DSS
            // and a document time-stamp to a PDF.
            "level" => {
                let text = text_field(&mut form, "level").await?;
                lta = match text.trim() {
                    "" | "B-B" | "B-T" => false,
                    "B-LTA" => true,
                    _ => {
                        return Err(ApiError::invalid_field(
                            "level",
                            "level must be B-B, B-T or B-LTA",
                        ));
                    }
                };
            }
            // The public client's fields that a seal does not use.
            "reminders" | "reminderDays" | "tags" => {
                text_field(&mut form, &name).await?;
            }
            other => {
                return Err(ApiError::invalid_field(other, "unknown form field"));
            }
        }
    }
    let upload = upload.ok_or_else(|| ApiError::invalid_field("file", "no file provided"))?;
    if lta && upload.pdf.is_none() {
        return Err(ApiError::invalid_field(
            "level",
            "B-LTA is built for PDFs only; CAdES archive time-stamps are not built (ask for B-T)",
        ));
    }
    let request = SealRequest {
        sha256: upload.sha256,
        certificate_id,
        qualified,
        label,
        file_name: upload.file_name,
        size: upload.size,
    };
    let sealed = match upload.pdf {
        // The permit is held until the sealed PDF has been built.
        Some((pdf, _permit)) => {
            state
                .seals
                .seal_pades(&caller.scope(), request, pdf, reason, location, lta)
                .await?
        }
        None => state.seals.seal_cades(&caller.scope(), request).await?,
    };
    Ok(sealed_response(sealed))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignHashBody {
    hash_hex: String,
    certificate_id: Option<String>,
    #[serde(default)]
    qualified: bool,
    label: Option<String>,
    format: Option<String>,
    content_type: Option<String>,
    #[serde(default)]
    pqc: bool,
    hash_hex512: Option<String>,
    // Accepted for the public client; reminders are not built yet and tags are not recorded for seals.
    #[allow(dead_code)]
    tags: Option<Vec<String>>,
    #[allow(dead_code)]
    reminders: Option<String>,
    #[allow(dead_code)]
    reminder_days: Option<u32>,
}

fn sha256_hex(field: &str, text: &str) -> ApiResult<Vec<u8>> {
    let text = text.trim();
    if text.len() != 64 {
        return Err(ApiError::invalid_field(
            field,
            "must be a SHA-256 digest: 64 hexadecimal characters",
        ));
    }
    hex::decode(text).map_err(|_| ApiError::invalid_field(field, "must be hexadecimal"))
}

/// POST /seal/sign-hash: a SHA-256 digest in, a detached CAdES `.p7s` out (contract §2 #2).
async fn sign_hash(
    State(state): State<AppState>,
    caller: TenantCaller,
    Json(body): Json<SignHashBody>,
) -> ApiResult<Response> {
    if body.pqc || body.hash_hex512.is_some() {
        return Err(ApiError::invalid_field(
            "pqc",
            "post-quantum co-signatures are not available yet; send the request without `pqc`",
        ));
    }
    let jades = match body.format.as_deref() {
        None | Some("cades") => false,
        Some("jades") => true,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "format",
                "must be `cades` or `jades`",
            ));
        }
    };
    let content_type = body
        .content_type
        .map(|t| checked_text("contentType", &t, 255))
        .transpose()?
        .unwrap_or_default();
    let sha256 = sha256_hex("hashHex", &body.hash_hex)?;
    let label = body
        .label
        .map(|l| checked_text("label", &l, MAX_LABEL))
        .transpose()?;
    let request = SealRequest {
        sha256,
        certificate_id: body.certificate_id,
        qualified: body.qualified,
        label,
        file_name: None,
        size: 0,
    };
    let scope = caller.scope();
    let sealed = if jades {
        state
            .seals
            .seal_jades(&scope, request, content_type)
            .await?
    } else {
        state.seals.seal_cades(&scope, request).await?
    };
    Ok(sealed_response(sealed))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignPadesHashBody {
    hash_hex: String,
    certificate_id: Option<String>,
    #[serde(default)]
    qualified: bool,
    label: Option<String>,
    // Accepted for the public client; reminders are not built yet and tags are not recorded for seals.
    #[allow(dead_code)]
    tags: Option<Vec<String>>,
    #[allow(dead_code)]
    reminders: Option<String>,
    #[allow(dead_code)]
    reminder_days: Option<u32>,
}

/// POST /seal/sign-pades-hash: the CMS for a PDF whose ByteRange digest the client computed (contract §2 #7).
async fn sign_pades_hash(
    State(state): State<AppState>,
    caller: TenantCaller,
    Json(body): Json<SignPadesHashBody>,
) -> ApiResult<Json<Value>> {
    let sha256 = sha256_hex("hashHex", &body.hash_hex)?;
    let label = body
        .label
        .map(|l| checked_text("label", &l, MAX_LABEL))
        .transpose()?;
    let sealed = state
        .seals
        .seal_pades_cms(
            &caller.scope(),
            SealRequest {
                sha256,
                certificate_id: body.certificate_id,
                qualified: body.qualified,
                label,
                file_name: None,
                size: 0,
            },
        )
        .await?;
    Ok(Json(json!({
        "cmsBase64": BASE64.encode(&sealed.p7s),
        "operationId": sealed.operation_id,
        "certificateId": sealed.certificate_id,
        "timestampedBy": sealed.timestamped_by,
        "qualified": sealed.qualified,
        "level": sealed.level,
        "certChainDers": sealed.chain_der.iter().map(|der| BASE64.encode(der)).collect::<Vec<_>>(),
        "ocspDers": sealed.ocsp_der.iter().map(|der| BASE64.encode(der)).collect::<Vec<_>>(),
    })))
}

/// Most objects one `/seal/sign-hashes` seal covers besides the envelope (contract §4).
const MAX_OBJECTS: usize = 128;
/// The envelope's reference in `sigD.pars` (contract §5, v2.1).
const ENVELOPE_REF: &str = "sigill-envelope.json";
/// References the client reserves for the envelope.
const RESERVED_REFS: [&str; 2] = ["sigill-envelope.json", "urn:sigill:envelope"];
/// The envelope's content type when the request names none (contract §4).
const DEFAULT_ENVELOPE_TYPE: &str = "application/vnd.sigill.ai-evidence+json";

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectDigest {
    uri: String,
    hash_hex: String,
    hash_hex512: Option<String>,
    content_type: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignHashesBody {
    envelope_hash_hex: String,
    certificate_id: Option<String>,
    #[serde(default)]
    objects: Vec<ObjectDigest>,
    #[serde(default)]
    qualified: bool,
    envelope_content_type: Option<String>,
    timestamp: Option<bool>,
    #[serde(default)]
    pqc: bool,
    envelope_hash_hex512: Option<String>,
    label: Option<String>,
    #[allow(dead_code)]
    tags: Option<Vec<String>>,
    #[allow(dead_code)]
    reminders: Option<String>,
    #[allow(dead_code)]
    reminder_days: Option<u32>,
}

/// The client's "production profile" of an object reference (contract §4): non-empty `/`-separated segments of
/// `A-Za-z0-9._~-`, none of them `.` or `..`.
fn check_object_uri(uri: &str) -> Result<(), &'static str> {
    if RESERVED_REFS.contains(&uri) {
        return Err("is reserved for the envelope");
    }
    let valid = uri.split('/').all(|segment| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
    });
    if valid {
        Ok(())
    } else {
        Err(
            "must be non-empty `/`-separated segments of A-Z a-z 0-9 . _ ~ - (no `.` or `..` segment)",
        )
    }
}

/// POST /seal/sign-hashes: one JAdES over an envelope digest and up to 128 object digests (contract §4–§5).
async fn sign_hashes(
    State(state): State<AppState>,
    caller: TenantCaller,
    Json(body): Json<SignHashesBody>,
) -> ApiResult<Json<Value>> {
    if body.pqc
        || body.envelope_hash_hex512.is_some()
        || body.objects.iter().any(|o| o.hash_hex512.is_some())
    {
        return Err(ApiError::invalid_field(
            "pqc",
            "post-quantum co-signatures are not available yet; send the request without `pqc`",
        ));
    }
    if body.objects.len() > MAX_OBJECTS {
        return Err(ApiError::invalid_field(
            "objects",
            format!("at most {MAX_OBJECTS} objects per seal"),
        ));
    }
    let envelope = sha256_hex("envelopeHashHex", &body.envelope_hash_hex)?;
    let envelope_type = body
        .envelope_content_type
        .map(|t| checked_text("envelopeContentType", &t, 255))
        .transpose()?
        .unwrap_or_else(|| DEFAULT_ENVELOPE_TYPE.into());
    let mut objects = vec![sigil_seal::JadesObject {
        uri: ENVELOPE_REF.into(),
        digest: envelope.clone(),
        content_type: envelope_type,
    }];
    let mut seen = std::collections::HashSet::new();
    for (index, object) in body.objects.into_iter().enumerate() {
        let field = format!("objects[{index}].uri");
        check_object_uri(&object.uri).map_err(|reason| ApiError::invalid_field(&field, reason))?;
        if !seen.insert(object.uri.clone()) {
            return Err(ApiError::invalid_field(&field, "appears twice"));
        }
        let digest = sha256_hex("objects[].hashHex", &object.hash_hex).map_err(|_| {
            ApiError::invalid_field(
                &format!("objects[{index}].hashHex"),
                "must be a SHA-256 digest: 64 hexadecimal characters",
            )
        })?;
        let content_type = object
            .content_type
            .map(|t| checked_text("objects[].contentType", &t, 255))
            .transpose()?
            .unwrap_or_default();
        objects.push(sigil_seal::JadesObject {
            uri: object.uri,
            digest,
            content_type,
        });
    }
    let label = body
        .label
        .map(|l| checked_text("label", &l, MAX_LABEL))
        .transpose()?;
    let sealed = state
        .seals
        .seal_jades_objects(
            &caller.scope(),
            SealRequest {
                sha256: envelope,
                certificate_id: body.certificate_id,
                qualified: body.qualified,
                label,
                file_name: None,
                size: 0,
            },
            objects,
            body.timestamp != Some(false),
        )
        .await?;
    let signature: Value = serde_json::from_slice(&sealed.p7s).map_err(ApiError::internal)?;
    Ok(Json(json!({
        "signature": signature,
        "operationId": sealed.operation_id,
        "certificateId": sealed.certificate_id,
        "format": "jades",
        "level": sealed.level,
        "timestampedBy": sealed.timestamped_by,
        "qualified": sealed.qualified,
        "pqc": false,
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyObjectsBody {
    signature: Value,
    digests: Option<std::collections::BTreeMap<String, String>>,
    digests512: Option<std::collections::BTreeMap<String, String>>,
    tsr_base64: Option<String>,
}

/// The contract's trust words for `/seal/verify-objects` (§6), which the client decides trust from: `chained` is
/// `trusted_chain`, the platform root `platform`.
fn contract_trust(trust: sigil_seal::CertificateTrust) -> &'static str {
    match trust {
        sigil_seal::CertificateTrust::Chained => "trusted_chain",
        sigil_seal::CertificateTrust::DevCa => "platform",
        other => other.as_str(),
    }
}

/// POST /seal/verify-objects (public): a JAdES over object digests (contract §6).
async fn verify_objects(
    State(state): State<AppState>,
    Json(body): Json<VerifyObjectsBody>,
) -> ApiResult<Json<Value>> {
    if body.tsr_base64.is_some() {
        return Err(ApiError::invalid_field(
            "tsrBase64",
            "external time-stamp tokens are not checked yet; the seal's embedded time-stamp is",
        ));
    }
    let (field, digests, length) = match (body.digests, body.digests512) {
        (Some(digests), _) => ("digests", digests, 64),
        (None, Some(digests)) => ("digests512", digests, 128),
        (None, None) => ("digests", Default::default(), 64),
    };
    if digests.len() > MAX_OBJECTS + 1 {
        return Err(ApiError::invalid_field(
            field,
            format!("at most {} digests", MAX_OBJECTS + 1),
        ));
    }
    let mut supplied = std::collections::BTreeMap::new();
    for (uri, hex_digest) in digests {
        let digest = (hex_digest.len() == length)
            .then(|| hex::decode(&hex_digest).ok())
            .flatten()
            .ok_or_else(|| {
                ApiError::invalid_field(
                    field,
                    format!("the digest of `{uri}` must be {length} hexadecimal characters"),
                )
            })?;
        supplied.insert(uri, digest);
    }
    if !body.signature.is_object() {
        return Err(ApiError::invalid_field(
            "signature",
            "must be a JWS JSON object",
        ));
    }
    let json = serde_json::to_vec(&body.signature).map_err(ApiError::internal)?;
    let seals = state.seals.clone();
    let report = tokio::task::spawn_blocking(move || seals.verify_jades_objects(&json, &supplied))
        .await
        .map_err(ApiError::internal)??;
    if report.seal.failed_check == Some(SealCheck::Format) {
        return Err(ApiError::invalid_field(
            "signature",
            report.seal.verdict.message.clone(),
        ));
    }
    let seal = &report.seal;
    let matched = report.objects.iter().filter(|o| o.hash_match).count();
    let supplied_count =
        report.objects.iter().filter(|o| o.supplied).count() + report.unreferenced.len();
    let certificate = seal.signer.as_ref().map(|signer| {
        json!({
            "subject": signer.subject,
            "issuer": signer.issuer,
            "notAfter": signer.not_after,
            "trust": contract_trust(seal.trust),
            "isSelfSigned": seal.trust == sigil_seal::CertificateTrust::SelfSigned,
        })
    });
    let timestamp = seal.timestamp.as_ref().map(|t| {
        json!({
            "genTime": t.gen_time,
            "tsaName": t.tsa_name,
            "signatureValid": t.verdict.indication != sigil_seal::Indication::Failed,
            "trust": if t.trusted { "trusted_chain" } else { "untrusted" },
        })
    });
    let objects: Vec<Value> = report
        .objects
        .iter()
        .map(|o| {
            json!({ "par": o.par, "contentType": o.content_type, "supplied": o.supplied,
                    "hashMatch": o.hash_match })
        })
        .collect();
    Ok(Json(json!({
        "objects": {
            "signatureValid": seal.signature_valid,
            "complete": report.complete,
            "pqc": "absent",
            "objectCount": report.objects.len(),
            "suppliedCount": supplied_count,
            "matchedCount": matched,
            "objects": objects,
            "missing": report.missing,
            "unreferenced": report.unreferenced,
            "signatureSha256": report.signature_sha256_hex,
            "indication": seal.verdict.indication.as_str(),
            "subIndication": seal.verdict.sub_indication.map(|s| s.as_str()),
            "warnings": seal.warnings,
            "error": (!seal.verdict.passed()).then(|| seal.verdict.message.clone()),
            "underlying": { "certificate": certificate, "timestamp": timestamp },
        }
    })))
}

#[derive(Deserialize)]
pub struct OperationsQuery {
    search: Option<String>,
    #[serde(flatten)]
    paging: PagingParams,
}

fn operation_json(operation: &SealOperation) -> Value {
    json!({
        "id": operation.uid,
        "documentHash": operation.document_hash,
        "label": operation.label,
        "fileName": operation.file_name,
        "size": operation.size,
        "status": "success",
        "createdAt": operation.created_at,
        "certificateId": operation.certificate_id,
        "certLabel": operation.cert_label,
        "signatureType": operation.format,
        "level": operation.level,
        "hasP7s": operation.p7s.is_some(),
        "tsaName": operation.tsa_name,
    })
}

/// GET /seal/operations
async fn list_operations(
    State(state): State<AppState>,
    caller: TenantCaller,
    Query(query): Query<OperationsQuery>,
) -> ApiResult<Json<Value>> {
    let paging = query.paging.resolve()?;
    let search = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let (operations, total) = state
        .seals
        .operations(&caller.scope(), search, paging.window())
        .await?;
    let items: Vec<Value> = operations.iter().map(operation_json).collect();
    Ok(Json(paging.envelope(items, total)))
}

/// GET /seal/operations/{id}/p7s
async fn operation_p7s(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    match state.seals.operation_p7s(&caller.scope(), &id).await? {
        Some(p7s) => {
            Ok(([(header::CONTENT_TYPE, "application/pkcs7-signature")], p7s).into_response())
        }
        None => Err(ApiError::new(ErrorKind::NotFound, P7S_NOT_STORED)
            .with_details(json!({ "message": P7S_NOT_STORED }))),
    }
}

/// The `cades` node of a verification.
fn cades_json(report: &SealReport, file_hash_hex: Option<String>) -> Value {
    let certificate = report.signer.as_ref().map(|signer| {
        json!({
            "subject": signer.subject,
            "issuer": signer.issuer,
            "notBefore": signer.not_before,
            "notAfter": signer.not_after,
            "trust": report.trust.as_str(),
            "qc": { "isEidasQualified": report.qualified },
        })
    });
    let timestamp = report.timestamp.as_ref().map(|t| {
        json!({
            "genTime": t.gen_time,
            "tsaName": t.tsa_name,
            "trusted": t.trusted,
            "serial": t.serial,
            "qualificationSource": "none",
        })
    });
    let error = (!report.verdict.passed()).then(|| report.verdict.message.clone());
    let revocation = &report.revocation;
    let (revoked_at, reason) = match &revocation.status {
        sigil_seal::RevocationStatus::Revoked { time, reason, .. } => (Some(time.clone()), *reason),
        _ => (None, None),
    };
    json!({
        "signaturePresent": true,
        "hashMatch": report.hash_match.unwrap_or(false),
        "signatureValid": report.signature_valid,
        "fileHashHex": file_hash_hex,
        "certificate": certificate,
        "timestamp": timestamp,
        "tsrSource": report.timestamp.as_ref().map(|_| "embedded"),
        "tsrMatchError": Value::Null,
        "level": report.level.map(|l| l.as_str()),
        "signingTime": report.signing_time,
        "indication": report.verdict.indication.as_str(),
        "subIndication": report.verdict.sub_indication.map(|s| s.as_str()),
        "failedCheck": report.failed_check.map(|c| c.as_str()),
        "valid": report.verdict.passed(),
        "revocation": {
            "status": revocation.status.as_str(),
            "source": revocation.source,
            "producedAt": revocation.produced_at,
            "revokedAt": revoked_at,
            "reasonCode": reason,
        },
        "warnings": report.warnings,
        "error": error,
    })
}

/// Puts a checked standalone time-stamp into a verification node: `tsrSource: "external"` and its
/// `timestamp` when it covers the seal and verifies, else `tsrMatchError` (the embedded one, if any, stays).
fn with_external_timestamp(
    node: &mut Value,
    external: Option<crate::app::seals::ExternalTimestamp>,
) {
    let Some(external) = external else {
        return;
    };
    match external.report {
        Some(t) => {
            node["timestamp"] = json!({
                "genTime": t.gen_time,
                "tsaName": t.tsa_name,
                "trusted": t.trusted,
                "serial": t.serial,
                "qualificationSource": "none",
            });
            node["tsrSource"] = json!("external");
        }
        None => node["tsrMatchError"] = json!(external.match_error),
    }
}

/// The `pades` answer: the newest PAdES signature in the seed's node (with the verdict fields of the CAdES
/// node), and every signature of the file in `signatures`, each saying whether it covers the whole file or how
/// many revisions follow it. The newest signature's content mismatch is the seed's 400.
fn pades_answer(reports: &[crate::app::seals::PdfSignatureReport]) -> ApiResult<Json<Value>> {
    let signatures: Vec<Value> = reports
        .iter()
        .map(|entry| {
            let mut node = match (&entry.report, &entry.doc_timestamp) {
                (Some(report), _) => cades_json(report, None),
                // A document time-stamp: `verified` when its token covers its byte ranges and verifies;
                // `valid` only when its TSA chains to the TSA trust set.
                (None, Some(Ok(t))) => json!({
                    "signaturePresent": true,
                    "verified": true,
                    "valid": t.verdict.passed(),
                    "indication": t.verdict.indication.as_str(),
                    "timestamp": {
                        "genTime": t.gen_time,
                        "tsaName": t.tsa_name,
                        "trusted": t.trusted,
                        "serial": t.serial,
                        "qualificationSource": "none",
                    },
                    "error": (!t.verdict.passed()).then(|| t.verdict.message.clone()),
                }),
                (None, Some(Err(reason))) => json!({
                    "signaturePresent": true,
                    "verified": false,
                    "valid": false,
                    "error": reason,
                }),
                (None, None) => json!({ "signaturePresent": true, "verified": false }),
            };
            node["fieldName"] = json!(entry.info.field_name);
            node["kind"] = json!(match entry.info.kind {
                sigil_pdf::SignatureKind::Signature => "signature",
                sigil_pdf::SignatureKind::DocTimeStamp => "docTimeStamp",
            });
            node["subFilter"] = json!(entry.info.sub_filter);
            node["byteRangeOk"] = json!(entry.info.byte_range_ok);
            node["coversWholeFile"] = json!(entry.info.covers_whole_file);
            node["revisionsAfter"] = json!(entry.info.revisions_after);
            node["reason"] = json!(entry.info.reason);
            node["location"] = json!(entry.info.location);
            node["pdfSigningTime"] = json!(entry.info.signing_time);
            node
        })
        .collect();
    let newest = reports
        .iter()
        .rev()
        .find(|entry| entry.info.kind == sigil_pdf::SignatureKind::Signature);
    let Some(newest) = newest else {
        return Ok(Json(json!({
            "format": "pades",
            "pades": { "signaturePresent": false, "hashMatch": false, "signatures": signatures },
        })));
    };
    let Some(report) = &newest.report else {
        return Err(
            ApiError::new(ErrorKind::InvalidRequest, "malformed .p7s or PDF").with_details(
                json!({ "field": "file", "reason": "the signature's /ByteRange is not sound" }),
            ),
        );
    };
    if let Some(error) = refuse_verification(report) {
        return Err(error);
    }
    let mut node = cades_json(report, None);
    node["coversWholeFile"] = json!(newest.info.covers_whole_file);
    node["revisionsAfter"] = json!(newest.info.revisions_after);
    node["signatures"] = json!(signatures);
    Ok(Json(json!({ "format": "pades", "pades": node })))
}

/// The seed's 400s for a verification that could not start or whose content does not match.
fn refuse_verification(report: &SealReport) -> Option<ApiError> {
    let details = json!({
        "indication": report.verdict.indication.as_str(),
        "subIndication": report.verdict.sub_indication.map(|s| s.as_str()),
        "reason": report.verdict.message,
    });
    match report.failed_check {
        Some(SealCheck::Format) => Some(
            ApiError::new(ErrorKind::InvalidRequest, "malformed .p7s or PDF").with_details(details),
        ),
        Some(SealCheck::ContentDigest) if report.hash_match == Some(false) => Some(
            ApiError::new(ErrorKind::InvalidRequest, "file hash does not match seal")
                .with_details(details),
        ),
        _ => None,
    }
}

/// POST /seal/verify (public, multipart): `file` and `p7s` → CAdES; a PDF alone → PAdES (when available).
async fn verify(State(state): State<AppState>, mut form: Form) -> ApiResult<Json<Value>> {
    let limit = state.config().seal.max_file_bytes;
    let (mut upload, mut p7s, mut tsr) = (None, None, None);
    let mut parts = 0;
    while let Some(part) = next_part(&mut form, &mut parts).await? {
        let name = part.name.clone();
        match name.as_str() {
            "file" if upload.is_none() => {
                upload = Some(hash_file(&state, &mut form, part, limit, true).await?)
            }
            "p7s" if p7s.is_none() => {
                p7s = Some(small_bytes(&mut form, "p7s", MAX_SIGNATURE_BYTES).await?)
            }
            "tsr" if tsr.is_none() => {
                tsr = Some(small_bytes(&mut form, "tsr", MAX_SIGNATURE_BYTES).await?)
            }
            other => {
                return Err(ApiError::invalid_field(
                    other,
                    "unknown or repeated form field",
                ));
            }
        }
    }
    let upload = upload.ok_or_else(|| ApiError::invalid_field("file", "no file provided"))?;
    let Some(p7s) = p7s.filter(|p| !p.is_empty()) else {
        if let Some((pdf, permit)) = upload.pdf {
            if tsr.is_some() {
                return Err(ApiError::invalid_field(
                    "tsr",
                    "a standalone time-stamp goes with a .p7s, not with a PDF",
                ));
            }
            let seals = state.seals.clone();
            let reports = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                seals.verify_pades(&pdf)
            })
            .await
            .map_err(ApiError::internal)??;
            return pades_answer(&reports);
        }
        return Err(ApiError::invalid_field(
            "p7s",
            "a file that is not a PDF needs its detached `.p7s` signature",
        ));
    };
    let digests = [
        ContentDigest {
            algorithm: HashAlgorithm::Sha256,
            digest: upload.sha256.clone(),
        },
        ContentDigest {
            algorithm: HashAlgorithm::Sha384,
            digest: upload.sha384.clone(),
        },
        ContentDigest {
            algorithm: HashAlgorithm::Sha512,
            digest: upload.sha512.clone(),
        },
    ];
    let seals = state.seals.clone();
    let (report, external) = tokio::task::spawn_blocking(move || {
        let report = seals.verify_cades(&p7s, &digests)?;
        let external = tsr
            .map(|tsr| seals.check_external_timestamp(&tsr, &p7s, &digests))
            .transpose()?;
        Ok::<_, SealError>((report, external))
    })
    .await
    .map_err(ApiError::internal)??;
    if let Some(error) = refuse_verification(&report) {
        return Err(error);
    }
    let mut node = cades_json(&report, Some(hex::encode(&upload.sha256)));
    with_external_timestamp(&mut node, external);
    Ok(Json(json!({ "format": "cades", "cades": node })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyHashBody {
    hash_hex: String,
    hash_hex512: Option<String>,
    p7s_base64: String,
    tsr_base64: Option<String>,
}

/// POST /seal/verify-hash (public): the `cades` node of contract §3 for a digest and a `.p7s`. A hash
/// mismatch is an answer here (`hashMatch: false`), not a 400: the client reads the node.
async fn verify_hash(
    State(state): State<AppState>,
    Json(body): Json<VerifyHashBody>,
) -> ApiResult<Json<Value>> {
    let tsr = body
        .tsr_base64
        .as_deref()
        .map(|text| {
            BASE64
                .decode(text.trim())
                .map_err(|_| ApiError::invalid_field("tsrBase64", "must be standard base64"))
        })
        .transpose()?;
    let sha256 = sha256_hex("hashHex", &body.hash_hex)?;
    let mut digests = vec![ContentDigest {
        algorithm: HashAlgorithm::Sha256,
        digest: sha256,
    }];
    if let Some(text) = body.hash_hex512 {
        let text = text.trim();
        let digest = (text.len() == 128)
            .then(|| hex::decode(text).ok())
            .flatten()
            .ok_or_else(|| {
                ApiError::invalid_field("hashHex512", "must be 128 hexadecimal characters")
            })?;
        digests.push(ContentDigest {
            algorithm: HashAlgorithm::Sha512,
            digest,
        });
    }
    let p7s = BASE64
        .decode(body.p7s_base64.trim())
        .map_err(|_| ApiError::invalid_field("p7sBase64", "must be standard base64"))?;
    if p7s.first() == Some(&b'{') {
        let sha256 = digests[0].digest.clone();
        let seals = state.seals.clone();
        let report = tokio::task::spawn_blocking(move || seals.verify_jades_single(&p7s, &sha256))
            .await
            .map_err(ApiError::internal)??;
        if report.seal.failed_check == Some(SealCheck::Format) {
            return Err(refuse_verification(&report.seal).unwrap_or_else(|| {
                ApiError::invalid_field("p7sBase64", "malformed JAdES signature")
            }));
        }
        let mut node = cades_json(&report.seal, None);
        node["signatureSha256"] = json!(report.signature_sha256_hex);
        node["tsrSource"] = json!(report.seal.timestamp.as_ref().map(|_| "embedded"));
        return Ok(Json(json!({ "jades": node })));
    }
    let seals = state.seals.clone();
    let (report, external) = tokio::task::spawn_blocking(move || {
        let report = seals.verify_cades(&p7s, &digests)?;
        let external = tsr
            .map(|tsr| seals.check_external_timestamp(&tsr, &p7s, &digests))
            .transpose()?;
        Ok::<_, SealError>((report, external))
    })
    .await
    .map_err(ApiError::internal)??;
    if report.failed_check == Some(SealCheck::Format) {
        return Err(refuse_verification(&report)
            .unwrap_or_else(|| ApiError::invalid_field("p7sBase64", "malformed .p7s")));
    }
    let mut node = cades_json(&report, None);
    with_external_timestamp(&mut node, external);
    Ok(Json(json!({ "cades": node })))
}
