//! Signing requests (seed 003, contract 04) on the approval engine: an app hands Sigil a `sigil://v1/request`
//! link (or its envelope); Sigil validates it (`sigil-connect`), rates its trust proof against the tenant's
//! issuer registry, routes it by the tenant's policy to devices (one device challenge each) or to an M-of-N
//! multi-party request, and once decided produces the result the app expects with a key that never leaves the
//! KMS, delivered to the app's callback through the webhook outbox (retried) or handed out as a redirect URL.
//!
//! **Invariants.** A request is an approval of kind `signing_request`; its challenges or multi-party request
//! carry its id as `parent`, and their decision decides it (the engine's observers connect them). Its result
//! is computed once, after the decision, and written with its outbox event in one transaction; a crash in
//! between is repaired by [`SigningRequestService::recover`] (at start and every minute). Every result body
//! carries the daemon's detached JWS (ES256, the Sigil Auth server identity, `kid` = `server_id`), so an app
//! can tell a result of Sigil from a forged POST. A request's nonce is refused for an hour after it was seen,
//! per tenant, across restarts and nodes (the store's nonces).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use sigil_connect::{
    Details, Envelope, Outcome, Permission, Refusal, RequestType, Trust, TrustLevel,
};
use sigil_plugin_api::KeyAlgorithm;

use super::approvals::{ApprovalEngine, ApprovalKind, EngineError};
use super::sigil_auth::{CHALLENGE_KIND, Group, MPA_KIND, Member, MpaInput, SigilAuthService};
use super::webhooks::{NewEndpointInput, Surface, WebhookService};
use crate::actors::Runtime;
use crate::ids::{ApprovalId, TenantScope};
use crate::kms::{KmsClients, RawKmsKey};
use crate::store::{
    Approval, ApprovalState, Companions, DecidedBy, Issuer, IssuerChange, NewApproval, NewIssuer,
    NewOutboxEvent, StoreError, Submitted, now_ms,
};

/// The engine's name for signing requests.
pub const KIND: &str = "signing_request";
/// The outbox topic of a result bound for the app's callback.
pub const RESULT_TOPIC: &str = "signing_request.result";
/// The largest result body a callback receives (contract §5).
pub const MAX_RESULT_BYTES: usize = 4096;
/// How long a request's callback endpoint stays: the request's hour at most, then a day of retries, plus margin.
const CALLBACK_ENDPOINT_LIFETIME_MS: i64 = 26 * 3600 * 1000;
/// The largest envelope JSON accepted directly: what a link's `d` of 8192 base64url characters decodes to.
pub const MAX_ENVELOPE_BYTES: usize = sigil_connect::MAX_D_CHARS / 4 * 3;
/// How long after `exp` the request itself expires: its approvers' challenges expire at `exp`, so their
/// answers (and the decision they carry) arrive first.
const EXPIRY_GRACE: Duration = Duration::from_secs(2);
/// Devices one policy may route to, and issuer overrides it may hold.
const MAX_POLICY_DEVICES: usize = 20;
const MAX_OVERRIDES: usize = 50;
/// Registry entries a tenant may hold.
const MAX_ISSUERS: usize = 200;
/// Signing requests a tenant may have waiting for approvers at once (each holds challenges, a timer and, with
/// a callback, an outbox endpoint).
pub const MAX_PENDING_PER_TENANT: u64 = 1000;

/// Why an operation was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RequestError {
    /// The link or envelope breaks a rule of the protocol (contract §1–§3): 400 with its `reason`.
    #[error("{0}")]
    Refused(Refusal),
    /// The trust proof rates a blocking level: 400 with the level as `reason`.
    #[error("the request's trust level is {}", .0.as_str())]
    Blocked(TrustLevel),
    /// A field of a policy or registry entry is invalid.
    #[error("{field}: {message}")]
    Invalid {
        /// The JSON field.
        field: String,
        /// Why.
        message: String,
    },
    /// The tenant has no signing policy yet.
    #[error("no signing policy: an owner sets one with PUT /v1/requests/policy")]
    NoPolicy,
    /// No such thing in the tenant.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A limit.
    #[error("{0}")]
    Limit(String),
    /// A dependency (KMS, server identity) is not ready.
    #[error("{0}")]
    Unavailable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &str, message: impl Into<String>) -> RequestError {
    RequestError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A key algorithm a signing policy may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    /// Ed25519: `identity` is its public key in Qubic form.
    #[serde(rename = "ed25519")]
    Ed25519,
    /// ECDSA P-256 with SHA-256: `identity` is the SHA-256 of its compressed key in Qubic form.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
}

impl SigningAlgorithm {
    fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Ed25519 => "ed25519",
            SigningAlgorithm::EcdsaP256 => "ecdsa-p256",
        }
    }

    fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            SigningAlgorithm::Ed25519 => KeyAlgorithm::Ed25519,
            SigningAlgorithm::EcdsaP256 => KeyAlgorithm::EcdsaP256,
        }
    }
}

/// A multi-party group of a policy: members by device fingerprint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyGroup {
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Device fingerprints.
    pub members: Vec<String>,
}

/// M-of-N approval.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyMpa {
    /// Groups that must approve.
    pub required: usize,
    /// The groups.
    pub groups: Vec<PolicyGroup>,
    /// `continue` (default) or `reject_on_first`.
    #[serde(default)]
    pub reject_policy: Option<String>,
}

/// Who approves: any one of these devices, or a multi-party request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approvers {
    /// Device fingerprints; the first answer decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<String>>,
    /// M-of-N.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpa: Option<PolicyMpa>,
}

/// The key that produces results.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyChoice {
    /// `ed25519` or `ecdsa-p256`.
    pub algorithm: SigningAlgorithm,
}

/// What an override for one registered issuer changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyOverride {
    /// Other approvers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvers: Option<Approvers>,
    /// Another key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<SigningKeyChoice>,
}

/// A tenant's signing policy (`PUT /v1/requests/policy`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SigningPolicy {
    /// Who approves.
    pub approvers: Approvers,
    /// Which key signs.
    pub signing_key: SigningKeyChoice,
    /// Overrides by registered issuer (applied only to requests whose proof verified against the registry).
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub issuers: HashMap<String, PolicyOverride>,
}

/// A registry entry as an owner sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewIssuerInput {
    /// The proof's issuer.
    pub issuer: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Allowed `dapp.origin` values.
    pub origins: Vec<String>,
    /// Public P-256 JWK.
    #[serde(alias = "public_jwk")]
    pub public_jwk: Value,
    /// Optional key id.
    #[serde(default, alias = "key_id")]
    pub key_id: Option<String>,
}

/// A registry change as an owner sends it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New origins.
    #[serde(default)]
    pub origins: Option<Vec<String>>,
    /// `active` or `revoked`.
    #[serde(default)]
    pub status: Option<String>,
}

/// What an app hands in: the link, or the envelope JSON.
#[derive(Debug, Clone)]
pub enum Intake {
    /// `sigil://v1/request?d=...`.
    Uri(String),
    /// `{request, callback?, redirect_uri?, proof?}` or a bare request.
    Envelope(Value),
}

/// A tenant's result key, found or generated in the KMS.
#[derive(Clone)]
struct ResultKey {
    key: RawKmsKey,
    /// Ed25519: the 32-byte key; P-256: the 33-byte compressed point.
    public_key: Vec<u8>,
}

impl ResultKey {
    /// The Qubic-form identity: of the Ed25519 key itself, or of SHA-256 of the compressed P-256 key.
    fn identity(&self) -> String {
        let bytes: [u8; 32] = match self.key.algorithm {
            KeyAlgorithm::Ed25519 => self.public_key.as_slice().try_into().unwrap_or([0; 32]),
            _ => Sha256::digest(&self.public_key).into(),
        };
        sigil_connect::qubic::identity(&bytes)
    }

    /// Signs on the blocking pool: 64 bytes (Ed25519, or P-256 `r‖s` low-S).
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], String> {
        let raw = self.key.sign(message).map_err(|e| e.to_string())?;
        match self.key.algorithm {
            KeyAlgorithm::Ed25519 => raw
                .as_slice()
                .try_into()
                .map_err(|_| "the KMS answered an Ed25519 signature of the wrong length".into()),
            _ => {
                let signature =
                    p256::ecdsa::Signature::from_der(&raw).map_err(|e| e.to_string())?;
                Ok(signature.normalize_s().to_bytes().into())
            }
        }
    }
}

/// The kind's events: a decided request's result, once computed, to the app's callback endpoint.
struct SigningRequestKind;

impl ApprovalKind for SigningRequestKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn on_submit(&self, _new: &NewApproval) -> Companions {
        Companions::none()
    }

    fn on_transition(&self, approval: &Approval, _to: ApprovalState, by: &DecidedBy) -> Companions {
        let mut companions = Companions::none();
        // Only the change that records the result sends it, and only when there is a callback.
        if by.actor != RESULT_ACTOR || approval.payload.get("callback_endpoint").is_none() {
            return companions;
        }
        let text = |name: &str| {
            approval
                .payload
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let Some(body) = text("result_body") else {
            return companions;
        };
        let event = NewOutboxEvent {
            id: NewOutboxEvent::new_id(),
            tenant: approval.tenant.clone(),
            owner: callback_owner(&approval.uid),
            topic: RESULT_TOPIC.to_string(),
            body,
            signature: text("result_signature"),
        };
        let var = companions.next_var();
        let (statement, value) = event.create_statement(&var);
        companions.push(statement, value);
        companions
    }
}

/// Who records a result in the audit trail.
const RESULT_ACTOR: &str = "sigild";

/// The webhook owner of a request's callback endpoint.
pub fn callback_owner(uid: &ApprovalId) -> String {
    format!("signing_request:{uid}")
}

/// The signing-request use cases. Cheap to clone.
#[derive(Clone)]
pub struct SigningRequestService(Arc<Shared>);

/// What the service's clones share. The engine's observer holds it weakly: the engine must not keep the
/// service (and through it the engine and the store) alive after shutdown.
pub struct Shared {
    engine: ApprovalEngine,
    runtime: Arc<Runtime>,
    auth: SigilAuthService,
    webhooks: WebhookService,
    kms: KmsClients,
    keys: Mutex<HashMap<(String, SigningAlgorithm), ResultKey>>,
}

impl std::ops::Deref for SigningRequestService {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl SigningRequestService {
    /// The service (registers its kind and observes the challenges and multi-party requests it creates).
    pub fn new(
        engine: ApprovalEngine,
        runtime: Arc<Runtime>,
        auth: SigilAuthService,
        webhooks: WebhookService,
        kms: KmsClients,
    ) -> Self {
        engine.register(Arc::new(SigningRequestKind));
        let service = Self(Arc::new(Shared {
            engine: engine.clone(),
            runtime,
            auth,
            webhooks,
            kms,
            keys: Mutex::default(),
        }));
        let observer = Arc::downgrade(&service.0);
        engine.observe(Arc::new(move |approval: &Approval| {
            if let Some(shared) = observer.upgrade() {
                SigningRequestService(shared).observed(approval)
            }
        }));
        service
    }

    fn store(&self) -> &crate::store::Store {
        &self.runtime.store
    }

    // ---- intake ----

    /// Validates a link or envelope, rates its trust, and routes it to the policy's approvers.
    pub async fn submit(
        &self,
        scope: &TenantScope,
        intake: Intake,
    ) -> Result<Approval, RequestError> {
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let envelope = match &intake {
            Intake::Uri(uri) => sigil_connect::parse_uri(uri, now),
            // The same bound as a link's: what `d` can carry (8192 base64url characters).
            Intake::Envelope(value)
                if serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len())
                    > MAX_ENVELOPE_BYTES =>
            {
                Err(Refusal {
                    reason: "envelope_too_large",
                    message: format!(
                        "the envelope is larger than a link can carry ({MAX_ENVELOPE_BYTES} bytes of JSON)"
                    ),
                    field: None,
                })
            }
            Intake::Envelope(value) => sigil_connect::parse_envelope(value, now),
        }
        .map_err(RequestError::Refused)?;
        // The address policy of every outbound call applies to the callback (and to where a browser is sent).
        let policy = self.runtime.settings().1.webhooks.address_policy();
        for (url, field, reason) in [
            (&envelope.callback, "callback", "callback_private"),
            (&envelope.redirect_uri, "redirect_uri", "redirect_private"),
        ] {
            if let Some(url) = url
                && super::webhooks::validate_url(url, &policy).is_err()
            {
                return Err(RequestError::Refused(Refusal {
                    reason,
                    message: format!(
                        "{field} names an address deliveries may not go to ([webhooks] allow_private_networks)"
                    ),
                    field: Some(field.to_string()),
                }));
            }
        }
        let registry = match envelope.proof.as_ref() {
            Some(proof) => self.store().issuers_named(scope, &proof.issuer).await?,
            None => Vec::new(),
        };
        let entries: Vec<sigil_connect::RegistryEntry> =
            registry.iter().map(registry_entry).collect();
        let trust = sigil_connect::evaluate_trust(&envelope, &entries);
        if trust.level.blocks() {
            return Err(RequestError::Blocked(trust.level));
        }
        let policy = self.policy(scope).await?.ok_or(RequestError::NoPolicy)?;
        let pending = self
            .store()
            .pending_in_realm(scope, KIND, scope.tenant().as_str(), MAX_PENDING_PER_TENANT)
            .await?;
        if pending >= MAX_PENDING_PER_TENANT {
            return Err(RequestError::Limit(format!(
                "{MAX_PENDING_PER_TENANT} signing requests are waiting for approvers already; retry once some are decided"
            )));
        }
        let (approvers, algorithm) = effective(&policy, &trust);
        let key = self.result_key(scope, algorithm).await?;
        let identity = key.identity();
        if let Some(from) = from_of(&envelope.details)
            && from != identity
        {
            // The request names another signer than the key the tenant's policy signs with.
            return Err(RequestError::Refused(Refusal {
                reason: "invalid_identity",
                message: "from is not the identity of the tenant's signing key".into(),
                field: Some("request.from".into()),
            }));
        }
        let fresh = self
            .store()
            .record_nonce(
                &format!("connect:{}", scope.tenant()),
                &envelope.nonce,
                (now + sigil_connect::NONCE_WINDOW_SECS) as i64 * 1000,
            )
            .await?;
        if !fresh {
            return Err(RequestError::Refused(Refusal {
                reason: sigil_connect::NONCE_REPLAY,
                message: "this nonce was seen within the last hour".into(),
                field: Some("request.nonce".into()),
            }));
        }
        let nonce_scope = format!("connect:{}", scope.tenant());
        match self
            .create(scope, &envelope, &trust, &approvers, algorithm, identity)
            .await
        {
            Ok(created) => Ok(created),
            Err(error) => {
                // Not created: a retry with the same link must not be taken for a replay.
                if let Err(forget) = self
                    .store()
                    .forget_nonce(&nonce_scope, &envelope.nonce)
                    .await
                {
                    tracing::warn!(%forget, "could not forget the nonce of a request that failed");
                }
                Err(error)
            }
        }
    }

    async fn create(
        &self,
        scope: &TenantScope,
        envelope: &Envelope,
        trust: &Trust,
        approvers: &Approvers,
        algorithm: SigningAlgorithm,
        identity: String,
    ) -> Result<Approval, RequestError> {
        let uid = ApprovalId::new(format!("sr_{}", uuid::Uuid::new_v4().simple()));
        let display = display(envelope, trust);
        let mut payload = Map::new();
        payload.insert("request".into(), envelope.request.clone());
        payload.insert("type".into(), json!(envelope.kind.as_str()));
        payload.insert("nonce".into(), json!(envelope.nonce));
        payload.insert("exp".into(), json!(envelope.exp));
        payload.insert("callback".into(), json!(envelope.callback));
        payload.insert("redirect_uri".into(), json!(envelope.redirect_uri));
        payload.insert("legacy_bare".into(), json!(envelope.legacy_bare));
        payload.insert("trust_level".into(), json!(trust.level.as_str()));
        payload.insert("issuer".into(), json!(trust.issuer));
        payload.insert("registry_entry".into(), json!(trust.registry_entry));
        payload.insert(
            "app".into(),
            json!({ "name": envelope.dapp.name, "origin": envelope.dapp.origin, "icon": envelope.dapp.icon }),
        );
        payload.insert("display".into(), display.clone());
        payload.insert("algorithm".into(), json!(algorithm.as_str()));
        payload.insert("identity".into(), json!(identity));
        if let Some(bytes) = message_bytes(&envelope.details) {
            // What execution signs or verifies, decoded once here by the parser that validated it.
            payload.insert("message_b64".into(), json!(B64.encode(bytes)));
        }
        payload.insert(
            "approvers".into(),
            serde_json::to_value(approvers).unwrap_or(Value::Null),
        );
        if envelope.callback.is_some() {
            payload.insert(
                "callback_endpoint".into(),
                json!(self.callback_endpoint(scope, &uid, envelope).await?),
            );
        }
        let expires_at = envelope.exp as i64 * 1000 + EXPIRY_GRACE.as_millis() as i64;
        let new = NewApproval {
            uid: uid.clone(),
            kind: KIND,
            slot: uid.to_string(),
            realm: scope.tenant().to_string(),
            party: envelope.dapp.origin.clone(),
            principal: envelope.nonce.clone(),
            state: ApprovalState::Pending,
            decided_by: None,
            expires_at: Some(expires_at),
            payload,
            owner_node: None,
        };
        let created = match self
            .engine
            .submit(scope, new, None)
            .await
            .map_err(engine_error)?
        {
            Submitted::Created(created) => *created,
            Submitted::Existing(existing) => *existing,
        };
        let children = self
            .ask_approvers(scope, &created, envelope, approvers, display)
            .await;
        if children.is_empty() {
            tracing::warn!(request = %created.uid, "no approver device could be asked; the request will expire as wallet_locked");
        }
        // Record which challenges stand for it (to close the others once one decides).
        let mut current = created;
        current.payload.insert("children".into(), json!(children));
        let by = DecidedBy {
            actor: RESULT_ACTOR.into(),
            id: None,
            reason: Some("routed".into()),
        };
        match self
            .engine
            .transition(
                scope,
                current.clone(),
                &[ApprovalState::Pending],
                ApprovalState::Pending,
                by,
                None,
            )
            .await
        {
            Ok(routed) => Ok(routed),
            // An approver answered already: the decision stands; the children list is only for tidying up.
            Err(EngineError::State(_)) => Ok(self
                .engine
                .get(scope, &current.uid)
                .await
                .map_err(engine_error)?),
            Err(error) => Err(engine_error(error)),
        }
    }

    /// The callback's endpoint in the outbox: one per request, owner `signing_request:<uid>`.
    async fn callback_endpoint(
        &self,
        scope: &TenantScope,
        uid: &ApprovalId,
        envelope: &Envelope,
    ) -> Result<String, RequestError> {
        let url = envelope.callback.clone().unwrap_or_default();
        // The endpoint's own secret signs nothing the app checks (Connect deliveries carry the daemon's JWS),
        // but the outbox keeps one per endpoint.
        let secret = format!("whsec_{}", B64.encode(rand::random::<[u8; 32]>()));
        let input = NewEndpointInput {
            url,
            events: vec![RESULT_TOPIC.to_string()],
            secret: crate::secret::Secret::new(secret),
            ..Default::default()
        };
        let view = self
            .webhooks
            .create_endpoint(
                scope,
                &callback_owner(uid),
                Surface::Connect,
                input,
                &[RESULT_TOPIC],
            )
            .await
            .map_err(|error| {
                RequestError::Refused(Refusal {
                    reason: "callback_invalid",
                    message: error.to_string(),
                    field: Some("callback".into()),
                })
            })?;
        Ok(view.id)
    }

    /// Creates the challenges (or the multi-party request) that decide `request`; returns their ids.
    async fn ask_approvers(
        &self,
        scope: &TenantScope,
        request: &Approval,
        envelope: &Envelope,
        approvers: &Approvers,
        display: Value,
    ) -> Vec<String> {
        let mut extra = Map::new();
        extra.insert("parent".into(), json!(request.uid));
        extra.insert("kind".into(), json!(KIND));
        extra.insert("request".into(), display);
        let expires_at = envelope.exp as i64 * 1000;
        let mut children = Vec::new();
        if let Some(devices) = &approvers.devices {
            for fingerprint in devices {
                match self
                    .auth
                    .challenge_registered(
                        scope,
                        fingerprint,
                        envelope.request.clone(),
                        expires_at,
                        extra.clone(),
                    )
                    .await
                {
                    Ok(challenge) => children.push(challenge.uid.to_string()),
                    Err(error) => {
                        tracing::warn!(request = %request.uid, %fingerprint, %error, "cannot challenge an approver device")
                    }
                }
            }
        }
        if let Some(mpa) = &approvers.mpa {
            let mut groups = Vec::new();
            for group in &mpa.groups {
                let mut members = Vec::new();
                for fingerprint in &group.members {
                    match self.store().device(scope, fingerprint).await {
                        Ok(Some(device)) if device.revoked_at.is_none() => members.push(Member {
                            fingerprint: device.fingerprint,
                            device_public_key: device.public_key,
                        }),
                        _ => {
                            tracing::warn!(request = %request.uid, %fingerprint, "a policy member is not an active device")
                        }
                    }
                }
                groups.push(Group {
                    name: group.name.clone(),
                    members,
                });
            }
            let lifetime = (expires_at - now_ms()).max(1000) as u64;
            let input = MpaInput {
                request_id: request.uid.to_string(),
                action: envelope.request.clone(),
                required: mpa.required,
                groups,
                reject_first: mpa.reject_policy.as_deref() == Some("reject_on_first"),
                expires_in: Duration::from_millis(lifetime),
            };
            match self.auth.mpa_request_with(scope, input, extra).await {
                Ok(created) => children.push(created.uid.to_string()),
                Err(error) => {
                    tracing::warn!(request = %request.uid, %error, "cannot create the multi-party request")
                }
            }
        }
        children
    }

    /// A request of the tenant.
    pub async fn get(&self, scope: &TenantScope, id: &str) -> Result<Approval, RequestError> {
        self.store()
            .approval(scope, &ApprovalId::new(id))
            .await?
            .filter(|approval| approval.kind == KIND)
            .ok_or(RequestError::NotFound("signing request"))
    }

    // ---- decision and result ----

    fn observed(&self, approval: &Approval) {
        let finished = !approval.state.is_active() || approval.state == ApprovalState::Approved;
        let decided = approval.state != ApprovalState::Pending;
        if approval.kind == KIND {
            if decided && approval.payload.get("result_body").is_none() {
                // Asked once per request, here, so that concurrent finishers agree (and the set forgets it).
                let reached = self.auth.reached().take(approval.uid.as_str());
                let service = self.clone();
                let approval = approval.clone();
                tokio::spawn(async move { service.finish(approval, Some(reached)).await });
            }
        } else if (approval.kind == CHALLENGE_KIND || approval.kind == MPA_KIND)
            && finished
            && decided
            && let Some(parent) = approval.payload.get("parent").and_then(Value::as_str)
        {
            let service = self.clone();
            let child = approval.clone();
            let parent = ApprovalId::new(parent);
            tokio::spawn(async move { service.child_decided(&parent, &child).await });
        }
    }

    /// A challenge or multi-party request standing for a signing request was decided: so is the request.
    async fn child_decided(&self, parent: &ApprovalId, child: &Approval) {
        let (to, reason) = match child.state {
            ApprovalState::Approved => (ApprovalState::Approved, "approved"),
            ApprovalState::Rejected => (ApprovalState::Rejected, "user_rejected"),
            // An approver's challenge lapsing decides nothing: the request's own expiry does.
            _ => return,
        };
        if child.payload.get("kind").and_then(Value::as_str) != Some(KIND) {
            return;
        }
        // The parent is looked up in the child's own tenant, and must be a signing request that lists it.
        let scope = TenantScope::authenticated(child.tenant.clone());
        let current = match self.engine.get(&scope, parent).await {
            Ok(current) if current.kind == KIND => current,
            _ => return,
        };
        let children: Vec<String> = super::sigil_auth::payload_field(&current.payload, "children");
        if current.payload.contains_key("children")
            && !children.iter().any(|c| c == child.uid.as_str())
        {
            return;
        }
        let by = DecidedBy {
            actor: "device".into(),
            id: child
                .decided_by
                .as_ref()
                .and_then(|by| by.id.clone())
                .or_else(|| Some(child.uid.to_string())),
            reason: Some(reason.into()),
        };
        match self
            .engine
            .transition(&scope, current, &[ApprovalState::Pending], to, by, None)
            .await
        {
            Ok(_) | Err(EngineError::State(_)) | Err(EngineError::NotFound) => {}
            Err(error) => {
                tracing::warn!(request = %parent, %error, "cannot record an approver's decision; the sweep retries")
            }
        }
    }

    /// Computes, signs and records the result of a decided request (once), and closes its other challenges.
    /// `reached`: whether an approver's device was reached, when known (an expiry then says `wallet_locked`
    /// or `expired`; unknown says `expired`).
    async fn finish(&self, request: Approval, reached: Option<bool>) {
        if let Err(error) = self.finish_inner(request.clone(), reached).await {
            tracing::warn!(request = %request.uid, %error, "cannot produce a signing request's result; the sweep retries");
        }
    }

    async fn finish_inner(
        &self,
        request: Approval,
        reached: Option<bool>,
    ) -> Result<(), RequestError> {
        let scope = TenantScope::authenticated(request.tenant.clone());
        let kind = request_type(&request)?;
        let nonce = text(&request, "nonce");
        let outcome = match request.state {
            ApprovalState::Approved => self.execute(&scope, &request, kind).await?,
            ApprovalState::Rejected => Outcome::Rejected {
                reason: "user_rejected".into(),
            },
            _ => Outcome::Rejected {
                reason: if reached == Some(false) {
                    "wallet_locked".into()
                } else {
                    "expired".into()
                },
            },
        };
        let mut body = sigil_connect::result_body(&nonce, kind, &outcome);
        if body.len() > MAX_RESULT_BYTES {
            // Final, not retried: the same inputs would make the same body.
            tracing::warn!(request = %request.uid, bytes = body.len(), "a result is larger than a callback takes");
            let refused = Outcome::Rejected {
                reason: "result_too_large".into(),
            };
            body = sigil_connect::result_body(&nonce, kind, &refused);
        }
        let signature = self.sign_result(&request, &body).await?;
        let mut current = request;
        current.payload.insert("result_body".into(), json!(body));
        current
            .payload
            .insert("result_signature".into(), json!(signature));
        current
            .payload
            .insert("completed_at".into(), json!(now_ms()));
        let state = current.state;
        let by = DecidedBy {
            actor: RESULT_ACTOR.into(),
            id: None,
            reason: Some("result".into()),
        };
        let children: Vec<String> = super::sigil_auth::payload_field(&current.payload, "children");
        match self
            .engine
            .transition(&scope, current, &[state], state, by, None)
            .await
        {
            Ok(_) => {}
            // Recorded by another node or task meanwhile.
            Err(EngineError::State(_)) => return Ok(()),
            Err(error) => return Err(engine_error(error)),
        }
        metrics::counter!("sigil_signing_requests_total", "outcome" => outcome_label(&outcome))
            .increment(1);
        self.close_children(&scope, &children).await;
        Ok(())
    }

    /// What approval produces, per type (contract §5, with the tenant's KMS key).
    async fn execute(
        &self,
        scope: &TenantScope,
        request: &Approval,
        kind: RequestType,
    ) -> Result<Outcome, RequestError> {
        let algorithm = match text(request, "algorithm").as_str() {
            "ecdsa-p256" => SigningAlgorithm::EcdsaP256,
            _ => SigningAlgorithm::Ed25519,
        };
        let key = self.result_key(scope, algorithm).await?;
        let identity = key.identity();
        let envelope_request = request
            .payload
            .get("request")
            .cloned()
            .unwrap_or(Value::Null);
        let field = |name: &str| {
            envelope_request
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        // The bytes intake decoded and validated (the message, or `data` when given).
        let message = || -> Result<Vec<u8>, RequestError> {
            B64.decode(text(request, "message_b64")).map_err(|_| {
                RequestError::Store(StoreError::Decode("a signing request's message".into()))
            })
        };
        Ok(match kind {
            RequestType::SignMessage => {
                let signature = sign_blocking(&key, message()?).await?;
                Outcome::SignedMessage {
                    identity,
                    signature: B64.encode(signature),
                    public_key: B64.encode(&key.public_key),
                }
            }
            RequestType::VerifyMessage => {
                let valid = sigil_connect::verify_message(
                    &message()?,
                    &field("signature").unwrap_or_default(),
                    &field("public_key").unwrap_or_default(),
                )
                .unwrap_or(false);
                Outcome::Verified { valid, identity }
            }
            RequestType::Connect => {
                let permissions = match envelope_request.get("permissions") {
                    Some(Value::Array(items)) => items
                        .iter()
                        .filter_map(|item| match item.as_str() {
                            Some("transfer") => Some(Permission::Transfer),
                            Some("sc_call") => Some(Permission::ScCall),
                            Some("sign_message") => Some(Permission::SignMessage),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                Outcome::Connected {
                    identity,
                    permissions,
                }
            }
            RequestType::Transfer | RequestType::ScCall => {
                // Sigil does not broadcast: the result authorizes the canonical request with the tenant's key.
                let canonical = sigil_connect::canonicalize(&envelope_request)
                    .map_err(RequestError::Refused)?;
                let digest = Sha256::digest(canonical.as_bytes());
                // Domain-separated from messages: no sign_message can produce these bytes.
                let signature =
                    sign_blocking(&key, sigil_connect::authorization_message(&canonical)).await?;
                Outcome::Signed {
                    identity,
                    tx_hash: hex::encode(digest),
                    target_tick: envelope_request
                        .get("tick_offset")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                    signature: Some(B64.encode(signature)),
                    public_key: Some(B64.encode(&key.public_key)),
                }
            }
        })
    }

    /// A detached JWS (ES256, the server identity) over `body`: `<header>..<signature>`.
    /// The protected header binds the signature to the tenant, the request and where the result goes, so a
    /// result cannot be replayed to another app or taken for another tenant's.
    async fn sign_result(&self, request: &Approval, body: &str) -> Result<String, RequestError> {
        // Just after a start the identity may still be coming up from the KMS: wait for it a little.
        let mut identity = self.auth.identity();
        for _ in 0..100 {
            if identity.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            identity = self.auth.identity();
        }
        let identity = identity.ok_or_else(|| {
            RequestError::Unavailable("the server identity is not ready yet".into())
        })?;
        let audience = request
            .payload
            .get("callback")
            .filter(|value| !value.is_null())
            .or_else(|| request.payload.get("redirect_uri"))
            .cloned()
            .unwrap_or(Value::Null);
        let header = json!({
            "alg": "ES256", "kid": identity.server_id, "typ": "sigil-result+jws",
            "sigil_tenant": request.tenant, "sigil_request": request.uid, "aud": audience,
            "iat": now_ms() / 1000,
        });
        let header = B64URL.encode(header.to_string());
        let signing_input = format!("{header}.{}", B64URL.encode(body));
        let signature =
            tokio::task::spawn_blocking(move || identity.sign_bytes(signing_input.as_bytes()))
                .await
                .map_err(|_| RequestError::Unavailable("the signing task stopped".into()))?
                .map_err(RequestError::Unavailable)?;
        Ok(format!("{header}..{}", B64URL.encode(signature)))
    }

    /// Expires the other challenges of a decided request, so no device is left asked.
    async fn close_children(&self, scope: &TenantScope, children: &[String]) {
        for child in children {
            let by = DecidedBy::policy("signing_request", "decided");
            match self
                .engine
                .decide(
                    scope,
                    &ApprovalId::new(child.as_str()),
                    &[ApprovalState::Pending],
                    ApprovalState::Expired,
                    by,
                    None,
                )
                .await
            {
                Ok(_) | Err(EngineError::State(_)) | Err(EngineError::NotFound) => {}
                Err(error) => tracing::debug!(%child, %error, "cannot close a challenge"),
            }
        }
    }

    /// Repairs what a crash interrupted: decided requests without a result, and pending ones whose approvers
    /// decided. Run at start and every minute. Returns how many it finished.
    pub async fn recover(&self) -> Result<usize, StoreError> {
        // Approvers' decisions of the last ten minutes whose request may not have heard of them.
        let children = self
            .store()
            .decided_children_all_tenants(&[CHALLENGE_KIND, MPA_KIND], now_ms() - 600_000, 500)
            .await?;
        for child in children {
            if let Some(parent) = child.payload.get("parent").and_then(Value::as_str) {
                self.child_decided(&ApprovalId::new(parent), &child).await;
            }
        }
        // Decided requests still without a result, quiet for 30 s (so not racing their own finisher).
        let unfinished = self
            .store()
            .unfinished_results_all_tenants(KIND, now_ms() - 30_000, 200)
            .await?;
        let count = unfinished.len();
        for request in unfinished {
            self.finish(request, None).await;
        }
        // Callback endpoints whose request ended more than a day of retries ago: at most an hour to decide,
        // then deliveries within 24 h of the event; 26 h after creation nothing is left to send.
        let retired = self
            .store()
            .retire_endpoints_all_tenants(
                Surface::Connect.as_str(),
                now_ms() - CALLBACK_ENDPOINT_LIFETIME_MS,
            )
            .await?;
        if retired > 0 {
            tracing::debug!(retired, "retired signing-request callback endpoints");
        }
        Ok(count)
    }

    // ---- keys ----

    /// The tenant's result key of `algorithm`, found or generated in the KMS (label `sigil-sr-<tenant>-<alg>`).
    async fn result_key(
        &self,
        scope: &TenantScope,
        algorithm: SigningAlgorithm,
    ) -> Result<ResultKey, RequestError> {
        let cache_key = (scope.tenant().to_string(), algorithm);
        if let Some(key) = self
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&cache_key)
        {
            return Ok(key.clone());
        }
        let kms_name = self.runtime.settings().1.seal.kms.clone();
        let client = self
            .kms
            .get(&kms_name)
            .await
            .map_err(RequestError::Unavailable)?;
        let label = format!("sigil-sr-{}-{}", scope.tenant(), algorithm.as_str());
        let key = tokio::task::spawn_blocking(move || -> Result<ResultKey, String> {
            let key_uri = client
                .find_or_generate_algorithm(&label, algorithm.key_algorithm())
                .map_err(|e| e.to_string())?;
            let key = RawKmsKey {
                client,
                key_uri,
                algorithm: algorithm.key_algorithm(),
            };
            let spki = key.public_key_der().map_err(|e| e.to_string())?;
            let public_key = public_key_bytes(&spki, algorithm)?;
            Ok(ResultKey { key, public_key })
        })
        .await
        .map_err(|_| RequestError::Unavailable("the KMS task stopped".into()))?
        .map_err(|error| {
            tracing::warn!(%error, "a tenant's signing key is unavailable");
            RequestError::Unavailable("the signing key is unavailable; retry later".into())
        })?;
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cache_key, key.clone());
        Ok(key)
    }

    // ---- policy ----

    /// The tenant's policy, if set.
    pub async fn policy(&self, scope: &TenantScope) -> Result<Option<SigningPolicy>, RequestError> {
        // The realm is the tenant itself: one policy per tenant.
        let stored = self
            .store()
            .realm_policy(scope, KIND, scope.tenant().as_str())
            .await?;
        Ok(stored.and_then(|value| serde_json::from_value(value).ok()))
    }

    /// Validates and stores the tenant's policy, and makes sure its keys exist; returns it with the keys'
    /// public halves and identities.
    pub async fn set_policy(
        &self,
        scope: &TenantScope,
        policy: SigningPolicy,
    ) -> Result<Value, RequestError> {
        validate_approvers("approvers", &policy.approvers)?;
        if policy.issuers.len() > MAX_OVERRIDES {
            return Err(invalid(
                "issuers",
                format!("at most {MAX_OVERRIDES} overrides"),
            ));
        }
        for (issuer, over) in &policy.issuers {
            if issuer.is_empty() || issuer.len() > 255 {
                return Err(invalid("issuers", "issuer names are 1 to 255 characters"));
            }
            if let Some(approvers) = &over.approvers {
                validate_approvers(&format!("issuers.{issuer}.approvers"), approvers)?;
            }
        }
        let stored = serde_json::to_value(&policy).unwrap_or(Value::Null);
        let keys = self.policy_keys(scope, &policy).await?;
        self.store()
            .set_realm_policy(scope, KIND, scope.tenant().as_str(), &stored)
            .await?;
        let mut view = stored;
        view["keys"] = Value::Object(keys);
        Ok(view)
    }

    /// Every key a policy names (its default and its overrides'), found or generated: `{algorithm:
    /// {publicKey, identity}}`.
    async fn policy_keys(
        &self,
        scope: &TenantScope,
        policy: &SigningPolicy,
    ) -> Result<Map<String, Value>, RequestError> {
        let mut keys = Map::new();
        let mut algorithms = vec![policy.signing_key.algorithm];
        algorithms.extend(
            policy
                .issuers
                .values()
                .filter_map(|over| over.signing_key.as_ref().map(|k| k.algorithm)),
        );
        for algorithm in algorithms {
            let key = self.result_key(scope, algorithm).await?;
            keys.insert(
                algorithm.as_str().into(),
                json!({ "publicKey": B64.encode(&key.public_key), "identity": key.identity() }),
            );
        }
        Ok(keys)
    }

    /// The policy with its keys, or [`RequestError::NoPolicy`].
    pub async fn policy_view(&self, scope: &TenantScope) -> Result<Value, RequestError> {
        let policy = self.policy(scope).await?.ok_or(RequestError::NoPolicy)?;
        let mut view = serde_json::to_value(&policy).unwrap_or(Value::Null);
        let keys = self.policy_keys(scope, &policy).await?;
        view["keys"] = Value::Object(keys);
        Ok(view)
    }

    // ---- issuer registry ----

    /// Adds a registry entry.
    pub async fn add_issuer(
        &self,
        scope: &TenantScope,
        input: NewIssuerInput,
    ) -> Result<Issuer, RequestError> {
        let issuer = input.issuer.trim();
        if issuer.is_empty() || issuer.len() > 255 {
            return Err(invalid("issuer", "must be 1 to 255 characters"));
        }
        let name = input.name.unwrap_or_else(|| issuer.to_string());
        if name.chars().count() > 200 {
            return Err(invalid("name", "must be at most 200 characters"));
        }
        validate_origins(&input.origins)?;
        sigil_connect::parse_p256_jwk(&input.public_jwk)
            .map_err(|refusal| invalid("publicJwk", refusal.message))?;
        let public_jwk = public_jwk_only(&input.public_jwk);
        if let Some(key_id) = &input.key_id
            && (key_id.is_empty() || key_id.len() > 128)
        {
            return Err(invalid("keyId", "must be 1 to 128 characters"));
        }
        if self.store().issuers(scope).await?.len() >= MAX_ISSUERS {
            return Err(RequestError::Limit(format!(
                "a tenant holds at most {MAX_ISSUERS} registry entries"
            )));
        }
        let new = NewIssuer {
            uid: format!("iss_{}", uuid::Uuid::new_v4().simple()),
            issuer: issuer.to_string(),
            name,
            origins: input.origins,
            public_jwk,
            key_id: input.key_id,
        };
        Ok(self.store().create_issuer(scope, &new).await?)
    }

    /// The tenant's registry.
    pub async fn issuers(&self, scope: &TenantScope) -> Result<Vec<Issuer>, RequestError> {
        Ok(self.store().issuers(scope).await?)
    }

    /// One entry.
    pub async fn issuer(&self, scope: &TenantScope, id: &str) -> Result<Issuer, RequestError> {
        self.store()
            .issuer(scope, id)
            .await?
            .ok_or(RequestError::NotFound("issuer"))
    }

    /// Changes an entry (name, origins, status).
    pub async fn update_issuer(
        &self,
        scope: &TenantScope,
        id: &str,
        patch: IssuerPatch,
    ) -> Result<Issuer, RequestError> {
        if let Some(origins) = &patch.origins {
            validate_origins(origins)?;
        }
        if let Some(status) = &patch.status
            && status != "active"
            && status != "revoked"
        {
            return Err(invalid("status", "must be active or revoked"));
        }
        if let Some(name) = &patch.name
            && (name.is_empty() || name.chars().count() > 200)
        {
            return Err(invalid("name", "must be 1 to 200 characters"));
        }
        let change = IssuerChange {
            name: patch.name,
            origins: patch.origins,
            status: patch.status,
        };
        self.store()
            .update_issuer(scope, id, &change)
            .await?
            .ok_or(RequestError::NotFound("issuer"))
    }

    /// Removes an entry.
    pub async fn delete_issuer(&self, scope: &TenantScope, id: &str) -> Result<(), RequestError> {
        if self.store().delete_issuer(scope, id).await? {
            Ok(())
        } else {
            Err(RequestError::NotFound("issuer"))
        }
    }
}

/// The approvers and key for a request: an override of its issuer applies only when the proof verified
/// against the registry (a claimed issuer proves nothing).
fn effective(policy: &SigningPolicy, trust: &Trust) -> (Approvers, SigningAlgorithm) {
    let over = (trust.level == TrustLevel::VerifiedRegistry)
        .then(|| {
            trust
                .issuer
                .as_ref()
                .and_then(|issuer| policy.issuers.get(issuer))
        })
        .flatten();
    let approvers = over
        .and_then(|over| over.approvers.clone())
        .unwrap_or_else(|| policy.approvers.clone());
    let algorithm = over
        .and_then(|over| over.signing_key.as_ref().map(|key| key.algorithm))
        .unwrap_or(policy.signing_key.algorithm);
    (approvers, algorithm)
}

fn validate_approvers(field: &str, approvers: &Approvers) -> Result<(), RequestError> {
    let fingerprint = |text: &str| sigil_device::parse_fingerprint(text).is_ok();
    match (&approvers.devices, &approvers.mpa) {
        (Some(devices), None) => {
            if devices.is_empty() || devices.len() > MAX_POLICY_DEVICES {
                return Err(invalid(
                    &format!("{field}.devices"),
                    format!("must list 1 to {MAX_POLICY_DEVICES} device fingerprints"),
                ));
            }
            if !devices.iter().all(|d| fingerprint(d)) {
                return Err(invalid(
                    &format!("{field}.devices"),
                    "fingerprints are 64 lower-case hex digits",
                ));
            }
        }
        (None, Some(mpa)) => {
            if mpa.groups.is_empty() || mpa.groups.len() > 10 {
                return Err(invalid(&format!("{field}.mpa.groups"), "1 to 10 groups"));
            }
            if mpa.required == 0 || mpa.required > mpa.groups.len() {
                return Err(invalid(
                    &format!("{field}.mpa.required"),
                    "must be between 1 and the number of groups",
                ));
            }
            for group in &mpa.groups {
                if group.members.is_empty()
                    || group.members.len() > MAX_POLICY_DEVICES
                    || !group.members.iter().all(|m| fingerprint(m))
                {
                    return Err(invalid(
                        &format!("{field}.mpa.groups"),
                        format!("each group lists 1 to {MAX_POLICY_DEVICES} device fingerprints"),
                    ));
                }
            }
            if let Some(policy) = &mpa.reject_policy
                && policy != "continue"
                && policy != "reject_on_first"
            {
                return Err(invalid(
                    &format!("{field}.mpa.rejectPolicy"),
                    "must be continue or reject_on_first",
                ));
            }
        }
        _ => {
            return Err(invalid(field, "give exactly one of devices or mpa"));
        }
    }
    Ok(())
}

fn validate_origins(origins: &[String]) -> Result<(), RequestError> {
    if origins.is_empty() || origins.len() > 20 {
        return Err(invalid("origins", "must list 1 to 20 origins"));
    }
    for origin in origins {
        let ok = origin.starts_with("https://")
            && origin.len() <= 255
            && origin.len() > "https://".len()
            && !origin.chars().any(|c| c.is_whitespace() || c == '@');
        if !ok {
            return Err(invalid(
                "origins",
                format!("`{origin}` is not an https origin"),
            ));
        }
    }
    Ok(())
}

/// The public members of a JWK (what the registry keeps).
fn public_jwk_only(jwk: &Value) -> Value {
    let mut public = Map::new();
    for name in ["kty", "crv", "x", "y", "kid", "alg", "use"] {
        if let Some(value) = jwk.get(name) {
            public.insert(name.into(), value.clone());
        }
    }
    Value::Object(public)
}

fn registry_entry(issuer: &Issuer) -> sigil_connect::RegistryEntry {
    sigil_connect::RegistryEntry {
        id: issuer.uid.clone(),
        issuer: issuer.issuer.clone(),
        origins: issuer.origins.clone(),
        public_jwk: issuer.public_jwk.clone(),
        key_id: issuer.key_id.clone(),
        revoked: issuer.status == "revoked",
    }
}

/// What approvers are shown: type, app name and origin, trust level and the type's fields.
fn display(envelope: &Envelope, trust: &Trust) -> Value {
    let fields = match &envelope.details {
        Details::Transfer {
            to,
            amount,
            from,
            tick_offset,
        } => json!({ "to": to, "amount": amount, "from": from, "tick_offset": tick_offset }),
        Details::ScCall {
            contract_index,
            input_type,
            from,
            amount,
            payload,
            tick_offset,
        } => json!({ "contract_index": contract_index, "input_type": input_type, "from": from,
                     "amount": amount, "payload": payload, "tick_offset": tick_offset }),
        Details::SignMessage {
            message,
            data,
            from,
        } => {
            // What is signed is `data` when given: approvers see it, not only the message.
            json!({ "message": message, "data_bytes": data.as_ref().map(Vec::len),
                    "data_base64": data.as_ref().map(|d| B64.encode(d)),
                    "data_hex_preview": data.as_ref().map(|d| hex::encode(&d[..d.len().min(64)])),
                    "from": from })
        }
        Details::VerifyMessage {
            message,
            signature,
            public_key,
            data,
        } => json!({ "message": message, "signature": signature, "public_key": public_key,
                     "data_bytes": data.as_ref().map(Vec::len) }),
        Details::Connect { permissions } => json!({
            "permissions": permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>()
        }),
    };
    json!({
        "type": envelope.kind.as_str(),
        "app": { "name": envelope.dapp.name, "origin": envelope.dapp.origin, "icon": envelope.dapp.icon },
        "trust_level": trust.level.as_str(),
        "trust_blocks": trust.level.blocks(),
        "issuer": trust.issuer,
        "fields": fields,
        "exp": envelope.exp,
    })
}

/// The `from` a request names, if any.
fn from_of(details: &Details) -> Option<&str> {
    match details {
        Details::Transfer { from, .. }
        | Details::ScCall { from, .. }
        | Details::SignMessage { from, .. } => from.as_deref(),
        _ => None,
    }
}

/// The bytes a `sign_message` signs or a `verify_message` verifies: `data` decoded, else the UTF-8 message.
fn message_bytes(details: &Details) -> Option<Vec<u8>> {
    match details {
        Details::SignMessage { message, data, .. }
        | Details::VerifyMessage { message, data, .. } => {
            Some(data.clone().unwrap_or_else(|| message.as_bytes().to_vec()))
        }
        _ => None,
    }
}

fn text(approval: &Approval, name: &str) -> String {
    approval
        .payload
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn request_type(approval: &Approval) -> Result<RequestType, RequestError> {
    match text(approval, "type").as_str() {
        "transfer" => Ok(RequestType::Transfer),
        "sc_call" => Ok(RequestType::ScCall),
        "sign_message" => Ok(RequestType::SignMessage),
        "verify_message" => Ok(RequestType::VerifyMessage),
        "connect" => Ok(RequestType::Connect),
        other => Err(RequestError::Store(StoreError::Decode(format!(
            "signing request of unknown type `{other}`"
        )))),
    }
}

fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Rejected { .. } => "rejected",
        Outcome::Verified { .. } => "verified",
        Outcome::Connected { .. } => "connected",
        _ => "signed",
    }
}

async fn sign_blocking(key: &ResultKey, message: Vec<u8>) -> Result<[u8; 64], RequestError> {
    let key = key.clone();
    tokio::task::spawn_blocking(move || key.sign(&message))
        .await
        .map_err(|_| RequestError::Unavailable("the signing task stopped".into()))?
        .map_err(|error| {
            tracing::warn!(%error, "the KMS could not sign a signing request's result");
            RequestError::Unavailable("the KMS could not sign; retried".into())
        })
}

/// The raw public key in a SubjectPublicKeyInfo: Ed25519's 32 bytes, or P-256's compressed point.
fn public_key_bytes(spki_der: &[u8], algorithm: SigningAlgorithm) -> Result<Vec<u8>, String> {
    use sigil_rfc3161::der::Decode;
    let spki = sigil_rfc3161::SubjectPublicKeyInfoOwned::from_der(spki_der)
        .map_err(|e| format!("KMS public key: {e}"))?;
    let raw = spki.subject_public_key.raw_bytes();
    match algorithm {
        SigningAlgorithm::Ed25519 if raw.len() == 32 => Ok(raw.to_vec()),
        SigningAlgorithm::Ed25519 => Err("the KMS key is not an Ed25519 key".into()),
        SigningAlgorithm::EcdsaP256 => {
            use p256::elliptic_curve::sec1::ToSec1Point;
            let key = p256::PublicKey::from_sec1_bytes(raw)
                .map_err(|_| "the KMS key is not a P-256 key".to_string())?;
            Ok(key.to_sec1_point(true).as_bytes().to_vec())
        }
    }
}

fn engine_error(error: EngineError) -> RequestError {
    match error {
        EngineError::Store(error) => RequestError::Store(error),
        EngineError::NotFound => RequestError::NotFound("signing request"),
        EngineError::State(_) | EngineError::Stale => {
            RequestError::Unavailable("a concurrent change; retry".into())
        }
    }
}
