//! The daemon's configuration: the TOML schema with its defaults, loading with precise errors, environment and
//! command-line overrides, and validation. Only this module knows the config file syntax. One file per group
//! of sections: `tsa.rs` (`[tsa]`, `[local_tsa]`, `[[tsa_providers]]`), `seal.rs` (`[seal]`), `webhooks.rs` (`[webhooks]`), `plugins.rs` (`[plugin_host]`,
//! `[[plugins]]`, includes, redaction), `service.rs` (`[server]`, `[storage]`, `[auth]`, `[limits]`, `[log]`,
//! `[tenants]`, `[testing]`), `errors.rs` (errors that point at a file and line). Which plugin instances exist
//! follows from a config but is decided in `crate::wiring`, not here.

mod approvals;
mod errors;
mod plugins;
mod seal;
mod service;
#[cfg(test)]
mod tests;
mod tsa;
mod webhooks;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use errors::describe_toml_error;

pub use approvals::{ApprovalsConfig, public_base};
pub use errors::{ConfigError, locate, source_files};
pub use plugins::{PluginHostConfig, PluginInstanceConfig, RedactedTable};
pub use seal::SealConfig;
pub use service::{
    AuthConfig, LimitsConfig, LogConfig, LogFormat, ServerConfig, StorageConfig, StoreUrl,
    TenantsConfig, TestingConfig,
};
pub use tsa::{
    Isolation, KeystoreKey, KeystoreKeySource, LocalTsaConfig, TsaConfig, TsaProviderConfig,
    TsrAccess,
};
pub use webhooks::WebhooksConfig;

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
    /// Document seals.
    pub seal: SealConfig,
    /// The approval engine and signed agent requests.
    pub approvals: ApprovalsConfig,
    /// Outbound webhooks (the outbox dispatcher).
    pub webhooks: WebhooksConfig,
    /// Remote TSAs, each backed by a TSA plugin.
    pub tsa_providers: Vec<TsaProviderConfig>,
    /// Fault injection for the test suite; never enable in production.
    pub testing: TestingConfig,
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
                config.seal.trust_roots_file = config
                    .seal
                    .trust_roots_file
                    .take()
                    .map(|file| dir.join(file));
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
        self.seal.validate()?;
        self.approvals.validate()?;
        self.webhooks.validate()?;
        if self.tenants.idle_timeout < Duration::from_secs(1) {
            return invalid("tenants.idle_timeout", "must be at least 1s");
        }
        Ok(())
    }
}
