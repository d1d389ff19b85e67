//! The platform seal certificate: a per-instance seal key in the seal KMS and a certificate from a local
//! "platform" root, both generated on first start and kept in the store (like the local TSA's root). Tenants
//! without a certificate of their own seal with it; verification calls its chain `dev_ca`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::Addr;
use sigil_rfc3161::der::{Encode, EncodePem, pem::LineEnding};
use sigil_rfc3161::x509_cert::ext::pkix::{KeyUsage, KeyUsages};
use sigil_rfc3161::{Certificate, CertificateSummary, SubjectPublicKeyInfoOwned, TrustStore};

use crate::kms::{FindKeyError, KeyKind, KmsClient, KmsKey};
use crate::plugin_host::PluginHost;
use crate::store::Store;

/// Label of the platform seal key in the KMS.
const PLATFORM_KEY_LABEL: &str = "sigil-platform-seal";
/// The platform key's algorithm.
const PLATFORM_ALGORITHM: &str = "ecdsa-p256";
/// Lifetime of the generated root and platform certificate.
const CERTIFICATE_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The platform seal certificate, ready to seal.
pub struct PlatformSeal {
    /// Its key in the KMS.
    pub key: KmsKey,
    /// The chain, DER: platform certificate, then the platform root.
    pub chain_der: Vec<Vec<u8>>,
    /// The platform root as a trust store (`dev_ca`).
    pub anchors: TrustStore,
    /// The platform certificate, summarised.
    pub summary: CertificateSummary,
    /// The platform root's CRL, which B-LTA seals with the platform certificate carry.
    pub root_crl: Option<Arc<crate::kms::LocalRootCrl>>,
}

/// The platform seal once ready; empty while its KMS loads.
#[derive(Clone, Default)]
pub struct PlatformSealCell(Arc<RwLock<Option<Arc<PlatformSeal>>>>);

impl PlatformSealCell {
    /// The ready platform seal, if any.
    pub fn get(&self) -> Option<Arc<PlatformSeal>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, platform: PlatformSeal) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(platform));
    }
}

fn to_pem(chain: &[Certificate]) -> Result<String, String> {
    chain
        .iter()
        .map(|c| c.to_pem(LineEnding::LF).map_err(|e| e.to_string()))
        .collect()
}

/// Sets up (first start) or loads the platform seal. Blocks on KMS calls: run it on a blocking thread.
fn initialize_blocking(
    store: &Store,
    client: &KmsClient,
    runtime: &tokio::runtime::Handle,
) -> Result<PlatformSeal, FindKeyError> {
    let retry = |e: String| FindKeyError::Call(e);
    let kind = KeyKind::EcdsaP256;
    let key_uri = client.find_or_generate(PLATFORM_KEY_LABEL, kind)?;
    let key = KmsKey {
        client: client.clone(),
        key_uri: key_uri.clone(),
        kind,
    };
    let public_key = key.public_key().map_err(retry)?;
    let saved = runtime
        .block_on(store.platform_seal_state())
        .map_err(|e| retry(e.to_string()))?;
    let stored = saved
        .filter(|s| s.key_uri == key_uri && s.algorithm == PLATFORM_ALGORITHM)
        .and_then(|s| Certificate::load_pem_chain(s.chain_pem.as_bytes()).ok())
        // A stored chain for another key (the KMS store was replaced) is made anew.
        .filter(|chain| {
            chain.len() == 2 && chain[0].tbs_certificate().subject_public_key_info() == &public_key
        });
    let chain = match stored {
        Some(chain) => chain,
        None => {
            let chain = generate_chain(client, kind, &public_key).map_err(retry)?;
            let pem = to_pem(&chain).map_err(retry)?;
            runtime
                .block_on(store.save_platform_seal_state(&key_uri, PLATFORM_ALGORITHM, &pem))
                .map_err(|e| retry(e.to_string()))?;
            tracing::info!(key = %key_uri, "platform seal key and certificate created");
            chain
        }
    };
    let chain_der = chain
        .iter()
        .map(|c| c.to_der().map_err(|e| retry(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let mut anchors = TrustStore::new();
    anchors
        .add_root(&chain[1])
        .map_err(|e| retry(e.to_string()))?;
    let root_crl =
        crate::kms::LocalRootCrl::find(client, PLATFORM_KEY_LABEL, kind, &chain[1]).map(Arc::new);
    Ok(PlatformSeal {
        key,
        root_crl,
        summary: CertificateSummary::of(&chain[0]),
        chain_der,
        anchors,
    })
}

fn generate_chain(
    client: &KmsClient,
    kind: KeyKind,
    public_key: &SubjectPublicKeyInfoOwned,
) -> Result<Vec<Certificate>, String> {
    let (root, root_signer, validity) = crate::kms::local_root(
        client,
        PLATFORM_KEY_LABEL,
        kind,
        "Sigil Platform Seal Root",
        CERTIFICATE_LIFETIME,
    )?;
    let name = crate::kms::local_name("Sigil Platform Seal")
        .parse()
        .map_err(|e| format!("seal name: {e}"))?;
    let profile = sigil_cms::EndEntityProfile {
        key_usage: KeyUsage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation),
        extended_key_usage: Vec::new(),
        extended_key_usage_critical: false,
    };
    let leaf = sigil_cms::build_end_entity_certificate(
        &name,
        public_key,
        validity,
        &root,
        &root_signer,
        &profile,
    )
    .map_err(|e| e.to_string())?;
    Ok(vec![leaf, root])
}

/// Brings the platform seal up in the background (its KMS loads concurrently), retrying while the KMS is not
/// ready; the cell is filled once it is.
pub fn spawn_initializer(
    kms_name: String,
    store: Store,
    plugins: Addr<PluginHost>,
    cell: PlatformSealCell,
) {
    crate::kms::spawn_with_kms(
        "platform seal",
        kms_name,
        plugins,
        move |client, runtime| initialize_blocking(&store, client, runtime),
        move |platform: PlatformSeal| {
            tracing::info!(subject = %platform.summary.subject, "platform seal ready");
            cell.set(platform);
        },
    );
}
