//! Sigil's own TSA: its key lives in a KMS plugin instance (kms-soft by default, kms-pkcs11 for an HSM), its
//! certificate chain is generated on first start (a local root and a TSA certificate with the critical
//! timeStamping EKU) or supplied by the operator, and both are reused across restarts through the store.

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use sha2::{Digest, Sha256};
use sigil_rfc3161::der::{EncodePem, pem::LineEnding};
use sigil_rfc3161::{
    Accuracy, Certificate, ObjectIdentifier, SignatureAlgorithm, SignerError,
    SubjectPublicKeyInfoOwned, TsaPolicy, TsaSigner,
};

use crate::config::LocalTsaConfig;
use crate::kms::{FindKeyError, KmsClient, KmsKey};
pub use crate::kms::{KeyKind, KmsInstance, kms_instance};
use crate::lane::Lane;
use crate::plugin_host::PluginHost;
use crate::store::Store;

impl From<FindKeyError> for InitError {
    fn from(error: FindKeyError) -> Self {
        match error {
            FindKeyError::Call(message) => InitError::Retry(message),
            FindKeyError::WrongAlgorithm(message) => InitError::Permanent(message),
        }
    }
}

/// Lifetime of the generated root and TSA certificates.
const CERTIFICATE_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Requests that may wait for the local TSA's signing threads; beyond them a request is refused at once.
const SIGNING_QUEUE: usize = 4096;

/// The local TSA, ready to issue.
pub struct LocalTsa {
    signer: KmsTsaSigner,
    /// The policy every token carries.
    pub policy: TsaPolicy,
    /// PEM chain, TSA certificate first (root last when generated).
    pub chain_pem: String,
    /// The trust anchors of the local TSA's tokens: every root it has used (kept in the store, append-only,
    /// shared by the nodes of a cluster), the current chain's top certificate included. They anchor the local
    /// provider only, never a remote TSA.
    pub anchors: Vec<Certificate>,
    /// The threads that issue (and verify) this key's tokens; see [`crate::lane`].
    lane: Lane,
    /// The generated root's CRL, which B-LTA seals the local TSA time-stamped carry; `None` for an operator's
    /// chain (its CA publishes its own revocation data).
    pub root_crl: Option<Arc<crate::kms::LocalRootCrl>>,
}

impl LocalTsa {
    /// The signer, for `sigil_rfc3161::issue_token` / `respond` on a blocking thread.
    pub fn signer(&self) -> &dyn TsaSigner {
        &self.signer
    }

    /// The signing lane of this key: issue and verify tokens there, under [`Self::sign_deadline`].
    pub fn lane(&self) -> &Lane {
        &self.lane
    }

    /// The certificate chain, TSA certificate first.
    pub fn chain(&self) -> &[Certificate] {
        &self.signer.chain
    }

    /// How long a signature may take (the KMS instance's call deadline); callers stop waiting after it.
    pub fn sign_deadline(&self) -> Duration {
        self.signer.key.client.deadline()
    }

    /// Whether the local TSA can sign now: its KMS instance serves a healthy generation and the last KMS call
    /// did not fail (after a failure, a probe signature decides). For `/readyz`.
    pub async fn can_sign(&self) -> Result<(), String> {
        self.signer.key.check().await
    }

    /// Sets up the key and chain (first start) or loads them (later starts). Blocks on KMS calls: run it on a
    /// blocking thread.
    pub fn initialize_blocking(
        config: &LocalTsaConfig,
        store: &Store,
        kms: KmsInstance,
        runtime: tokio::runtime::Handle,
    ) -> Result<LocalTsa, InitError> {
        let key_kind = KeyKind::parse(&config.algorithm).map_err(InitError::Permanent)?;
        let client = KmsClient::new(kms, runtime.clone());
        let policy_oid = ObjectIdentifier::new(&config.policy_oid)
            .map_err(|e| InitError::Permanent(format!("local_tsa.policy_oid: {e}")))?;
        let accuracy = (config.accuracy_ms > 0).then(|| Accuracy {
            seconds: u64::from(config.accuracy_ms / 1000),
            millis: (config.accuracy_ms % 1000) as u16,
            micros: 0,
        });
        let policy = TsaPolicy {
            policy_oid,
            accuracy,
            ordering: false,
            include_tsa_name: config.include_tsa_name,
        };

        let saved = runtime
            .block_on(store.local_tsa_state())
            .map_err(|e| e.to_string())?;
        let key_uri = client.find_or_generate(&config.key_label, key_kind)?;

        let key = KmsKey {
            client: client.clone(),
            key_uri: key_uri.clone(),
            kind: key_kind,
        };
        let public_key = key.public_key()?;

        let chain = match &config.certificate_file {
            // An operator chain that cannot be read or is for another key will not fix itself: permanent.
            Some(file) => {
                let pem = std::fs::read(file).map_err(|e| {
                    InitError::Permanent(format!("reading {}: {e}", file.display()))
                })?;
                let chain = Certificate::load_pem_chain(&pem).map_err(|e| {
                    InitError::Permanent(format!("parsing {}: {e}", file.display()))
                })?;
                check_leaf_key(&chain, &public_key, &file.display().to_string())
                    .map_err(InitError::Permanent)?;
                chain
            }
            None => match saved
                .filter(|s| s.key_uri == key_uri && s.algorithm == config.algorithm)
                .and_then(|saved| Certificate::load_pem_chain(saved.chain_pem.as_bytes()).ok())
                // A stored chain for another key (the KMS store was replaced) is made anew below.
                .filter(|chain| check_leaf_key(chain, &public_key, "the stored chain").is_ok())
            {
                Some(chain) => chain,
                None => {
                    let chain = generate_chain(&client, &config.key_label, key_kind, &public_key)?;
                    let pem = to_pem(&chain)?;
                    runtime
                        .block_on(store.save_local_tsa_state(
                            &config.key_label,
                            &key_uri,
                            &config.algorithm,
                            &pem,
                        ))
                        .map_err(|e| e.to_string())?;
                    tracing::info!(key = %key_uri, "local TSA key and certificate chain created");
                    chain
                }
            },
        };
        // The top of the chain is the local TSA's anchor: the generated root, or the last certificate of the
        // operator's chain (the operator vouched for it by configuring it).
        let top = chain
            .last()
            .ok_or_else(|| InitError::Permanent("the local TSA chain is empty".into()))?;
        let top_pem = to_pem(std::slice::from_ref(top))?;
        let top_der = sigil_rfc3161::der::Encode::to_der(top).map_err(|e| e.to_string())?;
        runtime
            .block_on(store.record_local_tsa_anchor(
                &hex::encode(Sha256::digest(&top_der)),
                &top_pem,
                &top.tbs_certificate().subject().to_string(),
            ))
            .map_err(|e| e.to_string())?;
        let mut anchors = Vec::new();
        for pem in runtime
            .block_on(store.local_tsa_anchors())
            .map_err(|e| e.to_string())?
        {
            match Certificate::load_pem_chain(pem.as_bytes()) {
                Ok(certificates) => anchors.extend(certificates),
                Err(error) => tracing::error!(%error, "a stored local TSA anchor does not parse"),
            }
        }
        let root_crl = if config.certificate_file.is_some() {
            None
        } else {
            crate::kms::LocalRootCrl::find(&client, &config.key_label, key_kind, top).map(Arc::new)
        };
        let chain_pem = to_pem(&chain)?;
        let prepared = sigil_rfc3161::PreparedChain::new(&chain)
            .map_err(|e| InitError::Permanent(e.to_string()))?;
        let signer = KmsTsaSigner {
            key,
            chain,
            prepared,
        };
        sigil_rfc3161::check_signer(&signer)
            .map_err(|e| format!("the local TSA key does not work: {e}"))?;
        let lane = Lane::per_core("sigil-tsa-sign", SIGNING_QUEUE)
            .map_err(|e| format!("starting the signing threads: {e}"))?;
        Ok(LocalTsa {
            signer,
            policy,
            chain_pem,
            anchors,
            lane,
            root_crl,
        })
    }
}

/// Why the local TSA could not be set up.
#[derive(Debug)]
pub enum InitError {
    /// Worth retrying (the KMS is still loading, the store is busy).
    Retry(String),
    /// A misconfiguration that retrying cannot fix; the daemon serves without the local TSA.
    Permanent(String),
}

impl From<String> for InitError {
    fn from(message: String) -> Self {
        InitError::Retry(message)
    }
}

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InitError::Retry(message) | InitError::Permanent(message) => f.write_str(message),
        }
    }
}

fn check_leaf_key(
    chain: &[Certificate],
    public_key: &SubjectPublicKeyInfoOwned,
    origin: &str,
) -> Result<(), String> {
    let leaf = chain
        .first()
        .ok_or_else(|| format!("{origin} holds no certificate"))?;
    if leaf.tbs_certificate().subject_public_key_info() != public_key {
        return Err(format!(
            "the first certificate of {origin} is not for the local TSA's KMS key"
        ));
    }
    Ok(())
}

fn to_pem(chain: &[Certificate]) -> Result<String, String> {
    chain
        .iter()
        .map(|c| c.to_pem(LineEnding::LF).map_err(|e| e.to_string()))
        .collect()
}

/// A root key `<label>-root` signs a self-signed root and the TSA certificate for the TSA key.
fn generate_chain(
    client: &KmsClient,
    label: &str,
    kind: KeyKind,
    tsa_public_key: &SubjectPublicKeyInfoOwned,
) -> Result<Vec<Certificate>, String> {
    let (root, root_signer, validity) = crate::kms::local_root(
        client,
        label,
        kind,
        "Sigil Local Root CA",
        CERTIFICATE_LIFETIME,
    )?;
    let tsa_name = crate::kms::local_name("Sigil Local TSA")
        .parse()
        .map_err(|e| format!("TSA name: {e}"))?;
    let tsa = sigil_rfc3161::build_tsa_certificate(
        &tsa_name,
        tsa_public_key,
        validity,
        &root,
        &root_signer,
    )
    .map_err(|e| e.to_string())?;
    Ok(vec![tsa, root])
}

struct KmsTsaSigner {
    key: KmsKey,
    chain: Vec<Certificate>,
    prepared: sigil_rfc3161::PreparedChain,
}

impl TsaSigner for KmsTsaSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.key.kind.signature_algorithm()
    }

    fn certificate_chain(&self) -> &[Certificate] {
        &self.chain
    }

    fn sign(&self, signed_attrs_der: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.key.sign(signed_attrs_der)
    }

    fn prepared_chain(&self) -> Option<&sigil_rfc3161::PreparedChain> {
        Some(&self.prepared)
    }
}

/// The local TSA once it is ready; empty while its KMS is still loading.
#[derive(Clone, Default)]
pub struct LocalTsaCell(Arc<std::sync::RwLock<Option<Arc<LocalTsa>>>>);

impl LocalTsaCell {
    /// The ready TSA, if any.
    pub fn get(&self) -> Option<Arc<LocalTsa>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, tsa: LocalTsa) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(tsa));
    }
}

/// Brings the local TSA up in the background, retrying while its KMS instance loads.
pub fn spawn_initializer(
    full_config: Arc<crate::config::Config>,
    store: Store,
    plugins: Addr<PluginHost>,
    cell: LocalTsaCell,
    trust: super::TrustCell,
) -> tokio::sync::oneshot::Receiver<()> {
    let config = full_config.local_tsa.clone();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(100);
        loop {
            let outcome = match kms_instance(&plugins, &config.kms).await {
                None => Err(InitError::Retry(format!(
                    "no plugin instance `{}` for the local TSA's key",
                    config.kms
                ))),
                Some(actor) => {
                    let kms = KmsInstance {
                        host: plugins.clone(),
                        name: config.kms.clone(),
                        actor,
                    };
                    let (config, store, runtime) = (
                        config.clone(),
                        store.clone(),
                        tokio::runtime::Handle::current(),
                    );
                    tokio::task::spawn_blocking(move || {
                        LocalTsa::initialize_blocking(&config, &store, kms, runtime)
                    })
                    .await
                    .unwrap_or_else(|e| {
                        Err(InitError::Retry(format!("local TSA set-up panicked: {e}")))
                    })
                }
            };
            match outcome {
                Ok(tsa) => {
                    tracing::info!(policy = %tsa.policy.policy_oid, "local TSA ready");
                    trust.rebuild(&full_config, &tsa.anchors);
                    cell.set(tsa);
                    let _ = ready_tx.send(());
                    return;
                }
                Err(InitError::Permanent(error)) => {
                    tracing::error!(%error, "the local TSA cannot start; sigild serves without it until restarted with a fixed config");
                    let _ = ready_tx.send(());
                    return;
                }
                Err(InitError::Retry(error)) => {
                    // The KMS plugin loads concurrently with this; only persistent failures deserve a warning.
                    if delay >= Duration::from_secs(3) {
                        tracing::warn!(%error, "local TSA not ready yet; retrying");
                    } else {
                        tracing::debug!(%error, "local TSA not ready yet; retrying");
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    });
    ready_rx
}

/// The PEM of a certificate, for the proxy endpoints.
pub fn certificate_pem(certificate: &Certificate) -> Option<String> {
    certificate.to_pem(LineEnding::LF).ok()
}
