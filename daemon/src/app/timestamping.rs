//! The timestamping use cases: stamp a digest (with safe retries, quotas and failover) and restamp a record.
//!
//! One stamp, as data: [`StampService::stamp`] plans the providers in one message to the tenant's actor
//! (allowlist, qualified filter, round-robin), looks for a record that already answers the request (a point read
//! of the first-stamp key; left to the insert's key conflict when the local TSA comes first), reserves the monthly quota in the store, dispatches to the provider actors (each verifies
//! its token against its own anchors), and hands the record to the store's group-commit writer.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sigil_rfc3161::HashAlgorithm;

use super::TenantScope;
use crate::actors::Runtime;
use crate::actors::registry::TenantRegistry;
use crate::actors::tenant::{CandidateInfo, PlanRefusal, PlanStamp, StampSelection};
use crate::ids::StampId;
use crate::store::{
    Failure, IfStamped, NewStamp, QuotaLimits, QuotaPeriod, QuotaRefusal, Stamp, Store, StoreError,
};
use crate::tsa::provider::AttemptFailure;
use crate::tsa::{DispatchError, Providers, dispatch};

/// A stamp to make.
#[derive(Debug, Clone)]
pub struct StampRequest {
    /// The digest's algorithm.
    pub hash: HashAlgorithm,
    /// The digest.
    pub digest: Vec<u8>,
    /// The digest, lower-case hex.
    pub hash_hex: String,
    /// Auto or one provider.
    pub selection: StampSelection,
    /// Only a qualified TSA may answer.
    pub qualified: bool,
    /// The owner's label.
    pub label: Option<String>,
    /// Make a new stamp even if one answers already.
    pub force: bool,
}

/// What a stamp request produced.
#[derive(Debug, Clone)]
pub enum StampOutcome {
    /// A new record, stored by this request.
    Created(Stamp),
    /// A record that already answered the request (a retry, or a concurrent identical request stored first).
    Existing(Stamp),
}

/// Why a stamp was not made.
#[derive(Debug)]
pub enum StampError {
    /// The request names something unusable (a field and why).
    Invalid {
        /// The request field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A monthly quota is used up.
    Quota(QuotaRefusal),
    /// Every provider tried failed.
    AllFailed(Vec<AttemptFailure>),
    /// A part of the daemon is not available; retrying later may help.
    Unavailable(String),
    /// The record named does not exist for this tenant.
    NotFound(&'static str),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for StampError {
    fn from(error: StoreError) -> Self {
        StampError::Store(error)
    }
}

/// A time-stamp token for embedding (a seal's signature-time-stamp), verified by its provider.
#[derive(Debug, Clone)]
pub struct SignatureTimestamp {
    /// The TimeStampToken (ContentInfo), DER.
    pub token_der: Vec<u8>,
    /// The provider's display name.
    pub tsa_name: String,
    /// Whether the provider is qualified.
    pub qualified: bool,
}

/// The timestamping service. Cheap to clone.
#[derive(Clone)]
pub struct StampService {
    runtime: Arc<Runtime>,
    registry: TenantRegistry,
    providers: Providers,
}

/// Whether a stored stamp answers a request: a qualified request needs a qualified stamp, a named provider its
/// own stamp.
fn answers(stamp: &Stamp, qualified: bool, selection: &StampSelection) -> bool {
    (!qualified || stamp.record.qualified)
        && match selection {
            StampSelection::Auto => true,
            StampSelection::Slug(slug) => stamp.record.provider == *slug,
        }
}

impl StampService {
    /// A service over the runtime, the tenant registry and the active providers.
    pub fn new(runtime: Arc<Runtime>, registry: TenantRegistry, providers: Providers) -> Self {
        Self {
            runtime,
            registry,
            providers,
        }
    }

    fn store(&self) -> &Store {
        &self.runtime.store
    }

    /// Stamps a digest for the tenant. Without `force`, a record of the tenant that answers the same request (same
    /// digest; qualified if asked; the named provider's if one is named) is returned instead, so retries are safe;
    /// a record that does not answer it (a plain stamp when a qualified one is asked) leads to a new stamp.
    ///
    /// Where a retry is found depends on what a token costs. The plan comes first: when the first TSA to ask is
    /// Sigil's own, a token costs one local signature, less than the store read that would find the retry, so
    /// the first-stamp key's conflict at insert finds it instead (the token made is discarded, the answer is the
    /// same). A remote TSA's token costs a round trip and perhaps a fee: then the records are read first. When
    /// the plan refuses, the records are read too, so a request that was answered before still is.
    pub async fn stamp(
        &self,
        scope: &TenantScope,
        request: StampRequest,
    ) -> Result<StampOutcome, StampError> {
        let planned = self
            .plan(scope, &request.selection, request.qualified)
            .await;
        let local_first = matches!(&planned, Ok(candidates)
            if candidates.first().is_some_and(|p| p.info.slug == crate::tsa::LOCAL_SLUG));
        let if_stamped = match &planned {
            _ if request.force => IfStamped::Add,
            _ if local_first => IfStamped::Conflict,
            _ => match self.answer_of(scope, &request).await? {
                Ok(found) => return Ok(StampOutcome::Existing(found)),
                Err(if_stamped) => if_stamped,
            },
        };
        if request.force || !local_first {
            return self
                .stamp_new(scope, request, None, if_stamped, planned?)
                .await;
        }
        // Unread: a refusal on the way (quota, every TSA failing) must still answer a request answered before.
        match self
            .stamp_new(scope, request.clone(), None, if_stamped, planned?)
            .await
        {
            Err(error) if !matches!(error, StampError::Store(_)) => {
                match self.answer_of(scope, &request).await? {
                    Ok(found) => Ok(StampOutcome::Existing(found)),
                    Err(_) => Err(error),
                }
            }
            other => other,
        }
    }

    /// The tenant's record that answers `request`, or how a new one is to be stored: under the digest's
    /// first-stamp key when the digest has no stamp yet, beside the others when it has.
    async fn answer_of(
        &self,
        scope: &TenantScope,
        request: &StampRequest,
    ) -> Result<Result<Stamp, IfStamped>, StampError> {
        let store = self.store();
        match store.first_stamp_of(scope, &request.hash_hex).await? {
            None => Ok(Err(IfStamped::Conflict)),
            Some(first) if answers(&first, request.qualified, &request.selection) => Ok(Ok(first)),
            Some(_) => {
                // Rare: the first stamp has another meaning; an older matching one may exist.
                let mut all = store.tenant_stamps_of(scope, &request.hash_hex).await?;
                all.reverse();
                Ok(all
                    .into_iter()
                    .find(|s| answers(s, request.qualified, &request.selection))
                    .ok_or(IfStamped::Add))
            }
        }
    }

    /// Restamps a record: stamps the SHA-512 of its stored TSR bytes (the archival chain of RFC 3161 §4) with
    /// `selection`; the new record names the original as parent and inherits its label.
    pub async fn restamp(
        &self,
        scope: &TenantScope,
        parent_id: &StampId,
        selection: StampSelection,
    ) -> Result<Stamp, StampError> {
        let parent = self
            .store()
            .stamp(scope, parent_id)
            .await?
            .ok_or(StampError::NotFound("transaction"))?;
        let tsr = BASE64.decode(&parent.record.tsr).map_err(|error| {
            StampError::Store(StoreError::Decode(format!(
                "stored TSR of {}: {error}",
                parent.uid
            )))
        })?;
        let hash = HashAlgorithm::Sha512;
        let digest = hash.digest(&tsr);
        let request = StampRequest {
            hash,
            hash_hex: hex::encode(&digest),
            digest,
            selection,
            qualified: false,
            label: parent.record.label.clone(),
            force: true,
        };
        let candidates = self
            .plan(scope, &request.selection, request.qualified)
            .await?;
        match self
            .stamp_new(scope, request, Some(parent.uid), IfStamped::Add, candidates)
            .await?
        {
            StampOutcome::Created(stamp) | StampOutcome::Existing(stamp) => Ok(stamp),
        }
    }

    /// A verified time-stamp token over `digest` for the tenant, from the auto dispatcher with the tenant's
    /// allowlist (and only qualified TSAs when `qualified`), without storing a stamp record: the token is
    /// embedded in a seal, which is the tenant's record of it. Failed attempts are logged like a stamp's. Seal
    /// time-stamps do not count against the monthly stamp quota (a seal is not a stamp).
    pub async fn signature_timestamp(
        &self,
        scope: &TenantScope,
        hash: HashAlgorithm,
        digest: &[u8],
        qualified: bool,
    ) -> Result<SignatureTimestamp, StampError> {
        let candidates = self.plan(scope, &StampSelection::Auto, qualified).await?;
        let outcome = dispatch(candidates, hash, digest).await;
        match outcome {
            Ok(done) => {
                self.log_failures(scope, &done.failures);
                Ok(SignatureTimestamp {
                    token_der: done.success.verified.token.token_der.clone(),
                    tsa_name: done.provider.name.clone(),
                    qualified: done.provider.qualified,
                })
            }
            Err(DispatchError::AllFailed(failures)) => {
                self.log_failures(scope, &failures);
                Err(StampError::AllFailed(failures))
            }
            Err(DispatchError::NoCandidates(reason) | DispatchError::UnknownProvider(reason)) => {
                Err(StampError::Invalid {
                    field: "tsaSlug",
                    reason,
                })
            }
        }
    }

    /// The providers to try, in order.
    async fn plan(
        &self,
        scope: &TenantScope,
        selection: &StampSelection,
        qualified: bool,
    ) -> Result<Vec<crate::tsa::Provider>, StampError> {
        let providers = self.providers.list();
        let active = providers
            .iter()
            .map(|p| CandidateInfo {
                slug: p.info.slug.clone(),
                qualified: p.info.qualified,
            })
            .collect();
        let actor = self.registry.lookup(scope.tenant());
        let order = actor
            .send(PlanStamp {
                active,
                selection: selection.clone(),
                qualified,
            })
            .await
            .map_err(|_| StampError::Unavailable("the tenant's actor is restarting; retry".into()))?
            .map_err(|refusal| match refusal {
                PlanRefusal::UnknownSlug(slug) => StampError::Invalid {
                    field: "tsaSlug",
                    reason: format!("`{slug}` is not an active TSA (see GET /proxy/services)"),
                },
                PlanRefusal::NotAllowed(slug) => StampError::Invalid {
                    field: "tsaSlug",
                    reason: format!("`{slug}` is not enabled for this tenant"),
                },
                PlanRefusal::NotQualified(slug) => StampError::Invalid {
                    field: "qualified",
                    reason: format!("`{slug}` is not a qualified TSA"),
                },
                PlanRefusal::NoneEligible { qualified: true } => StampError::Invalid {
                    field: "qualified",
                    reason: "no qualified TSA is configured and enabled for this tenant".into(),
                },
                PlanRefusal::NoneEligible { qualified: false } => StampError::Invalid {
                    field: "tsaSlug",
                    reason: "no TSA is active and enabled for this tenant".into(),
                },
                PlanRefusal::Store(reason) => {
                    StampError::Unavailable(format!("reading the tenant's settings: {reason}"))
                }
            })?;
        Ok(order
            .iter()
            .filter_map(|slug| providers.iter().find(|p| &p.info.slug == slug).cloned())
            .collect())
    }

    async fn stamp_new(
        &self,
        scope: &TenantScope,
        request: StampRequest,
        parent: Option<StampId>,
        if_stamped: IfStamped,
        candidates: Vec<crate::tsa::Provider>,
    ) -> Result<StampOutcome, StampError> {
        let reservation = self.reserve(scope, request.qualified).await?;
        let outcome = dispatch(candidates, request.hash, &request.digest).await;
        let failures = match &outcome {
            Ok(done) => done.failures.as_slice(),
            Err(DispatchError::AllFailed(failures)) => failures.as_slice(),
            Err(_) => &[],
        };
        self.log_failures(scope, failures);
        let done = match outcome {
            Ok(done) => done,
            // Dropping the reservation gives it back.
            Err(DispatchError::AllFailed(failures)) => return Err(StampError::AllFailed(failures)),
            Err(DispatchError::NoCandidates(reason)) => {
                return Err(StampError::Invalid {
                    field: "tsaSlug",
                    reason,
                });
            }
            Err(DispatchError::UnknownProvider(slug)) => {
                return Err(StampError::Invalid {
                    field: "tsaSlug",
                    reason: format!("unknown TSA `{slug}`"),
                });
            }
        };
        let token = &done.success.verified.token;
        let signer = &done.success.verified.signer;
        let record = NewStamp {
            tenant: scope.tenant().clone(),
            hash_hex: request.hash_hex.clone(),
            hash_alg_oid: request.hash.oid().to_string(),
            serial: token.serial.to_decimal(),
            gen_time: token.gen_time.to_rfc3339(),
            tsr: BASE64.encode(&done.success.response_der),
            provider: done.provider.slug.clone(),
            tsa_name: done.provider.name.clone(),
            label: request.label.clone(),
            qualified: done.provider.qualified,
            policy_oid: token.policy.to_string(),
            parent,
            cert_not_after: Some(signer.not_after.clone()),
            cert_not_before: Some(signer.not_before.clone()),
            latency_ms: done.success.latency_ms as i64,
        };
        let store = self.store();
        match store.insert_stamp(record.clone(), if_stamped).await {
            Ok(stamp) => {
                reservation.keep();
                Ok(StampOutcome::Created(stamp))
            }
            // The digest's first stamp exists: stored earlier (a retry whose records were not read first) or by a
            // concurrent request. If a record answers this request, answer with it (the token made here is
            // discarded and the quota given back). If not, store this stamp beside them.
            Err(StoreError::Conflict(_)) => match self.answer_of(scope, &request).await? {
                Ok(found) => Ok(StampOutcome::Existing(found)),
                Err(_) => {
                    let stamp = store.insert_stamp(record, IfStamped::Add).await?;
                    reservation.keep();
                    Ok(StampOutcome::Created(stamp))
                }
            },
            Err(error) => Err(error.into()),
        }
    }

    /// Reserves this stamp in the tenant's monthly quota, when a limit applies.
    async fn reserve(
        &self,
        scope: &TenantScope,
        qualified: bool,
    ) -> Result<Reservation, StampError> {
        let config = self.runtime.settings().1;
        let limits = QuotaLimits {
            stamps: config.tsa.monthly_stamp_limit,
            qualified: config.tsa.monthly_qualified_limit,
        };
        if !limits.applies_to(qualified) {
            return Ok(Reservation::none());
        }
        let period = QuotaPeriod::of(scope, chrono::Utc::now());
        match self.store().reserve_stamp(&period, qualified, limits).await {
            Ok(Ok(())) => Ok(Reservation {
                held: Some((self.store().clone(), period, qualified)),
            }),
            Ok(Err(refusal)) => Err(StampError::Quota(refusal)),
            Err(error) => Err(StampError::Unavailable(format!(
                "quota check failed: {error}"
            ))),
        }
    }

    fn log_failures(&self, scope: &TenantScope, failures: &[AttemptFailure]) {
        if failures.is_empty() {
            return;
        }
        let store = self.store().clone();
        let scope = scope.clone();
        let failures: Vec<Failure> = failures
            .iter()
            .map(|f| Failure {
                provider: f.slug.clone(),
                error_class: f.error_class.as_str().to_string(),
                status_code: f.status_code.map(i64::from),
                message: f.message.clone(),
                latency_ms: f.latency_ms as i64,
                at: String::new(),
            })
            .collect();
        tokio::spawn(async move {
            for failure in failures {
                if let Err(error) = store.record_tsa_failure(&scope, &failure).await {
                    tracing::warn!(%error, "could not log a TSA failure");
                }
            }
        });
    }
}

/// A quota reservation. Dropped without [`Reservation::keep`] (the stamp failed, or the request was cancelled
/// while it waited), it is given back.
struct Reservation {
    held: Option<(Store, QuotaPeriod, bool)>,
}

impl Reservation {
    fn none() -> Self {
        Self { held: None }
    }

    /// The stamp was stored: the reservation is now the stamp's count.
    fn keep(mut self) {
        self.held = None;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let Some((store, period, qualified)) = self.held.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = store.release_stamp(&period, qualified).await {
                        tracing::warn!(%error, quota = ?period, "could not give back a quota reservation");
                    }
                });
            }
            Err(_) => {
                tracing::warn!(quota = ?period, "quota reservation not given back: no runtime")
            }
        }
    }
}

/// The longest restamp chain followed from one record.
pub const MAX_CHAIN: usize = 50;

impl StampService {
    /// A record of the tenant and every restamp of it (and of those), in the order they were found, at most
    /// [`MAX_CHAIN`] of them.
    pub async fn chain(
        &self,
        scope: &TenantScope,
        id: &StampId,
    ) -> Result<(Stamp, Vec<Stamp>), StampError> {
        let root = self
            .store()
            .stamp(scope, id)
            .await?
            .ok_or(StampError::NotFound("transaction"))?;
        let mut chain = Vec::new();
        let mut frontier = vec![root.uid.clone()];
        while let Some(parent) = frontier.pop() {
            for child in self.store().restamps_of(scope, &parent).await? {
                if chain.len() >= MAX_CHAIN {
                    break;
                }
                frontier.push(child.uid.clone());
                chain.push(child);
            }
        }
        Ok((root, chain))
    }

    /// The audit package of a record (`GET /api/transactions/{id}/audit-package.zip`): a ZIP with the tokens of
    /// the record and its restamp chain as stored, the certificates each token carries, a verification report of
    /// each token against its own imprint and `trust` (made now, with the verdicts of `/tsa/verify-hash`), the
    /// records themselves (the custody log: who stamped what, when, with which TSA, in which order), a README,
    /// and a SHA-256 manifest of every other file in `sha256sum -c` form.
    pub async fn audit_package(
        &self,
        scope: &TenantScope,
        id: &StampId,
        trust: Arc<sigil_rfc3161::TrustStore>,
    ) -> Result<Vec<u8>, StampError> {
        use sha2::Digest as _;
        use sigil_rfc3161::der::EncodePem;
        use sigil_rfc3161::{TimestampVerdict, Verdict};

        let (root, restamps) = self.chain(scope, id).await?;
        let records: Vec<Stamp> = std::iter::once(root).chain(restamps).collect();
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let mut reports = Vec::new();
        for (index, stamp) in records.iter().enumerate() {
            let prefix = format!("{index:02}-{}", stamp.uid);
            let tsr = BASE64.decode(&stamp.record.tsr).map_err(|error| {
                StampError::Store(StoreError::Decode(format!(
                    "stored TSR of {}: {error}",
                    stamp.uid
                )))
            })?;
            let digest = hex::decode(&stamp.record.hash_hex).unwrap_or_default();
            let verify_trust = trust.clone();
            let verify_tsr = tsr.clone();
            let verified = tokio::task::spawn_blocking(move || {
                sigil_rfc3161::verify_token_against_digest(&verify_tsr, &digest, &verify_trust)
            })
            .await
            .map_err(|e| StampError::Unavailable(format!("verification task failed: {e}")))?;
            let verdict = Verdict::of_result(&verified);
            if let Ok(token) = &verified {
                for (position, certificate) in token.token.certificates.iter().enumerate() {
                    if let Ok(pem) = certificate.to_pem(sigil_rfc3161::der::pem::LineEnding::LF) {
                        files.push((
                            format!("certificates/{prefix}-{position}.pem"),
                            pem.into_bytes(),
                        ));
                    }
                }
            }
            reports.push(serde_json::json!({
                "transactionId": stamp.uid,
                "file": format!("tokens/{prefix}.tsr"),
                "hashHex": stamp.record.hash_hex,
                "hashAlgorithmOid": stamp.record.hash_alg_oid,
                "valid": verdict.passed(),
                "indication": verdict.indication.as_str(),
                "subIndication": verdict.sub_indication.map(|sub| sub.as_str()),
                "message": verdict.message,
                "signer": verified.as_ref().ok().map(|token| token.signer.subject.clone()),
            }));
            files.push((format!("tokens/{prefix}.tsr"), tsr));
        }
        let custody: Vec<serde_json::Value> = records
            .iter()
            .map(|stamp| {
                serde_json::json!({
                    "transactionId": stamp.uid,
                    "parentTransactionId": stamp.record.parent,
                    "hashHex": stamp.record.hash_hex,
                    "hashAlgorithmOid": stamp.record.hash_alg_oid,
                    "serial": stamp.record.serial,
                    "genTime": stamp.record.gen_time,
                    "tsaName": stamp.record.tsa_name,
                    "tsaSlug": stamp.record.provider,
                    "qualified": stamp.record.qualified,
                    "policyOid": stamp.record.policy_oid,
                    "label": stamp.record.label,
                    "createdAt": stamp.created_at,
                })
            })
            .collect();
        let json = |value: serde_json::Value| {
            serde_json::to_vec_pretty(&value).unwrap_or_else(|_| b"null".to_vec())
        };
        files.push((
            "verification.json".into(),
            json(serde_json::json!({
                "verifiedAt": chrono::Utc::now().to_rfc3339(),
                "tokens": reports,
            })),
        ));
        files.push(("custody.json".into(), json(serde_json::json!(custody))));
        files.push((
            "README.txt".into(),
            format!(
                "Audit package of transaction {}, made by Sigil.\n\n\
                 tokens/            each RFC 3161 TimeStampResp as stored, the record first, then its restamps\n\
                 certificates/      the certificates each token carries (PEM)\n\
                 verification.json  each token verified now against its own imprint and this instance's anchors\n\
                 custody.json       the records: what was stamped, when, by which TSA, in which order\n\
                 MANIFEST.sha256    SHA-256 of every file above (check with `sha256sum -c MANIFEST.sha256`)\n\n\
                 A token can be checked independently with\n\
                 `openssl ts -verify -digest <hashHex> -in tokens/<file>.tsr -CAfile <root.pem>`.\n",
                records[0].uid
            )
            .into_bytes(),
        ));
        let manifest: String = files
            .iter()
            .map(|(name, data)| format!("{}  {name}\n", hex::encode(sha2::Sha256::digest(data))))
            .collect();
        files.push(("MANIFEST.sha256".into(), manifest.into_bytes()));
        let mut zip = super::zip::ZipWriter::new();
        for (name, data) in &files {
            zip.add(name, data)
                .map_err(|e| StampError::Unavailable(e.to_string()))?;
        }
        zip.finish()
            .map_err(|e| StampError::Unavailable(e.to_string()))
    }
}
