//! `sigil-fixture-hanging-kms`: **a test fixture, never to be deployed.** A KMS signer plugin that keeps
//! ECDSA P-256 keys in memory (lost with the instance) and whose `sign` hangs while a trigger file exists, so
//! that sigild's test suite can prove a hung KMS costs the local TSA one deadline per request and nothing else.
//! (`sigil-fixture-faulty` misbehaves as a TSA backend; the local TSA needs a key holder that really signs
//! until told to hang.)
//!
//! Config (JSON, from the instance's `config` table):
//!
//! | key | type | default | |
//! | --- | --- | --- | --- |
//! | `hang_file` | string | required | while a file exists at this path, `sign` sleeps until it is gone (at most `max_hang_ms`), then answers `TIMEOUT` |
//! | `max_hang_ms` | integer | 600000 | the longest one `sign` hangs |
//!
//! Ops: `generate_key` (`ecdsa-p256` only), `public_key`, `sign` (`ecdsa-p256-sha256`, prehashed or not),
//! `list_keys`. Key URIs are `fixture:<label>`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use sigil_plugin_api::serde_json::Value;
use sigil_plugin_api::{
    Base64Bytes, GenerateKeyRequest, GenerateKeyResponse, KeyAlgorithm, KeyInfo, KmsSigner,
    ListKeysRequest, ListKeysResponse, PluginError, PublicKeyRequest, PublicKeyResponse,
    SignRequest, SignResponse, SignatureAlgorithm,
};

/// The DER prefix of a P-256 SubjectPublicKeyInfo, up to the uncompressed point.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// One instance: its keys by label, and the trigger.
pub struct HangingKms {
    keys: Mutex<HashMap<String, std::sync::Arc<EcdsaKeyPair>>>,
    hang_file: PathBuf,
    max_hang: Duration,
}

fn invalid(problem: impl core::fmt::Display) -> PluginError {
    PluginError::invalid_input(format!("fixture-hanging-kms config: {problem}"))
}

impl HangingKms {
    fn key(&self, key_uri: &str) -> Result<std::sync::Arc<EcdsaKeyPair>, PluginError> {
        let label = key_uri
            .strip_prefix("fixture:")
            .ok_or_else(|| PluginError::not_found(format!("no key {key_uri}")))?;
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(label)
            .cloned()
            .ok_or_else(|| PluginError::not_found(format!("no key {key_uri}")))
    }
}

fn spki(pair: &EcdsaKeyPair) -> Vec<u8> {
    let mut der = P256_SPKI_PREFIX.to_vec();
    der.extend_from_slice(pair.public_key().as_ref());
    der
}

impl KmsSigner for HangingKms {
    fn create(config: Value) -> Result<Self, PluginError> {
        let hang_file = config
            .get("hang_file")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("`hang_file` (a string) is required"))?;
        let max_hang_ms = match config.get("max_hang_ms") {
            None => 600_000,
            Some(value) => value
                .as_u64()
                .ok_or_else(|| invalid("`max_hang_ms` must be an integer"))?,
        };
        Ok(HangingKms {
            keys: Mutex::default(),
            hang_file: PathBuf::from(hang_file),
            max_hang: Duration::from_millis(max_hang_ms),
        })
    }

    fn generate_key(
        &self,
        request: GenerateKeyRequest,
    ) -> Result<GenerateKeyResponse, PluginError> {
        if request.algorithm != KeyAlgorithm::EcdsaP256 {
            return Err(PluginError::unsupported(
                "this fixture makes P-256 keys only",
            ));
        }
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
            .map_err(|_| PluginError::internal("key generation failed"))?;
        let public_key_spki_der = Base64Bytes(spki(&pair));
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request.label.clone(), std::sync::Arc::new(pair));
        Ok(GenerateKeyResponse {
            key_uri: format!("fixture:{}", request.label),
            public_key_spki_der,
        })
    }

    fn public_key(&self, request: PublicKeyRequest) -> Result<PublicKeyResponse, PluginError> {
        let pair = self.key(&request.key_uri)?;
        Ok(PublicKeyResponse {
            public_key_spki_der: Base64Bytes(spki(&pair)),
            algorithm: Some(KeyAlgorithm::EcdsaP256),
        })
    }

    fn sign(&self, request: SignRequest) -> Result<SignResponse, PluginError> {
        let started = Instant::now();
        while self.hang_file.exists() {
            if started.elapsed() >= self.max_hang {
                return Err(PluginError::timeout("fixture-hanging-kms hung on purpose"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if request.algorithm != SignatureAlgorithm::EcdsaP256Sha256 {
            return Err(PluginError::unsupported(
                "this fixture signs ecdsa-p256-sha256 only",
            ));
        }
        let pair = self.key(&request.key_uri)?;
        let digest = if request.prehashed {
            aws_lc_rs::digest::Digest::import_less_safe(&request.data.0, &aws_lc_rs::digest::SHA256)
                .map_err(|_| PluginError::invalid_input("the digest must be 32 bytes"))?
        } else {
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &request.data.0)
        };
        let signature = pair
            .sign_digest(&digest)
            .map_err(|_| PluginError::internal("signing failed"))?;
        Ok(SignResponse {
            signature: Base64Bytes(signature.as_ref().to_vec()),
        })
    }

    fn list_keys(&self, _request: ListKeysRequest) -> Result<ListKeysResponse, PluginError> {
        let keys = self
            .keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .map(|label| KeyInfo {
                key_uri: format!("fixture:{label}"),
                label: label.clone(),
                algorithm: KeyAlgorithm::EcdsaP256,
            })
            .collect();
        Ok(ListKeysResponse { keys })
    }
}

sigil_plugin_api::export_kms_signer!(
    HangingKms,
    name = "fixture-hanging-kms",
    version = env!("CARGO_PKG_VERSION")
);
