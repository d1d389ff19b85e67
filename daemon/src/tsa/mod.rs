//! Timestamping: the set of TSA providers (the local TSA and remote ones behind plugins), each in its own
//! supervised actor, and the dispatcher that picks providers for a tenant (round-robin with failover,
//! allowlist, qualified-only) and turns all-failed into the seed's 502 body.

pub mod local;
pub mod provider;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix::prelude::*;
use sigil_rfc3161::{HashAlgorithm, TrustStore};

use crate::config::Config;
use crate::plugin_host::PluginHost;
use local::LocalTsaCell;
use provider::{
    AttemptFailure, AttemptSuccess, Backend, CircuitSettings, ProviderCore, ProviderInfo,
    TsaProvider,
};

/// The trust anchors, per provider. A token is accepted from a provider only if its signer chains to an anchor
/// of **that** provider:
/// - the local TSA: the roots it has used (see [`local::LocalTsa::anchors`]), nothing else;
/// - a remote provider: its own `trust_roots_file`, plus `[tsa] trust_roots_file`, plus the OS bundle when
///   `[tsa] use_system_roots` is on.
///
/// Public verification (`/tsa/verify-hash`) accepts any configured anchor: the union of all of them.
#[derive(Default)]
pub struct TrustSet {
    remote_default: Arc<TrustStore>,
    per_provider: HashMap<String, Arc<TrustStore>>,
    local: Arc<TrustStore>,
    all: Arc<TrustStore>,
}

impl TrustSet {
    /// Builds the anchors from a config and the local TSA's roots. A file that cannot be read is logged and
    /// contributes nothing: tokens from the providers it was meant for then fail as unanchored, loudly.
    pub fn build(config: &Config, local_anchors: &[sigil_rfc3161::Certificate]) -> Self {
        let allow_sha1 = config.tsa.allow_sha1_verification;
        let mut remote = TrustStore::new();
        if let Some(file) = &config.tsa.trust_roots_file {
            load_roots(&mut remote, file, "[tsa] trust_roots_file");
        }
        if config.tsa.use_system_roots {
            match system_bundle() {
                Some(file) => load_roots(&mut remote, &file, "the system CA bundle"),
                None => tracing::error!(
                    "[tsa] use_system_roots is on but no system CA bundle was found"
                ),
            }
        }
        let mut local = TrustStore::new();
        for anchor in local_anchors {
            if let Err(error) = local.add_root(anchor) {
                tracing::error!(%error, "cannot use a local TSA root as an anchor");
            }
        }
        let mut all = remote.clone();
        all.extend_from(&local);
        let mut per_provider = HashMap::new();
        for provider in config.tsa_providers.iter().filter(|p| p.enabled) {
            let Some(file) = &provider.trust_roots_file else {
                continue;
            };
            let mut own = TrustStore::new();
            load_roots(
                &mut own,
                file,
                &format!("tsa_providers.{}.trust_roots_file", provider.slug),
            );
            all.extend_from(&own);
            own.extend_from(&remote);
            per_provider.insert(
                provider.slug.clone(),
                Arc::new(own.allowing_sha1(allow_sha1)),
            );
        }
        Self {
            remote_default: Arc::new(remote.allowing_sha1(allow_sha1)),
            per_provider,
            local: Arc::new(local.allowing_sha1(allow_sha1)),
            all: Arc::new(all.allowing_sha1(allow_sha1)),
        }
    }

    /// The anchors of one provider.
    pub fn for_provider(&self, slug: &str) -> Arc<TrustStore> {
        if slug == LOCAL_SLUG {
            return self.local.clone();
        }
        self.per_provider
            .get(slug)
            .unwrap_or(&self.remote_default)
            .clone()
    }

    /// Every configured anchor, for verifying tokens whatever TSA made them.
    pub fn for_verification(&self) -> Arc<TrustStore> {
        self.all.clone()
    }
}

fn load_roots(store: &mut TrustStore, file: &std::path::Path, origin: &str) {
    match std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|pem| store.add_pem_roots(&pem).map_err(|e| e.to_string()))
    {
        Ok(count) => {
            tracing::info!(roots = count, file = %file.display(), origin, "TSA trust roots loaded")
        }
        Err(error) => {
            tracing::error!(file = %file.display(), origin, %error, "cannot load TSA trust roots")
        }
    }
}

/// The operating system's CA bundle, where the common distributions keep it.
fn system_bundle() -> Option<std::path::PathBuf> {
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/ssl/cert.pem",
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|path| path.is_file())
}

/// The current [`TrustSet`]; replaced when the local TSA's roots become known or the config reloads.
#[derive(Clone, Default)]
pub struct TrustCell(Arc<RwLock<Arc<TrustSet>>>);

impl TrustCell {
    /// The current anchors.
    pub fn get(&self) -> Arc<TrustSet> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Rebuilds them from the config and the local TSA's roots.
    pub fn rebuild(&self, config: &Config, local_anchors: &[sigil_rfc3161::Certificate]) {
        let set = Arc::new(TrustSet::build(config, local_anchors));
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = set;
    }
}

/// The slug of Sigil's own TSA.
pub const LOCAL_SLUG: &str = "local";

/// A running provider.
#[derive(Clone)]
pub struct Provider {
    /// What clients see.
    pub info: Arc<ProviderInfo>,
    /// Its state and backend, shared by every request.
    pub core: Arc<ProviderCore>,
    /// The supervised actor that owns it.
    pub actor: Addr<TsaProvider>,
}

/// Every active provider, in configuration order (local first), rebuilt on reload.
#[derive(Clone)]
pub struct Providers {
    inner: Arc<RwLock<Vec<Provider>>>,
    arbiter: ArbiterHandle,
}

impl Providers {
    /// An empty set whose actors will run on `arbiter` (reloads run outside any arbiter).
    pub fn new(arbiter: ArbiterHandle) -> Self {
        Self {
            inner: Arc::default(),
            arbiter,
        }
    }

    /// The active providers.
    pub fn list(&self) -> Vec<Provider> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// One provider by slug.
    pub fn get(&self, slug: &str) -> Option<Provider> {
        self.list().into_iter().find(|p| p.info.slug == slug)
    }

    /// Applies a config: keeps the actors (and their health) of unchanged providers, starts new ones, drops
    /// removed ones.
    pub fn apply(
        &self,
        config: &Config,
        host: &Addr<PluginHost>,
        local: &LocalTsaCell,
        trust: &TrustCell,
    ) {
        let settings = CircuitSettings {
            failures: config.tsa.circuit_failures,
            cooldown: config.tsa.circuit_cooldown,
            attempt_timeout: config.tsa.attempt_timeout,
        };
        let mut wanted: Vec<(ProviderInfo, Backend)> = Vec::new();
        if config.local_tsa.enabled {
            let info = ProviderInfo {
                id: stable_id(LOCAL_SLUG),
                slug: LOCAL_SLUG.into(),
                name: config.local_tsa.name.clone(),
                qualified: false,
                policy_oid: Some(config.local_tsa.policy_oid.clone()),
                preferred_hash_oid: HashAlgorithm::Sha256.oid().to_string(),
                endpoint_url: None,
            };
            wanted.push((info, Backend::Local(local.clone())));
        }
        for provider in config.tsa_providers.iter().filter(|p| p.enabled) {
            let hash = match provider.config.get("hash").and_then(|h| h.as_str()) {
                Some("sha384") => HashAlgorithm::Sha384,
                Some("sha512") => HashAlgorithm::Sha512,
                _ => HashAlgorithm::Sha256,
            };
            let info = ProviderInfo {
                id: stable_id(&provider.slug),
                slug: provider.slug.clone(),
                name: provider.name.clone(),
                qualified: provider.qualified,
                policy_oid: provider.policy_oid.clone(),
                preferred_hash_oid: hash.oid().to_string(),
                endpoint_url: provider
                    .config
                    .get("url")
                    .and_then(|u| u.as_str())
                    .map(str::to_string),
            };
            wanted.push((
                info,
                Backend::Plugin {
                    instance: provider.instance_name(),
                    host: host.clone(),
                },
            ));
        }
        let mut current = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let mut running: HashMap<String, Provider> = current
            .drain(..)
            .map(|p| (p.info.slug.clone(), p))
            .collect();
        for (info, backend) in wanted {
            let provider = match running.remove(&info.slug) {
                Some(existing) if *existing.info == info => existing,
                _ => {
                    let info = Arc::new(info);
                    let core = Arc::new(ProviderCore::new(
                        info.clone(),
                        backend,
                        trust.clone(),
                        settings,
                    ));
                    let owned = core.clone();
                    let actor = Supervisor::start_in_arbiter(&self.arbiter, move |_| {
                        TsaProvider::new(owned)
                    });
                    Provider { info, core, actor }
                }
            };
            current.push(provider);
        }
    }
}

/// A UUID that stays the same for a slug across restarts and nodes.
fn stable_id(slug: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("sigil:tsa:{slug}").as_bytes(),
    )
    .to_string()
}

/// Why no token was made.
#[derive(Debug)]
pub enum DispatchError {
    /// Every candidate failed (502 with the seed's body).
    AllFailed(Vec<AttemptFailure>),
    /// No provider could be asked (4xx with this message).
    NoCandidates(String),
    /// The requested slug does not name an active provider the tenant may use.
    UnknownProvider(String),
}

/// A token and the provider that made it.
pub struct Dispatched {
    /// The provider.
    pub provider: Arc<ProviderInfo>,
    /// The verified token.
    pub success: AttemptSuccess,
    /// The failed attempts before it.
    pub failures: Vec<AttemptFailure>,
}

/// Tries `candidates` in order until one gives a verified token. Providers with an open circuit go last, so a
/// sick provider is skipped while others answer but still tried when nothing else is left.
pub async fn dispatch(
    candidates: Vec<Provider>,
    hash: HashAlgorithm,
    digest: &[u8],
) -> Result<Dispatched, DispatchError> {
    let mut closed = Vec::with_capacity(candidates.len());
    let mut open = Vec::new();
    // A single candidate is tried whatever its circuit says: there is nothing to put before it.
    let single = candidates.len() == 1;
    for provider in candidates {
        if single {
            closed.push(provider);
            continue;
        }
        if provider.core.is_closed() {
            closed.push(provider);
        } else {
            open.push(provider);
        }
    }
    let mut failures = Vec::new();
    for provider in closed.into_iter().chain(open) {
        match provider.core.attempt(hash, digest).await {
            Ok(success) => {
                return Ok(Dispatched {
                    provider: provider.info,
                    success,
                    failures,
                });
            }
            Err(failure) => failures.push(failure),
        }
    }
    Err(DispatchError::AllFailed(failures))
}
