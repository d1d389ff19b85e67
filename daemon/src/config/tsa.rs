//! `[tsa]`, `[local_tsa]` and `[[tsa_providers]]`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::plugins::{empty_table, enabled_by_default};
use super::{Config, ConfigError, RedactedTable};

/// `[tsa]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TsaConfig {
    /// Deadline of one attempt at one TSA (the plugin call and the verification of its answer).
    #[serde(with = "humantime_serde")]
    pub attempt_timeout: Duration,
    /// Consecutive failures after which a provider is skipped (circuit open) while others can answer.
    pub circuit_failures: u32,
    /// How long an open circuit skips the provider before it is tried again.
    #[serde(with = "humantime_serde")]
    pub circuit_cooldown: Duration,
    /// Stamps per tenant per calendar month (UTC); 0 means unlimited.
    pub monthly_stamp_limit: u64,
    /// Qualified stamps per tenant per calendar month (UTC); 0 means unlimited.
    pub monthly_qualified_limit: u64,
    /// PEM bundle of root certificates that every remote provider's tokens may chain to (besides each
    /// provider's own `trust_roots_file`). The local TSA's roots anchor the local TSA only.
    pub trust_roots_file: Option<PathBuf>,
    /// Also trust the operating system's CA bundle for remote providers' tokens. Off by default: the OS
    /// bundle holds web PKI roots, most of which never issue time-stamping certificates.
    pub use_system_roots: bool,
    /// Accept SHA-1 message imprints and SignerInfo digests when verifying old tokens. Off by default.
    pub allow_sha1_verification: bool,
}

impl Default for TsaConfig {
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(10),
            circuit_failures: 3,
            circuit_cooldown: Duration::from_secs(30),
            monthly_stamp_limit: 0,
            monthly_qualified_limit: 5,
            trust_roots_file: None,
            use_system_roots: false,
            allow_sha1_verification: false,
        }
    }
}

/// Who may use `POST /tsr`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TsrAccess {
    /// Anyone who can reach the port (rate-limited per IP), like a public TSA.
    Open,
    /// Only requests with a tenant API key.
    ApiKey,
    /// Not served.
    Off,
}

/// `[local_tsa]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LocalTsaConfig {
    /// Whether Sigil acts as a TSA (provider slug `local`).
    pub enabled: bool,
    /// Display name (`tsaName` in responses).
    pub name: String,
    /// The KMS plugin instance that holds the key. `local-kms` is provided implicitly (kms-soft with its store
    /// in the data directory) unless a `[[plugins]]` entry of that name exists.
    pub kms: String,
    /// Label of the signing key in the KMS; created on first start if missing.
    pub key_label: String,
    /// `ecdsa-p256`, `rsa-2048`, `rsa-3072` or `rsa-4096`.
    pub algorithm: String,
    /// The TSA policy OID written into every token. The default is under the documentation arc of RFC 5612:
    /// use your own in production.
    pub policy_oid: String,
    /// The accuracy stated in tokens, in milliseconds (0 omits it).
    pub accuracy_ms: u32,
    /// Name the TSA (the certificate subject) in each token's `tsa` field.
    pub include_tsa_name: bool,
    /// A CA-issued certificate chain (PEM, TSA certificate first) for the key, replacing the generated local
    /// root and certificate. Its public key must be the KMS key's.
    pub certificate_file: Option<PathBuf>,
    /// Who may use `POST /tsr`: `open`, `api_key` or `off`.
    pub http: TsrAccess,
    /// The 32-byte key that encrypts the implicit `local-kms` keystore. It must not sit beside the keys it
    /// protects; see [`Config::local_keystore_key`] for where it is looked for when unset.
    pub keystore_key_file: Option<PathBuf>,
}

impl Default for LocalTsaConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            name: "Sigil local TSA".into(),
            kms: "local-kms".into(),
            key_label: "sigil-local-tsa".into(),
            algorithm: "ecdsa-p256".into(),
            policy_oid: "1.3.6.1.4.1.32473.1.1".into(),
            accuracy_ms: 1000,
            include_tsa_name: false,
            certificate_file: None,
            http: TsrAccess::Open,
            keystore_key_file: None,
        }
    }
}

/// Where the local keystore's key file is, and why there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeystoreKey {
    /// The file.
    pub path: PathBuf,
    /// How it was chosen.
    pub source: KeystoreKeySource,
}

/// How [`Config::local_keystore_key`] chose the key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeystoreKeySource {
    /// `[local_tsa] keystore_key_file`.
    Configured,
    /// The systemd credential `sigil-keystore-key`.
    Credential,
    /// A key file inside the data directory, beside the keys it protects (an earlier version's default).
    InsideDataDir,
    /// The default location outside the data directory, created on first start.
    Default,
}

/// `[[tsa_providers]]`: a remote TSA. `Debug` redacts secrets in `config` (see [`RedactedTable`]).
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TsaProviderConfig {
    /// Stable identifier used by clients (`tsaSlug`) and in the tenant allowlist.
    pub slug: String,
    /// Display name (`tsaName`).
    pub name: String,
    /// The TSA plugin: a file name in the plugin directory, or a first-party short name such as `tsa-http`
    /// (meaning `libsigil_tsa_http.so`).
    pub plugin: String,
    /// Whether it is active.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// An eIDAS qualified TSA: used for `qualified: true` stamps.
    #[serde(default)]
    pub qualified: bool,
    /// The policy OID tokens must carry (and that is requested), if any.
    pub policy_oid: Option<String>,
    /// Optional SHA-256 pin of the plugin file.
    pub sha256: Option<String>,
    /// PEM bundle of the roots this provider's tokens must chain to (with `[tsa] trust_roots_file` and, when
    /// enabled, the system roots). A token that chains to none of them is a failed attempt. A relative path
    /// is resolved against the directory of the file that declares the provider.
    pub trust_roots_file: Option<PathBuf>,
    /// Where the provider's plugin instance runs (see [`Isolation`]).
    #[serde(default)]
    pub isolation: Isolation,
    /// The plugin's config (for tsa-http: `url`, `hash`, `timeout_ms`, credentials).
    #[serde(default = "empty_table")]
    pub config: toml::Table,
}

/// Where a plugin instance's native code runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// Mapped into `sigild` itself: no overhead, but a native crash (abort, segfault) ends the daemon.
    #[default]
    InProcess,
    /// In a `sigild plugin-host` child process per instance: a crash costs only the calls in flight to it.
    Process,
}

impl Isolation {
    /// `in_process` or `process`.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::InProcess => "in_process",
            Isolation::Process => "process",
        }
    }
}

impl TsaProviderConfig {
    /// The plugin instance that backs this provider.
    pub fn instance_name(&self) -> String {
        format!("tsa-{}", self.slug)
    }

    /// The plugin file: a short name `tsa-http` becomes `libsigil_tsa_http.so`.
    pub fn plugin_file(&self) -> String {
        if self.plugin.ends_with(".so") {
            self.plugin.clone()
        } else {
            format!("libsigil_{}.so", self.plugin.replace('-', "_"))
        }
    }
}

impl std::fmt::Debug for TsaProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsaProviderConfig")
            .field("slug", &self.slug)
            .field("name", &self.name)
            .field("plugin", &self.plugin)
            .field("enabled", &self.enabled)
            .field("qualified", &self.qualified)
            .field("policy_oid", &self.policy_oid)
            .field("sha256", &self.sha256)
            .field("isolation", &self.isolation)
            .field("config", &RedactedTable(&self.config))
            .finish()
    }
}

impl Config {
    pub(super) fn validate_timestamping(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: String| Err(ConfigError::Invalid { key, reason });
        let is_oid = |text: &str| {
            let arcs: Vec<&str> = text.split('.').collect();
            arcs.len() >= 2
                && arcs
                    .iter()
                    .all(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
        };
        if !is_oid(&self.local_tsa.policy_oid) {
            return invalid(
                "local_tsa.policy_oid",
                format!("`{}` is not a dotted OID", self.local_tsa.policy_oid),
            );
        }
        if !["ecdsa-p256", "rsa-2048", "rsa-3072", "rsa-4096"]
            .contains(&self.local_tsa.algorithm.as_str())
        {
            return invalid(
                "local_tsa.algorithm",
                "must be ecdsa-p256, rsa-2048, rsa-3072 or rsa-4096".into(),
            );
        }
        if self.tsa.attempt_timeout.is_zero() || self.tsa.circuit_failures == 0 {
            return invalid(
                "tsa.attempt_timeout",
                "attempt_timeout and circuit_failures must be above zero".into(),
            );
        }
        let mut slugs = std::collections::HashSet::from(["local", "auto"]);
        for provider in &self.tsa_providers {
            let slug_ok = !provider.slug.is_empty()
                && provider.slug.len() <= 64
                && provider
                    .slug
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
            if !slug_ok {
                return invalid(
                    "tsa_providers.slug",
                    format!("`{}` must be 1 to 64 of [a-z0-9._-]", provider.slug),
                );
            }
            if !slugs.insert(provider.slug.as_str()) {
                return invalid(
                    "tsa_providers.slug",
                    format!("`{}` is reserved or declared twice", provider.slug),
                );
            }
            if let Some(policy) = &provider.policy_oid
                && !is_oid(policy)
            {
                return invalid(
                    "tsa_providers.policy_oid",
                    format!("`{policy}` is not a dotted OID"),
                );
            }
        }
        Ok(())
    }

    /// Where the implicit `local-kms` keystore's key file is, in this order: `[local_tsa] keystore_key_file`; the
    /// systemd credential `sigil-keystore-key` (`$CREDENTIALS_DIRECTORY`); a key file left inside the data
    /// directory by an earlier version (kept working, with a warning at every start); otherwise
    /// `keystore.key` in the second directory systemd passes in `$STATE_DIRECTORY` (`StateDirectory=sigil
    /// sigil-keys`), or else a file beside the data directory (`<data_dir>-keystore.key`), created on first
    /// start. Never inside the data directory for a new install: a backup or copy of the data must not carry
    /// the key that decrypts the keys in it.
    pub fn local_keystore_key(&self) -> KeystoreKey {
        if let Some(path) = &self.local_tsa.keystore_key_file {
            return KeystoreKey {
                path: path.clone(),
                source: KeystoreKeySource::Configured,
            };
        }
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
            let path = PathBuf::from(dir).join("sigil-keystore-key");
            if path.is_file() {
                return KeystoreKey {
                    path,
                    source: KeystoreKeySource::Credential,
                };
            }
        }
        let data_dir = self.data_dir();
        let legacy = data_dir.join("keystore.key");
        if legacy.exists() {
            return KeystoreKey {
                path: legacy,
                source: KeystoreKeySource::InsideDataDir,
            };
        }
        let second_state_dir = std::env::var_os("STATE_DIRECTORY").and_then(|dirs| {
            let dirs = dirs.to_string_lossy().into_owned();
            dirs.split(':')
                .nth(1)
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
        });
        let path = match second_state_dir {
            Some(dir) if self.server.data_dir.is_none() => dir.join("keystore.key"),
            _ => {
                let name = data_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "sigil-data".into());
                data_dir.with_file_name(format!("{name}-keystore.key"))
            }
        };
        KeystoreKey {
            path,
            source: KeystoreKeySource::Default,
        }
    }
}
