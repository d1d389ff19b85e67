//! The KMS client: synchronous calls into a KMS plugin instance from a blocking thread, under the instance's
//! deadline, with the in-flight tracking that readiness checks read. Shared by the local TSA (`tsa/local.rs`)
//! and seals (`app/seals.rs`); keys never leave the plugin, only digests go in and signatures come out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use sha2::{Digest, Sha256, Sha384, Sha512};
use sigil_plugin_api::{
    Base64Bytes, GenerateKeyRequest, GenerateKeyResponse, KeyAlgorithm, ListKeysRequest,
    ListKeysResponse, PublicKeyRequest, PublicKeyResponse, SignRequest, SignResponse,
    decode_message, encode_message,
};
use sigil_rfc3161::{
    Certificate, CertificateSigner, CertificateValidity, HashAlgorithm, SignatureAlgorithm,
    SignerError, SubjectPublicKeyInfoOwned,
};

use crate::plugin_host::instance::{
    DirectCaller, GetDirectCaller, GetStatus, Health, PluginInstance,
};
use crate::plugin_host::{Lookup, PluginHost};

/// Why [`KmsClient::find_or_generate`] found no key.
#[derive(Debug)]
pub enum FindKeyError {
    /// A call failed; retrying may help.
    Call(String),
    /// A key of that label exists with another algorithm.
    WrongAlgorithm(String),
}

impl std::fmt::Display for FindKeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FindKeyError::Call(message) | FindKeyError::WrongAlgorithm(message) => {
                f.write_str(message)
            }
        }
    }
}

/// Resolves the KMS instance by name, waiting for the plugin host to know it.
pub async fn kms_instance(plugins: &Addr<PluginHost>, name: &str) -> Option<Addr<PluginInstance>> {
    plugins
        .send(Lookup {
            name: name.to_string(),
        })
        .await
        .ok()
        .flatten()
}

/// The key algorithms Sigil generates in a KMS (the local TSA and seals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA P-256 with SHA-256.
    EcdsaP256,
    /// RSA PKCS#1 v1.5 with SHA-256, of this many bits.
    Rsa(u16),
}

impl KeyKind {
    /// Parses the config and API spelling (`ecdsa-p256`, `rsa-2048`, `rsa-3072`, `rsa-4096`).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "ecdsa-p256" => Ok(KeyKind::EcdsaP256),
            "rsa-2048" => Ok(KeyKind::Rsa(2048)),
            "rsa-3072" => Ok(KeyKind::Rsa(3072)),
            "rsa-4096" => Ok(KeyKind::Rsa(4096)),
            other => Err(format!("unsupported key algorithm `{other}`")),
        }
    }

    /// The plugin's key pair type.
    pub fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            KeyKind::EcdsaP256 => KeyAlgorithm::EcdsaP256,
            KeyKind::Rsa(2048) => KeyAlgorithm::Rsa2048,
            KeyKind::Rsa(3072) => KeyAlgorithm::Rsa3072,
            KeyKind::Rsa(_) => KeyAlgorithm::Rsa4096,
        }
    }

    /// The signature algorithm Sigil uses with such a key.
    pub fn signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            KeyKind::EcdsaP256 => SignatureAlgorithm::EcdsaSha256,
            KeyKind::Rsa(_) => SignatureAlgorithm::RsaPkcs1Sha256,
        }
    }

    /// The plugin's name for [`KeyKind::signature_algorithm`].
    pub fn plugin_algorithm(self) -> sigil_plugin_api::SignatureAlgorithm {
        match self {
            KeyKind::EcdsaP256 => sigil_plugin_api::SignatureAlgorithm::EcdsaP256Sha256,
            KeyKind::Rsa(_) => sigil_plugin_api::SignatureAlgorithm::RsaPkcs1v15Sha256,
        }
    }
}

/// Digest of `data` with the hash of `algorithm`.
fn digest_for(algorithm: SignatureAlgorithm, data: &[u8]) -> Vec<u8> {
    match algorithm.hash() {
        HashAlgorithm::Sha384 => Sha384::digest(data).to_vec(),
        HashAlgorithm::Sha512 => Sha512::digest(data).to_vec(),
        _ => Sha256::digest(data).to_vec(),
    }
}

/// The local TSA's KMS plugin instance: its address now, and its name in the plugin host so that a client can
/// find it again if the instance is re-created (removed from the config and added back).
#[derive(Clone)]
pub struct KmsInstance {
    /// The plugin host.
    pub host: Addr<PluginHost>,
    /// The instance name (`local_tsa.kms`, `seal.kms`).
    pub name: String,
    /// Its actor when it was looked up.
    pub actor: Addr<PluginInstance>,
}

/// Synchronous calls into a KMS plugin instance, for code running on a blocking thread. Calls go straight to the
/// instance's serving generation through a cached [`DirectCaller`] (no actor round trip; the deadline of
/// `plugin_host.call_timeout` applies as to every plugin call); the handle is renewed when a reload or
/// re-creation replaces it, and the instance is looked up again by name when its actor was retired.
#[derive(Clone)]
pub struct KmsClient {
    host: Addr<PluginHost>,
    name: String,
    actor: Arc<std::sync::RwLock<Addr<PluginInstance>>>,
    runtime: tokio::runtime::Handle,
    direct: Arc<std::sync::RwLock<Option<Arc<DirectCaller>>>>,
    /// The last call's failure, until a call succeeds.
    last_failure: Arc<std::sync::Mutex<Option<String>>>,
    /// Calls started and not answered yet, by id: a call that hangs in the plugin is seen here while it hangs
    /// (it runs on the caller's thread, see `DirectCaller::call_blocking`).
    in_flight: Arc<std::sync::Mutex<HashMap<u64, std::time::Instant>>>,
    next_call: Arc<std::sync::atomic::AtomicU64>,
}

/// The deadline assumed before the first call has found the instance.
const DEFAULT_KMS_DEADLINE: Duration = Duration::from_secs(10);

impl KmsClient {
    /// A client of `kms`; `runtime` is the runtime the blocking threads block on.
    pub fn new(kms: KmsInstance, runtime: tokio::runtime::Handle) -> Self {
        Self {
            host: kms.host,
            name: kms.name,
            actor: Arc::new(std::sync::RwLock::new(kms.actor)),
            runtime,
            direct: Arc::default(),
            last_failure: Arc::default(),
            in_flight: Arc::default(),
            next_call: Arc::default(),
        }
    }

    /// The KMS instance's call deadline, as last seen.
    pub fn deadline(&self) -> Duration {
        self.direct
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(DEFAULT_KMS_DEADLINE, |direct| direct.deadline())
    }

    fn actor(&self) -> Addr<PluginInstance> {
        self.actor.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The instance's actor as the plugin host knows it now, remembered for later calls.
    async fn resolve(&self) -> Result<Addr<PluginInstance>, String> {
        let actor = kms_instance(&self.host, &self.name)
            .await
            .ok_or_else(|| format!("no plugin instance `{}` is configured", self.name))?;
        *self.actor.write().unwrap_or_else(|p| p.into_inner()) = actor.clone();
        Ok(actor)
    }

    fn direct_caller(&self) -> Result<Arc<DirectCaller>, SignerError> {
        if let Some(direct) = self
            .direct
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && direct.is_current()
        {
            return Ok(direct.clone());
        }
        // Only ever called from a blocking-pool thread, where blocking on the actor's answer is allowed.
        let fresh = self.runtime.block_on(async {
            let first = self.actor().send(GetDirectCaller).await;
            match first {
                Ok(Ok(caller)) => Ok(caller),
                // Retired (removed from the config, perhaps added back since) or stopped: ask the host for the
                // instance of that name now.
                Ok(Err(error)) if error.status == sigil_plugin_api::Status::NotFound => {
                    self.renewed_caller().await
                }
                Err(_) => self.renewed_caller().await,
                Ok(Err(error)) => Err(SignerError::Unavailable(format!(
                    "KMS unavailable: {error}"
                ))),
            }
        })?;
        let fresh = Arc::new(fresh);
        *self.direct.write().unwrap_or_else(|p| p.into_inner()) = Some(fresh.clone());
        Ok(fresh)
    }

    async fn renewed_caller(&self) -> Result<DirectCaller, SignerError> {
        let actor = self
            .resolve()
            .await
            .map_err(|e| SignerError::Unavailable(format!("KMS unavailable: {e}")))?;
        actor
            .send(GetDirectCaller)
            .await
            .map_err(|_| SignerError::Unavailable("the KMS plugin instance is not running".into()))?
            .map_err(|e| SignerError::Unavailable(format!("KMS unavailable: {e}")))
    }

    /// One call on the current thread, which must be a blocking-pool thread.
    pub fn call<Request: serde::Serialize, Response: serde::de::DeserializeOwned>(
        &self,
        op: &str,
        request: &Request,
    ) -> Result<Response, SignerError> {
        let id = self
            .next_call
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, std::time::Instant::now());
        let outcome = self.call_inner(op, request);
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        let mut last_failure = self.last_failure.lock().unwrap_or_else(|p| p.into_inner());
        *last_failure = outcome.as_ref().err().map(|e| e.to_string());
        outcome
    }

    fn call_inner<Request: serde::Serialize, Response: serde::de::DeserializeOwned>(
        &self,
        op: &str,
        request: &Request,
    ) -> Result<Response, SignerError> {
        let request = encode_message(request).map_err(|e| SignerError::Failed(e.to_string()))?;
        let answer = self
            .direct_caller()?
            .call_blocking(&self.runtime, op, &request)
            .map_err(|e| SignerError::Unavailable(format!("KMS `{op}` failed: {e}")))?;
        decode_message(&answer)
            .map_err(|e| SignerError::Failed(format!("KMS `{op}` answered garbage: {e}")))
    }

    /// Whether the instance serves a healthy generation, asked of the host (so a re-created instance counts).
    pub async fn instance_ready(&self) -> Result<(), String> {
        let actor = self.resolve().await?;
        let status = actor
            .send(GetStatus)
            .await
            .map_err(|_| format!("the KMS plugin instance `{}` is not running", self.name))?;
        if status.generation == 0 {
            let reason = status
                .last_reload_error
                .unwrap_or_else(|| "not loaded yet".into());
            return Err(format!(
                "the KMS plugin instance `{}` is not loaded: {reason}",
                self.name
            ));
        }
        match status.health {
            Health::Up(_) => Ok(()),
            Health::Starting => Err(format!(
                "the KMS plugin instance `{}` is starting",
                self.name
            )),
            Health::Down(reason) => Err(format!(
                "the KMS plugin instance `{}` is down: {reason}",
                self.name
            )),
        }
    }

    /// Why the KMS looks unable to sign: a call still unanswered past the deadline, or the last call's failure.
    pub fn last_failure(&self) -> Option<String> {
        let deadline = self.deadline();
        let oldest = self
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|started| started.elapsed())
            .max();
        if let Some(waited) = oldest.filter(|waited| *waited > deadline) {
            return Some(format!(
                "a KMS call has not answered for {}ms (deadline {}ms)",
                waited.as_millis(),
                deadline.as_millis()
            ));
        }
        self.last_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The URI of the key labelled `label`, generated if there is none.
    ///
    /// # Errors
    /// [`FindKeyError::WrongAlgorithm`] when a key of that label has another algorithm (retrying cannot fix
    /// it), [`FindKeyError::Call`] when a call failed.
    pub fn find_or_generate(&self, label: &str, kind: KeyKind) -> Result<String, FindKeyError> {
        self.find_or_generate_algorithm(label, kind.key_algorithm())
    }

    /// The URI of the key labelled `label`, if there is one; nothing is generated.
    ///
    /// # Errors
    /// As [`KmsClient::find_or_generate`].
    pub fn find_algorithm(
        &self,
        label: &str,
        algorithm: KeyAlgorithm,
    ) -> Result<Option<String>, FindKeyError> {
        let listed: ListKeysResponse = self
            .call("list_keys", &ListKeysRequest {})
            .map_err(|e| FindKeyError::Call(e.to_string()))?;
        let Some(key) = listed.keys.into_iter().find(|k| k.label == label) else {
            return Ok(None);
        };
        if key.algorithm != algorithm {
            return Err(FindKeyError::WrongAlgorithm(format!(
                "KMS key `{label}` exists with another algorithm ({:?})",
                key.algorithm
            )));
        }
        Ok(Some(key.key_uri))
    }

    /// As [`KmsClient::find_or_generate`], for any key pair type the plugin API names (Ed25519 included,
    /// which [`KeyKind`] leaves out because CMS structures here are never signed with it).
    pub fn find_or_generate_algorithm(
        &self,
        label: &str,
        algorithm: KeyAlgorithm,
    ) -> Result<String, FindKeyError> {
        if let Some(key_uri) = self.find_algorithm(label, algorithm)? {
            return Ok(key_uri);
        }
        let generated: GenerateKeyResponse = self
            .call(
                "generate_key",
                &GenerateKeyRequest {
                    label: label.to_string(),
                    algorithm,
                },
            )
            .map_err(|e| FindKeyError::Call(e.to_string()))?;
        tracing::info!(label, key = %generated.key_uri, "generated a key in the KMS");
        Ok(generated.key_uri)
    }
}

/// A key in the KMS.
#[derive(Clone)]
pub struct KmsKey {
    /// The client of its instance.
    pub client: KmsClient,
    /// Its URI in that instance.
    pub key_uri: String,
    /// Its algorithm.
    pub kind: KeyKind,
}

impl KmsKey {
    /// Whether the key can sign now: the instance serves a healthy generation and the last call did not fail
    /// (after a failure, a probe signature decides). The local TSA's readiness.
    pub async fn check(&self) -> Result<(), String> {
        self.client.instance_ready().await?;
        if self.client.last_failure().is_none() {
            return Ok(());
        }
        // The last call failed or hangs: try a signature (on the blocking pool), waiting at most the deadline.
        let key = self.clone();
        let deadline = self.client.deadline();
        let probe =
            tokio::task::spawn_blocking(move || key.sign(b"sigil readiness probe").map(drop));
        match tokio::time::timeout(deadline, probe).await {
            Err(_) => Err(format!(
                "the local TSA cannot sign: the KMS did not answer within {}ms",
                deadline.as_millis()
            )),
            Ok(joined) => joined
                .map_err(|e| format!("KMS probe failed: {e}"))?
                .map_err(|e| format!("the local TSA cannot sign: {e}")),
        }
    }

    /// The key's public half, asked of the KMS.
    pub fn public_key(&self) -> Result<SubjectPublicKeyInfoOwned, String> {
        use sigil_rfc3161::der::Decode;
        let answer: PublicKeyResponse = self
            .client
            .call(
                "public_key",
                &PublicKeyRequest {
                    key_uri: self.key_uri.clone(),
                },
            )
            .map_err(|e| e.to_string())?;
        SubjectPublicKeyInfoOwned::from_der(&answer.public_key_spki_der.0)
            .map_err(|e| format!("KMS public key: {e}"))
    }

    /// Signs `data` (hashed here, so only a digest crosses the plugin boundary).
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, SignerError> {
        let algorithm = self.kind.signature_algorithm();
        let request = SignRequest {
            key_uri: self.key_uri.clone(),
            algorithm: self.kind.plugin_algorithm(),
            data: Base64Bytes(digest_for(algorithm, data)),
            prehashed: true,
            timeout_ms: None,
        };
        let answer: SignResponse = self.client.call("sign", &request)?;
        Ok(answer.signature.0)
    }
}

/// KMS clients by instance name, created on first use, so that the in-flight tracking and the cached direct
/// caller of one instance are shared by every caller of a service. Cheap to clone.
#[derive(Clone)]
pub struct KmsClients {
    plugins: Addr<PluginHost>,
    clients: Arc<std::sync::Mutex<HashMap<String, KmsClient>>>,
}

impl KmsClients {
    /// An empty cache over the plugin host.
    pub fn new(plugins: Addr<PluginHost>) -> Self {
        Self {
            plugins,
            clients: Arc::default(),
        }
    }

    /// The client of instance `name`; an error names the instance when it is not running.
    pub async fn get(&self, name: &str) -> Result<KmsClient, String> {
        if let Some(client) = self
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Ok(client.clone());
        }
        let actor = kms_instance(&self.plugins, name)
            .await
            .ok_or_else(|| format!("no KMS plugin instance `{name}` is running"))?;
        let client = KmsClient::new(
            KmsInstance {
                host: self.plugins.clone(),
                name: name.to_string(),
                actor,
            },
            tokio::runtime::Handle::current(),
        );
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), client.clone());
        Ok(client)
    }
}

/// A KMS key used for raw signatures rather than CMS structures: Ed25519 (pure, over the message) or ECDSA
/// P-256 with SHA-256 (the digest crosses the plugin boundary, the answer is DER).
#[derive(Clone)]
pub struct RawKmsKey {
    /// The client of its instance.
    pub client: KmsClient,
    /// Its URI in that instance.
    pub key_uri: String,
    /// `Ed25519` or `EcdsaP256`.
    pub algorithm: KeyAlgorithm,
}

impl RawKmsKey {
    /// Signs `message` on the current (blocking-pool) thread: 64 bytes for Ed25519, DER for P-256.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let (algorithm, data, prehashed) = match self.algorithm {
            KeyAlgorithm::Ed25519 => (
                sigil_plugin_api::SignatureAlgorithm::Ed25519,
                message.to_vec(),
                false,
            ),
            KeyAlgorithm::EcdsaP256 => (
                sigil_plugin_api::SignatureAlgorithm::EcdsaP256Sha256,
                Sha256::digest(message).to_vec(),
                true,
            ),
            other => {
                return Err(SignerError::Failed(format!(
                    "raw signatures take Ed25519 or P-256 keys, not {other:?}"
                )));
            }
        };
        let request = SignRequest {
            key_uri: self.key_uri.clone(),
            algorithm,
            data: Base64Bytes(data),
            prehashed,
            timeout_ms: None,
        };
        let answer: SignResponse = self.client.call("sign", &request)?;
        Ok(answer.signature.0)
    }

    /// The key's public half as DER SubjectPublicKeyInfo, asked of the KMS.
    pub fn public_key_der(&self) -> Result<Vec<u8>, SignerError> {
        let answer: PublicKeyResponse = self.client.call(
            "public_key",
            &PublicKeyRequest {
                key_uri: self.key_uri.clone(),
            },
        )?;
        Ok(answer.public_key_spki_der.0)
    }
}

/// Signs certificates with a KMS key (roots and the certificates they issue).
pub struct KmsCertificateSigner {
    /// The key.
    pub key: KmsKey,
    /// Its public half, read once.
    pub public_key: SubjectPublicKeyInfoOwned,
}

impl CertificateSigner for KmsCertificateSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.key.kind.signature_algorithm()
    }

    fn public_key(&self) -> Result<SubjectPublicKeyInfoOwned, SignerError> {
        Ok(self.public_key.clone())
    }

    fn sign(&self, tbs_der: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.key.sign(tbs_der)
    }
}

/// A root that Sigil makes for itself (the local TSA's, the platform seal's): the KMS key `<label>-root`
/// (created if missing) signs a self-signed `CN=<name> (<host>),O=Sigil`, valid from five minutes ago for
/// `lifetime`. Returns the root, its signer (for the certificate it then issues) and the validity it used.
pub fn local_root(
    client: &KmsClient,
    label: &str,
    kind: KeyKind,
    name: &str,
    lifetime: Duration,
) -> Result<(Certificate, KmsCertificateSigner, CertificateValidity), String> {
    let key_uri = client
        .find_or_generate(&root_label(label), kind)
        .map_err(|e| e.to_string())?;
    let signer = root_signer(client, key_uri, kind)?;
    let validity = CertificateValidity::starting(
        std::time::SystemTime::now() - Duration::from_secs(300),
        lifetime,
    );
    let root_name = local_name(name)
        .parse()
        .map_err(|e| format!("root name: {e}"))?;
    let root =
        sigil_rfc3161::build_root_ca(&root_name, validity, &signer).map_err(|e| e.to_string())?;
    Ok((root, signer, validity))
}

/// The KMS label of the key of a root made by [`local_root`] for keys labelled `label`.
fn root_label(label: &str) -> String {
    format!("{label}-root")
}

/// The signer of a root made by [`local_root`], whose key is `key_uri` in the KMS.
fn root_signer(
    client: &KmsClient,
    key_uri: String,
    kind: KeyKind,
) -> Result<KmsCertificateSigner, String> {
    let key = KmsKey {
        client: client.clone(),
        key_uri,
        kind,
    };
    Ok(KmsCertificateSigner {
        public_key: key.public_key()?,
        key,
    })
}

/// How long a local root's CRL claims to be current (`nextUpdate` − `thisUpdate`).
const LOCAL_CRL_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);
/// A local root's CRL older than this (seconds) is made again.
const LOCAL_CRL_REFRESH: i64 = 3600;

/// The CRL of a root made by [`local_root`] (the local TSA's, the platform seal's), signed by the root's KMS key:
/// RFC 5280 v2, revoking nothing (Sigil never revokes what its own roots issued; a compromised key is replaced by a
/// new chain), valid for a week and made again after an hour. A verifier that requires revocation data for every
/// certificate of a chain gets it for certificates that name no responder or CRL.
pub struct LocalRootCrl {
    signer: KmsCertificateSigner,
    root: Certificate,
    root_der: Vec<u8>,
    /// The last CRL made and when (Unix seconds).
    made: std::sync::Mutex<Option<(Vec<u8>, i64)>>,
}

impl LocalRootCrl {
    /// For the root `root` made with the KMS key `<label>-root`; `None` (logged) when that key cannot be found or is
    /// not the root's (a KMS store replaced since). Blocks on the KMS.
    pub fn find(
        client: &KmsClient,
        label: &str,
        kind: KeyKind,
        root: &Certificate,
    ) -> Option<Self> {
        // Found, never generated: a key made now could not be the root's.
        let signer = client
            .find_algorithm(&root_label(label), kind.key_algorithm())
            .map_err(|e| e.to_string())
            .and_then(|uri| uri.ok_or_else(|| "no such key in the KMS".to_string()))
            .and_then(|uri| root_signer(client, uri, kind))
            .map_err(|error| tracing::warn!(%error, label, "a local root's key cannot be found; no CRL for it"))
            .ok()?;
        if &signer.public_key != root.tbs_certificate().subject_public_key_info() {
            tracing::warn!(
                label,
                "a local root's KMS key is not the root certificate's; no CRL for it"
            );
            return None;
        }
        Some(Self {
            signer,
            root_der: sigil_cms::der::Encode::to_der(root).ok()?,
            root: root.clone(),
            made: std::sync::Mutex::default(),
        })
    }

    /// The root's DER.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The current CRL, DER; `None` (logged) when the KMS cannot sign now. Blocks on the KMS at most once an hour:
    /// call it on a blocking thread.
    pub fn crl(&self) -> Option<Vec<u8>> {
        let now = chrono::Utc::now().timestamp();
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((der, at)) = made.as_ref()
            && now - at < LOCAL_CRL_REFRESH
        {
            return Some(der.clone());
        }
        let this_update = std::time::SystemTime::now() - Duration::from_secs(300);
        match sigil_cms::build_empty_crl(
            &self.root,
            &self.signer,
            this_update,
            this_update + LOCAL_CRL_VALIDITY,
            u64::try_from(now).unwrap_or_default(),
        ) {
            Ok(der) => {
                *made = Some((der.clone(), now));
                Some(der)
            }
            Err(error) => {
                tracing::warn!(%error, "could not make a local root's CRL");
                None
            }
        }
    }
}

/// `CN=<name> (<host>),O=Sigil`: the subject of a certificate Sigil makes for itself on this host.
pub fn local_name(name: &str) -> String {
    format!("CN={name} ({}),O=Sigil", hostname())
}

/// This host's name when it is a plain one, else `sigild`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        })
        .unwrap_or_else(|| "sigild".into())
}

/// Runs `init` on a blocking thread with a client of the KMS instance `kms_name`, retrying with back-off while
/// the instance is missing or its calls fail (it loads concurrently with the daemon), then hands the result to
/// `ready`. A key of the wrong algorithm ends it with an error in the log. `what` names it in the log.
pub fn spawn_with_kms<T: Send + 'static>(
    what: &'static str,
    kms_name: String,
    plugins: Addr<PluginHost>,
    init: impl Fn(&KmsClient, &tokio::runtime::Handle) -> Result<T, FindKeyError>
    + Send
    + Sync
    + 'static,
    ready: impl FnOnce(T) + Send + 'static,
) {
    let init = Arc::new(init);
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(100);
        loop {
            let outcome = match kms_instance(&plugins, &kms_name).await {
                None => Err(FindKeyError::Call(format!(
                    "no plugin instance `{kms_name}` for the {what}"
                ))),
                Some(actor) => {
                    let runtime = tokio::runtime::Handle::current();
                    let client = KmsClient::new(
                        KmsInstance {
                            host: plugins.clone(),
                            name: kms_name.clone(),
                            actor,
                        },
                        runtime.clone(),
                    );
                    let init = init.clone();
                    tokio::task::spawn_blocking(move || init(&client, &runtime))
                        .await
                        .unwrap_or_else(|e| Err(FindKeyError::Call(format!("panicked: {e}"))))
                }
            };
            match outcome {
                Ok(value) => {
                    ready(value);
                    return;
                }
                Err(FindKeyError::WrongAlgorithm(error)) => {
                    tracing::error!(%error, what, "a KMS key has the wrong algorithm; not retrying");
                    return;
                }
                Err(FindKeyError::Call(error)) => {
                    if delay >= Duration::from_secs(3) {
                        tracing::warn!(%error, what, "not ready yet; retrying");
                    } else {
                        tracing::debug!(%error, what, "not ready yet; retrying");
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    });
}
