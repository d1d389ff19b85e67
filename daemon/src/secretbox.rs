//! Encryption at rest for small secrets kept in the store (webhook endpoint secrets, custom auth header
//! values): AES-256-GCM under a 32-byte key read from a file, never from the store.
//!
//! A sealed value is `enc:v1:<base64(nonce ‖ ciphertext ‖ tag)>` with a fresh random 96-bit nonce. The caller
//! gives a **context** (for example the endpoint id and the field name) that is bound as associated data, so a
//! ciphertext copied into another row or field does not decrypt there.
//!
//! The key file is `[storage] secrets_key_file`, by default `secrets.key` in the data directory, created at first
//! start (32 bytes from the OS RNG, mode 0600) and refused when group or others can read or write it. Nodes that
//! share a remote store must share this file (the same 32 bytes on every node), or a node cannot read what
//! another wrote. Losing the file loses the secrets (endpoints then have to be re-created); back it up with, but
//! not inside, the store's backups.

use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::secret::Secret;

/// The prefix of a value sealed by this version.
const PREFIX: &str = "enc:v1:";
/// Key length in bytes.
pub const KEY_LEN: usize = 32;

/// Why a key could not be loaded or a value not opened. Never carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum SecretBoxError {
    /// The key file could not be read, created or accepted.
    #[error("secrets key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The value is not `enc:v1:` + base64 of at least a nonce and a tag.
    #[error("not a sealed value")]
    Malformed,
    /// Authentication failed: another key, another context, or a tampered value.
    #[error("the sealed value does not open with this key and context")]
    Unauthentic,
}

/// The key, ready to seal and open. `Debug` never shows it.
pub struct SecretBox {
    key: LessSafeKey,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<redacted>)")
    }
}

impl SecretBox {
    /// A box over raw key bytes.
    pub fn from_key(key: &[u8; KEY_LEN]) -> SecretBox {
        // AES-256 takes any 32 bytes; the length is fixed by the type.
        let unbound = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte AES-256 key");
        SecretBox {
            key: LessSafeKey::new(unbound),
        }
    }

    /// The key file a config names: `[storage] secrets_key_file`, else `secrets.key` in the data directory.
    pub fn key_path(config: &crate::config::Config) -> PathBuf {
        config
            .storage
            .secrets_key_file
            .clone()
            .unwrap_or_else(|| config.data_dir().join("secrets.key"))
    }

    /// Reads the key file, creating it (mode 0600, 32 bytes from the OS RNG) when it does not exist. Refuses a
    /// file that group or others may access, or that is not exactly 32 bytes.
    pub fn load_or_create(path: &Path) -> Result<SecretBox, SecretBoxError> {
        let fail = |reason: String| SecretBoxError::KeyFile {
            path: path.to_path_buf(),
            reason,
        };
        match std::fs::symlink_metadata(path) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                create_key_file(path).map_err(|e| fail(format!("cannot create it: {e}")))?;
                tracing::info!(path = %path.display(), "created the secrets key file; back it up, and give every node sharing the store the same file");
            }
            Err(error) => return Err(fail(error.to_string())),
        }
        read_key_file(path).map_err(fail)
    }

    /// Seals `plaintext` under `context`.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).expect("the OS RNG");
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .expect("AES-GCM sealing of a small value");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    /// Seals a string.
    pub fn seal_str(&self, plaintext: &str, context: &str) -> String {
        self.seal(plaintext.as_bytes(), context)
    }

    /// Opens a sealed value under the context it was sealed with.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Secret<Vec<u8>>, SecretBoxError> {
        let encoded = sealed
            .strip_prefix(PREFIX)
            .ok_or(SecretBoxError::Malformed)?;
        let mut bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SecretBoxError::Malformed)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SecretBoxError::Malformed);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[..NONCE_LEN]);
        let plaintext = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut bytes[NONCE_LEN..],
            )
            .map_err(|_| SecretBoxError::Unauthentic)?;
        Ok(Secret::new(plaintext.to_vec()))
    }

    /// Opens a sealed string.
    pub fn open_str(&self, sealed: &str, context: &str) -> Result<Secret<String>, SecretBoxError> {
        let bytes = self.open(sealed, context)?.into_inner();
        String::from_utf8(bytes)
            .map(Secret::new)
            .map_err(|_| SecretBoxError::Malformed)
    }
}

/// Writes a fresh key to a temporary file beside `path` and links it into place, so that two processes starting
/// together end up with one complete key (the second link fails and that process reads the first one's file).
fn create_key_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut key = [0u8; KEY_LEN];
    aws_lc_rs::rand::fill(&mut key).map_err(|_| std::io::Error::other("the OS RNG failed"))?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    let temporary = PathBuf::from(temporary);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(&key)?;
        file.sync_all()?;
        match std::fs::hard_link(&temporary, path) {
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            other => other,
        }
    })();
    let _ = std::fs::remove_file(&temporary);
    written
}

fn read_key_file(path: &Path) -> Result<SecretBox, String> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("is not a regular file".into());
    }
    let mode = metadata.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "mode {:o} lets group or others access it; chmod 600 it",
            mode & 0o777
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
        format!(
            "holds {} bytes; it must hold exactly {KEY_LEN} random bytes",
            bytes.len()
        )
    })?;
    Ok(SecretBox::from_key(&key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SecretBox {
        SecretBox::from_key(&[7u8; KEY_LEN])
    }

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let sealed = sample().seal_str("whsec_top-secret-value", "wh_0123:secret");
        assert!(sealed.starts_with("enc:v1:"), "{sealed}");
        assert!(!sealed.contains("top-secret"));
        assert_ne!(
            sealed,
            sample().seal_str("whsec_top-secret-value", "wh_0123:secret")
        );
        let opened = sample().open_str(&sealed, "wh_0123:secret").unwrap();
        assert_eq!(opened.expose(), "whsec_top-secret-value");
    }

    #[test]
    fn another_context_does_not_open() {
        let sealed = sample().seal_str("s3cret-s3cret-s3cret", "wh_a:secret");
        assert!(matches!(
            sample().open_str(&sealed, "wh_b:secret"),
            Err(SecretBoxError::Unauthentic)
        ));
    }

    #[test]
    fn another_key_does_not_open() {
        let sealed = sample().seal_str("s3cret-s3cret-s3cret", "wh_a:secret");
        let other = SecretBox::from_key(&[8u8; KEY_LEN]);
        assert!(matches!(
            other.open_str(&sealed, "wh_a:secret"),
            Err(SecretBoxError::Unauthentic)
        ));
    }

    #[test]
    fn tampered_and_malformed_values_are_refused() {
        let sealed = sample().seal_str("value", "ctx");
        let mut raw = STANDARD.decode(&sealed[PREFIX.len()..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("{PREFIX}{}", STANDARD.encode(raw));
        assert!(matches!(
            sample().open(&tampered, "ctx"),
            Err(SecretBoxError::Unauthentic)
        ));
        for bad in ["plain", "enc:v1:!!", "enc:v1:AAAA", "enc:v2:AAAA"] {
            assert!(
                matches!(sample().open(bad, "ctx"), Err(SecretBoxError::Malformed)),
                "{bad}"
            );
        }
    }

    #[test]
    fn key_file_is_created_0600_reused_and_refused_when_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("secrets.key");
        let first = SecretBox::load_or_create(&path).unwrap();
        let metadata = std::fs::metadata(&path).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
        assert_eq!(metadata.len(), KEY_LEN as u64);
        let sealed = first.seal_str("kept", "ctx");
        let again = SecretBox::load_or_create(&path).unwrap();
        assert_eq!(again.open_str(&sealed, "ctx").unwrap().expose(), "kept");
        // No temporary file is left behind.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );

        for mode in [0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let error = SecretBox::load_or_create(&path).unwrap_err().to_string();
            assert!(error.contains("chmod 600"), "{error}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, b"short").unwrap();
        let error = SecretBox::load_or_create(&path).unwrap_err().to_string();
        assert!(error.contains("exactly 32"), "{error}");
        assert!(format!("{first:?}").contains("redacted"));
    }
}
