//! Encryption at rest: the key-encryption key (argon2id over a passphrase, or a raw 32-byte key) and the
//! ChaCha20-Poly1305 sealing of private keys and of the store's check blob.
//!
//! Nonces are 96 random bits per sealing. A store holds few keys and seals each once (plus one check blob), so
//! the birthday bound of random nonces (~2^48 sealings under one key) is out of reach.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use serde::{Deserialize, Serialize};
use sigil_plugin_api::{Base64Bytes, PluginError};
use zeroize::Zeroizing;

/// Length of the key-encryption key, in bytes.
pub const KEK_LEN: usize = 32;

/// Length of a ChaCha20-Poly1305 nonce, in bytes.
const NONCE_LEN: usize = 12;

/// Length of the per-store argon2id salt, in bytes.
pub const SALT_LEN: usize = 16;

/// The AEAD's name as recorded in `store.json`, so a future version can add another.
pub const AEAD_NAME: &str = "chacha20-poly1305";

/// Fills a buffer from the operating system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], PluginError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|error| PluginError::internal(format!("the OS random source failed: {error}")))?;
    Ok(bytes)
}

/// argon2id cost parameters, chosen at initialisation and then read from `store.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Argon2Params {
    /// RFC 9106's second recommendation (64 MiB, 3 passes), with one lane: this build computes lanes one
    /// after another, so more lanes would cost us time without costing a parallel attacker any.
    pub const DEFAULT: Argon2Params = Argon2Params {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// The floor: below 8 MiB a passphrase store is too cheap to attack. The ceiling (4 GiB, 64 passes,
    /// 16 lanes) keeps a tampered `store.json` from making `create` allocate or spin without bound.
    pub fn validate(&self) -> Result<(), String> {
        if !(8 * 1024..=4 * 1024 * 1024).contains(&self.memory_kib) {
            return Err(format!(
                "argon2_memory_kib {} is outside 8192..=4194304",
                self.memory_kib
            ));
        }
        if !(1..=64).contains(&self.iterations) {
            return Err(format!(
                "argon2_iterations {} is outside 1..=64",
                self.iterations
            ));
        }
        if !(1..=16).contains(&self.parallelism) {
            return Err(format!(
                "argon2_parallelism {} is outside 1..=16",
                self.parallelism
            ));
        }
        Ok(())
    }
}

/// A sealed blob as stored in JSON: the nonce and the ciphertext with its 16-byte tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// 12 random bytes.
    pub nonce: Base64Bytes,
    /// Ciphertext followed by the Poly1305 tag.
    pub ciphertext: Base64Bytes,
}

/// The key-encryption key. Not `Debug` and not `Clone`, so it cannot leak into a log line or a stray copy;
/// its bytes are wiped on drop.
pub struct Kek {
    key: Zeroizing<[u8; KEK_LEN]>,
}

impl Kek {
    /// Stretches a passphrase with argon2id (version 0x13).
    pub fn from_passphrase(
        passphrase: &[u8],
        salt: &[u8],
        params: Argon2Params,
    ) -> Result<Kek, PluginError> {
        params
            .validate()
            .map_err(|why| PluginError::invalid_input(format!("store.json: {why}")))?;
        let argon2_params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            Some(KEK_LEN),
        )
        .map_err(|error| PluginError::invalid_input(format!("argon2id parameters: {error}")))?;
        let mut key = Zeroizing::new([0u8; KEK_LEN]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2_params)
            .hash_password_into(passphrase, salt, key.as_mut_slice())
            .map_err(|error| PluginError::internal(format!("argon2id failed: {error}")))?;
        Ok(Kek { key })
    }

    /// Uses 32 bytes as they are.
    pub fn from_raw(key: Zeroizing<[u8; KEK_LEN]>) -> Kek {
        Kek { key }
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        // The cipher copies the key and wipes its copy on drop (chacha20poly1305's `zeroize` feature).
        ChaCha20Poly1305::new(&(*self.key).into())
    }

    /// Encrypts `plaintext`, authenticating `associated_data` with it, under a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<Sealed, PluginError> {
        let nonce = random_bytes::<NONCE_LEN>()?;
        let ciphertext = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            .map_err(|_| PluginError::internal("sealing failed"))?;
        Ok(Sealed {
            nonce: nonce.to_vec().into(),
            ciphertext: ciphertext.into(),
        })
    }

    /// Decrypts and authenticates; `None` when the key, the associated data or the bytes are not the ones
    /// sealed (AEAD cannot tell which, and the callers word the error for their context).
    pub fn open(&self, sealed: &Sealed, associated_data: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let nonce: [u8; NONCE_LEN] = sealed.nonce.as_ref().try_into().ok()?;
        self.cipher()
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: associated_data,
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Argon2Params = Argon2Params {
        memory_kib: 8 * 1024,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn seal_and_open() {
        let kek = Kek::from_raw(Zeroizing::new([7; KEK_LEN]));
        let sealed = kek.seal(b"secret", b"uri-a").unwrap();
        assert_eq!(sealed.nonce.len(), NONCE_LEN);
        assert_eq!(sealed.ciphertext.len(), b"secret".len() + 16);
        assert_eq!(kek.open(&sealed, b"uri-a").unwrap().as_slice(), b"secret");
        // Another URI, another key, a flipped bit, a bad nonce: all refused.
        assert!(kek.open(&sealed, b"uri-b").is_none());
        assert!(
            Kek::from_raw(Zeroizing::new([8; KEK_LEN]))
                .open(&sealed, b"uri-a")
                .is_none()
        );
        let mut flipped = sealed.clone();
        flipped.ciphertext.0[0] ^= 1;
        assert!(kek.open(&flipped, b"uri-a").is_none());
        let mut short_nonce = sealed.clone();
        short_nonce.nonce.0.pop();
        assert!(kek.open(&short_nonce, b"uri-a").is_none());
        // Random nonces: sealing twice gives two ciphertexts.
        assert_ne!(kek.seal(b"secret", b"uri-a").unwrap(), sealed);
    }

    #[test]
    fn argon2id_depends_on_passphrase_and_salt() {
        let salt = [1u8; SALT_LEN];
        let a = Kek::from_passphrase(b"correct horse", &salt, CHEAP).unwrap();
        let b = Kek::from_passphrase(b"correct horse", &salt, CHEAP).unwrap();
        let c = Kek::from_passphrase(b"correct horsf", &salt, CHEAP).unwrap();
        let d = Kek::from_passphrase(b"correct horse", &[2u8; SALT_LEN], CHEAP).unwrap();
        assert_eq!(*a.key, *b.key);
        assert_ne!(*a.key, *c.key);
        assert_ne!(*a.key, *d.key);
        let too_cheap = Argon2Params {
            memory_kib: 64,
            ..CHEAP
        };
        assert!(Kek::from_passphrase(b"x", &salt, too_cheap).is_err());
    }
}
