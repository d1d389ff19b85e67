//! `kms-soft`: a Sigil KMS signer plugin that keeps keys in a local directory, each private key sealed with
//! ChaCha20-Poly1305 under a key-encryption key derived (argon2id) from a passphrase or read from a key file.
//!
//! **Architecture Invariant:** private keys are never exported, written unsealed, logged, or put in an error
//! message. A key unsealed for signing is kept in memory (wiped on drop) so that each signature does not
//! re-read, re-decrypt and re-check the key file: the key-encryption key lives in the same memory anyway, so
//! this adds no exposure, and it is what lets the local TSA sign at full speed. The cache entry is checked
//! against the file's size and modification time before every use, so a scheduled deletion takes effect at
//! once. The plugin knows nothing of the daemon: it talks to it only
//! through `sigil-plugin-api`.
//!
//! Code map: [`config`] parses the config table and reads the secret, [`sealing`] derives the key-encryption
//! key and seals/opens blobs, [`store`] owns the directory layout and atomic writes, [`keypair`] does the
//! algorithm work, [`uri`] the `sigil-soft:` key URIs, [`calendar`] the deletion dates. This file maps the
//! plugin ops onto them. See README.md for the config schema and the security notes.

pub mod calendar;
pub mod config;
pub mod keypair;
pub mod sealing;
pub mod store;
pub mod uri;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use sigil_plugin_api::serde_json::Value;
use sigil_plugin_api::{
    GenerateKeyRequest, GenerateKeyResponse, HealthReport, KeyInfo, KmsSigner, ListKeysRequest,
    ListKeysResponse, PluginError, PublicKeyRequest, PublicKeyResponse, ScheduleDeletionRequest,
    ScheduleDeletionResponse, SignRequest, SignResponse,
};

use crate::calendar::rfc3339;
use crate::config::SoftKmsConfig;
use crate::store::Store;
use crate::uri::KeyUri;

/// One `[[plugins]]` instance: an open store. Every op takes `&self` and is safe to run concurrently (reads
/// are lock-free, writes serialise on the store's own mutex), so the export sets no concurrency bound.
pub struct SoftKms {
    store: Store,
    /// Unsealed signing keys by URI, with the key file's (size, mtime) when they were unsealed.
    unsealed: RwLock<HashMap<String, Arc<UnsealedKey>>>,
}

struct UnsealedKey {
    stamp: (u64, SystemTime),
    key: keypair::PrivateKey,
}

impl SoftKms {
    /// The key for a signature: from the cache while its file is unchanged, else read, checked and unsealed.
    fn signing_key(&self, uri: &KeyUri) -> Result<Arc<UnsealedKey>, PluginError> {
        let stamp = self.store.file_stamp(uri)?;
        let name = uri.to_string();
        if let Some(cached) = self
            .unsealed
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name)
            && cached.stamp == stamp
        {
            return Ok(cached.clone());
        }
        let file = self.store.load(uri)?;
        if let Some(at) = file.delete_after_unix {
            self.unsealed
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&name);
            return Err(PluginError::permission_denied(format!(
                "key {} is scheduled for deletion at {}; it no longer signs",
                file.key_uri,
                rfc3339(at)
            )));
        }
        let key = Arc::new(UnsealedKey {
            stamp,
            key: self.store.unseal(&file)?,
        });
        self.unsealed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, key.clone());
        Ok(key)
    }
}

impl KmsSigner for SoftKms {
    fn create(config: Value) -> Result<Self, PluginError> {
        let config = SoftKmsConfig::from_json(config)?;
        // The secret is dropped (and wiped) when `open` returns; only the derived key is kept.
        let secret = config.load_secret()?;
        let store = Store::open(&config, secret)?;
        Ok(SoftKms {
            store,
            unsealed: RwLock::default(),
        })
    }

    fn health(&self) -> Result<HealthReport, PluginError> {
        let keys = self.store.check()?;
        Ok(HealthReport {
            detail: Some(format!(
                "store {:?} unlocked, {keys} key file(s)",
                self.store.name()
            )),
        })
    }

    fn generate_key(
        &self,
        request: GenerateKeyRequest,
    ) -> Result<GenerateKeyResponse, PluginError> {
        let (uri, spki) = self.store.create_key(&request.label, request.algorithm)?;
        Ok(GenerateKeyResponse {
            key_uri: uri.to_string(),
            public_key_spki_der: spki.into(),
        })
    }

    fn public_key(&self, request: PublicKeyRequest) -> Result<PublicKeyResponse, PluginError> {
        let file = self.store.load(&KeyUri::parse(&request.key_uri)?)?;
        // Unsealing proves the clear SPKI in the file is this key's; the private half is dropped at once.
        let key = self.store.unseal(&file)?;
        drop(key);
        Ok(PublicKeyResponse {
            public_key_spki_der: file.public_key_spki_der,
            algorithm: Some(file.algorithm),
        })
    }

    fn sign(&self, request: SignRequest) -> Result<SignResponse, PluginError> {
        let unsealed = self.signing_key(&KeyUri::parse(&request.key_uri)?)?;
        let signature = unsealed
            .key
            .sign(request.algorithm, &request.data, request.prehashed)?;
        Ok(SignResponse {
            signature: signature.into(),
        })
    }

    fn list_keys(&self, _request: ListKeysRequest) -> Result<ListKeysResponse, PluginError> {
        self.store.purge_expired()?;
        let keys = self
            .store
            .list()?
            .into_iter()
            // Keys waiting for deletion cannot sign, and the op lists the keys that can.
            .filter(|file| file.delete_after_unix.is_none())
            .map(|file| KeyInfo {
                key_uri: file.key_uri,
                label: file.label,
                algorithm: file.algorithm,
            })
            .collect();
        Ok(ListKeysResponse { keys })
    }

    fn schedule_deletion(
        &self,
        request: ScheduleDeletionRequest,
    ) -> Result<ScheduleDeletionResponse, PluginError> {
        let uri = KeyUri::parse(&request.key_uri)?;
        let at = self.store.schedule_deletion(&uri, request.grace_days)?;
        Ok(ScheduleDeletionResponse {
            deletion_date: Some(rfc3339(at)),
        })
    }
}

sigil_plugin_api::export_kms_signer!(
    SoftKms,
    name = "kms-soft",
    version = env!("CARGO_PKG_VERSION")
);
