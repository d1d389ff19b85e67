//! The daemon's configuration: the TOML schema with its defaults, loading with precise errors, environment and
//! command-line overrides, and validation. Only this module knows the config file syntax.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Everything `sigild.toml` can say. Every field has a default, so an empty file (or none) is a valid config.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The HTTP front.
    pub server: ServerConfig,
    /// Where data lives.
    pub storage: StorageConfig,
    /// Accounts, sessions and API keys.
    pub auth: AuthConfig,
    /// Request rate limits.
    pub limits: LimitsConfig,
    /// Logging.
    pub log: LogConfig,
    /// Per-tenant actors.
    pub tenants: TenantsConfig,
    /// The plugin host.
    pub plugin_host: PluginHostConfig,
    /// Plugin instances: each names a plugin file and gives it a config.
    pub plugins: Vec<PluginInstanceConfig>,
    /// Other files whose `[[tsa_providers]]` and `[[plugins]]` entries are added to this file's (paths relative
    /// to this file), e.g. the shipped `providers.toml`.
    pub include: Vec<PathBuf>,
    /// Timestamping: failover, circuit breaking, quotas and trust.
    pub tsa: TsaConfig,
    /// Sigil's own TSA.
    pub local_tsa: LocalTsaConfig,
    /// Remote TSAs, each backed by a TSA plugin.
    pub tsa_providers: Vec<TsaProviderConfig>,
    /// Fault injection for the test suite; never enable in production.
    pub testing: TestingConfig,
}

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

/// Only the entries an included file may contribute.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct IncludedEntries {
    plugins: Vec<PluginInstanceConfig>,
    tsa_providers: Vec<TsaProviderConfig>,
}

/// `[plugin_host]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PluginHostConfig {
    /// Directory plugins are loaded from, and only from. Unset: the directory of the `sigild` binary, so a plain
    /// `cargo build --workspace` needs no config.
    pub dir: Option<PathBuf>,
    /// Watch the plugin directory and the config file, and hot-reload what changed.
    pub watch: bool,
    /// Quiet period after a file change before reloading, so a file being copied is read once, complete.
    #[serde(with = "humantime_serde")]
    pub debounce: Duration,
    /// Deadline of one plugin call.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Most calls in flight per instance (the plugin's own bound applies too, whichever is lower).
    pub max_in_flight: u32,
    /// How often each instance's health hook runs.
    #[serde(with = "humantime_serde")]
    pub health_interval: Duration,
}

impl Default for PluginHostConfig {
    fn default() -> Self {
        Self {
            dir: None,
            watch: true,
            debounce: Duration::from_millis(300),
            call_timeout: Duration::from_secs(15),
            max_in_flight: 32,
            health_interval: Duration::from_secs(30),
        }
    }
}

/// `[[plugins]]`: one plugin instance. `Debug` redacts secrets in `config` (see [`RedactedTable`]).
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginInstanceConfig {
    /// Instance name, unique: how the rest of the config refers to this instance.
    pub name: String,
    /// File name inside the plugin directory, e.g. `libsigil_tsa_http.so`.
    pub file: String,
    /// Optional pin: the file's SHA-256 (hex). A file that does not match is refused.
    pub sha256: Option<String>,
    /// Whether to load it.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Where the instance runs: `in_process` (the default) or `process` (a child process; see [`Isolation`]).
    #[serde(default)]
    pub isolation: Isolation,
    /// The plugin's own configuration, passed to it as JSON.
    #[serde(default = "empty_table")]
    pub config: toml::Table,
}

fn enabled_by_default() -> bool {
    true
}

fn empty_table() -> toml::Table {
    toml::Table::new()
}

/// `[server]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory for the embedded store and generated state. Empty means `$STATE_DIRECTORY` or `./sigil-data`.
    pub data_dir: Option<PathBuf>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// A request taking longer than this is answered with 503 and abandoned.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// On SIGTERM, how long in-flight requests may take to finish before the daemon exits anyway.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Trust `X-Forwarded-For` for the client IP (only behind a reverse proxy you control). The client is the
    /// rightmost entry that is not in `trusted_proxies`, never the leftmost (which any client can write).
    pub trust_forwarded_for: bool,
    /// Networks (CIDRs) of your reverse proxies, skipped from the right of `X-Forwarded-For`.
    pub trusted_proxies: Vec<String>,
    /// A connection must deliver a request's complete headers within this time after it starts waiting for
    /// them (a new connection, or a kept-alive one after its previous response); else it is closed.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A connection on which nothing is read or written for this long, while no request of it is being worked
    /// on, is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Most open client connections; one more is answered 503 and closed.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            data_dir: None,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(20),
            trust_forwarded_for: false,
            trusted_proxies: Vec::new(),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `surrealkv://<dir>` (embedded, durable), `mem://` (throwaway), or `ws://host:port` / `wss://host:port`
    /// for a remote SurrealDB. Empty means `surrealkv://<data_dir>/store`.
    pub url: Option<String>,
    /// SurrealDB namespace.
    pub namespace: String,
    /// SurrealDB database.
    pub database: String,
    /// Remote only: user name for a root/namespace/database user.
    pub username: Option<String>,
    /// Remote only: a file holding the password (e.g. a systemd credential). Never inline the password.
    pub password_file: Option<PathBuf>,
    /// Embedded only: block cache of the SurrealKV engine, in MiB.
    pub cache_mib: u64,
    /// Embedded only: memtable size of the SurrealKV engine, in MiB.
    pub memtable_mib: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: None,
            namespace: "sigil".into(),
            database: "sigil".into(),
            username: None,
            password_file: None,
            cache_mib: 64,
            memtable_mib: 64,
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of a session JWT.
    #[serde(with = "humantime_serde")]
    pub jwt_ttl: Duration,
    /// Argon2id memory cost in KiB (OWASP minimum: 19456).
    pub argon2_memory_kib: u32,
    /// Argon2id iterations.
    pub argon2_iterations: u32,
    /// Whether anyone may call `POST /auth/register`. Turn off once your users exist.
    pub allow_registration: bool,
    /// Absolute lifetime of a session, counted from login: `/auth/refresh` never extends a session past it.
    #[serde(with = "humantime_serde")]
    pub max_session: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_ttl: Duration::from_secs(15 * 60),
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            allow_registration: true,
            max_session: Duration::from_secs(12 * 3600),
        }
    }
}

/// `[limits]`: requests per minute. The defaults are the published numbers of the Sigilum API.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Requests per minute per API key.
    pub api_key_per_minute: u32,
    /// Requests per minute per signed-in session (JWT).
    pub session_per_minute: u32,
    /// Requests per minute to verification endpoints, per caller.
    pub verification_per_minute: u32,
    /// Requests per minute per client IP to routes that need no credentials (login, register, public lookups).
    pub unauthenticated_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            api_key_per_minute: 1000,
            session_per_minute: 100,
            verification_per_minute: 2000,
            unauthenticated_per_minute: 100,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `auto` (human on a terminal, JSON otherwise), `human` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `sigild=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Auto,
            level: "info".into(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable when stderr is a terminal, JSON otherwise.
    Auto,
    /// Always human-readable.
    Human,
    /// Always one JSON object per line.
    Json,
}

/// `[tenants]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TenantsConfig {
    /// A tenant actor with no traffic for this long is stopped; the next request starts it again.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// How long a tenant actor trusts its cached settings and memberships before reading the store again.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
}

impl Default for TenantsConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(600),
            cache_ttl: Duration::from_secs(5),
        }
    }
}

/// `[testing]`
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TestingConfig {
    /// Enables `POST /_test/panic`, which panics in a handler or in the caller's tenant actor.
    pub fault_injection: bool,
}

/// Why a configuration was refused. The message names the file, key and line where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("invalid config value `{key}`: {reason}")]
    Invalid {
        /// The dotted key.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// A value of a `[[plugins]]` or `[[tsa_providers]]` entry is not acceptable, and the line that sets it was
    /// found.
    #[error("invalid config value `{key}` at {path} line {line}: {reason}")]
    InvalidAt {
        /// The dotted key.
        key: &'static str,
        /// Why.
        reason: String,
        /// The file that sets it.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
    },
    /// Plugin files the config names are not in the plugin directory (one message per file, naming the key and,
    /// where found, the line). Only `sigild check-config` reports this: the daemon itself starts without them
    /// and logs each failed load.
    #[error("{}", .0.join("\nsigild: "))]
    MissingPluginFiles(Vec<String>),
}

impl ConfigError {
    /// Adds the file and line to an [`ConfigError::Invalid`] about an entry of `[[plugins]]` or
    /// `[[tsa_providers]]`, when the offending value (the first one quoted in the reason) is set on a line of
    /// one of `sources` (file, text).
    fn located(self, sources: &[(PathBuf, String)]) -> Self {
        let ConfigError::Invalid { key, reason } = self else {
            return self;
        };
        let value = reason.split('`').nth(1).map(str::to_string);
        let leaf = key.rsplit('.').next().unwrap_or(key);
        let entry_key = key.starts_with("plugins.") || key.starts_with("tsa_providers.");
        match value
            .filter(|_| entry_key)
            .and_then(|v| locate(sources, leaf, &v))
        {
            Some((path, line)) => ConfigError::InvalidAt {
                key,
                reason,
                path,
                line,
            },
            None => ConfigError::Invalid { key, reason },
        }
    }
}

/// The config file and the files it includes, with their text, for pointing at lines. Unreadable files are
/// left out.
pub fn source_files(path: Option<&Path>, config: &Config) -> Vec<(PathBuf, String)> {
    let Some(path) = path else {
        return Vec::new();
    };
    let base = path.parent().unwrap_or(Path::new("."));
    std::iter::once(path.to_path_buf())
        .chain(config.include.iter().map(|include| base.join(include)))
        .filter_map(|file| std::fs::read_to_string(&file).ok().map(|text| (file, text)))
        .collect()
}

/// The file and line (from 1) where `key = "value"` (or `'value'`) is written, if anywhere in `sources`.
pub fn locate(sources: &[(PathBuf, String)], key: &str, value: &str) -> Option<(PathBuf, usize)> {
    for (path, text) in sources {
        for (index, line) in text.lines().enumerate() {
            let Some(rest) = line.trim_start().strip_prefix(key) else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix('=') else {
                continue;
            };
            let rest = rest.trim_start();
            if rest.starts_with(&format!("\"{value}\"")) || rest.starts_with(&format!("'{value}'"))
            {
                return Some((path.clone(), index + 1));
            }
        }
    }
    None
}

/// Overrides from the command line and the environment, applied over the file in that order of precedence.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen` / `SIGIL_LISTEN`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir` / `SIGIL_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Parses TOML text. `origin` names the file in error messages.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        toml::from_str::<Config>(text).map_err(|error| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: describe_toml_error(text, &error),
        })
    }

    /// Reads and parses a config file, applies overrides, and validates the result.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let mut config = Self::from_toml(&text, path)?;
                let dir = path.parent().unwrap_or(Path::new("."));
                for provider in &mut config.tsa_providers {
                    provider.trust_roots_file =
                        provider.trust_roots_file.take().map(|file| dir.join(file));
                }
                config.merge_includes(path)?;
                config
            }
            None => Config::default(),
        };
        if let Some(listen) = overrides.listen {
            config.server.listen = listen;
        }
        if let Some(dir) = &overrides.data_dir {
            config.server.data_dir = Some(dir.clone());
        }
        config
            .validate()
            .map_err(|error| error.located(&source_files(path, &config)))?;
        Ok(config)
    }

    /// The enabled plugin entries whose file is not in the plugin directory, each as one message naming the
    /// key, the value and, where found in `sources` (see [`source_files`]), the file and line. The daemon starts
    /// without such instances; `sigild check-config` reports them.
    pub fn missing_plugin_files(&self, sources: &[(PathBuf, String)]) -> Vec<String> {
        let dir = self.plugin_dir();
        let mut missing = Vec::new();
        // `value` is what the key says (to find its line), `file` what it maps to, `what` the sentence's subject.
        let mut check = |key: &str, value: &str, file: &str, what: String| {
            if dir.join(file).is_file() {
                return;
            }
            let leaf = key.rsplit('.').next().unwrap_or(key);
            let at = locate(sources, leaf, value)
                .map(|(path, line)| format!(" at {} line {line}", path.display()))
                .unwrap_or_default();
            missing.push(format!(
                "invalid config value `{key}`{at}: {what} is not in the plugin directory {}",
                dir.display()
            ));
        };
        for plugin in self.plugins.iter().filter(|p| p.enabled) {
            check(
                "plugins.file",
                &plugin.file,
                &plugin.file,
                format!("instance `{}`: file `{}`", plugin.name, plugin.file),
            );
        }
        for provider in self.tsa_providers.iter().filter(|p| p.enabled) {
            let file = provider.plugin_file();
            let what = if file == provider.plugin {
                format!("provider `{}`: file `{file}`", provider.slug)
            } else {
                format!(
                    "provider `{}`: plugin `{}` means file `{file}`, which",
                    provider.slug, provider.plugin
                )
            };
            check("tsa_providers.plugin", &provider.plugin, &file, what);
        }
        if self.local_tsa.enabled && !self.plugins.iter().any(|p| p.name == self.local_tsa.kms) {
            check(
                "local_tsa.kms",
                &self.local_tsa.kms,
                "libsigil_kms_soft.so",
                format!(
                    "the local TSA's implicit KMS instance `{}` needs file `libsigil_kms_soft.so`, which",
                    self.local_tsa.kms
                ),
            );
        }
        missing
    }

    fn merge_includes(&mut self, origin: &Path) -> Result<(), ConfigError> {
        let base = origin.parent().unwrap_or(Path::new("."));
        for include in self.include.clone() {
            let path = base.join(&include);
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let entries: IncludedEntries =
                toml::from_str(&text).map_err(|error| ConfigError::Parse {
                    path: path.clone(),
                    message: describe_toml_error(&text, &error),
                })?;
            self.plugins.extend(entries.plugins);
            let include_dir = path.parent().unwrap_or(Path::new("."));
            self.tsa_providers
                .extend(entries.tsa_providers.into_iter().map(|mut provider| {
                    provider.trust_roots_file =
                        provider.trust_roots_file.map(|file| include_dir.join(file));
                    provider
                }));
        }
        Ok(())
    }

    /// The plugin instances to run: the declared ones, one per enabled TSA provider, and the local TSA's KMS
    /// (`local-kms`, kms-soft in the data directory) unless declared.
    pub fn effective_plugins(&self) -> Vec<PluginInstanceConfig> {
        let mut plugins = self.plugins.clone();
        for provider in self.tsa_providers.iter().filter(|p| p.enabled) {
            let mut config = provider.config.clone();
            config.insert("slug".into(), toml::Value::String(provider.slug.clone()));
            config.insert("name".into(), toml::Value::String(provider.name.clone()));
            config.insert("qualified".into(), toml::Value::Boolean(provider.qualified));
            if let Some(policy) = &provider.policy_oid {
                config.insert("policy_oid".into(), toml::Value::String(policy.clone()));
            }
            plugins.push(PluginInstanceConfig {
                name: provider.instance_name(),
                file: provider.plugin_file(),
                sha256: provider.sha256.clone(),
                enabled: true,
                isolation: provider.isolation,
                config,
            });
        }
        if self.local_tsa.enabled && !plugins.iter().any(|p| p.name == self.local_tsa.kms) {
            let mut config = toml::Table::new();
            let keystore = self.data_dir().join("keystore");
            config.insert(
                "dir".into(),
                toml::Value::String(keystore.display().to_string()),
            );
            let key_file = self.local_keystore_key().path;
            config.insert(
                "key_file".into(),
                toml::Value::String(key_file.display().to_string()),
            );
            plugins.push(PluginInstanceConfig {
                name: self.local_tsa.kms.clone(),
                file: "libsigil_kms_soft.so".into(),
                sha256: None,
                enabled: true,
                isolation: Isolation::InProcess,
                config,
            });
        }
        plugins
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_string(),
            })
        };
        for proxy in &self.server.trusted_proxies {
            proxy
                .parse::<sigil_netpolicy::Cidr>()
                .map_err(|reason| ConfigError::Invalid {
                    key: "server.trusted_proxies",
                    reason,
                })?;
        }
        if self.server.max_body_bytes < 1024 {
            return invalid("server.max_body_bytes", "must be at least 1024");
        }
        if self.server.request_timeout.is_zero() {
            return invalid("server.request_timeout", "must be greater than zero");
        }
        if self.server.header_read_timeout.is_zero() {
            return invalid("server.header_read_timeout", "must be greater than zero");
        }
        if self.server.idle_timeout.is_zero() {
            return invalid("server.idle_timeout", "must be greater than zero");
        }
        if self.server.max_connections == 0 {
            return invalid("server.max_connections", "must be at least 1");
        }
        if let Some(url) = &self.storage.url {
            StoreUrl::parse(url).map_err(|reason| ConfigError::Invalid {
                key: "storage.url",
                reason,
            })?;
        }
        if self.storage.namespace.is_empty() || self.storage.database.is_empty() {
            return invalid(
                "storage.namespace",
                "namespace and database must not be empty",
            );
        }
        if self.storage.cache_mib == 0 || self.storage.memtable_mib == 0 {
            return invalid(
                "storage.cache_mib",
                "cache_mib and memtable_mib must be at least 1",
            );
        }
        if self.auth.jwt_ttl < Duration::from_secs(30)
            || self.auth.jwt_ttl > Duration::from_secs(24 * 3600)
        {
            return invalid("auth.jwt_ttl", "must be between 30s and 24h");
        }
        if self.auth.max_session < self.auth.jwt_ttl
            || self.auth.max_session > Duration::from_secs(30 * 24 * 3600)
        {
            return invalid(
                "auth.max_session",
                "must be between auth.jwt_ttl and 30 days",
            );
        }
        if self.auth.argon2_memory_kib < 8 * 1024 {
            return invalid("auth.argon2_memory_kib", "must be at least 8192 (8 MiB)");
        }
        if self.auth.argon2_iterations == 0 {
            return invalid("auth.argon2_iterations", "must be at least 1");
        }
        let limits = [
            ("limits.api_key_per_minute", self.limits.api_key_per_minute),
            ("limits.session_per_minute", self.limits.session_per_minute),
            (
                "limits.verification_per_minute",
                self.limits.verification_per_minute,
            ),
            (
                "limits.unauthenticated_per_minute",
                self.limits.unauthenticated_per_minute,
            ),
        ];
        for (key, value) in limits {
            if value == 0 {
                return invalid(key, "must be at least 1 request per minute");
            }
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return invalid(
                "log.level",
                "is not a valid tracing filter (try `info` or `sigild=debug,info`)",
            );
        }
        self.validate_plugins()?;
        self.validate_timestamping()?;
        if self.tenants.idle_timeout < Duration::from_secs(1) {
            return invalid("tenants.idle_timeout", "must be at least 1s");
        }
        Ok(())
    }

    fn validate_plugins(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: String| Err(ConfigError::Invalid { key, reason });
        if self.plugin_host.call_timeout.is_zero() || self.plugin_host.max_in_flight == 0 {
            return invalid(
                "plugin_host.call_timeout",
                "call_timeout and max_in_flight must be above zero".into(),
            );
        }
        // Checked before the entries derived from it, so that the message names the key the operator wrote.
        for provider in &self.tsa_providers {
            let plugin = &provider.plugin;
            if plugin.is_empty()
                || Path::new(plugin).components().count() != 1
                || plugin.starts_with('.')
            {
                return invalid(
                    "tsa_providers.plugin",
                    format!(
                        "`{plugin}` must be a first-party short name such as `tsa-http` or a file name inside plugin_host.dir"
                    ),
                );
            }
        }
        let mut names = std::collections::HashSet::new();
        for plugin in &self.effective_plugins() {
            let name_ok = !plugin.name.is_empty()
                && plugin.name.len() <= 64
                && plugin
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
            if !name_ok {
                return invalid(
                    "plugins.name",
                    format!("`{}` must be 1 to 64 of [A-Za-z0-9._-]", plugin.name),
                );
            }
            if !names.insert(plugin.name.as_str()) {
                return invalid(
                    "plugins.name",
                    format!("`{}` is declared twice", plugin.name),
                );
            }
            // A bare file name keeps loading confined to the plugin directory.
            let file = Path::new(&plugin.file);
            if plugin.file.is_empty()
                || file.components().count() != 1
                || plugin.file.starts_with('.')
            {
                return invalid(
                    "plugins.file",
                    format!(
                        "`{}` must be a file name inside plugin_host.dir",
                        plugin.file
                    ),
                );
            }
            if let Some(pin) = &plugin.sha256
                && (pin.len() != 64 || !pin.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return invalid(
                    "plugins.sha256",
                    format!("pin of `{}` must be 64 hex characters", plugin.name),
                );
            }
        }
        Ok(())
    }

    fn validate_timestamping(&self) -> Result<(), ConfigError> {
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

    /// The plugin directory: configured, else the directory of the running binary.
    pub fn plugin_dir(&self) -> PathBuf {
        if let Some(dir) = &self.plugin_host.dir {
            return dir.clone();
        }
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."))
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

    /// The data directory: configured, else `$STATE_DIRECTORY` (set by systemd), else `./sigil-data`.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.server.data_dir {
            return dir.clone();
        }
        match std::env::var_os("STATE_DIRECTORY") {
            // systemd may pass several colon-separated directories; the first is ours.
            Some(dirs) if !dirs.is_empty() => {
                let dirs = dirs.to_string_lossy().into_owned();
                PathBuf::from(dirs.split(':').next().unwrap_or_default())
            }
            _ => PathBuf::from("sigil-data"),
        }
    }

    /// The store to open, with the embedded default resolved against the data directory.
    pub fn store_url(&self) -> StoreUrl {
        match &self.storage.url {
            // Validated at load time, so a parse failure here is impossible; fall back to the default anyway.
            Some(url) => StoreUrl::parse(url)
                .unwrap_or_else(|_| StoreUrl::SurrealKv(self.data_dir().join("store"))),
            None => StoreUrl::SurrealKv(self.data_dir().join("store")),
        }
    }
}

/// A parsed `storage.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// Embedded, durable, in this directory.
    SurrealKv(PathBuf),
    /// Embedded, in memory, lost at exit.
    Memory,
    /// A remote SurrealDB server or cluster (`ws://` or `wss://`).
    Remote(String),
}

impl StoreUrl {
    /// Parses a storage URL, explaining what is accepted when it is not.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("surrealkv://") {
            if path.is_empty() {
                return Err(
                    "surrealkv:// needs a directory, e.g. surrealkv:///var/lib/sigil/store".into(),
                );
            }
            return Ok(StoreUrl::SurrealKv(PathBuf::from(path)));
        }
        if url == "mem://" || url == "memory" {
            return Ok(StoreUrl::Memory);
        }
        for scheme in ["ws://", "wss://"] {
            if let Some(rest) = url.strip_prefix(scheme) {
                if rest.is_empty() || rest.contains('@') {
                    return Err(format!(
                        "{scheme} needs host:port and no inline credentials (use storage.username and storage.password_file)"
                    ));
                }
                return Ok(StoreUrl::Remote(url.to_string()));
            }
        }
        Err(format!(
            "unsupported storage url `{url}`: expected surrealkv://<dir>, mem://, ws://host:port or wss://host:port"
        ))
    }

    /// A description safe for logs (remote URLs never carry credentials; see `parse`).
    pub fn describe(&self) -> String {
        match self {
            StoreUrl::SurrealKv(dir) => format!("surrealkv://{}", dir.display()),
            StoreUrl::Memory => "mem://".into(),
            StoreUrl::Remote(url) => url.clone(),
        }
    }
}

/// A plugin's config table for `Debug`: values of keys that hold secrets (inline passwords, PINs, HMAC
/// secrets, passphrases, authorization values) print as `<redacted>`, at any depth; references to secrets
/// (`*_file`, `*_env`) and everything else print as they are.
pub struct RedactedTable<'a>(pub &'a toml::Table);

impl RedactedTable<'_> {
    fn is_secret(key: &str) -> bool {
        let key = key.to_ascii_lowercase();
        if key.ends_with("_file") || key.ends_with("_env") {
            return false;
        }
        key == "pin"
            || [
                "password",
                "secret",
                "passphrase",
                "authorization",
                "api_key",
                "private_key",
            ]
            .iter()
            .any(|word| key.contains(word))
    }
}

impl std::fmt::Debug for RedactedTable<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in self.0 {
            if Self::is_secret(key) {
                map.entry(key, &format_args!("<redacted>"));
            } else if let toml::Value::Table(table) = value {
                map.entry(key, &RedactedTable(table));
            } else {
                map.entry(key, value);
            }
        }
        map.finish()
    }
}

impl std::fmt::Debug for PluginInstanceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginInstanceConfig")
            .field("name", &self.name)
            .field("file", &self.file)
            .field("sha256", &self.sha256)
            .field("enabled", &self.enabled)
            .field("isolation", &self.isolation)
            .field("config", &RedactedTable(&self.config))
            .finish()
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

/// Turns a toml error into one line that names the key and the line, e.g.
/// "unknown field `listn`, expected one of ... (line 3, column 1)".
fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().to_string();
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let column = span.start
                - text[..span.start.min(text.len())]
                    .rfind('\n')
                    .map_or(0, |i| i + 1)
                + 1;
            let snippet = text
                .get(span.clone())
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("");
            format!("{message} at line {line}, column {column} (`{snippet}`)")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        let config = Config::from_toml(text, Path::new("test.toml")).map_err(|e| e.to_string())?;
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn shipped_config_is_the_default() {
        let text = include_str!("../../config/sigild.toml");
        assert_eq!(
            parse(text).unwrap(),
            Config::default(),
            "config/sigild.toml must show every default"
        );
    }

    #[test]
    fn isolation_defaults_to_in_process_and_reaches_provider_instances() {
        let config = parse(
            r#"
            [[plugins]]
            name = "vendor"
            file = "libvendor.so"
            isolation = "process"

            [[plugins]]
            name = "plain"
            file = "libplain.so"

            [[tsa_providers]]
            slug = "remote"
            name = "Remote"
            plugin = "tsa-http"
            isolation = "process"
            "#,
        )
        .unwrap();
        let isolation = |name: &str| {
            config
                .effective_plugins()
                .into_iter()
                .find(|p| p.name == name)
                .map(|p| p.isolation)
        };
        assert_eq!(isolation("vendor"), Some(Isolation::Process));
        assert_eq!(isolation("plain"), Some(Isolation::InProcess));
        assert_eq!(isolation("tsa-remote"), Some(Isolation::Process));
        assert_eq!(isolation("local-kms"), Some(Isolation::InProcess));
        assert!(
            parse("[[plugins]]\nname = \"x\"\nfile = \"x.so\"\nisolation = \"sandbox\"\n")
                .unwrap_err()
                .to_string()
                .contains("`in_process`")
        );
    }

    #[test]
    fn errors_name_key_and_line() {
        let cases: &[(&str, &str)] = &[
            ("[server]\nlistn = \"1.2.3.4:5\"\n", "unknown field `listn`"),
            ("[server]\nlistn = \"1.2.3.4:5\"\n", "line 2"),
            ("[nope]\n", "unknown field `nope`"),
            ("[server]\nlisten = \"not an address\"\n", "line 2"),
            ("[server]\nrequest_timeout = \"soon\"\n", "line 2"),
            (
                "[limits]\nsession_per_minute = 0\n",
                "limits.session_per_minute",
            ),
            (
                "[storage]\nurl = \"postgres://x\"\n",
                "unsupported storage url",
            ),
            (
                "[storage]\nurl = \"ws://user:pw@host:8000\"\n",
                "no inline credentials",
            ),
            ("[auth]\njwt_ttl = \"1s\"\n", "auth.jwt_ttl"),
            ("[log]\nformat = \"xml\"\n", "line 2"),
            ("[server\n", "line 1"),
        ];
        for (text, expected) in cases {
            let error = parse(text).expect_err(text);
            assert!(
                error.contains(expected),
                "{text:?}: `{error}` should contain `{expected}`"
            );
        }
    }

    #[test]
    fn shipped_providers_can_be_included_and_are_disabled() {
        let providers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/providers.toml");
        let dir = std::env::temp_dir().join(format!("sigil-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let main = dir.join("sigild.toml");
        std::fs::write(
            &main,
            format!("include = [{:?}]\n", providers.display().to_string()),
        )
        .unwrap();
        let config = Config::load(Some(&main), &Overrides::default()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let slugs: Vec<&str> = config
            .tsa_providers
            .iter()
            .map(|p| p.slug.as_str())
            .collect();
        for expected in [
            "digicert",
            "sectigo",
            "globalsign",
            "swisssign",
            "rfc3161.ai.moda",
            "skid-ecc",
            "skid-rsa",
        ] {
            assert!(
                slugs.contains(&expected),
                "{expected} missing from {slugs:?}"
            );
        }
        assert!(
            config
                .tsa_providers
                .iter()
                .all(|p| !p.enabled && p.plugin_file() == "libsigil_tsa_http.so")
        );
        // Disabled providers get no plugin instance; the local TSA's KMS is implicit.
        let names: Vec<String> = config
            .effective_plugins()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["local-kms"]);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let text = r#"
            [storage]
            username = "sigil"
            password_file = "/run/credentials/surrealdb-password"

            [[plugins]]
            name = "hsm"
            file = "libsigil_kms_pkcs11.so"
            [plugins.config]
            token_label = "sigil"
            pin = "pin-7391"

            [[plugins]]
            name = "push"
            file = "libsigil_push_webhook.so"
            [plugins.config]
            secret = "webhook-secret-5521"
            secret_file = "/etc/sigil/webhook.key"
            [plugins.config.nested]
            password = "nested-password-1"

            [[tsa_providers]]
            slug = "acme"
            name = "Acme TSA"
            plugin = "tsa-http"
            [tsa_providers.config]
            url = "https://tsa.example"
            username = "alice"
            password = "tsa-password-8812"
        "#;
        let config = parse(text).unwrap();
        let shown = format!("{config:?}");
        for secret in [
            "pin-7391",
            "webhook-secret-5521",
            "nested-password-1",
            "tsa-password-8812",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        for visible in [
            "token_label",
            "/etc/sigil/webhook.key",
            "alice",
            "https://tsa.example",
            "/run/credentials/surrealdb-password",
            "<redacted>",
        ] {
            assert!(shown.contains(visible), "{visible} missing from {shown}");
        }
    }

    #[test]
    fn entry_errors_carry_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sigild.toml");
        std::fs::write(
            &path,
            "[local_tsa]\nenabled = false\n\n[[tsa_providers]]\nslug = \"acme\"\nname = \"Acme\"\nplugin = '../x'\n",
        )
        .unwrap();
        let error = Config::load(Some(&path), &Overrides::default()).unwrap_err();
        let ConfigError::InvalidAt { key, line, .. } = &error else {
            panic!("{error}");
        };
        assert_eq!((*key, *line), ("tsa_providers.plugin", 7), "{error}");
        // A key outside the entries keeps the plain form.
        let sources = vec![(path.clone(), "x = \"`y`\"\n".to_string())];
        let plain = ConfigError::Invalid {
            key: "server.max_body_bytes",
            reason: "`x` is wrong".into(),
        }
        .located(&sources);
        assert!(matches!(plain, ConfigError::Invalid { .. }));
        assert_eq!(locate(&sources, "x", "`y`").map(|(_, line)| line), Some(1));
    }

    #[test]
    fn missing_plugin_files_name_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[plugin_host]\ndir = {:?}\n\n[[plugins]]\nname = \"a\"\nfile = \"liba.so\"\n\n[[plugins]]\nname = \"off\"\nfile = \"liboff.so\"\nenabled = false\n",
            dir.path().display().to_string()
        );
        let path = dir.path().join("sigild.toml");
        std::fs::write(&path, &text).unwrap();
        let config = Config::load(Some(&path), &Overrides::default()).unwrap();
        let missing = config.missing_plugin_files(&source_files(Some(&path), &config));
        // liba.so and the implicit local KMS; the disabled entry is not loaded, so not checked.
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(missing[0].contains("`plugins.file`") && missing[0].contains("line 6"));
        assert!(missing[1].contains("`local_tsa.kms`"));
        std::fs::write(dir.path().join("liba.so"), b"").unwrap();
        std::fs::write(dir.path().join("libsigil_kms_soft.so"), b"").unwrap();
        assert!(config.missing_plugin_files(&[]).is_empty());
    }

    #[test]
    fn store_urls() {
        assert_eq!(StoreUrl::parse("mem://").unwrap(), StoreUrl::Memory);
        assert_eq!(
            StoreUrl::parse("surrealkv:///tmp/x").unwrap(),
            StoreUrl::SurrealKv("/tmp/x".into())
        );
        assert_eq!(
            StoreUrl::parse("ws://db:8000").unwrap(),
            StoreUrl::Remote("ws://db:8000".into())
        );
        assert!(StoreUrl::parse("surrealkv://").is_err());
        assert!(StoreUrl::parse("rocksdb://x").is_err());
    }

    #[test]
    fn overrides_win() {
        let overrides = Overrides {
            listen: Some("127.0.0.1:9".parse().unwrap()),
            data_dir: Some(PathBuf::from("/tmp/d")),
        };
        let config = Config::load(None, &overrides).unwrap();
        assert_eq!(config.server.listen.port(), 9);
        assert_eq!(
            config.store_url(),
            StoreUrl::SurrealKv("/tmp/d/store".into())
        );
    }
}
