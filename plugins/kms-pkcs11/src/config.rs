//! The plugin's configuration (the `config` table of its `[[plugins]]` entry in `sigild.toml`) and the loading
//! of the user PIN. Every field is documented in the crate's README.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cryptoki::types::AuthPin;
use serde::Deserialize;
use sigil_plugin_api::PluginError;
use sigil_plugin_api::serde_json::{self, Value};
use zeroize::Zeroizing;

/// Debian's SoftHSM2 module, the default so that a test or a first setup needs no `module` line.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// The config table. Unknown fields are refused, so a misspelt `pin_flie` cannot go unnoticed. Its `Debug` is
/// written by hand and never shows the PIN.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (`.so`) to load. It must be admitted by `allowed_modules`.
    #[serde(default = "default_module")]
    pub module: PathBuf,
    /// The modules `module` may name, as absolute paths of files; compared by real path (symlinks
    /// resolved). Default: [`crate::module::DEFAULT_ALLOWED_MODULES`]. Setting it replaces the default.
    #[serde(default = "default_allowed_modules")]
    pub allowed_modules: Vec<PathBuf>,
    /// The label of the token to use (`CKA_LABEL` of the token, as `softhsm2-util --init-token --label` set
    /// it). Required; also the `token=` attribute of every key URI.
    pub token_label: String,
    /// The user PIN, inline. Prefer `pin_file`: a PIN in `sigild.toml` is as readable as that file.
    #[serde(default)]
    pub pin: Option<String>,
    /// A file holding the user PIN (one trailing newline is ignored).
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
    /// The slot id the token must be in. Optional: the token is found by label, and SoftHSM changes slot ids
    /// when a token is initialised; set it to pin a hardware slot.
    #[serde(default)]
    pub slot: Option<u64>,
}

fn default_module() -> PathBuf {
    PathBuf::from(DEFAULT_MODULE)
}

fn default_allowed_modules() -> Vec<PathBuf> {
    crate::module::DEFAULT_ALLOWED_MODULES
        .iter()
        .map(PathBuf::from)
        .collect()
}

impl fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("allowed_modules", &self.allowed_modules)
            .field("token_label", &self.token_label)
            .field("pin", &self.pin.as_ref().map(|_| "<redacted>"))
            .field("pin_file", &self.pin_file)
            .field("slot", &self.slot)
            .finish()
    }
}

impl Pkcs11Config {
    /// Parses and checks the config table.
    pub fn from_json(config: Value) -> Result<Pkcs11Config, PluginError> {
        let config: Pkcs11Config = serde_json::from_value(config)
            .map_err(|error| PluginError::invalid_input(format!("kms-pkcs11 config: {error}")))?;
        if config.token_label.is_empty() || config.token_label.len() > 32 {
            return Err(PluginError::invalid_input(
                "kms-pkcs11 config: token_label must be 1 to 32 bytes (the PKCS#11 label field)",
            ));
        }
        if config.allowed_modules.is_empty() {
            return Err(PluginError::invalid_input(
                "kms-pkcs11 config: `allowed_modules` is empty, so no module could be loaded; list the \
                 module's path (or remove the setting for the default list)",
            ));
        }
        if let Some(entry) = config
            .allowed_modules
            .iter()
            .find(|entry| !entry.is_absolute())
        {
            return Err(PluginError::invalid_input(format!(
                "kms-pkcs11 config: `allowed_modules` entry {} must be an absolute path",
                entry.display()
            )));
        }
        if config.pin.is_some() == config.pin_file.is_some() {
            return Err(PluginError::invalid_input(
                "kms-pkcs11 config: set exactly one of `pin_file` (preferred) and `pin`",
            ));
        }
        Ok(config)
    }

    /// The user PIN. An inline `pin` is moved out of the config (serde moved it out of the JSON value), so no
    /// stray copy outlives `create`. Error messages name the source, never the PIN.
    pub fn load_pin(&mut self) -> Result<AuthPin, PluginError> {
        let pin = match (self.pin.take(), &self.pin_file) {
            (Some(pin), _) => pin,
            (None, Some(path)) => read_pin_file(path)?,
            (None, None) => return Err(PluginError::internal("no PIN source configured")),
        };
        if pin.is_empty() {
            return Err(PluginError::invalid_input("the PIN is empty"));
        }
        Ok(AuthPin::from(pin))
    }
}

/// Reads a PIN file, refusing one that every user can read (such a PIN is already disclosed; group-readable
/// is accepted for the root-owned, group-`sigil`, 0640 layout).
fn read_pin_file(path: &Path) -> Result<String, PluginError> {
    let metadata = std::fs::metadata(path).map_err(|error| {
        PluginError::invalid_input(format!("pin_file {}: {error}", path.display()))
    })?;
    let mode = metadata.permissions().mode();
    if mode & 0o004 != 0 {
        return Err(PluginError::permission_denied(format!(
            "pin_file {} is readable by every user (mode {:04o}); chmod o-r it",
            path.display(),
            mode & 0o7777
        )));
    }
    let mut bytes = Zeroizing::new(std::fs::read(path).map_err(|error| {
        PluginError::invalid_input(format!("pin_file {}: {error}", path.display()))
    })?);
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    // Copied into the String that becomes the SecretString (wiped on drop); the read buffer is wiped here.
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        PluginError::invalid_input(format!("pin_file {} is not UTF-8", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_plugin_api::Status;
    use sigil_plugin_api::serde_json::json;

    #[test]
    fn config_table() {
        let config =
            Pkcs11Config::from_json(json!({"token_label": "sigil", "pin_file": "/p"})).unwrap();
        assert_eq!(config.module, Path::new(DEFAULT_MODULE));
        assert_eq!(config.slot, None);
        assert!(
            config
                .allowed_modules
                .contains(&PathBuf::from(DEFAULT_MODULE))
        );
        for bad in [
            json!({"pin_file": "/p"}),
            json!({"token_label": "sigil"}),
            json!({"token_label": "sigil", "pin": "1234", "pin_file": "/p"}),
            json!({"token_label": "", "pin": "1234"}),
            json!({"token_label": "a-label-that-is-longer-than-32-bytes", "pin": "1234"}),
            json!({"token_label": "sigil", "pin": "1234", "pin_flie": "/p"}),
            json!({"token_label": "sigil", "pin": "1234", "slot": "one"}),
            json!({"token_label": "sigil", "pin": "1234", "allowed_modules": []}),
            json!({"token_label": "sigil", "pin": "1234", "allowed_modules": ["lib/x.so"]}),
            json!({"token_label": "sigil", "pin": "1234", "allowed_modules": "/usr/lib/x.so"}),
        ] {
            let error = Pkcs11Config::from_json(bad.clone()).err().unwrap();
            assert_eq!(error.status, Status::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn the_pin_is_not_in_debug_output() {
        let config = Pkcs11Config::from_json(
            json!({"token_label": "sigil", "pin": "pin-8472-secret", "slot": 3}),
        )
        .unwrap();
        let shown = format!("{config:?} {config:#?}");
        assert!(
            !shown.contains("pin-8472-secret") && shown.contains("<redacted>"),
            "{shown}"
        );
        assert!(
            shown.contains("sigil") && shown.contains("allowed_modules"),
            "{shown}"
        );
    }

    #[test]
    fn pin_files() {
        use cryptoki::types::AuthPin;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        std::fs::write(&path, b"1234\r\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut config =
            Pkcs11Config::from_json(json!({"token_label": "t", "pin_file": path})).unwrap();
        // The value itself is checked by the integration tests, which log in with it.
        let _: AuthPin = config.load_pin().unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = config.load_pin().err().unwrap();
        assert_eq!(error.status, Status::PermissionDenied);
        assert!(!error.message.contains("1234"));
    }
}
