//! Sigil Auth (seed 002, contract 02) on the approval engine: devices registered with proof of possession,
//! challenges answered by a device's P-256 signature over a domain-separated message (`sigil-device`), and
//! M-of-N multi-party requests. Challenges and multi-party requests are approval requests (kinds
//! `device_challenge` and `mpa_request`) whose events leave through the webhook outbox; pushes are best
//! effort, and a device can always poll what waits for it.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::Addr;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};
use sigil_device::messages::{self, Decision};
use sigil_device::{DeviceError, DevicePublicKey};

use super::approvals::{ApprovalEngine, ApprovalKind, EngineError};
use crate::actors::Runtime;
use crate::ids::{ApprovalId, TenantScope};
use crate::kms::{FindKeyError, KeyKind, KmsClient, KmsKey};
use crate::plugin_host::PluginHost;
use crate::secretbox::SecretBox;
use crate::store::{
    Approval, ApprovalState, Companions, DecidedBy, Device, NewApproval, NewDevice, NewOutboxEvent,
    StoreError, Submitted, now_ms,
};

/// The engine's name for device challenges.
pub const CHALLENGE_KIND: &str = "device_challenge";
/// The engine's name for multi-party requests.
pub const MPA_KIND: &str = "mpa_request";
/// The events an integrator's webhook can subscribe to.
pub const EVENTS: &[&str] = &[
    "challenge.verified",
    "challenge.rejected",
    "challenge.expired",
    "challenge.not_me",
    "mpa.approved",
    "mpa.rejected",
    "mpa.timeout",
];
/// How long a challenge waits for its device.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(300);
/// How long a registration challenge may be answered.
const REGISTRATION_TTL: Duration = Duration::from_secs(300);
/// The KMS label of the server's identity key.
const IDENTITY_LABEL: &str = "sigil-auth-server";

/// Why an operation was refused, with the contract's code and status.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// A malformed key, fingerprint, signature, nonce or action, or a signature that does not verify.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// A rule of a request body, with its code.
    #[error("{message}")]
    Invalid {
        /// The contract's code.
        code: &'static str,
        /// Why.
        message: String,
    },
    /// Unknown (or another tenant's): `CHALLENGE_NOT_FOUND`, `MPA_NOT_FOUND`, `DEVICE_NOT_FOUND`.
    #[error("{1}")]
    NotFound(&'static str, &'static str),
    /// The challenge or request is over (410 `CHALLENGE_EXPIRED`).
    #[error("the challenge has expired")]
    Expired,
    /// Answered already (409 `CHALLENGE_ALREADY_USED` / `ALREADY_ANSWERED`).
    #[error("{1}")]
    Answered(&'static str, &'static str),
    /// The fingerprint is not the key's, or not the challenge's (400 `FINGERPRINT_MISMATCH`).
    #[error("{0}")]
    FingerprintMismatch(&'static str),
    /// The device was revoked (403 `DEVICE_REVOKED`).
    #[error("the device is revoked")]
    Revoked,
    /// The device is registered already (409 `DEVICE_ALREADY_REGISTERED`).
    #[error("the device is already registered")]
    AlreadyRegistered,
    /// The server identity key is not ready yet (503).
    #[error("the server identity is not ready yet; retry")]
    NotReady,
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AuthError {
    fn from(error: StoreError) -> Self {
        AuthError::Store(error)
    }
}

fn invalid(code: &'static str, message: impl Into<String>) -> AuthError {
    AuthError::Invalid {
        code,
        message: message.into(),
    }
}

/// The server's identity: a P-256 key in the KMS whose public half devices pin.
pub struct ServerIdentity {
    key: KmsKey,
    /// The compressed public key, standard base64.
    pub public_key: String,
    /// Its fingerprint.
    pub server_id: String,
    /// Its pictogram.
    pub pictogram: sigil_device::Pictogram,
    /// The Web Push VAPID key, when `[approvals] vapid_subject` is set.
    pub vapid: Option<VapidSigner>,
}

/// The VAPID key (RFC 8292) in the KMS, and the credentials it made, by audience, while they last.
pub struct VapidSigner {
    key: KmsKey,
    subject: String,
    /// base64url of the 65-byte uncompressed public key: the `applicationServerKey` web apps subscribe with.
    pub public_key: String,
    made: std::sync::Mutex<std::collections::HashMap<String, (String, u64)>>,
}

/// How long a VAPID JWT is valid (RFC 8292 allows 24 hours; half leaves room for clock skew), and how long
/// before its end a new one is made.
const VAPID_LIFETIME_SECS: u64 = 12 * 3600;
const VAPID_RENEW_BEFORE_SECS: u64 = 3600;
/// The KMS label of the VAPID key.
const VAPID_LABEL: &str = "sigil-vapid";

impl VapidSigner {
    /// The credential for a delivery to `recipient`, when it is a Web Push subscription (`{"endpoint", ...}`):
    /// a JWT for the endpoint's origin, made in the KMS once per origin and reused while it has more than an
    /// hour left. Blocking (a KMS call): run it on the blocking pool.
    pub fn credential(&self, recipient: &str) -> Option<sigil_plugin_api::VapidCredential> {
        let subscription: Value = serde_json::from_str(recipient).ok()?;
        let endpoint = url::Url::parse(subscription.get("endpoint")?.as_str()?).ok()?;
        if !matches!(endpoint.scheme(), "https" | "http") {
            return None;
        }
        let audience = endpoint.origin().ascii_serialization();
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, expires)) = made.get(&audience)
            && *expires > now + VAPID_RENEW_BEFORE_SECS
        {
            return Some(sigil_plugin_api::VapidCredential {
                token: token.clone(),
                public_key: self.public_key.clone(),
            });
        }
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
        let expires = now + VAPID_LIFETIME_SECS;
        let header = B64URL.encode(json!({ "typ": "JWT", "alg": "ES256" }).to_string());
        let claims = B64URL
            .encode(json!({ "aud": audience, "exp": expires, "sub": self.subject }).to_string());
        let signing_input = format!("{header}.{claims}");
        let der = match self.key.sign(signing_input.as_bytes()) {
            Ok(der) => der,
            Err(error) => {
                tracing::warn!(%error, "the KMS could not sign a VAPID credential");
                return None;
            }
        };
        let signature = p256::ecdsa::Signature::from_der(&der).ok()?.normalize_s();
        let token = format!("{signing_input}.{}", B64URL.encode(signature.to_bytes()));
        // Origins seen are few (push services); the map is bounded all the same.
        if made.len() >= 1024 {
            made.clear();
        }
        made.insert(audience, (token.clone(), expires));
        Some(sigil_plugin_api::VapidCredential {
            token,
            public_key: self.public_key.clone(),
        })
    }
}

impl ServerIdentity {
    /// Signs SHA-256 of `data` (RFC 6979 in the KMS, low-S here), as 64-byte `r‖s` in standard base64.
    fn sign(&self, data: &[u8]) -> Result<String, String> {
        self.sign_bytes(data).map(|signature| B64.encode(signature))
    }

    /// Signs SHA-256 of `data` with the identity key, as the 64 bytes `r‖s` (low-S) that JWS ES256 and the
    /// device protocol both use. Blocking: call it on the blocking pool.
    pub fn sign_bytes(&self, data: &[u8]) -> Result<[u8; 64], String> {
        let der = self.key.sign(data).map_err(|e| e.to_string())?;
        let signature = p256::ecdsa::Signature::from_der(&der).map_err(|e| e.to_string())?;
        let signature = signature.normalize_s();
        Ok(signature.to_bytes().into())
    }

    /// The identity key as a public JWK (`kid` = `server_id`, `alg` ES256), for verifying what the server signs.
    pub fn jwk(&self) -> Value {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
        use p256::elliptic_curve::sec1::ToSec1Point;
        let point = B64
            .decode(&self.public_key)
            .ok()
            .and_then(|bytes| p256::PublicKey::from_sec1_bytes(&bytes).ok())
            .map(|key| key.to_sec1_point(false));
        let (x, y) = match &point {
            Some(point) => (
                point.x().map(|x| B64URL.encode(x)).unwrap_or_default(),
                point.y().map(|y| B64URL.encode(y)).unwrap_or_default(),
            ),
            None => (String::new(), String::new()),
        };
        json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": self.server_id, "alg": "ES256",
                "use": "sig" })
    }
}

/// Approvals whose devices were reached (a push was accepted, or a poll handed the request out), by the id in
/// their payload's `parent`: what tells "no approver could be reached" from "nobody answered" at expiry. Kept in
/// memory; after a restart only reaches seen since count.
#[derive(Clone, Default)]
pub struct Reached(Arc<std::sync::Mutex<std::collections::HashSet<String>>>);

impl Reached {
    fn mark(&self, parent: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(parent.to_string());
    }

    /// Whether a device of this parent request was reached; forgets it (asked once, at the end).
    pub fn take(&self, parent: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(parent)
    }
}

/// Where the server identity appears once the KMS produced it.
#[derive(Clone, Default)]
pub struct IdentityCell(Arc<RwLock<Option<Arc<ServerIdentity>>>>);

impl IdentityCell {
    /// The identity, once ready.
    pub fn get(&self) -> Option<Arc<ServerIdentity>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Brings the server identity (and the VAPID key, when `vapid_subject` is given) up in the background (the
/// KMS loads concurrently).
pub fn spawn_identity(
    kms_name: String,
    plugins: Addr<PluginHost>,
    cell: IdentityCell,
    vapid_subject: Option<String>,
) {
    crate::kms::spawn_with_kms(
        "Sigil Auth server identity",
        kms_name,
        plugins,
        move |client: &KmsClient, _runtime| {
            let kind = KeyKind::EcdsaP256;
            let key_uri = client.find_or_generate(IDENTITY_LABEL, kind)?;
            let key = KmsKey {
                client: client.clone(),
                key_uri,
                kind,
            };
            let spki = key.public_key().map_err(FindKeyError::Call)?;
            let point = spki.subject_public_key.raw_bytes().to_vec();
            let public = p256::PublicKey::from_sec1_bytes(&point)
                .map_err(|e| FindKeyError::Call(format!("identity key: {e}")))?;
            use p256::elliptic_curve::sec1::ToSec1Point;
            let compressed = public.to_sec1_point(true);
            let device_key = DevicePublicKey::from_compressed(compressed.as_bytes())
                .map_err(|e| FindKeyError::Call(e.to_string()))?;
            let server_id = device_key.fingerprint();
            let pictogram = sigil_device::pictogram_of_hex(&server_id)
                .map_err(|e| FindKeyError::Call(e.to_string()))?;
            let vapid = match &vapid_subject {
                None => None,
                Some(subject) => {
                    let key_uri = client.find_or_generate(VAPID_LABEL, kind)?;
                    let key = KmsKey {
                        client: client.clone(),
                        key_uri,
                        kind,
                    };
                    let spki = key.public_key().map_err(FindKeyError::Call)?;
                    let point =
                        p256::PublicKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
                            .map_err(|e| FindKeyError::Call(format!("VAPID key: {e}")))?
                            .to_sec1_point(false);
                    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
                    Some(VapidSigner {
                        key,
                        subject: subject.clone(),
                        public_key: B64URL.encode(point.as_bytes()),
                        made: Default::default(),
                    })
                }
            };
            Ok(ServerIdentity {
                key,
                public_key: device_key.to_base64(),
                server_id,
                pictogram,
                vapid,
            })
        },
        move |identity| {
            tracing::info!(server_id = %identity.server_id, "Sigil Auth server identity ready");
            *cell.0.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(identity));
        },
    );
}

/// A device registration as the integrator's backend sends it.
#[derive(Debug, Clone)]
pub struct RegisterInput {
    /// Standard base64 of the 33-byte compressed key.
    pub device_public_key: String,
    /// The registration challenge answered.
    pub challenge_id: String,
    /// The device's signature over the registration message.
    pub signature: String,
    /// Push channel instance.
    pub push_channel: Option<String>,
    /// Push address in that channel.
    pub push_token: Option<String>,
    /// A label.
    pub name: Option<String>,
}

/// A member of a multi-party group.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Member {
    /// Fingerprint.
    pub fingerprint: String,
    /// Compressed key, standard base64.
    pub device_public_key: String,
}

/// A group of a multi-party request.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Group {
    /// Its name (optional on the wire).
    #[serde(default)]
    pub name: Option<String>,
    /// Its members.
    pub members: Vec<Member>,
}

/// A validated multi-party request.
#[derive(Debug, Clone)]
pub struct MpaInput {
    /// The client's id for it (or a fresh UUID).
    pub request_id: String,
    /// What is to be approved.
    pub action: Value,
    /// Groups that must approve.
    pub required: usize,
    /// The groups.
    pub groups: Vec<Group>,
    /// `continue` or `reject_on_first`.
    pub reject_first: bool,
    /// Lifetime.
    pub expires_in: Duration,
}

/// A device's answer to a multi-party request.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct MpaAnswer {
    fingerprint: String,
    approved: bool,
    at: i64,
    /// The group this approval satisfied, if any.
    group: Option<usize>,
}

/// The kinds' events: integrator webhooks, owner `tenant:<id>`.
struct AuthKinds;

impl AuthKinds {
    fn event(tenant: &crate::ids::TenantId, topic: &str, data: Value) -> NewOutboxEvent {
        let body =
            json!({ "event": topic, "timestamp": super::claims::iso(now_ms()), "data": data });
        NewOutboxEvent {
            id: NewOutboxEvent::new_id(),
            tenant: tenant.clone(),
            owner: webhook_owner(tenant),
            topic: topic.to_string(),
            body: body.to_string(),
            signature: None,
        }
    }

    fn push(companions: &mut Companions, event: NewOutboxEvent) {
        let var = companions.next_var();
        let (statement, value) = event.create_statement(&var);
        companions.push(statement, value);
    }
}

impl ApprovalKind for AuthKinds {
    fn name(&self) -> &'static str {
        CHALLENGE_KIND
    }

    fn on_submit(&self, _new: &NewApproval) -> Companions {
        Companions::none()
    }

    fn on_transition(&self, approval: &Approval, to: ApprovalState, by: &DecidedBy) -> Companions {
        let mut companions = Companions::none();
        let field = |name: &str| approval.payload.get(name).cloned().unwrap_or(Value::Null);
        match (approval.kind.as_str(), to) {
            (CHALLENGE_KIND, ApprovalState::Pending) | (MPA_KIND, ApprovalState::Pending) => {}
            (CHALLENGE_KIND, state) => {
                let topic = match state {
                    ApprovalState::Approved => "challenge.verified",
                    ApprovalState::Rejected => "challenge.rejected",
                    _ => "challenge.expired",
                };
                let data = json!({
                    "challenge_id": approval.uid, "fingerprint": field("fingerprint"),
                    "action": field("action"), "reason": by.reason,
                });
                Self::push(
                    &mut companions,
                    Self::event(&approval.tenant, topic, data.clone()),
                );
                if state == ApprovalState::Rejected && by.reason.as_deref() == Some("not_me") {
                    // The user says they did not start this: an alert of its own, so it is not lost among rejections.
                    Self::push(
                        &mut companions,
                        Self::event(&approval.tenant, "challenge.not_me", data),
                    );
                }
            }
            (_, state) => {
                let topic = match state {
                    ApprovalState::Approved => "mpa.approved",
                    ApprovalState::Rejected => "mpa.rejected",
                    _ => "mpa.timeout",
                };
                let data = json!({
                    "request_id": field("request_id"), "action": field("action"),
                    "required": field("required"), "groups_satisfied": field("satisfied"),
                });
                Self::push(&mut companions, Self::event(&approval.tenant, topic, data));
            }
        }
        companions
    }
}

/// The MPA kind shares the challenge kind's hooks under its own name.
struct MpaKind;

impl ApprovalKind for MpaKind {
    fn name(&self) -> &'static str {
        MPA_KIND
    }
    fn on_submit(&self, new: &NewApproval) -> Companions {
        AuthKinds.on_submit(new)
    }
    fn on_transition(&self, approval: &Approval, to: ApprovalState, by: &DecidedBy) -> Companions {
        AuthKinds.on_transition(approval, to, by)
    }
}

/// Whose endpoints receive a tenant's Sigil Auth events.
pub fn webhook_owner(tenant: &crate::ids::TenantId) -> String {
    format!("tenant:{tenant}")
}

/// The Sigil Auth use cases. Cheap to clone.
#[derive(Clone)]
pub struct SigilAuthService {
    engine: ApprovalEngine,
    runtime: Arc<Runtime>,
    secrets: Arc<SecretBox>,
    identity: IdentityCell,
    plugins: Addr<PluginHost>,
    reached: Reached,
}

/// A typed field of a request's payload, its default when absent or of another shape.
pub fn payload_field<T: serde::de::DeserializeOwned + Default>(
    payload: &Map<String, Value>,
    name: &str,
) -> T {
    payload
        .get(name)
        .cloned()
        .and_then(|value| serde_json::from_value(value).ok())
        .unwrap_or_default()
}

fn action_of(payload: &Map<String, Value>) -> Option<&Value> {
    payload.get("action").filter(|v| !v.is_null())
}

impl SigilAuthService {
    /// The service over the engine (registers both kinds).
    pub fn new(
        engine: ApprovalEngine,
        runtime: Arc<Runtime>,
        secrets: Arc<SecretBox>,
        identity: IdentityCell,
        plugins: Addr<PluginHost>,
    ) -> Self {
        engine.register(Arc::new(AuthKinds));
        engine.register(Arc::new(MpaKind));
        Self {
            engine,
            runtime,
            secrets,
            identity,
            plugins,
            reached: Reached::default(),
        }
    }

    fn store(&self) -> &crate::store::Store {
        &self.runtime.store
    }

    /// The server identity, once ready.
    pub fn identity(&self) -> Option<Arc<ServerIdentity>> {
        self.identity.get()
    }

    /// Which parent requests reached a device.
    pub fn reached(&self) -> &Reached {
        &self.reached
    }

    /// The engine the challenges and multi-party requests live in.
    pub fn engine(&self) -> &ApprovalEngine {
        &self.engine
    }

    /// A registration challenge: `(challenge_id, nonce)`, the nonce 32 random bytes in standard base64.
    pub async fn registration_challenge(
        &self,
        scope: &TenantScope,
    ) -> Result<(String, String), AuthError> {
        let id = uuid::Uuid::new_v4().to_string();
        let nonce = B64.encode(rand::random::<[u8; 32]>());
        let expires = now_ms() + REGISTRATION_TTL.as_millis() as i64;
        self.store()
            .create_registration_challenge(scope, &id, &nonce, expires)
            .await?;
        Ok((id, nonce))
    }

    /// Registers a device that proved possession of its key by signing the registration challenge's nonce.
    pub async fn register(
        &self,
        scope: &TenantScope,
        input: RegisterInput,
    ) -> Result<Device, AuthError> {
        let key = DevicePublicKey::from_base64(&input.device_public_key)?;
        // The challenge is used up whatever happens next: a failed proof cannot be retried with it.
        let nonce = self
            .store()
            .take_registration_challenge(scope, &input.challenge_id)
            .await?
            .ok_or(AuthError::NotFound(
                "CHALLENGE_NOT_FOUND",
                "no such registration challenge, or it expired",
            ))?;
        let message = messages::registration_message(&messages::decode_nonce(&nonce)?);
        messages::verify_response(&key, &message, &input.signature)?;
        // The channel says now whether it can reach the device (a malformed subscription, a host it may not
        // reach, a failed UnifiedPush discovery), rather than at the first challenge.
        if let (Some(channel), Some(token)) = (&input.push_channel, &input.push_token) {
            match crate::plugin_host::validate_recipient(&self.plugins, channel, token.clone())
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => {
                    return Err(invalid(
                        "INVALID_PUSH_TOKEN",
                        format!(
                            "push channel `{channel}` cannot deliver to this push_token: {reason}"
                        ),
                    ));
                }
                Err(error) => {
                    tracing::warn!(%channel, %error, "a push channel could not check a push token");
                    return Err(AuthError::NotReady);
                }
            }
        }
        let fingerprint = key.fingerprint();
        let push_token_enc = input.push_token.as_deref().map(|token| {
            self.secrets
                .seal_str(token, &format!("device:{fingerprint}:push_token"))
        });
        let new = NewDevice {
            fingerprint,
            public_key: key.to_base64(),
            name: input.name,
            push_channel: input.push_channel,
            push_token_enc,
        };
        match self.store().register_device(scope, &new).await {
            Err(StoreError::Conflict(_)) => Err(AuthError::AlreadyRegistered),
            other => Ok(other?),
        }
    }

    /// The tenant's devices.
    pub async fn devices(&self, scope: &TenantScope) -> Result<Vec<Device>, AuthError> {
        Ok(self.store().devices(scope).await?)
    }

    /// Revokes a device; its answers are refused from now on.
    pub async fn revoke_device(
        &self,
        scope: &TenantScope,
        fingerprint: &str,
    ) -> Result<Device, AuthError> {
        self.store()
            .revoke_device(scope, fingerprint)
            .await?
            .ok_or(AuthError::NotFound(
                "DEVICE_NOT_FOUND",
                "no such active device",
            ))
    }

    /// The tenant's active device with this fingerprint and key.
    async fn active_device(
        &self,
        scope: &TenantScope,
        fingerprint: &str,
        key: &DevicePublicKey,
    ) -> Result<Device, AuthError> {
        if key.fingerprint() != fingerprint {
            return Err(AuthError::FingerprintMismatch(
                "the fingerprint is not the SHA-256 of the device key",
            ));
        }
        let device = self
            .store()
            .device(scope, fingerprint)
            .await?
            .ok_or(AuthError::NotFound(
                "DEVICE_NOT_FOUND",
                "the device is not registered",
            ))?;
        if device.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        if device.public_key != key.to_base64() {
            return Err(AuthError::FingerprintMismatch(
                "the key is not the registered device's",
            ));
        }
        Ok(device)
    }

    /// Creates a 5-minute challenge for a registered device, signed by the server, and pushes it.
    pub async fn create_challenge(
        &self,
        scope: &TenantScope,
        fingerprint: &str,
        device_public_key: &str,
        action: Option<Value>,
    ) -> Result<Approval, AuthError> {
        sigil_device::parse_fingerprint(fingerprint)?;
        let key = DevicePublicKey::from_base64(device_public_key)?;
        let device = self.active_device(scope, fingerprint, &key).await?;
        let ttl = self
            .runtime
            .settings()
            .1
            .testing
            .challenge_ttl_secs
            .map_or(CHALLENGE_TTL, Duration::from_secs);
        let expires_at = now_ms() + ttl.as_millis() as i64;
        self.challenge_device(scope, &device, &key, action, expires_at, Map::new())
            .await
    }

    /// A challenge for the tenant's registered device `fingerprint` on behalf of another request: `extra` joins
    /// its payload (`parent`, `kind` and what the device shows), and it expires at `expires_at` (Unix ms).
    pub async fn challenge_registered(
        &self,
        scope: &TenantScope,
        fingerprint: &str,
        action: Value,
        expires_at: i64,
        extra: Map<String, Value>,
    ) -> Result<Approval, AuthError> {
        sigil_device::parse_fingerprint(fingerprint)?;
        let device = self
            .store()
            .device(scope, fingerprint)
            .await?
            .ok_or(AuthError::NotFound(
                "DEVICE_NOT_FOUND",
                "the device is not registered",
            ))?;
        if device.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        let key = DevicePublicKey::from_base64(&device.public_key)?;
        self.challenge_device(scope, &device, &key, Some(action), expires_at, extra)
            .await
    }

    async fn challenge_device(
        &self,
        scope: &TenantScope,
        device: &Device,
        key: &DevicePublicKey,
        action: Option<Value>,
        expires_at: i64,
        extra: Map<String, Value>,
    ) -> Result<Approval, AuthError> {
        let fingerprint = device.fingerprint.as_str();
        // The action is canonicalised now, so a device and the server agree on its digest.
        messages::action_digest(action.as_ref())?;
        let identity = self.identity().ok_or(AuthError::NotReady)?;
        let challenge: [u8; 32] = rand::random();
        let server_signature = {
            let identity = identity.clone();
            tokio::task::spawn_blocking(move || identity.sign(&challenge))
                .await
                .map_err(|_| AuthError::NotReady)?
                .map_err(|error| {
                    tracing::warn!(%error, "the server identity could not sign a challenge");
                    AuthError::NotReady
                })?
        };
        let pictogram = sigil_device::pictogram_of_hex(fingerprint)?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut payload = extra;
        payload.insert("fingerprint".into(), json!(fingerprint));
        payload.insert("device_public_key".into(), json!(key.to_base64()));
        payload.insert("action".into(), action.unwrap_or(Value::Null));
        payload.insert("challenge_bytes".into(), json!(B64.encode(challenge)));
        payload.insert("server_signature".into(), json!(server_signature));
        payload.insert("pictogram".into(), json!(pictogram.emojis));
        payload.insert("pictogram_speakable".into(), json!(pictogram.speakable));
        let new = NewApproval {
            uid: ApprovalId::new(id.clone()),
            kind: CHALLENGE_KIND,
            slot: id,
            realm: fingerprint.to_string(),
            party: "challenge".into(),
            principal: fingerprint.to_string(),
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
            Submitted::Existing(_) => {
                return Err(invalid(
                    "CHALLENGE_CREATION_FAILED",
                    "challenge id collision; retry",
                ));
            }
        };
        self.push_to(device, self.challenge_item(&created, &identity));
        Ok(created)
    }

    /// What a device is shown of a challenge (push payload and poll item).
    pub fn challenge_item(&self, challenge: &Approval, identity: &ServerIdentity) -> Value {
        let field = |name: &str| challenge.payload.get(name).cloned().unwrap_or(Value::Null);
        let mut item = json!({
            "type": "challenge",
            "challenge_id": challenge.uid,
            "server_id": identity.server_id,
            "challenge_bytes": field("challenge_bytes"),
            "action": field("action"),
            "server_signature": field("server_signature"),
            "pictogram": field("pictogram"),
            "pictogram_speakable": field("pictogram_speakable"),
            "expires_at": challenge.expires_at.map(super::claims::iso),
            "respond_to": "/respond",
        });
        with_origin(&mut item, &challenge.payload);
        item
    }

    fn mpa_item(&self, request: &Approval) -> Value {
        let field = |name: &str| request.payload.get(name).cloned().unwrap_or(Value::Null);
        let mut item = json!({
            "type": "mpa",
            "request_id": field("request_id"),
            "action": field("action"),
            "expires_at": request.expires_at.map(super::claims::iso),
            "respond_to": "/mpa/respond",
        });
        with_origin(&mut item, &request.payload);
        item
    }

    /// Pushes to a device's channel, if it has one; a failure is logged and counted, never fatal (the device
    /// can poll).
    fn push_to(&self, device: &Device, item: Value) {
        let (Some(channel), Some(token_enc)) =
            (device.push_channel.clone(), device.push_token_enc.clone())
        else {
            return;
        };
        let recipient = match self.secrets.open_str(
            &token_enc,
            &format!("device:{}:push_token", device.fingerprint),
        ) {
            Ok(token) => token.expose().to_string(),
            Err(error) => {
                tracing::warn!(%error, fingerprint = %device.fingerprint, "cannot read a device's push address");
                return;
            }
        };
        let plugins = self.plugins.clone();
        let identity = self.identity();
        let key = format!(
            "{}:{}",
            item.get("challenge_id")
                .or(item.get("request_id"))
                .and_then(Value::as_str)
                .unwrap_or("-"),
            device.fingerprint
        );
        let payload = item.as_object().cloned().unwrap_or_default();
        let parent = payload
            .get("parent")
            .and_then(Value::as_str)
            .map(str::to_string);
        let reached = self.reached.clone();
        tokio::spawn(async move {
            // A Web Push subscription gets a VAPID credential signed in the KMS (the channel has no key).
            let vapid = match identity.filter(|identity| identity.vapid.is_some()) {
                Some(identity) => {
                    let recipient = recipient.clone();
                    tokio::task::spawn_blocking(move || {
                        identity
                            .vapid
                            .as_ref()
                            .and_then(|vapid| vapid.credential(&recipient))
                    })
                    .await
                    .unwrap_or(None)
                }
                None => None,
            };
            let outcome =
                crate::plugin_host::push(&plugins, &channel, recipient, payload, key, vapid).await;
            match outcome {
                Ok(delivery) => {
                    if let Some(parent) = &parent {
                        reached.mark(parent);
                    }
                    metrics::counter!("sigil_device_pushes_total", "outcome" => "sent")
                        .increment(1);
                    tracing::debug!(%channel, %delivery, "challenge pushed");
                }
                Err(error) => {
                    metrics::counter!("sigil_device_pushes_total", "outcome" => "failed")
                        .increment(1);
                    tracing::warn!(%channel, %error, "push failed; the device can still poll");
                }
            }
        });
    }

    /// A challenge of the tenant.
    pub async fn challenge(&self, scope: &TenantScope, id: &str) -> Result<Approval, AuthError> {
        let found = self.store().approval(scope, &ApprovalId::new(id)).await?;
        found
            .filter(|approval| approval.kind == CHALLENGE_KIND)
            .ok_or(AuthError::NotFound(
                "CHALLENGE_NOT_FOUND",
                "no such challenge",
            ))
    }

    /// A device's answer to a challenge, authenticated by its signature alone.
    pub async fn respond(
        &self,
        challenge_id: &str,
        fingerprint: &str,
        decision: Decision,
        signature: &str,
        reason: Option<String>,
    ) -> Result<Approval, AuthError> {
        let found = self
            .store()
            .approval_by_uid_all_tenants(&ApprovalId::new(challenge_id))
            .await?
            .filter(|approval| approval.kind == CHALLENGE_KIND)
            .ok_or(AuthError::NotFound(
                "CHALLENGE_NOT_FOUND",
                "no such challenge",
            ))?;
        // The device acts for the challenge's tenant once its signature is checked below.
        let scope = TenantScope::authenticated(found.tenant.clone());
        match found.state {
            ApprovalState::Pending => {}
            ApprovalState::Expired => return Err(AuthError::Expired),
            _ => {
                return Err(AuthError::Answered(
                    "CHALLENGE_ALREADY_USED",
                    "the challenge was answered already",
                ));
            }
        }
        if found.expires_at.is_some_and(|at| at <= now_ms()) {
            return Err(AuthError::Expired);
        }
        let expected = found
            .payload
            .get("fingerprint")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if expected != fingerprint {
            return Err(AuthError::FingerprintMismatch(
                "the challenge is for another device",
            ));
        }
        let key_text = found
            .payload
            .get("device_public_key")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key = DevicePublicKey::from_base64(key_text)?;
        self.active_device(&scope, fingerprint, &key).await?;
        let bytes: [u8; 32] = found
            .payload
            .get("challenge_bytes")
            .and_then(Value::as_str)
            .and_then(|text| B64.decode(text).ok())
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| AuthError::Store(StoreError::Decode("challenge bytes".into())))?;
        let message = messages::challenge_message(decision, &bytes, action_of(&found.payload))?;
        messages::verify_response(&key, &message, signature)?;
        let (to, decided) = match decision {
            Decision::Approve => (ApprovalState::Approved, "approved"),
            Decision::Deny => (ApprovalState::Rejected, "rejected"),
        };
        let mut current = found;
        current.payload.insert("decision".into(), json!(decided));
        current
            .payload
            .insert("responded_at".into(), json!(now_ms()));
        let by = DecidedBy {
            actor: "device".into(),
            id: Some(fingerprint.to_string()),
            reason,
        };
        self.engine
            .transition(&scope, current, &[ApprovalState::Pending], to, by, None)
            .await
            .map_err(|error| match error {
                EngineError::State(ApprovalState::Expired) => AuthError::Expired,
                EngineError::State(_) => AuthError::Answered(
                    "CHALLENGE_ALREADY_USED",
                    "the challenge was answered already",
                ),
                other => engine_error(other),
            })
    }

    /// Creates a multi-party request and pushes it to every member's registered device.
    pub async fn mpa_request(
        &self,
        scope: &TenantScope,
        input: MpaInput,
    ) -> Result<Approval, AuthError> {
        self.mpa_request_with(scope, input, Map::new()).await
    }

    /// As [`SigilAuthService::mpa_request`], on behalf of another request: `extra` joins the payload.
    pub async fn mpa_request_with(
        &self,
        scope: &TenantScope,
        input: MpaInput,
        extra: Map<String, Value>,
    ) -> Result<Approval, AuthError> {
        messages::action_digest(Some(&input.action))?;
        let mut members: Vec<String> = Vec::new();
        for group in &input.groups {
            for member in &group.members {
                let key = DevicePublicKey::from_base64(&member.device_public_key)?;
                sigil_device::parse_fingerprint(&member.fingerprint)?;
                if key.fingerprint() != member.fingerprint {
                    return Err(AuthError::FingerprintMismatch(
                        "a member's fingerprint is not its key's",
                    ));
                }
                if !members.contains(&member.fingerprint) {
                    members.push(member.fingerprint.clone());
                }
            }
        }
        let expires_at = now_ms() + input.expires_in.as_millis() as i64;
        let mut payload = extra;
        payload.insert("request_id".into(), json!(input.request_id));
        payload.insert("action".into(), input.action.clone());
        payload.insert("required".into(), json!(input.required));
        payload.insert(
            "groups".into(),
            serde_json::to_value(&input.groups).unwrap_or(Value::Null),
        );
        payload.insert(
            "reject_policy".into(),
            json!(if input.reject_first {
                "reject_on_first"
            } else {
                "continue"
            }),
        );
        payload.insert("member_fingerprints".into(), json!(members));
        payload.insert("satisfied".into(), json!([]));
        payload.insert("answers".into(), json!([]));
        let new = NewApproval {
            uid: ApprovalId::new(format!("mpa_{}", uuid::Uuid::new_v4().simple())),
            kind: MPA_KIND,
            slot: format!("{}/{}", scope.tenant(), input.request_id),
            realm: scope.tenant().to_string(),
            party: "mpa".into(),
            principal: input.request_id.clone(),
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
            Submitted::Existing(_) => {
                return Err(invalid(
                    "MPA_REQUEST_EXISTS",
                    "a request with this request_id is still pending or approved",
                ));
            }
        };
        for fingerprint in &members {
            if let Ok(Some(device)) = self.store().device(scope, fingerprint).await
                && device.revoked_at.is_none()
            {
                self.push_to(&device, self.mpa_item(&created));
            }
        }
        Ok(created)
    }

    /// A multi-party request of the tenant by the client's id.
    pub async fn mpa(&self, scope: &TenantScope, request_id: &str) -> Result<Approval, AuthError> {
        self.store()
            .approval_in_slot(MPA_KIND, &format!("{}/{request_id}", scope.tenant()))
            .await?
            .filter(|approval| approval.tenant == *scope.tenant())
            .ok_or(AuthError::NotFound(
                "MPA_NOT_FOUND",
                "no such multi-party request",
            ))
    }

    /// A member device's answer to a multi-party request, authenticated by its signature alone.
    pub async fn mpa_respond(
        &self,
        request_id: &str,
        fingerprint: &str,
        approved: bool,
        signature: &str,
    ) -> Result<Approval, AuthError> {
        sigil_device::parse_fingerprint(fingerprint)?;
        // The request is found through the tenants where this device is registered.
        let devices = self
            .store()
            .active_devices_by_fingerprint_all_tenants(fingerprint)
            .await?;
        let mut found = None;
        for device in &devices {
            let scope = TenantScope::authenticated(device.tenant.clone());
            if let Ok(request) = self.mpa(&scope, request_id).await {
                found = Some((scope, device.clone(), request));
                break;
            }
        }
        let (scope, device, request) = found.ok_or(AuthError::NotFound(
            "MPA_NOT_FOUND",
            "no such multi-party request for this device",
        ))?;
        let mut next = Some(request);
        for _ in 0..8 {
            let request = match next.take() {
                Some(request) => request,
                None => self.mpa(&scope, request_id).await?,
            };
            match request.state {
                ApprovalState::Pending => {}
                ApprovalState::Expired => return Err(AuthError::Expired),
                _ => {
                    return Err(AuthError::Answered(
                        "ALREADY_COMPLETED",
                        "the request is already decided",
                    ));
                }
            }
            if request.expires_at.is_some_and(|at| at <= now_ms()) {
                return Err(AuthError::Expired);
            }
            let groups: Vec<Group> = payload_field(&request.payload, "groups");
            let member_groups: Vec<usize> = groups
                .iter()
                .enumerate()
                .filter(|(_, group)| group.members.iter().any(|m| m.fingerprint == fingerprint))
                .map(|(index, _)| index)
                .collect();
            if member_groups.is_empty() {
                return Err(invalid(
                    "NOT_A_MEMBER",
                    "the device is not a member of this request",
                ));
            }
            let mut answers: Vec<MpaAnswer> = payload_field(&request.payload, "answers");
            if answers
                .iter()
                .any(|answer| answer.fingerprint == fingerprint)
            {
                return Err(AuthError::Answered(
                    "ALREADY_ANSWERED",
                    "this device has answered already",
                ));
            }
            let key = DevicePublicKey::from_base64(&device.public_key)?;
            let decision = if approved {
                Decision::Approve
            } else {
                Decision::Deny
            };
            let message = messages::mpa_message(decision, request_id, action_of(&request.payload))?;
            messages::verify_response(&key, &message, signature)?;
            let mut satisfied: Vec<usize> = payload_field(&request.payload, "satisfied");
            // One answer counts for one group: the first of the member's groups not satisfied yet.
            let group = approved
                .then(|| {
                    member_groups
                        .iter()
                        .copied()
                        .find(|g| !satisfied.contains(g))
                })
                .flatten();
            if let Some(group) = group {
                satisfied.push(group);
                satisfied.sort_unstable();
            }
            answers.push(MpaAnswer {
                fingerprint: fingerprint.to_string(),
                approved,
                at: now_ms(),
                group,
            });
            let required = request
                .payload
                .get("required")
                .and_then(Value::as_u64)
                .unwrap_or(1) as usize;
            let reject_first = request.payload.get("reject_policy").and_then(Value::as_str)
                == Some("reject_on_first");
            // A group can still be satisfied while one of its members has not answered.
            let reachable = groups
                .iter()
                .enumerate()
                .filter(|(index, group)| {
                    !satisfied.contains(index)
                        && group
                            .members
                            .iter()
                            .any(|m| !answers.iter().any(|a| a.fingerprint == m.fingerprint))
                })
                .count();
            let to = if satisfied.len() >= required {
                ApprovalState::Approved
            } else if !approved && (reject_first || satisfied.len() + reachable < required) {
                ApprovalState::Rejected
            } else {
                ApprovalState::Pending
            };
            let mut current = request;
            current.payload.insert("satisfied".into(), json!(satisfied));
            current.payload.insert(
                "answers".into(),
                serde_json::to_value(&answers).unwrap_or(Value::Null),
            );
            if to != ApprovalState::Pending {
                current
                    .payload
                    .insert("completed_at".into(), json!(now_ms()));
            }
            let by = DecidedBy {
                actor: "device".into(),
                id: Some(fingerprint.to_string()),
                reason: Some(if approved { "approved" } else { "rejected" }.into()),
            };
            match self
                .engine
                .transition(&scope, current, &[ApprovalState::Pending], to, by, None)
                .await
            {
                Ok(changed) => return Ok(changed),
                // Another member answered at the same moment: read again and count this answer on top.
                Err(EngineError::State(ApprovalState::Pending)) => continue,
                Err(EngineError::State(ApprovalState::Expired)) => return Err(AuthError::Expired),
                Err(EngineError::State(_)) => {
                    return Err(AuthError::Answered(
                        "ALREADY_COMPLETED",
                        "the request is already decided",
                    ));
                }
                Err(other) => return Err(engine_error(other)),
            }
        }
        Err(AuthError::NotReady)
    }

    /// What waits for a device (challenges and multi-party requests), authenticated by its poll signature.
    pub async fn poll(
        &self,
        fingerprint: &str,
        timestamp: &str,
        signature: &str,
    ) -> Result<Value, AuthError> {
        sigil_device::parse_fingerprint(fingerprint)?;
        let timestamp = messages::parse_poll_timestamp(timestamp)?;
        messages::check_poll_timestamp(timestamp, chrono::Utc::now().timestamp().max(0) as u64)?;
        let devices = self
            .store()
            .active_devices_by_fingerprint_all_tenants(fingerprint)
            .await?;
        let device = devices.first().ok_or(AuthError::NotFound(
            "DEVICE_NOT_FOUND",
            "the device is not registered",
        ))?;
        let key = DevicePublicKey::from_base64(&device.public_key)?;
        messages::verify_response(
            &key,
            &messages::poll_message(fingerprint, timestamp)?,
            signature,
        )?;
        let tenants: Vec<&crate::ids::TenantId> = devices.iter().map(|d| &d.tenant).collect();
        let identity = self.identity();
        let mut challenges = Vec::new();
        for challenge in self
            .store()
            .pending_for_principal_all_tenants(CHALLENGE_KIND, fingerprint)
            .await?
        {
            if tenants.contains(&&challenge.tenant)
                && let Some(identity) = &identity
            {
                self.mark_reached(&challenge);
                challenges.push(self.challenge_item(&challenge, identity));
            }
        }
        let mut requests = Vec::new();
        for request in self
            .store()
            .pending_mpa_for_member_all_tenants(fingerprint)
            .await?
        {
            if tenants.contains(&&request.tenant) {
                self.mark_reached(&request);
                requests.push(self.mpa_item(&request));
            }
        }
        Ok(json!({ "challenges": challenges, "mpa_requests": requests }))
    }
}

impl SigilAuthService {
    fn mark_reached(&self, approval: &Approval) {
        if let Some(parent) = approval.payload.get("parent").and_then(Value::as_str) {
            self.reached.mark(parent);
        }
    }
}

/// What a device is told of the request a challenge or multi-party request stands for: `kind` (e.g.
/// `signing_request`), `parent` (its id) and `request` (what it shows: type, app, origin, trust level, fields).
fn with_origin(item: &mut Value, payload: &Map<String, Value>) {
    for name in ["kind", "parent", "request"] {
        if let Some(value) = payload.get(name) {
            item[name] = value.clone();
        }
    }
}

fn engine_error(error: EngineError) -> AuthError {
    match error {
        EngineError::Store(error) => AuthError::Store(error),
        EngineError::NotFound => AuthError::NotFound("CHALLENGE_NOT_FOUND", "not found"),
        EngineError::State(_) | EngineError::Stale => {
            invalid("CONFLICT", "a concurrent change; retry")
        }
    }
}
