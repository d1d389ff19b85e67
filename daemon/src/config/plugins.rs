//! `[plugin_host]`, `[[plugins]]`, included files, and the redaction of plugin settings in `Debug`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::errors::describe_toml_error;
use super::{Config, ConfigError, Isolation, TsaProviderConfig, locate};

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

pub(super) fn enabled_by_default() -> bool {
    true
}

pub(super) fn empty_table() -> toml::Table {
    toml::Table::new()
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

impl Config {
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

    pub(super) fn merge_includes(&mut self, origin: &Path) -> Result<(), ConfigError> {
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

    pub(super) fn validate_plugins(&self) -> Result<(), ConfigError> {
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
        for plugin in &crate::wiring::plugin_instances(self) {
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
}
