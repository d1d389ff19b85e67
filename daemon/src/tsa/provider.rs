//! A TSA provider: [`ProviderCore`] sends a request to its backend (a TSA plugin instance or the local TSA) with a
//! deadline, verifies every answer before anyone sees it, classifies failures, keeps health and latency, and
//! opens a circuit after repeated failures. An attempt runs on the caller's own task (no message hop): the
//! provider's bookkeeping is a few fields behind a mutex held for microseconds. The supervised [`TsaProvider`]
//! actor owns the core for its lifetime and answers the cold-path questions (health, the last chain seen).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use actix::prelude::*;
use sigil_plugin_api::{
    ErrorClass, PluginError, Status, TimestampRequest as PluginTimestampRequest, TimestampResponse,
};
use sigil_rfc3161::{HashAlgorithm, ObjectIdentifier, TimestampRequest, VerifiedToken};

use super::TrustCell;
use super::local::LocalTsaCell;
use crate::plugin_host::instance::Call;
use crate::plugin_host::{Lookup, PluginHost};

/// What clients see of a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderInfo {
    /// Stable id (UUID v5 of the slug, so it survives restarts).
    pub id: String,
    /// Slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// eIDAS qualified.
    pub qualified: bool,
    /// Policy OID required of its tokens (and requested), if any.
    pub policy_oid: Option<String>,
    /// The hash a direct call uses for canonical requests, as an OID.
    pub preferred_hash_oid: String,
    /// Where it is reached (remote TSAs).
    pub endpoint_url: Option<String>,
}

/// Where a provider's tokens come from.
#[derive(Clone)]
pub enum Backend {
    /// A TSA plugin instance, by name.
    Plugin {
        /// Instance name.
        instance: String,
        /// The host to look it up in.
        host: Addr<PluginHost>,
    },
    /// Sigil itself.
    Local(LocalTsaCell),
}

/// One failed attempt, in the seed's vocabulary.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptFailure {
    /// Provider name.
    pub tsa: String,
    /// Provider slug (not in the seed's body; used for the failure log).
    #[serde(skip)]
    pub slug: String,
    /// `network`, `timeout`, `http_status`, `parse` or `unknown`.
    pub error_class: ErrorClass,
    /// HTTP status for `http_status` (and for `parse`, the 2xx that carried garbage, when known).
    pub status_code: Option<u16>,
    /// What went wrong.
    pub message: String,
    /// Time spent on the attempt.
    pub latency_ms: u64,
}

/// A verified token from a provider.
#[derive(Debug, Clone)]
pub struct AttemptSuccess {
    /// The TimeStampResp as received.
    pub response_der: Vec<u8>,
    /// What verification established.
    pub verified: VerifiedToken,
    /// Time spent.
    pub latency_ms: u64,
}

/// Health as `GET /api/tsa/health` shows it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderHealth {
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
    /// `closed` (in use), `open` (skipped while others can answer).
    pub circuit: &'static str,
    /// Successful attempts on this node since start.
    pub successes: u64,
    /// Failed attempts on this node since start.
    pub failures: u64,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Smoothed latency of successful attempts, in milliseconds.
    pub latency_ms: Option<f64>,
    /// The last failures on this node.
    pub recent_failures: Vec<AttemptFailure>,
}

/// Circuit-breaker settings.
#[derive(Debug, Clone, Copy)]
pub struct CircuitSettings {
    /// Failures in a row that open the circuit.
    pub failures: u32,
    /// How long it stays open.
    pub cooldown: Duration,
    /// Deadline of one attempt.
    pub attempt_timeout: Duration,
}

/// What a provider has seen on this node.
#[derive(Default)]
struct ProviderState {
    successes: u64,
    failures: u64,
    consecutive_failures: u32,
    open_until: Option<Instant>,
    latency_ms: Option<f64>,
    recent_failures: VecDeque<AttemptFailure>,
    /// The certificates of the last verified token (signer first), for `/proxy/services/{slug}/certificates`.
    known_chain: Vec<sigil_rfc3161::Certificate>,
}

impl ProviderState {
    fn circuit_open(&self) -> bool {
        self.open_until.is_some_and(|until| Instant::now() < until)
    }
}

/// One provider: its backend, anchors, circuit settings and what it has seen. Shared by every request.
pub struct ProviderCore {
    info: Arc<ProviderInfo>,
    backend: Backend,
    trust: TrustCell,
    settings: CircuitSettings,
    state: Mutex<ProviderState>,
}

const RECENT_FAILURES: usize = 20;

impl ProviderCore {
    /// A provider with no history.
    pub fn new(
        info: Arc<ProviderInfo>,
        backend: Backend,
        trust: TrustCell,
        settings: CircuitSettings,
    ) -> Self {
        Self {
            info,
            backend,
            trust,
            settings,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ProviderState> {
        // The state is counters and caches; a panic elsewhere cannot leave them dangerous to read.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the circuit is closed (the provider is tried in its turn).
    pub fn is_closed(&self) -> bool {
        !self.state().circuit_open()
    }

    /// Forgets the failures in a row and closes the circuit (after the owning actor restarted).
    fn reset_circuit(&self) {
        let mut state = self.state();
        state.consecutive_failures = 0;
        state.open_until = None;
    }

    fn record(&self, outcome: &Result<AttemptSuccess, AttemptFailure>) {
        let mut state = self.state();
        match outcome {
            Ok(success) => {
                state.successes += 1;
                state.consecutive_failures = 0;
                state.open_until = None;
                let verified = &success.verified;
                if state.known_chain.first() != Some(&verified.signer_certificate) {
                    let mut chain = vec![verified.signer_certificate.clone()];
                    chain.extend(
                        verified
                            .token
                            .certificates
                            .iter()
                            .filter(|c| **c != verified.signer_certificate)
                            .cloned(),
                    );
                    state.known_chain = chain;
                }
                let sample = success.latency_ms as f64;
                state.latency_ms = Some(
                    state
                        .latency_ms
                        .map_or(sample, |old| old * 0.8 + sample * 0.2),
                );
                drop(state);
                metrics::counter!("sigil_tsa_requests_total", "provider" => self.info.slug.clone(), "outcome" => "ok")
                    .increment(1);
            }
            Err(failure) => {
                state.failures += 1;
                state.consecutive_failures += 1;
                if state.consecutive_failures >= self.settings.failures {
                    if !state.circuit_open() {
                        tracing::warn!(provider = %self.info.slug, failures = state.consecutive_failures, "TSA circuit opened");
                    }
                    state.open_until = Some(Instant::now() + self.settings.cooldown);
                }
                if state.recent_failures.len() == RECENT_FAILURES {
                    state.recent_failures.pop_front();
                }
                state.recent_failures.push_back(failure.clone());
                drop(state);
                tracing::warn!(provider = %self.info.slug, class = failure.error_class.as_str(), error = %failure.message, "TSA request failed");
                metrics::counter!("sigil_tsa_requests_total", "provider" => self.info.slug.clone(), "outcome" => failure.error_class.as_str())
                    .increment(1);
            }
        }
    }

    /// The provider's health on this node.
    pub fn health(&self) -> ProviderHealth {
        let state = self.state();
        ProviderHealth {
            slug: self.info.slug.clone(),
            name: self.info.name.clone(),
            circuit: if state.circuit_open() {
                "open"
            } else {
                "closed"
            },
            successes: state.successes,
            failures: state.failures,
            consecutive_failures: state.consecutive_failures,
            latency_ms: state.latency_ms,
            recent_failures: state.recent_failures.iter().rev().cloned().collect(),
        }
    }

    /// The certificates this provider's tokens carried, signer first (empty until a token was verified).
    pub fn known_chain(&self) -> Vec<sigil_rfc3161::Certificate> {
        self.state().known_chain.clone()
    }

    /// Asks for a token over `digest`, verifies it against this provider's anchors and records the outcome.
    pub async fn attempt(
        &self,
        hash: HashAlgorithm,
        digest: &[u8],
    ) -> Result<AttemptSuccess, AttemptFailure> {
        let outcome = self.fetch_and_verify(hash, digest).await;
        self.record(&outcome);
        outcome
    }

    async fn fetch_and_verify(
        &self,
        hash: HashAlgorithm,
        digest: &[u8],
    ) -> Result<AttemptSuccess, AttemptFailure> {
        let info = &self.info;
        let trust = self.trust.get().for_provider(&info.slug);
        let deadline = self.settings.attempt_timeout;
        let started = Instant::now();
        let failure = |class: ErrorClass, status: Option<u16>, message: String| AttemptFailure {
            tsa: info.name.clone(),
            slug: info.slug.clone(),
            error_class: class,
            status_code: status,
            message,
            latency_ms: started.elapsed().as_millis() as u64,
        };
        let policy = match info
            .policy_oid
            .as_deref()
            .map(ObjectIdentifier::new)
            .transpose()
        {
            Ok(policy) => policy,
            Err(error) => {
                return Err(failure(
                    ErrorClass::Unknown,
                    None,
                    format!("configured policy OID: {error}"),
                ));
            }
        };
        let request = TimestampRequest::new(hash, digest, policy, true).map_err(|e| {
            failure(
                ErrorClass::Unknown,
                None,
                format!("building the request: {e}"),
            )
        })?;
        let attempt = fetch_verified(&self.backend, &request, deadline, trust);
        match tokio::time::timeout(deadline, attempt).await {
            Err(_) => Err(failure(
                ErrorClass::Timeout,
                None,
                format!("Request timed out after {}s", deadline.as_secs_f64()),
            )),
            Ok(Err((class, status, message))) => Err(failure(class, status, message)),
            Ok(Ok((verified, response_der))) => Ok(AttemptSuccess {
                response_der,
                verified,
                latency_ms: started.elapsed().as_millis() as u64,
            }),
        }
    }
}

/// The supervised actor that owns a provider's core for as long as the provider is configured.
pub struct TsaProvider {
    core: Arc<ProviderCore>,
}

impl TsaProvider {
    /// The actor of `core`.
    pub fn new(core: Arc<ProviderCore>) -> Self {
        Self { core }
    }
}

impl Actor for TsaProvider {
    type Context = Context<Self>;
}

impl Supervised for TsaProvider {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.core.reset_circuit();
    }
}

/// A failed attempt: error class, HTTP status, message.
type Failed = (ErrorClass, Option<u16>, String);

/// Verifies a TSA's answer against the request and the provider's anchors (the caller runs it off the async
/// threads). A token whose signer does not chain to one of this provider's anchors is refused like a malformed
/// one (class `parse`): whoever answered is not the TSA the operator configured.
fn verify(
    response_der: Vec<u8>,
    expectations: &sigil_rfc3161::Expectations,
    trust: &sigil_rfc3161::TrustStore,
) -> Result<(sigil_rfc3161::VerifiedToken, Vec<u8>), Failed> {
    let verified = sigil_rfc3161::verify_response(&response_der, expectations, trust)
        .map_err(|e| (ErrorClass::Parse, None, format!("response refused: {e}")))?;
    if let Some(why) = verified.trust.explanation() {
        return Err((
            ErrorClass::Parse,
            None,
            format!(
                "response refused: {why}; add that root to the provider's trust_roots_file if this TSA is meant to use it"
            ),
        ));
    }
    Ok((verified, response_der))
}

/// Gets the backend's answer and verifies it. For the local TSA, issuing and verifying share one job on its
/// signing lane (the KMS call there carries the plugin call deadline); a plugin's answer is verified on the
/// blocking pool after it arrives.
async fn fetch_verified(
    backend: &Backend,
    request: &TimestampRequest,
    deadline: Duration,
    trust: Arc<sigil_rfc3161::TrustStore>,
) -> Result<(sigil_rfc3161::VerifiedToken, Vec<u8>), Failed> {
    let expectations = request.expectations();
    match backend {
        Backend::Local(cell) => {
            let tsa = cell.get().ok_or((
                ErrorClass::Unknown,
                None,
                "the local TSA is not ready yet".to_string(),
            ))?;
            let request_der = request.der.clone();
            let lane = tsa.lane().clone();
            lane.run(move || {
                let response_der = issue_locally(&tsa, &request_der)?;
                verify(response_der, &expectations, &trust)
            })
            .await
            .map_err(|e| (ErrorClass::Unknown, None, format!("local TSA: {e}")))?
        }
        Backend::Plugin { instance, host } => {
            let response_der = fetch(instance, host, request, deadline).await?;
            tokio::task::spawn_blocking(move || verify(response_der, &expectations, &trust))
                .await
                .map_err(|e| {
                    (
                        ErrorClass::Unknown,
                        None,
                        format!("verification task failed: {e}"),
                    )
                })?
        }
    }
}

/// Issues a token with the local TSA (blocking: the KMS signs).
fn issue_locally(tsa: &super::local::LocalTsa, request_der: &[u8]) -> Result<Vec<u8>, Failed> {
    let parsed = sigil_rfc3161::ParsedRequest::from_der(request_der).map_err(|e| {
        (
            ErrorClass::Unknown,
            None,
            format!("local TSA refused the request: {e}"),
        )
    })?;
    sigil_rfc3161::issue_token(&parsed, tsa.signer(), &tsa.policy, None, SystemTime::now())
        .map(|issued| issued.response_der)
        .map_err(|e| (ErrorClass::Unknown, None, format!("local TSA failed: {e}")))
}

/// Gets the response bytes from a plugin backend, classifying failures.
async fn fetch(
    instance: &str,
    host: &Addr<PluginHost>,
    request: &TimestampRequest,
    deadline: Duration,
) -> Result<Vec<u8>, Failed> {
    let plugin = host
        .send(Lookup {
            name: instance.to_string(),
        })
        .await
        .ok()
        .flatten()
        .ok_or((
            ErrorClass::Unknown,
            None,
            format!("plugin instance `{instance}` is not configured"),
        ))?;
    let body = PluginTimestampRequest {
        request_der: sigil_plugin_api::Base64Bytes(request.der.clone()),
        timeout_ms: Some(deadline.as_millis() as u64),
    };
    let body = sigil_plugin_api::encode_message(&body)
        .map_err(|e| (ErrorClass::Unknown, None, e.to_string()))?;
    let answer = plugin
        .send(Call {
            op: "timestamp".into(),
            request: body,
        })
        .await
        .map_err(|_| {
            (
                ErrorClass::Unknown,
                None,
                "the plugin instance is not running".to_string(),
            )
        })?
        .map_err(classify)?;
    let answer: TimestampResponse = sigil_plugin_api::decode_message(&answer).map_err(|e| {
        (
            ErrorClass::Parse,
            None,
            format!("plugin answered a malformed message: {e}"),
        )
    })?;
    Ok(answer.response_der.0)
}

/// Maps a plugin error to the seed's error classes.
pub(crate) fn classify(error: PluginError) -> Failed {
    let class = match (error.class, error.status) {
        (Some(ErrorClass::Timeout), _) | (_, Status::Timeout) => ErrorClass::Timeout,
        (Some(class), _) => class,
        (None, _) => ErrorClass::Unknown,
    };
    (class, error.http_status, error.message)
}
