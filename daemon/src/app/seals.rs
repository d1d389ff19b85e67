//! The seal use cases: provision, activate, list and revoke a tenant's seal certificates (keys in the KMS
//! plugin, never here), seal a digest as a detached CAdES (B-T with the tenant's auto-dispatched time-stamp,
//! B-B when every TSA fails), record the operation, and verify seals.
//!
//! One seal, as data: the handler streams the upload and hashes it; [`SealService::seal_cades`] picks the
//! certificate, builds the signed attributes (sigil-seal), has the KMS sign them on a blocking thread, asks the
//! timestamping service for a token over the signature value, and records the operation.

use std::sync::{Arc, Mutex};

use actix::Addr;
use sha2::Digest as _;
use sigil_rfc3161::der::{Encode, EncodePem, pem::LineEnding};
use sigil_rfc3161::{Certificate, CertificateSummary, HashAlgorithm, TrustStore};
use sigil_seal::{
    CadesBuilder, CadesOptions, CmsSignatureAlgorithm, ContentDigest, CsrSubject, SealReport,
    SealSigner, SignerError, TrustSettings,
};

use super::TenantScope;
use super::revocation::{ChainRequest, FetchedRevocation, RevocationFetcher};
use super::seal_platform::{PlatformSeal, PlatformSealCell};
use super::timestamping::{SignatureTimestamp, StampError, StampService};
use crate::actors::Runtime;
use crate::ids::{SealCertificateId, SealOperationId};
use crate::kms::{KeyKind, KmsClient, KmsClients, KmsKey};
use crate::plugin_host::PluginHost;
use crate::store::{Activation, NewSealCertificate, SealCertificate, SealOperation, StoreError};

/// The platform certificate's id in the API.
pub const PLATFORM_CERTIFICATE_ID: &str = "platform";
/// The reference (`sigD.pars[0]`) of the one object a hash-only JAdES seal covers.
pub const JADES_DOCUMENT_REF: &str = "document";
/// Days a revoked certificate's KMS key is kept before it is destroyed.
pub const KEY_DELETION_GRACE_DAYS: u32 = 7;

/// Why a seal use case failed.
#[derive(Debug)]
pub enum SealError {
    /// A request field is unusable (the field, why).
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The thing named does not exist for this tenant.
    NotFound(&'static str),
    /// The request conflicts with the current state.
    Conflict(String),
    /// The KMS or another part of the daemon cannot serve now.
    Unavailable(String),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for SealError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(message) => SealError::Conflict(message),
            other => SealError::Store(other),
        }
    }
}

/// A certificate as the API lists it.
#[derive(Debug, Clone)]
pub struct CertificateView {
    /// Id (`platform` for the platform certificate).
    pub id: String,
    /// Label.
    pub label: String,
    /// `provisioning`, `active` or `revoked`.
    pub status: String,
    /// `byoc` or `platform`.
    pub source: &'static str,
    /// Key algorithm.
    pub key_algorithm: String,
    /// The leaf's subject, once active.
    pub subject: Option<String>,
    /// notBefore, RFC 3339.
    pub not_before: Option<String>,
    /// notAfter, RFC 3339.
    pub not_after: Option<String>,
}

impl CertificateView {
    fn of(certificate: &SealCertificate) -> Self {
        Self {
            id: certificate.uid.to_string(),
            label: certificate.label.clone(),
            status: certificate.status.clone(),
            source: "byoc",
            key_algorithm: certificate.key_algorithm.clone(),
            subject: certificate.cert_subject.clone(),
            not_before: certificate.cert_not_before.clone(),
            not_after: certificate.cert_not_after.clone(),
        }
    }
}

/// A certificate to provision.
#[derive(Debug, Clone)]
pub struct ProvisionRequest {
    /// The CSR's subject (validated by sigil-seal).
    pub subject: CsrSubject,
    /// Label (the common name when absent).
    pub label: Option<String>,
    /// The key algorithm.
    pub key_kind: KeyKind,
}

/// A provisioned certificate.
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// The record.
    pub certificate: CertificateView,
    /// The CSR, PEM.
    pub csr_pem: String,
    /// The KMS key's URI.
    pub key_uri: String,
}

/// What to seal: a digest and the facts recorded with it.
#[derive(Debug, Clone)]
pub struct SealRequest {
    /// SHA-256 of the content.
    pub sha256: Vec<u8>,
    /// The certificate to use; none: the tenant's newest active one, else the platform certificate.
    pub certificate_id: Option<String>,
    /// Only a qualified TSA may time-stamp.
    pub qualified: bool,
    /// The caller's label.
    pub label: Option<String>,
    /// The uploaded file's name.
    pub file_name: Option<String>,
    /// The content's size (0 for hash-only seals).
    pub size: u64,
}

/// A finished seal.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The detached signature: CAdES DER (`cades`) or JAdES JSON (`jades`).
    pub p7s: Vec<u8>,
    /// `cades` or `jades`.
    pub format: &'static str,
    /// The recorded operation's id.
    pub operation_id: SealOperationId,
    /// The certificate's id.
    pub certificate_id: String,
    /// The TSA that time-stamped the signature; none when every TSA failed.
    pub timestamped_by: Option<String>,
    /// Whether that TSA is qualified.
    pub qualified: bool,
    /// `B-B`, `B-T`, or `B-LTA` for a PDF sealed with a DSS and a document time-stamp.
    pub level: &'static str,
    /// The signer's chain, DER, leaf first.
    pub chain_der: Vec<Vec<u8>>,
    /// OCSP responses fetched for the signer's chain and the TSA (`ocspDers` of `/seal/sign-pades-hash`;
    /// empty for other seals and when `[seal] revocation_fetch` is off or nothing answered).
    pub ocsp_der: Vec<Vec<u8>>,
}

/// One signature of a PDF and, for a PAdES signature with a sound `/ByteRange`, its verification.
#[derive(Debug, Clone)]
pub struct PdfSignatureReport {
    /// What the PDF says about it.
    pub info: sigil_pdf::SignatureInfo,
    /// The CMS verification over its byte ranges.
    pub report: Option<SealReport>,
    /// For a document time-stamp with a sound `/ByteRange`: its token verified against the TSA trust set over
    /// the digest of its byte ranges (the token's own hash algorithm), or why it does not verify.
    pub doc_timestamp: Option<Result<sigil_seal::TimestampReport, String>>,
}

/// A verified token, as the seal reports describe time-stamps.
fn timestamp_report(verified: &sigil_rfc3161::VerifiedToken) -> sigil_seal::TimestampReport {
    sigil_seal::TimestampReport {
        gen_time: verified.token.gen_time.to_rfc3339(),
        gen_time_unix: verified.token.gen_time.unix_seconds(),
        tsa_name: verified
            .token
            .tsa_name
            .clone()
            .unwrap_or_else(|| verified.signer.subject.clone()),
        trusted: verified.trust.is_chained(),
        verdict: sigil_seal::Verdict::of_trust(&verified.trust),
        serial: verified.token.serial.to_decimal(),
    }
}

/// A PDF the PDF layer refuses, as a 400 naming the file and saying why.
fn pdf_error(error: sigil_pdf::PdfError) -> SealError {
    let reason = match &error {
        sigil_pdf::PdfError::Encrypted => {
            "the PDF is encrypted; encrypted PDFs are not sealed or verified".to_string()
        }
        other => other.to_string(),
    };
    SealError::Invalid {
        field: "file",
        reason,
    }
}

/// A standalone time-stamp checked against a seal.
#[derive(Debug, Clone)]
pub struct ExternalTimestamp {
    /// The verified time-stamp, when it covers the seal or its content and verifies.
    pub report: Option<sigil_seal::TimestampReport>,
    /// Why it does not, otherwise.
    pub match_error: Option<String>,
}

/// The anchors seals are verified against.
pub struct SealTrust {
    /// `[seal] trust_roots_file` (`chained`).
    pub anchors: Arc<TrustStore>,
    /// The platform root (`dev_ca`).
    pub platform: TrustStore,
    /// Every TSA anchor, for signature time-stamps.
    pub tsa: Arc<TrustStore>,
}

/// The signing material of one certificate.
struct SigningCertificate {
    id: String,
    label: String,
    chain_der: Vec<Vec<u8>>,
    key: KmsKey,
}

/// Seal trust anchors and the config generation they were read for.
type AnchorsForGeneration = (u64, Arc<TrustStore>);

/// The seal service. Cheap to clone.
#[derive(Clone)]
pub struct SealService {
    runtime: Arc<Runtime>,
    stamps: StampService,
    platform: PlatformSealCell,
    tsa_trust: crate::tsa::TrustCell,
    /// The local TSA, whose generated root's CRL goes with B-LTA seals it time-stamped.
    local_tsa: crate::tsa::local::LocalTsaCell,
    /// KMS clients by instance name, so in-flight tracking and the cached direct caller are shared.
    clients: KmsClients,
    /// `[seal] trust_roots_file` with the config generation it was read for; a reload reads it again.
    anchors: Arc<Mutex<Option<AnchorsForGeneration>>>,
    /// Bounds concurrent PDF seals and verifications (each holds its PDF in memory).
    pdf_permits: Arc<tokio::sync::Semaphore>,
}

/// Adapts a KMS key to sigil-seal's signer.
struct KmsSealSigner {
    key: KmsKey,
    public_key: sigil_rfc3161::SubjectPublicKeyInfoOwned,
}

impl SealSigner for KmsSealSigner {
    fn algorithm(&self) -> CmsSignatureAlgorithm {
        CmsSignatureAlgorithm::Classic(self.key.kind.signature_algorithm())
    }

    fn public_key(&self) -> Result<sigil_rfc3161::SubjectPublicKeyInfoOwned, SignerError> {
        Ok(self.public_key.clone())
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.key.sign(message)
    }
}

/// Runs KMS work on the blocking pool (KMS calls block their thread until the plugin answers or its deadline).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SealError> + Send + 'static,
) -> Result<T, SealError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(SealError::Unavailable(format!("KMS call panicked: {e}"))))
}

/// The certificate's key or chain cannot make this kind of seal.
fn unusable_certificate(error: impl std::fmt::Display) -> SealError {
    SealError::Invalid {
        field: "certificateId",
        reason: format!("cannot seal with this certificate: {error}"),
    }
}

/// The KMS answered a signature the seal structure refuses (wrong key, wrong encoding).
fn unusable_signature(error: impl std::fmt::Display) -> SealError {
    SealError::Unavailable(format!("the KMS signature is unusable: {error}"))
}

fn kms_error(error: impl std::fmt::Display) -> SealError {
    SealError::Unavailable(format!("the seal KMS failed: {error}"))
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn chain_pem(chain: &[Vec<u8>]) -> Result<String, SealError> {
    use sigil_rfc3161::der::Decode;
    chain
        .iter()
        .map(|der| {
            Certificate::from_der(der)
                .and_then(|c| c.to_pem(LineEnding::LF))
                .map_err(|e| SealError::Unavailable(e.to_string()))
        })
        .collect()
}

/// Parses a PEM chain into DER certificates, leaf first.
fn parse_pem_chain(field: &'static str, pem: &str) -> Result<Vec<Vec<u8>>, SealError> {
    let invalid = |reason: String| SealError::Invalid { field, reason };
    let certificates = Certificate::load_pem_chain(pem.as_bytes())
        .map_err(|e| invalid(format!("not a PEM certificate chain: {e}")))?;
    if certificates.is_empty() {
        return Err(invalid("holds no certificate".into()));
    }
    certificates
        .iter()
        .map(|c| c.to_der().map_err(|e| invalid(e.to_string())))
        .collect()
}

impl SealService {
    /// A service over the runtime, the plugin host, the timestamping service, the platform seal and the TSA trust.
    pub fn new(
        runtime: Arc<Runtime>,
        plugins: Addr<PluginHost>,
        stamps: StampService,
        platform: PlatformSealCell,
        tsa_trust: crate::tsa::TrustCell,
        local_tsa: crate::tsa::local::LocalTsaCell,
    ) -> Self {
        // Fixed at start: a reload changing it takes effect at the next restart.
        let max_concurrent_pdf = runtime.settings().1.seal.max_concurrent_pdf;
        Self {
            clients: KmsClients::new(plugins.clone()),
            runtime,
            stamps,
            platform,
            tsa_trust,
            local_tsa,
            pdf_permits: Arc::new(tokio::sync::Semaphore::new(max_concurrent_pdf)),
            anchors: Arc::default(),
        }
    }

    /// The signatures of a PDF, each verified: the CMS of every PAdES signature over its `/ByteRange`, with
    /// whether it covers the whole file or which later revisions follow it; each document time-stamp's token
    /// verified against the TSA trust set over the digest of its `/ByteRange`.
    pub fn verify_pades(&self, pdf: &[u8]) -> Result<Vec<PdfSignatureReport>, SealError> {
        let document = sigil_pdf::Document::parse(pdf).map_err(pdf_error)?;
        let signatures = document.signatures().map_err(pdf_error)?;
        // The DSS speaks for every signature of the file (its /VRI entries are not needed to find the data:
        // each OCSP response and CRL names what it covers).
        // A DSS is outside every signature's byte range (anyone can add one in an unsigned update): a malformed
        // one is a warning, not a failure, and it is parsed once for all signatures, deduplicated and capped.
        let mut dss_warnings = Vec::new();
        let beside = match document.dss() {
            Ok(dss) => sigil_seal::ValidationData {
                certs: dss.certs,
                ocsps: dss.ocsps,
                crls: dss.crls,
            }
            .prepare(),
            Err(error) => {
                dss_warnings.push(format!(
                    "the document security store (DSS) is malformed and was not read: {error}"
                ));
                sigil_seal::PreparedValidationData::default()
            }
        };
        if beside.dropped > 0 {
            dss_warnings.push(format!(
                "{} DSS entries were not read (duplicates, or more than {} of a kind)",
                beside.dropped,
                sigil_seal::MAX_VALIDATION_ENTRIES
            ));
        }
        let mut reports = Vec::with_capacity(signatures.len());
        for info in signatures {
            let mut doc_timestamp = None;
            let report = if info.byte_range_ok {
                let (mut sha256, mut sha384, mut sha512) = (
                    sha2::Sha256::new(),
                    sha2::Sha384::new(),
                    sha2::Sha512::new(),
                );
                for pair in info.byte_range.chunks(2) {
                    let (start, length) =
                        (pair[0] as usize, pair.get(1).copied().unwrap_or(0) as usize);
                    let range = pdf
                        .get(start..start.saturating_add(length))
                        .unwrap_or_default();
                    sha256.update(range);
                    sha384.update(range);
                    sha512.update(range);
                }
                let digests = [
                    ContentDigest {
                        algorithm: HashAlgorithm::Sha256,
                        digest: sha256.finalize().to_vec(),
                    },
                    ContentDigest {
                        algorithm: HashAlgorithm::Sha384,
                        digest: sha384.finalize().to_vec(),
                    },
                    ContentDigest {
                        algorithm: HashAlgorithm::Sha512,
                        digest: sha512.finalize().to_vec(),
                    },
                ];
                match info.kind {
                    sigil_pdf::SignatureKind::Signature => {
                        let mut report =
                            self.verify_cades_beside(&info.contents, &digests, &beside)?;
                        report.warnings.extend(dss_warnings.iter().cloned());
                        Some(report)
                    }
                    sigil_pdf::SignatureKind::DocTimeStamp => {
                        doc_timestamp = Some(self.verify_doc_timestamp(&info.contents, &digests)?);
                        None
                    }
                }
            } else {
                None
            };
            reports.push(PdfSignatureReport {
                info,
                report,
                doc_timestamp,
            });
        }
        Ok(reports)
    }

    /// A document time-stamp's token checked over its byte ranges' digest (the token's algorithm among
    /// `digests`) against the TSA trust set: its report, or why it does not verify.
    fn verify_doc_timestamp(
        &self,
        token_der: &[u8],
        digests: &[ContentDigest],
    ) -> Result<Result<sigil_seal::TimestampReport, String>, SealError> {
        let token = match sigil_rfc3161::inspect(token_der) {
            Ok(token) => token,
            Err(error) => return Ok(Err(format!("the time-stamp does not parse: {error}"))),
        };
        let Some(digest) = digests
            .iter()
            .find(|d| Some(d.algorithm) == token.hash_algorithm)
        else {
            return Ok(Err(format!(
                "the time-stamp uses an unsupported imprint algorithm {}",
                token.hash_algorithm_oid
            )));
        };
        let trust = self.trust()?;
        Ok(
            sigil_rfc3161::verify_token_against_digest(token_der, &digest.digest, &trust.tsa)
                .map(|verified| timestamp_report(&verified))
                .map_err(|error| format!("the time-stamp does not verify: {error}")),
        )
    }

    /// The platform seal's cell, for the initializer that fills it.
    pub fn platform_cell(&self) -> PlatformSealCell {
        self.platform.clone()
    }

    /// Destroys the KMS keys of revoked certificates whose grace period has ended (`schedule_deletion` with
    /// grace 0: kms-soft removes the key file, kms-pkcs11 destroys the token objects). A key the KMS no longer
    /// lists counts as destroyed. Returns how many were destroyed; failures stay due for the next run.
    pub async fn destroy_due_keys(&self) -> usize {
        let due = match self
            .runtime
            .store
            .due_key_deletions_of_all_tenants(now_unix())
            .await
        {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "cannot read the KMS keys due for deletion");
                return 0;
            }
        };
        let mut destroyed = 0;
        for deletion in due {
            let client = match self.client(&deletion.kms).await {
                Ok(client) => client,
                Err(error) => {
                    tracing::warn!(kms = %deletion.kms, ?error, "KMS unavailable for a due key deletion");
                    continue;
                }
            };
            let key_uri = deletion.key_uri.clone();
            let outcome = blocking(move || {
                let scheduled = client.call::<_, sigil_plugin_api::ScheduleDeletionResponse>(
                    "schedule_deletion",
                    &sigil_plugin_api::ScheduleDeletionRequest {
                        key_uri: key_uri.clone(),
                        grace_days: 0,
                    },
                );
                if scheduled.is_ok() {
                    return Ok(());
                }
                // Already gone (kms-soft purges due keys itself when listing)?
                let listed: sigil_plugin_api::ListKeysResponse = client
                    .call("list_keys", &sigil_plugin_api::ListKeysRequest {})
                    .map_err(kms_error)?;
                if listed.keys.iter().any(|k| k.key_uri == key_uri) {
                    Err(kms_error(
                        scheduled.err().map(|e| e.to_string()).unwrap_or_default(),
                    ))
                } else {
                    Ok(())
                }
            })
            .await;
            match outcome {
                Ok(()) => {
                    tracing::info!(kms = %deletion.kms, key = %deletion.key_uri, "revoked seal key destroyed");
                    if let Err(error) = self.runtime.store.key_deletion_done(&deletion.uid).await {
                        tracing::warn!(%error, "could not record a key deletion");
                    }
                    destroyed += 1;
                }
                Err(error) => {
                    tracing::warn!(kms = %deletion.kms, key = %deletion.key_uri, ?error, "due key deletion failed; retried later")
                }
            }
        }
        destroyed
    }

    async fn client(&self, name: &str) -> Result<KmsClient, SealError> {
        self.clients.get(name).await.map_err(SealError::Unavailable)
    }

    fn platform(&self) -> Result<Arc<PlatformSeal>, SealError> {
        self.platform.get().ok_or_else(|| {
            SealError::Unavailable("the platform seal certificate is not ready yet; retry".into())
        })
    }

    fn platform_view(platform: &PlatformSeal) -> CertificateView {
        CertificateView {
            id: PLATFORM_CERTIFICATE_ID.into(),
            label: "Sigil platform seal".into(),
            status: "active".into(),
            source: "platform",
            key_algorithm: "ecdsa-p256".into(),
            subject: Some(platform.summary.subject.clone()),
            not_before: Some(platform.summary.not_before.clone()),
            not_after: Some(platform.summary.not_after.clone()),
        }
    }

    /// The tenant's certificates (revoked ones included), newest first, then the platform certificate.
    pub async fn certificates(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<CertificateView>, SealError> {
        let mut views: Vec<CertificateView> = self
            .runtime
            .store
            .seal_certificates(scope)
            .await?
            .iter()
            .map(CertificateView::of)
            .collect();
        if let Some(platform) = self.platform.get() {
            views.push(Self::platform_view(&platform));
        }
        Ok(views)
    }

    /// Generates a key in the seal KMS and a CSR signed by it; the certificate waits for activation.
    pub async fn provision(
        &self,
        scope: &TenantScope,
        request: ProvisionRequest,
    ) -> Result<Provisioned, SealError> {
        let kms = self.runtime.settings().1.seal.kms.clone();
        let client = self.client(&kms).await?;
        let uid = SealCertificateId::random();
        // Unique per tenant and certificate, so two tenants or two certificates never share a key; short enough for
        // every KMS (kms-soft and PKCS#11 labels: at most 64 bytes).
        let tenant_tag = hex::encode(&HashAlgorithm::Sha256.digest(scope.tenant().as_bytes())[..8]);
        let key_label = format!("seal-{tenant_tag}-{}", uid.as_str().replace('-', ""));
        let kind = request.key_kind;
        let subject = request.subject.clone();
        let (key_uri, csr_der) = blocking(move || {
            let generated: sigil_plugin_api::GenerateKeyResponse = client
                .call(
                    "generate_key",
                    &sigil_plugin_api::GenerateKeyRequest {
                        label: key_label,
                        algorithm: kind.key_algorithm(),
                    },
                )
                .map_err(kms_error)?;
            let key = KmsKey {
                client,
                key_uri: generated.key_uri.clone(),
                kind,
            };
            let public_key = key.public_key().map_err(kms_error)?;
            let signer = KmsSealSigner { key, public_key };
            let csr = sigil_seal::build_csr(&subject, &signer).map_err(|e| match e {
                sigil_seal::CsrError::Signer(error) => kms_error(error),
                other => SealError::Invalid {
                    field: "commonName",
                    reason: other.to_string(),
                },
            })?;
            Ok((generated.key_uri, csr))
        })
        .await?;
        let csr_pem = pem_of("CERTIFICATE REQUEST", &csr_der);
        let new = NewSealCertificate {
            uid,
            label: request
                .label
                .unwrap_or_else(|| request.subject.common_name.clone()),
            key_algorithm: key_algorithm_name(kind).into(),
            kms,
            key_uri: key_uri.clone(),
            csr_pem: csr_pem.clone(),
        };
        let certificate = self
            .runtime
            .store
            .create_seal_certificate(scope, &new)
            .await?;
        tracing::info!(tenant = %scope.tenant(), certificate = %certificate.uid, "seal certificate provisioned");
        Ok(Provisioned {
            certificate: CertificateView::of(&certificate),
            csr_pem,
            key_uri,
        })
    }

    /// Activates a provisioning certificate with its CA-issued chain (PEM, leaf first), after the activation
    /// checks: the leaf certifies the KMS key, the chain links, the leaf is valid now, keyUsage allows sealing.
    pub async fn activate(
        &self,
        scope: &TenantScope,
        id: &str,
        certificate_pem: &str,
    ) -> Result<CertificateView, SealError> {
        if id == PLATFORM_CERTIFICATE_ID {
            return Err(SealError::Conflict(
                "the platform certificate is managed by sigild".into(),
            ));
        }
        let uid = SealCertificateId::new(id);
        let store = &self.runtime.store;
        let certificate = store
            .seal_certificate(scope, &uid)
            .await?
            .ok_or(SealError::NotFound("seal certificate"))?;
        if certificate.status != "provisioning" {
            return Err(SealError::Conflict(format!(
                "the certificate is {}, not waiting for activation",
                certificate.status
            )));
        }
        let chain = parse_pem_chain("certificatePem", certificate_pem)?;
        let kind = KeyKind::parse(&certificate.key_algorithm).map_err(SealError::Unavailable)?;
        let client = self.client(&certificate.kms).await?;
        let key = KmsKey {
            client,
            key_uri: certificate.key_uri.clone(),
            kind,
        };
        let public_key = blocking(move || key.public_key().map_err(kms_error)).await?;
        sigil_seal::check_activation_chain(&chain, &public_key, now_unix()).map_err(|error| {
            SealError::Invalid {
                field: "certificatePem",
                reason: error.to_string(),
            }
        })?;
        let leaf = {
            use sigil_rfc3161::der::Decode;
            Certificate::from_der(&chain[0]).map_err(|e| SealError::Invalid {
                field: "certificatePem",
                reason: e.to_string(),
            })?
        };
        let summary = CertificateSummary::of(&leaf);
        let activation = Activation {
            chain_pem: chain_pem(&chain)?,
            subject: summary.subject,
            not_before: summary.not_before,
            not_after: summary.not_after,
        };
        let active = store
            .activate_seal_certificate(scope, &uid, &activation)
            .await?;
        Ok(CertificateView::of(&active))
    }

    /// Revokes a certificate: it seals no more, and its KMS key is scheduled for deletion after the grace
    /// period (the plugin stops signing with it at once; the deletion job destroys it when due).
    pub async fn revoke(&self, scope: &TenantScope, id: &str) -> Result<(), SealError> {
        if id == PLATFORM_CERTIFICATE_ID {
            return Err(SealError::Conflict(
                "the platform certificate cannot be revoked through the API".into(),
            ));
        }
        let uid = SealCertificateId::new(id);
        let store = &self.runtime.store;
        let certificate = store
            .seal_certificate(scope, &uid)
            .await?
            .ok_or(SealError::NotFound("seal certificate"))?;
        if certificate.status == "revoked" {
            return Err(SealError::Conflict(
                "the certificate is already revoked".into(),
            ));
        }
        let grace = match self.runtime.settings().1.testing.seal_key_grace_secs {
            Some(seconds) => i64::try_from(seconds).unwrap_or(i64::MAX),
            None => i64::from(KEY_DELETION_GRACE_DAYS) * 24 * 3600,
        };
        let due = now_unix().saturating_add(grace);
        if !store.revoke_seal_certificate(scope, &uid, due).await? {
            // A concurrent revocation won: it schedules the key.
            return Err(SealError::Conflict(
                "the certificate is already revoked".into(),
            ));
        }
        // Tell the KMS now, so the key stops signing; if this fails, the deletion job still destroys it when due.
        match self.client(&certificate.kms).await {
            Ok(client) => {
                let key_uri = certificate.key_uri.clone();
                let outcome = blocking(move || {
                    client
                        .call::<_, sigil_plugin_api::ScheduleDeletionResponse>(
                            "schedule_deletion",
                            &sigil_plugin_api::ScheduleDeletionRequest {
                                key_uri,
                                grace_days: KEY_DELETION_GRACE_DAYS,
                            },
                        )
                        .map_err(kms_error)
                })
                .await;
                if let Err(error) = outcome {
                    tracing::warn!(certificate = %uid, ?error, "could not schedule the KMS key's deletion now; the deletion job will destroy it when due");
                }
            }
            Err(error) => {
                tracing::warn!(certificate = %uid, ?error, "seal KMS unavailable at revocation")
            }
        }
        Ok(())
    }

    async fn signing_certificate(
        &self,
        scope: &TenantScope,
        id: Option<&str>,
    ) -> Result<SigningCertificate, SealError> {
        let certificate = match id {
            Some(PLATFORM_CERTIFICATE_ID) => None,
            Some(id) => {
                let certificate = self
                    .runtime
                    .store
                    .seal_certificate(scope, &SealCertificateId::new(id))
                    .await?
                    .ok_or(SealError::NotFound("seal certificate"))?;
                if certificate.status != "active" {
                    return Err(SealError::Invalid {
                        field: "certificateId",
                        reason: format!("the certificate is {}, not active", certificate.status),
                    });
                }
                Some(certificate)
            }
            None => self
                .runtime
                .store
                .seal_certificates(scope)
                .await?
                .into_iter()
                .find(|c| c.status == "active"),
        };
        let Some(certificate) = certificate else {
            let platform = self.platform()?;
            return Ok(SigningCertificate {
                id: PLATFORM_CERTIFICATE_ID.into(),
                label: "Sigil platform seal".into(),
                chain_der: platform.chain_der.clone(),
                key: platform.key.clone(),
            });
        };
        let chain_der = parse_pem_chain(
            "certificateId",
            certificate.chain_pem.as_deref().unwrap_or_default(),
        )?;
        let kind = KeyKind::parse(&certificate.key_algorithm).map_err(SealError::Unavailable)?;
        Ok(SigningCertificate {
            id: certificate.uid.to_string(),
            label: certificate.label.clone(),
            chain_der,
            key: KmsKey {
                client: self.client(&certificate.kms).await?,
                key_uri: certificate.key_uri.clone(),
                kind,
            },
        })
    }

    /// Seals a SHA-256 digest as a detached CAdES (B-T, or B-B when every TSA fails) and records the operation;
    /// the `.p7s` is kept when the tenant's `storeCadesSeals` is on.
    pub async fn seal_cades(
        &self,
        scope: &TenantScope,
        request: SealRequest,
    ) -> Result<Sealed, SealError> {
        self.seal_cms(scope, request, false).await
    }

    /// The CMS of a PAdES signature over a client-computed ByteRange digest (SHA-256): as a CAdES seal without
    /// signing-time (PAdES forbids it; the time is the PDF's `/M`), time-stamped the same way, recorded with
    /// format `pades`. The client embeds it in `/Contents` (contract 01 §7).
    pub async fn seal_pades_cms(
        &self,
        scope: &TenantScope,
        request: SealRequest,
    ) -> Result<Sealed, SealError> {
        self.seal_cms(scope, request, true).await
    }

    async fn seal_cms(
        &self,
        scope: &TenantScope,
        request: SealRequest,
        pades: bool,
    ) -> Result<Sealed, SealError> {
        // The tenant's `storeCadesSeals` is read while the seal is made, not after it.
        let (made, settings) = tokio::join!(
            async {
                let certificate = self
                    .signing_certificate(scope, request.certificate_id.as_deref())
                    .await?;
                let built = self
                    .build_cms(
                        scope,
                        &certificate,
                        &request.sha256,
                        pades,
                        request.qualified,
                    )
                    .await?;
                Ok::<_, SealError>((certificate, built))
            },
            self.runtime.store.tenant_settings(scope)
        );
        let (certificate, (p7s, timestamp)) = made?;
        let keep = settings?.store_cades_seals;
        let format = if pades { "pades" } else { "cades" };
        // The client embeds OCSP responses in its own DSS (contract 01 §7); a CAdES seal carries none, since
        // adding them to SignedData would claim B-LT, which needs the CRLs and chain a verifier expects too.
        // OCSP only: `ocspDers` carries no CRLs, so none are downloaded. The fetch is bounded by one
        // `[seal] revocation_timeout` (at most 10 s), well inside the request timeout, so that the operation is
        // recorded below even when responders are slow.
        let ocsp_der = if pades {
            let fetched = self
                .revocation_for(
                    scope,
                    &certificate.chain_der,
                    timestamp.as_ref().map(|t| self.tsa_chain(t)).as_deref(),
                    true,
                )
                .await;
            refuse_if_revoked(&fetched)?;
            fetched.ocsps
        } else {
            Vec::new()
        };
        let mut sealed = self
            .record_at(
                scope,
                request,
                certificate,
                format,
                p7s,
                timestamp,
                None,
                Some(keep),
            )
            .await?;
        sealed.ocsp_der = ocsp_der;
        Ok(sealed)
    }

    /// Signs the CMS over a SHA-256 `digest` (CAdES, or PAdES's profile without signing-time) in the KMS and
    /// adds the signature time-stamp when a TSA answers.
    async fn build_cms(
        &self,
        scope: &TenantScope,
        certificate: &SigningCertificate,
        digest: &[u8],
        pades: bool,
        qualified: bool,
    ) -> Result<(Vec<u8>, Option<SignatureTimestamp>), SealError> {
        let algorithm = CmsSignatureAlgorithm::Classic(certificate.key.kind.signature_algorithm());
        // Every key kind Sigil generates signs with SHA-256, so the content digest is SHA-256 too.
        let builder = if pades {
            CadesBuilder::for_pades(
                HashAlgorithm::Sha256,
                digest,
                &certificate.chain_der,
                algorithm,
                true,
            )
        } else {
            CadesBuilder::new(
                HashAlgorithm::Sha256,
                digest,
                &certificate.chain_der,
                algorithm,
                CadesOptions::default(),
            )
        }
        .map_err(unusable_certificate)?;
        let key = certificate.key.clone();
        let mut cms = blocking(move || {
            let signature = key.sign(builder.to_be_signed()).map_err(kms_error)?;
            builder.assemble(&signature).map_err(unusable_signature)
        })
        .await?;
        let imprint = HashAlgorithm::Sha256.digest(cms.signature_value());
        let timestamp = self.timestamp(scope, &imprint, qualified).await?;
        if let Some(timestamp) = &timestamp {
            cms.add_signature_timestamp(&timestamp.token_der)
                .map_err(|e| SealError::Unavailable(format!("time-stamp token: {e}")))?;
        }
        let der = cms
            .to_der()
            .map_err(|e| SealError::Unavailable(format!("encoding the seal: {e}")))?;
        Ok((der, timestamp))
    }

    /// Seals a PDF (PAdES, EN 319 142-1): an incremental update with a signature field whose `/Contents` holds
    /// the CMS (no signing-time; `/M`, `/Reason`, `/Location` in the dictionary), time-stamped like a CAdES seal.
    /// The original is a byte prefix of the result. `/Contents` is sized for the chain, the signature and a
    /// generous time-stamp; should the CMS not fit (a TSA answering with a large chain), the update is made
    /// again with the size measured, so a seal never fails for want of room. The operation records the SHA-256
    /// of the uploaded file; the CMS is kept when `storeCadesSeals` is on.
    ///
    /// With `lta`, a time-stamped seal is extended to B-LTA (see [`SealService::extend_lta`]); when that
    /// cannot be reached the best level reached is answered and recorded (B-T, or B-B without any TSA).
    pub async fn seal_pades(
        &self,
        scope: &TenantScope,
        request: SealRequest,
        pdf: Vec<u8>,
        reason: Option<String>,
        location: Option<String>,
        lta: bool,
    ) -> Result<Sealed, SealError> {
        let certificate = self
            .signing_certificate(scope, request.certificate_id.as_deref())
            .await?;
        let chain_bytes: usize = certificate.chain_der.iter().map(Vec::len).sum();
        // Signed attributes, SignerInfo and a 4096-bit signature stay well under 4 KiB; time-stamp tokens with
        // their TSA chain are typically 2–8 KiB.
        let mut capacity = chain_bytes + 4096 + 12 * 1024;
        let pdf = Arc::new(pdf);
        for _attempt in 0..2 {
            let spec = {
                let mut spec =
                    sigil_pdf::SignatureSpec::new(sigil_pdf::SignatureKind::Signature, capacity);
                spec.signing_time = Some(sigil_pdf::pdf_date(now_unix()));
                spec.reason = reason.clone();
                spec.location = location.clone();
                spec
            };
            let source = pdf.clone();
            let (prepared, digest) = blocking(move || {
                let document = sigil_pdf::Document::parse(&source).map_err(pdf_error)?;
                let prepared = sigil_pdf::prepare_signature(&document, &spec).map_err(pdf_error)?;
                let mut hasher = sha2::Sha256::new();
                for range in prepared.signed_ranges() {
                    hasher.update(range);
                }
                let digest: Vec<u8> = hasher.finalize().to_vec();
                Ok((prepared, digest))
            })
            .await?;
            let (cms, timestamp) = self
                .build_cms(scope, &certificate, &digest, true, request.qualified)
                .await?;
            if cms.len() > prepared.capacity() {
                tracing::info!(
                    needed = cms.len(),
                    capacity = prepared.capacity(),
                    "PAdES /Contents too small; preparing again"
                );
                capacity = cms.len() + 2048;
                continue;
            }
            let mut sealed_pdf = prepared.embed(&cms).map_err(pdf_error)?;
            let mut level = None;
            if let (true, Some(signature_timestamp)) = (lta, &timestamp) {
                match self
                    .extend_lta(
                        scope,
                        &sealed_pdf,
                        &certificate.chain_der,
                        signature_timestamp,
                        request.qualified,
                    )
                    .await?
                {
                    Some(extended) => {
                        sealed_pdf = extended;
                        level = Some("B-LTA");
                    }
                    None => tracing::warn!(
                        tenant = %scope.tenant(),
                        "no TSA answered for the document time-stamp; the seal stays B-T"
                    ),
                }
            }
            let mut sealed = self
                .record_at(
                    scope,
                    request,
                    certificate,
                    "pades",
                    cms,
                    timestamp,
                    level,
                    None,
                )
                .await?;
            sealed.p7s = sealed_pdf;
            return Ok(sealed);
        }
        Err(SealError::Unavailable(
            "the PAdES signature did not fit its /Contents twice; retry".into(),
        ))
    }

    /// Extends a sealed PDF (B-T) to PAdES B-LTA with two more incremental updates: a DSS holding the signer's
    /// chain, the certificates of the signature time-stamp's TSA, and the OCSP responses or CRLs fetched for
    /// them (with any delegated responder's certificate; none when nothing could be fetched), then a document time-stamp (`/DocTimeStamp`, `/ETSI.RFC3161`) whose `/Contents` is the
    /// TimeStampToken over the SHA-256 of its `/ByteRange`, from the same dispatcher as the signature
    /// time-stamp. `/Contents` is sized from the signature time-stamp's token plus a margin, and prepared again
    /// with the measured size should the new token not fit. `None` when no TSA answers (the caller keeps B-T).
    async fn extend_lta(
        &self,
        scope: &TenantScope,
        sealed_pdf: &[u8],
        signer_chain: &[Vec<u8>],
        signature_timestamp: &SignatureTimestamp,
        qualified: bool,
    ) -> Result<Option<Vec<u8>>, SealError> {
        let mut certs: Vec<Vec<u8>> = Vec::new();
        let tsa_certs = self.tsa_chain(signature_timestamp);
        let revocation = self
            .revocation_for(scope, signer_chain, Some(&tsa_certs), false)
            .await;
        refuse_if_revoked(&revocation)?;
        for der in signer_chain
            .iter()
            .chain(tsa_certs.iter())
            .chain(revocation.certs.iter())
        {
            if !certs.contains(der) {
                certs.push(der.clone());
            }
        }
        let dss = sigil_pdf::Dss {
            certs,
            ocsps: revocation.ocsps,
            crls: revocation.crls,
        };
        let source = sealed_pdf.to_vec();
        let with_dss = Arc::new(
            blocking(move || {
                let document = sigil_pdf::Document::parse(&source).map_err(pdf_error)?;
                sigil_pdf::add_dss(&document, &dss).map_err(pdf_error)
            })
            .await?,
        );
        let mut capacity = signature_timestamp.token_der.len() + 4096;
        for _attempt in 0..2 {
            let source = with_dss.clone();
            let (prepared, digest) = blocking(move || {
                let document = sigil_pdf::Document::parse(&source).map_err(pdf_error)?;
                let spec =
                    sigil_pdf::SignatureSpec::new(sigil_pdf::SignatureKind::DocTimeStamp, capacity);
                let prepared = sigil_pdf::prepare_signature(&document, &spec).map_err(pdf_error)?;
                let mut hasher = sha2::Sha256::new();
                for range in prepared.signed_ranges() {
                    hasher.update(range);
                }
                let digest: Vec<u8> = hasher.finalize().to_vec();
                Ok((prepared, digest))
            })
            .await?;
            // A qualified request that no qualified TSA serves now keeps the B-T seal too: the best level
            // reached is answered.
            let Ok(Some(token)) = self.timestamp(scope, &digest, qualified).await else {
                return Ok(None);
            };
            if token.token_der.len() > prepared.capacity() {
                tracing::info!(
                    needed = token.token_der.len(),
                    capacity = prepared.capacity(),
                    "document time-stamp /Contents too small; preparing again"
                );
                capacity = token.token_der.len() + 2048;
                continue;
            }
            return prepared
                .embed(&token.token_der)
                .map(Some)
                .map_err(pdf_error);
        }
        Err(SealError::Unavailable(
            "the document time-stamp did not fit its /Contents twice; retry".into(),
        ))
    }

    /// Revocation data for the signer's chain and the signature time-stamp's TSA chain (as [`Self::tsa_chain`]
    /// completes it), from the OCSP responders
    /// and (unless `ocsp_only`, which `ocspDers` asks for) the CRL distribution points their certificates name
    /// (see [`super::revocation`]; nothing is fetched when `[seal] revocation_fetch` is off), plus, unless
    /// `ocsp_only`, the own CRL of each root Sigil generated (the local TSA's, the platform seal's) that a chain runs
    /// to (no fetch: the daemon holds the root's key; see [`crate::kms::LocalRootCrl`]). Never fails: what cannot be had is logged and
    /// left out.
    async fn revocation_for(
        &self,
        scope: &TenantScope,
        signer_chain: &[Vec<u8>],
        tsa_chain: Option<&[Vec<u8>]>,
        ocsp_only: bool,
    ) -> FetchedRevocation {
        let config = self.runtime.settings().1;
        let fetcher = RevocationFetcher::from_config(&config.seal);
        let mut chains = vec![ChainRequest {
            chain: signer_chain.to_vec(),
            ocsp_only,
        }];
        if let Some(tsa_chain) = tsa_chain {
            chains.push(ChainRequest {
                chain: tsa_chain.to_vec(),
                ocsp_only,
            });
        }
        // Sigil's own roots that a chain runs to: their CRLs are made here, not fetched.
        let local_roots: Vec<Arc<crate::kms::LocalRootCrl>> = [
            self.local_tsa.get().and_then(|tsa| tsa.root_crl.clone()),
            self.platform.get().and_then(|seal| seal.root_crl.clone()),
        ]
        .into_iter()
        .flatten()
        .filter(|root| {
            !ocsp_only
                && chains
                    .iter()
                    .any(|request| request.chain.iter().any(|der| der == root.root_der()))
        })
        .collect();
        if fetcher.is_none() && local_roots.is_empty() {
            return FetchedRevocation::default();
        }
        let tenant = scope.tenant().as_str().to_string();
        tokio::task::spawn_blocking(move || {
            let mut out = fetcher
                .map(|fetcher| fetcher.fetch(&tenant, &chains))
                .unwrap_or_default();
            for crl in local_roots.iter().filter_map(|root| root.crl()) {
                if !out.crls.contains(&crl) {
                    out.crls.push(crl);
                }
            }
            out
        })
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "the revocation fetch task failed; the seal carries no revocation data");
            FetchedRevocation::default()
        })
    }

    /// The signature time-stamp's TSA chain, DER, as the token embeds it (the TSA's certificate first), with the
    /// issuers it lacks completed from the TSA trust anchors and intermediates: a TSA that embeds only its own
    /// certificate still gets revocation data for it (its issuer is needed to ask) and a DSS that holds its issuer.
    fn tsa_chain(&self, timestamp: &SignatureTimestamp) -> Vec<Vec<u8>> {
        let embedded = sigil_cms::signed_data::parse_signed_data(&timestamp.token_der)
            .map(|parsed| parsed.certificates)
            .unwrap_or_default();
        self.tsa_trust
            .get()
            .for_verification()
            .complete_chain(&embedded)
            .into_iter()
            .map(|entry| entry.der)
            .collect()
    }

    /// Runs PDF work (parsing, preparing) with at most `[seal] max_concurrent_pdf` at once.
    pub fn pdf_permits(&self) -> Arc<tokio::sync::Semaphore> {
        self.pdf_permits.clone()
    }

    /// Seals a SHA-256 digest as a detached JAdES (one object, referenced as [`JADES_DOCUMENT_REF`], with
    /// `content_type` in `sigD.ctys`), time-stamped like a CAdES seal, and records the operation.
    pub async fn seal_jades(
        &self,
        scope: &TenantScope,
        request: SealRequest,
        content_type: String,
    ) -> Result<Sealed, SealError> {
        let objects = vec![sigil_seal::JadesObject {
            uri: JADES_DOCUMENT_REF.into(),
            digest: request.sha256.clone(),
            content_type,
        }];
        self.seal_jades_objects(scope, request, objects, true).await
    }

    /// Seals several objects by their SHA-256 digests in one detached JAdES (`sigD.pars` in the given order;
    /// the public client puts its envelope first), time-stamped unless `timestamp` is false, and records the
    /// operation under the first object's digest.
    pub async fn seal_jades_objects(
        &self,
        scope: &TenantScope,
        request: SealRequest,
        objects: Vec<sigil_seal::JadesObject>,
        timestamp: bool,
    ) -> Result<Sealed, SealError> {
        let certificate = self
            .signing_certificate(scope, request.certificate_id.as_deref())
            .await?;
        let algorithm = CmsSignatureAlgorithm::Classic(certificate.key.kind.signature_algorithm());
        let builder = sigil_seal::JadesBuilder::new(
            &objects,
            &certificate.chain_der,
            algorithm,
            sigil_seal::JadesOptions::default(),
        )
        .map_err(unusable_certificate)?;
        let key = certificate.key.clone();
        let mut jws = blocking(move || {
            let signature = key.sign(builder.to_be_signed()).map_err(kms_error)?;
            builder.assemble(&signature).map_err(unusable_signature)
        })
        .await?;
        let token = if timestamp {
            let imprint = HashAlgorithm::Sha256.digest(jws.timestamp_input());
            self.timestamp(scope, &imprint, request.qualified).await?
        } else {
            None
        };
        if let Some(token) = &token {
            jws.add_signature_timestamp(&token.token_der);
        }
        let body = jws.to_json().into_bytes();
        self.record(scope, request, certificate, "jades", body, token)
            .await
    }

    /// Verifies a detached JAdES against supplied object digests (reference → SHA-256).
    pub fn verify_jades_objects(
        &self,
        json: &[u8],
        supplied: &std::collections::BTreeMap<String, Vec<u8>>,
    ) -> Result<sigil_seal::JadesReport, SealError> {
        let trust = self.trust()?;
        let settings = TrustSettings {
            anchors: &trust.anchors,
            platform: &trust.platform,
            tsa: &trust.tsa,
            now: now_unix(),
        };
        Ok(sigil_seal::verify_jades(json, supplied, &settings))
    }

    /// The signature time-stamp over `imprint` (SHA-256), or none when every TSA failed (the seal stays B-B).
    /// A qualified request that no qualified TSA can serve is refused instead.
    async fn timestamp(
        &self,
        scope: &TenantScope,
        imprint: &[u8],
        qualified: bool,
    ) -> Result<Option<SignatureTimestamp>, SealError> {
        match self
            .stamps
            .signature_timestamp(scope, HashAlgorithm::Sha256, imprint, qualified)
            .await
        {
            Ok(timestamp) => Ok(Some(timestamp)),
            Err(StampError::Invalid { field, reason }) if qualified => {
                Err(SealError::Invalid { field, reason })
            }
            Err(error) => {
                tracing::warn!(tenant = %scope.tenant(), ?error, "no TSA time-stamped the seal; it stays B-B");
                Ok(None)
            }
        }
    }

    /// Records the operation (keeping the signature when the tenant's `storeCadesSeals` is on).
    async fn record(
        &self,
        scope: &TenantScope,
        request: SealRequest,
        certificate: SigningCertificate,
        format: &'static str,
        signature: Vec<u8>,
        timestamp: Option<SignatureTimestamp>,
    ) -> Result<Sealed, SealError> {
        self.record_at(
            scope,
            request,
            certificate,
            format,
            signature,
            timestamp,
            None,
            None,
        )
        .await
    }

    /// [`SealService::record`] with the level reached when it is above what the signature time-stamp says
    /// (`B-LTA`), and the tenant's `storeCadesSeals` when the caller read it already.
    #[allow(clippy::too_many_arguments)]
    async fn record_at(
        &self,
        scope: &TenantScope,
        request: SealRequest,
        certificate: SigningCertificate,
        format: &'static str,
        signature: Vec<u8>,
        timestamp: Option<SignatureTimestamp>,
        level: Option<&'static str>,
        keep: Option<bool>,
    ) -> Result<Sealed, SealError> {
        let level = level.unwrap_or(if timestamp.is_some() { "B-T" } else { "B-B" });
        let keep = match keep {
            Some(keep) => keep,
            None => {
                self.runtime
                    .store
                    .tenant_settings(scope)
                    .await?
                    .store_cades_seals
            }
        };
        let operation = SealOperation {
            uid: SealOperationId::random(),
            file_name: request.file_name.clone(),
            size: i64::try_from(request.size).unwrap_or(i64::MAX),
            document_hash: hex::encode(&request.sha256),
            format: format.into(),
            level: level.into(),
            certificate_id: certificate.id.clone(),
            cert_label: certificate.label.clone(),
            tsa_name: timestamp.as_ref().map(|t| t.tsa_name.clone()),
            label: request.label.clone(),
            p7s: keep.then(|| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(&signature)
            }),
            created_at: String::new(),
        };
        self.runtime
            .store
            .record_seal_operation(scope, &operation)
            .await?;
        Ok(Sealed {
            p7s: signature,
            format,
            operation_id: operation.uid,
            certificate_id: certificate.id,
            qualified: timestamp.as_ref().is_some_and(|t| t.qualified),
            timestamped_by: timestamp.map(|t| t.tsa_name),
            level,
            chain_der: certificate.chain_der,
            ocsp_der: Vec::new(),
        })
    }

    /// A page of the tenant's seal operations.
    pub async fn operations(
        &self,
        scope: &TenantScope,
        search: Option<&str>,
        window: crate::store::Window,
    ) -> Result<(Vec<SealOperation>, u64), SealError> {
        Ok(self
            .runtime
            .store
            .seal_operations(scope, search, window)
            .await?)
    }

    /// The kept `.p7s` of an operation; `Ok(None)` when the operation exists but nothing was kept.
    pub async fn operation_p7s(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> Result<Option<Vec<u8>>, SealError> {
        use base64::Engine as _;
        let operation = self
            .runtime
            .store
            .seal_operation(scope, &SealOperationId::new(id))
            .await?
            .ok_or(SealError::NotFound("seal operation"))?;
        operation
            .p7s
            .map(|b64| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| SealError::Store(StoreError::Decode(e.to_string())))
            })
            .transpose()
    }

    /// The anchors seals are verified against now.
    pub fn trust(&self) -> Result<SealTrust, SealError> {
        let (generation, config) = self.runtime.settings();
        let anchors = {
            let mut cached = self.anchors.lock().unwrap_or_else(|p| p.into_inner());
            match &*cached {
                Some((read_for, anchors)) if *read_for == generation => anchors.clone(),
                _ => {
                    let mut store = TrustStore::new();
                    if let Some(file) = &config.seal.trust_roots_file {
                        match std::fs::read(file) {
                            Ok(pem) => {
                                if let Err(error) = store.add_pem_roots(&pem) {
                                    tracing::error!(file = %file.display(), %error, "seal trust roots do not parse");
                                }
                            }
                            Err(error) => {
                                tracing::error!(file = %file.display(), %error, "cannot read the seal trust roots")
                            }
                        }
                    }
                    let store = Arc::new(store);
                    *cached = Some((generation, store.clone()));
                    store
                }
            }
        };
        let platform = self
            .platform
            .get()
            .map(|p| p.anchors.clone())
            .unwrap_or_default();
        Ok(SealTrust {
            anchors,
            platform,
            tsa: self.tsa_trust.get().for_verification(),
        })
    }

    /// Verifies a detached JAdES whose single signed object has this SHA-256 digest (whatever its reference).
    pub fn verify_jades_single(
        &self,
        json: &[u8],
        sha256: &[u8],
    ) -> Result<sigil_seal::JadesReport, SealError> {
        let trust = self.trust()?;
        let settings = TrustSettings {
            anchors: &trust.anchors,
            platform: &trust.platform,
            tsa: &trust.tsa,
            now: now_unix(),
        };
        let reference = single_reference(json).unwrap_or_else(|| JADES_DOCUMENT_REF.to_string());
        let supplied = std::collections::BTreeMap::from([(reference, sha256.to_vec())]);
        Ok(sigil_seal::verify_jades(json, &supplied, &settings))
    }

    /// Checks a standalone time-stamp (a TimeStampResp or a bare token) given with a CAdES seal: it must cover
    /// the seal's signature value (a time-stamp added later) or the content itself (a stamp of the same file),
    /// with its own hash algorithm, and verify against the TSA anchors.
    pub fn check_external_timestamp(
        &self,
        tsr: &[u8],
        p7s: &[u8],
        content: &[ContentDigest],
    ) -> Result<ExternalTimestamp, SealError> {
        let refused = |message: String| {
            Ok(ExternalTimestamp {
                report: None,
                match_error: Some(message),
            })
        };
        let token = match sigil_rfc3161::inspect(tsr) {
            Ok(token) => token,
            Err(error) => return refused(format!("the time-stamp does not parse: {error}")),
        };
        let Some(algorithm) = token.hash_algorithm else {
            return refused(format!(
                "the time-stamp uses an unsupported imprint algorithm {}",
                token.hash_algorithm_oid
            ));
        };
        let signature_value = sigil_cms::signed_data::parse_signed_data(p7s)
            .ok()
            .and_then(|parsed| {
                parsed
                    .signed_data
                    .signer_infos
                    .0
                    .first()
                    .map(|info| info.signature.as_bytes().to_vec())
            });
        let covers_signature =
            signature_value.is_some_and(|value| algorithm.digest(&value) == token.message_imprint);
        let covers_content = content
            .iter()
            .any(|d| d.algorithm == algorithm && d.digest == token.message_imprint);
        if !covers_signature && !covers_content {
            return refused(
                "the time-stamp covers neither the seal's signature value nor the file".into(),
            );
        }
        let trust = self.trust()?;
        match sigil_rfc3161::verify_token_against_digest(tsr, &token.message_imprint, &trust.tsa) {
            Ok(verified) => Ok(ExternalTimestamp {
                report: Some(timestamp_report(&verified)),
                match_error: None,
            }),
            Err(error) => refused(format!("the time-stamp does not verify: {error}")),
        }
    }

    /// Verifies a detached CAdES over content with these digests.
    pub fn verify_cades(
        &self,
        p7s: &[u8],
        digests: &[ContentDigest],
    ) -> Result<SealReport, SealError> {
        self.verify_cades_beside(p7s, digests, &sigil_seal::PreparedValidationData::default())
    }

    /// [`SealService::verify_cades`] with validation data found beside the signature (a PDF's DSS).
    pub fn verify_cades_beside(
        &self,
        p7s: &[u8],
        digests: &[ContentDigest],
        beside: &sigil_seal::PreparedValidationData,
    ) -> Result<SealReport, SealError> {
        let trust = self.trust()?;
        let settings = TrustSettings {
            anchors: &trust.anchors,
            platform: &trust.platform,
            tsa: &trust.tsa,
            now: now_unix(),
        };
        Ok(sigil_seal::verify_cades_with(
            p7s, digests, &settings, beside,
        ))
    }
}

/// A seal whose signer certificate was just seen revoked (verified OCSP or CRL data) is refused: its
/// signature is discarded and nothing is recorded.
fn refuse_if_revoked(fetched: &FetchedRevocation) -> Result<(), SealError> {
    match fetched.signer_revoked {
        Some((time, reason)) => Err(SealError::Invalid {
            field: "certificateId",
            reason: format!(
                "the seal certificate is revoked by its CA (since {}{}); no seal is made with it",
                sigil_cms::time::rfc3339(time),
                reason.map_or(String::new(), |code| format!(", reason code {code}"))
            ),
        }),
        None => Ok(()),
    }
}

fn key_algorithm_name(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::EcdsaP256 => "ecdsa-p256",
        KeyKind::Rsa(2048) => "rsa-2048",
        KeyKind::Rsa(3072) => "rsa-3072",
        KeyKind::Rsa(_) => "rsa-4096",
    }
}

fn pem_of(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// The reference of a JAdES signature's only signed object (`sigD.pars`, one entry), read from the first
/// signature's protected header; `None` when there is not exactly one (verification then reports it).
fn single_reference(json: &[u8]) -> Option<String> {
    use base64::Engine as _;
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    let protected = value
        .get("signatures")
        .and_then(|s| s.get(0))
        .unwrap_or(&value)
        .get("protected")?
        .as_str()?;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(protected)
        .ok()?;
    let header: serde_json::Value = serde_json::from_slice(&header).ok()?;
    match header.get("sigD")?.get("pars")?.as_array()?.as_slice() {
        [only] => only.as_str().map(str::to_string),
        _ => None,
    }
}
