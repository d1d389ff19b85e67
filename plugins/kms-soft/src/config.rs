//! The plugin's configuration (the `config` table of its `[[plugins]]` entry in `sigild.toml`) and the loading
//! of the secret that unlocks the store. Every field is documented in the crate's README.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sigil_plugin_api::PluginError;
use sigil_plugin_api::serde_json::{self, Value};
use zeroize::Zeroizing;

use crate::sealing::{Argon2Params, KEK_LEN};
use crate::uri::validate_name;

/// The config table. Unknown fields are refused: a misspelt `passphrase_fille` must not silently fall back to
/// another secret source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftKmsConfig {
    /// The store directory: `store.json` plus one `<label>.key` file per key. Required.
    pub dir: PathBuf,
    /// The store's name, the `store=` attribute of its key URIs. Recorded in `store.json` when the store is
    /// initialised; a later config naming it differently is refused, because stored URIs would stop matching.
    #[serde(default = "default_store_name")]
    pub store_name: String,
    /// A file holding the passphrase (one trailing newline is ignored). Preferred source.
    #[serde(default)]
    pub passphrase_file: Option<PathBuf>,
    /// An environment variable holding the passphrase.
    #[serde(default)]
    pub passphrase_env: Option<String>,
    /// A systemd credential name: the passphrase is `$CREDENTIALS_DIRECTORY/<credential>`
    /// (`LoadCredential=`/`LoadCredentialEncrypted=` in the unit).
    #[serde(default)]
    pub credential: Option<String>,
    /// A file holding exactly 32 raw bytes used directly as the key-encryption key (no KDF).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Whether to create the directory and initialise a new store when `store.json` is absent.
    #[serde(default = "default_true")]
    pub create_if_missing: bool,
    /// argon2id memory cost in KiB, used only when a passphrase store is initialised (later read from
    /// `store.json`).
    #[serde(default = "default_argon2_memory_kib")]
    pub argon2_memory_kib: u32,
    /// argon2id passes, used only at initialisation.
    #[serde(default = "default_argon2_iterations")]
    pub argon2_iterations: u32,
    /// argon2id lanes, used only at initialisation.
    #[serde(default = "default_argon2_parallelism")]
    pub argon2_parallelism: u32,
}

fn default_store_name() -> String {
    "default".to_owned()
}

fn default_true() -> bool {
    true
}

fn default_argon2_memory_kib() -> u32 {
    Argon2Params::DEFAULT.memory_kib
}

fn default_argon2_iterations() -> u32 {
    Argon2Params::DEFAULT.iterations
}

fn default_argon2_parallelism() -> u32 {
    Argon2Params::DEFAULT.parallelism
}

/// What unlocks the store. Both variants wipe their bytes on drop.
pub enum StoreSecret {
    /// A passphrase, stretched with argon2id.
    Passphrase(Zeroizing<Vec<u8>>),
    /// A ready key-encryption key.
    RawKey(Zeroizing<[u8; KEK_LEN]>),
}

impl SoftKmsConfig {
    /// Parses and checks the config table.
    pub fn from_json(config: Value) -> Result<SoftKmsConfig, PluginError> {
        let config: SoftKmsConfig = serde_json::from_value(config)
            .map_err(|error| PluginError::invalid_input(format!("kms-soft config: {error}")))?;
        validate_name("store_name", &config.store_name)?;
        let sources = [
            config.passphrase_file.is_some(),
            config.passphrase_env.is_some(),
            config.credential.is_some(),
            config.key_file.is_some(),
        ];
        if sources.iter().filter(|set| **set).count() != 1 {
            return Err(PluginError::invalid_input(
                "kms-soft config: set exactly one of `passphrase_file`, `passphrase_env`, `credential`, `key_file`",
            ));
        }
        config
            .argon2_params()
            .validate()
            .map_err(|why| PluginError::invalid_input(format!("kms-soft config: {why}")))?;
        Ok(config)
    }

    /// The argon2id parameters a new store is initialised with.
    pub fn argon2_params(&self) -> Argon2Params {
        Argon2Params {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
        }
    }

    /// Reads the configured secret. Error messages name the source, never its content.
    pub fn load_secret(&self) -> Result<StoreSecret, PluginError> {
        if let Some(path) = &self.key_file {
            let bytes = read_secret_file(path, "key_file")?;
            let key: [u8; KEK_LEN] = bytes.as_slice().try_into().map_err(|_| {
                PluginError::invalid_input(format!(
                    "key_file {}: expected exactly {KEK_LEN} raw bytes, found {}",
                    path.display(),
                    bytes.len()
                ))
            })?;
            return Ok(StoreSecret::RawKey(Zeroizing::new(key)));
        }
        let passphrase = if let Some(path) = &self.passphrase_file {
            strip_one_newline(read_secret_file(path, "passphrase_file")?)
        } else if let Some(name) = &self.passphrase_env {
            let value = std::env::var_os(name).ok_or_else(|| {
                PluginError::invalid_input(format!(
                    "passphrase_env: environment variable {name} is not set"
                ))
            })?;
            Zeroizing::new(OsString::into_vec(value))
        } else if let Some(name) = &self.credential {
            let path = credential_path(name)?;
            strip_one_newline(read_secret_file(&path, "credential")?)
        } else {
            // from_json guarantees one source; reaching here is a bug, reported rather than panicked.
            return Err(PluginError::internal("no secret source configured"));
        };
        if passphrase.is_empty() {
            return Err(PluginError::invalid_input("the passphrase is empty"));
        }
        Ok(StoreSecret::Passphrase(passphrase))
    }
}

/// `$CREDENTIALS_DIRECTORY/<name>`, with the name checked so it cannot leave the directory.
fn credential_path(name: &str) -> Result<PathBuf, PluginError> {
    validate_name("credential", name)?;
    let directory = std::env::var_os("CREDENTIALS_DIRECTORY").ok_or_else(|| {
        PluginError::invalid_input(format!(
            "credential {name}: $CREDENTIALS_DIRECTORY is not set (is sigild running under systemd with \
             LoadCredential=?)"
        ))
    })?;
    Ok(Path::new(&directory).join(name))
}

/// Reads a secret file, refusing one that any user on the machine can read: such a secret is already
/// disclosed. Group-readable is accepted (root-owned, group `sigil`, mode 0640 is a common layout).
fn read_secret_file(path: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>, PluginError> {
    let metadata = std::fs::metadata(path).map_err(|error| {
        PluginError::invalid_input(format!("{what} {}: {error}", path.display()))
    })?;
    let mode = metadata.permissions().mode();
    if mode & 0o004 != 0 {
        return Err(PluginError::permission_denied(format!(
            "{what} {} is readable by every user (mode {:04o}); chmod o-r it",
            path.display(),
            mode & 0o7777
        )));
    }
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|error| PluginError::invalid_input(format!("{what} {}: {error}", path.display())))
}

/// Drops one trailing `\n` or `\r\n`, which editors and `echo` add. The cut bytes stay in the buffer's
/// capacity, which `Zeroizing` wipes as a whole.
fn strip_one_newline(mut bytes: Zeroizing<Vec<u8>>) -> Zeroizing<Vec<u8>> {
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_plugin_api::Status;
    use sigil_plugin_api::serde_json::json;

    #[test]
    fn config_table() {
        let ok = SoftKmsConfig::from_json(json!({"dir": "/x", "passphrase_file": "/p"})).unwrap();
        assert_eq!(ok.store_name, "default");
        assert!(ok.create_if_missing);
        assert_eq!(ok.argon2_params(), Argon2Params::DEFAULT);
        let table = [
            json!({"passphrase_file": "/p"}),
            json!({"dir": "/x"}),
            json!({"dir": "/x", "passphrase_file": "/p", "key_file": "/k"}),
            json!({"dir": "/x", "passphrase_fille": "/p"}),
            json!({"dir": "/x", "passphrase_file": "/p", "store_name": "a/b"}),
            json!({"dir": "/x", "passphrase_file": "/p", "argon2_memory_kib": 1}),
            json!({"dir": "/x", "passphrase_file": "/p", "argon2_iterations": 0}),
            json!({"dir": 5, "passphrase_file": "/p"}),
        ];
        for config in table {
            let error = SoftKmsConfig::from_json(config.clone()).unwrap_err();
            assert_eq!(error.status, Status::InvalidInput, "{config}");
        }
    }

    #[test]
    fn newline_stripping() {
        for (input, expected) in [
            (&b"pass\n"[..], &b"pass"[..]),
            (b"pass\r\n", b"pass"),
            (b"pass\n\n", b"pass\n"),
            (b"pass", b"pass"),
            (b"\n", b""),
        ] {
            assert_eq!(
                strip_one_newline(Zeroizing::new(input.to_vec())).as_slice(),
                expected
            );
        }
    }

    #[test]
    fn world_readable_secret_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass");
        std::fs::write(&path, b"hunter2\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = read_secret_file(&path, "passphrase_file").unwrap_err();
        assert_eq!(error.status, Status::PermissionDenied);
        assert!(!error.message.contains("hunter2"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(
            read_secret_file(&path, "passphrase_file")
                .unwrap()
                .as_slice(),
            b"hunter2\n"
        );
    }
}
