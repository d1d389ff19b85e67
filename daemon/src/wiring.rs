//! Wiring: which components a configuration asks for, derived from it and kept out of the config module (which
//! only knows the syntax). Today: the plugin instances to run.

use crate::config::{Config, Isolation, PluginInstanceConfig};

/// The plugin instances to run: the declared ones, one per enabled TSA provider, and the local TSA's KMS
/// (`local-kms`, kms-soft in the data directory; also the seals' default) unless declared.
pub fn plugin_instances(config: &Config) -> Vec<PluginInstanceConfig> {
    let mut plugins = config.plugins.clone();
    for provider in config.tsa_providers.iter().filter(|p| p.enabled) {
        let mut table = provider.config.clone();
        table.insert("slug".into(), toml::Value::String(provider.slug.clone()));
        table.insert("name".into(), toml::Value::String(provider.name.clone()));
        table.insert("qualified".into(), toml::Value::Boolean(provider.qualified));
        if let Some(policy) = &provider.policy_oid {
            table.insert("policy_oid".into(), toml::Value::String(policy.clone()));
        }
        plugins.push(PluginInstanceConfig {
            name: provider.instance_name(),
            file: provider.plugin_file(),
            sha256: provider.sha256.clone(),
            enabled: true,
            isolation: provider.isolation,
            config: table,
        });
    }
    if implicit_local_kms(config) {
        let mut table = toml::Table::new();
        let keystore = config.data_dir().join("keystore");
        table.insert(
            "dir".into(),
            toml::Value::String(keystore.display().to_string()),
        );
        let key_file = config.local_keystore_key().path;
        table.insert(
            "key_file".into(),
            toml::Value::String(key_file.display().to_string()),
        );
        plugins.push(PluginInstanceConfig {
            name: config.local_tsa.kms.clone(),
            file: "libsigil_kms_soft.so".into(),
            sha256: None,
            enabled: true,
            isolation: Isolation::InProcess,
            config: table,
        });
    }
    plugins
}

/// Whether the implicit `local-kms` instance (kms-soft under the local keystore key) is run: when the local TSA
/// or the seals use it (seals use the same instance by default, so it exists whenever either needs it) and no
/// `[[plugins]]` entry takes its name. Its key file must then exist ([`crate::server`] makes it on first start).
pub fn implicit_local_kms(config: &Config) -> bool {
    let needed = config.local_tsa.enabled || config.seal.kms == config.local_tsa.kms;
    needed
        && !config
            .plugins
            .iter()
            .any(|p| p.name == config.local_tsa.kms)
}
