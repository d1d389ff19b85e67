//! The TSA provider actor: one per provider. It sends a request to its backend (a TSA plugin instance or the
//! local TSA) off the arbiter thread with a deadline, verifies every answer before anyone sees it, classifies
//! failures, keeps health and latency, and opens a circuit after repeated failures.

use std::collections::VecDeque;
use std::sync::Arc;
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

/// The actor.
pub struct TsaProvider {
    info: Arc<ProviderInfo>,
    backend: Backend,
    trust: TrustCell,
    settings: CircuitSettings,
    successes: u64,
    failures: u64,
    consecutive_failures: u32,
    open_until: Option<Instant>,
    latency_ms: Option<f64>,
    recent_failures: VecDeque<AttemptFailure>,
    /// The certificates of the last verified token (signer first), for `/proxy/services/{slug}/certificates`.
    known_chain: Vec<sigil_rfc3161::Certificate>,
}

const RECENT_FAILURES: usize = 20;

impl TsaProvider {
    /// A provider actor.
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
            successes: 0,
            failures: 0,
            consecutive_failures: 0,
            open_until: None,
            latency_ms: None,
            recent_failures: VecDeque::new(),
            known_chain: Vec::new(),
        }
    }

    fn circuit_open(&self) -> bool {
        self.open_until.is_some_and(|until| Instant::now() < until)
    }

    fn record(&mut self, outcome: &Result<AttemptSuccess, AttemptFailure>) {
        match outcome {
            Ok(success) => {
                self.successes += 1;
                self.consecutive_failures = 0;
                self.open_until = None;
                let verified = &success.verified;
                let mut chain = vec![verified.signer_certificate.clone()];
                chain.extend(
                    verified
                        .token
                        .certificates
                        .iter()
                        .filter(|c| **c != verified.signer_certificate)
                        .cloned(),
                );
                self.known_chain = chain;
                let sample = success.latency_ms as f64;
                self.latency_ms = Some(
                    self.latency_ms
                        .map_or(sample, |old| old * 0.8 + sample * 0.2),
                );
                metrics::counter!("sigil_tsa_requests_total", "provider" => self.info.slug.clone(), "outcome" => "ok")
                    .increment(1);
            }
            Err(failure) => {
                self.failures += 1;
                self.consecutive_failures += 1;
                if self.consecutive_failures >= self.settings.failures {
                    if !self.circuit_open() {
                        tracing::warn!(provider = %self.info.slug, failures = self.consecutive_failures, "TSA circuit opened");
                    }
                    self.open_until = Some(Instant::now() + self.settings.cooldown);
                }
                tracing::warn!(provider = %self.info.slug, class = failure.error_class.as_str(), error = %failure.message, "TSA request failed");
                metrics::counter!("sigil_tsa_requests_total", "provider" => self.info.slug.clone(), "outcome" => failure.error_class.as_str())
                    .increment(1);
                if self.recent_failures.len() == RECENT_FAILURES {
                    self.recent_failures.pop_front();
                }
                self.recent_failures.push_back(failure.clone());
            }
        }
    }
}

impl Actor for TsaProvider {
    type Context = Context<Self>;
}

impl Supervised for TsaProvider {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.consecutive_failures = 0;
        self.open_until = None;
    }
}

/// Asks for a token over `digest`.
#[derive(Message)]
#[rtype(result = "Result<AttemptSuccess, AttemptFailure>")]
pub struct Attempt {
    /// Imprint algorithm.
    pub hash: HashAlgorithm,
    /// Imprint digest.
    pub digest: Vec<u8>,
}

impl Handler<Attempt> for TsaProvider {
    type Result = ResponseActFuture<Self, Result<AttemptSuccess, AttemptFailure>>;

    fn handle(&mut self, message: Attempt, _ctx: &mut Context<Self>) -> Self::Result {
        let info = self.info.clone();
        let backend = self.backend.clone();
        let trust = self.trust.get().for_provider(&self.info.slug);
        let deadline = self.settings.attempt_timeout;
        let work = async move {
            let started = Instant::now();
            let failure =
                |class: ErrorClass, status: Option<u16>, message: String| AttemptFailure {
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
            let request = TimestampRequest::new(message.hash, &message.digest, policy, true)
                .map_err(|e| {
                    failure(
                        ErrorClass::Unknown,
                        None,
                        format!("building the request: {e}"),
                    )
                })?;
            let attempt = fetch_verified(&backend, &request, deadline, trust);
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
        };
        Box::pin(work.into_actor(self).map(|outcome, actor, _ctx| {
            actor.record(&outcome);
            outcome
        }))
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

/// Gets the backend's answer and verifies it. For the local TSA, issuing and verifying share one blocking task
/// (its KMS signature is one more hand-off, which carries the plugin call deadline); a plugin's answer is
/// verified on the blocking pool after it arrives.
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
            tokio::task::spawn_blocking(move || {
                let response_der = issue_locally(&tsa, &request_der)?;
                verify(response_der, &expectations, &trust)
            })
            .await
            .map_err(|e| {
                (
                    ErrorClass::Unknown,
                    None,
                    format!("local TSA task failed: {e}"),
                )
            })?
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

/// Whether the circuit is closed (the provider is tried in its turn).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct IsClosed;

impl Handler<IsClosed> for TsaProvider {
    type Result = bool;

    fn handle(&mut self, _message: IsClosed, _ctx: &mut Context<Self>) -> bool {
        !self.circuit_open()
    }
}

/// The provider's health on this node.
#[derive(Message)]
#[rtype(result = "ProviderHealth")]
pub struct GetHealth;

impl Handler<GetHealth> for TsaProvider {
    type Result = MessageResult<GetHealth>;

    fn handle(&mut self, _message: GetHealth, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(ProviderHealth {
            slug: self.info.slug.clone(),
            name: self.info.name.clone(),
            circuit: if self.circuit_open() {
                "open"
            } else {
                "closed"
            },
            successes: self.successes,
            failures: self.failures,
            consecutive_failures: self.consecutive_failures,
            latency_ms: self.latency_ms,
            recent_failures: self.recent_failures.iter().rev().cloned().collect(),
        })
    }
}

/// The certificates this provider's tokens carried, signer first (empty until a token was verified).
#[derive(Message)]
#[rtype(result = "Vec<sigil_rfc3161::Certificate>")]
pub struct KnownChain;

impl Handler<KnownChain> for TsaProvider {
    type Result = MessageResult<KnownChain>;

    fn handle(&mut self, _message: KnownChain, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.known_chain.clone())
    }
}
