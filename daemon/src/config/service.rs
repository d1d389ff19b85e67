//! `[server]`, `[storage]`, `[auth]`, `[limits]`, `[log]`, `[tenants]` and `[testing]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::Config;

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
    /// The 32-byte key that encrypts secrets kept in the store (webhook endpoint secrets). Unset:
    /// `secrets.key` in the data directory, created at first start with mode 0600. Refused when group or
    /// others can access it. Nodes sharing a remote store must share this file.
    pub secrets_key_file: Option<PathBuf>,
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
            secrets_key_file: None,
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
    /// Destroys revoked seal keys this many seconds after revocation instead of 7 days, with the deletion job
    /// running every second, so the suite can watch a key really disappear. Never set in production.
    pub seal_key_grace_secs: Option<u64>,
    /// The length, in milliseconds, of one "minute" of the webhook retry schedule (5, 60, 120, 240, 480 minutes,
    /// then doubling, within 24 h of the event), so the suite can watch retries happen. Never set in production.
    pub webhook_retry_unit_ms: Option<u64>,
    /// The lifetime of a Sigil Auth challenge in seconds instead of 5 minutes, so the suite can watch one
    /// expire (across a restart, too). Never set in production.
    pub challenge_ttl_secs: Option<u64>,
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

impl Config {
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
