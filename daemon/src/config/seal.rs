//! `[seal]`: document seals. Which KMS instance holds the seal keys, which roots make a seal `chained`, and the
//! bounds of the seal upload.

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

/// `[seal]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SealConfig {
    /// The KMS plugin instance that holds seal keys (tenant certificates and the platform certificate). The
    /// default is the local TSA's implicit `local-kms` (kms-soft with its store in the data directory).
    pub kms: String,
    /// PEM file of trust anchors: a seal whose chain ends at one of them is `chained` in `/seal/verify`.
    pub trust_roots_file: Option<PathBuf>,
    /// Largest file `POST /seal/sign` and `POST /seal/verify` accept, in bytes (413 beyond). Uploads are streamed
    /// to a temporary file while hashed, so memory does not grow with this.
    pub max_file_bytes: u64,
    /// How many PDF seals and PDF verifications run at once; further ones wait. Each holds its PDF in memory
    /// (the upload and the sealed copy), so PDF memory is bounded by about `max_concurrent_pdf × 2 ×
    /// max_file_bytes`. Other files are never held in memory and are not bounded by this. Read at start.
    pub max_concurrent_pdf: usize,
}

impl Default for SealConfig {
    fn default() -> Self {
        Self {
            kms: "local-kms".into(),
            trust_roots_file: None,
            max_file_bytes: 64 * 1024 * 1024,
            max_concurrent_pdf: 4,
        }
    }
}

impl SealConfig {
    /// Checks what types alone cannot.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_string(),
            })
        };
        if self.kms.is_empty() {
            return invalid("seal.kms", "must name a KMS plugin instance");
        }
        if self.max_file_bytes < 1024 {
            return invalid("seal.max_file_bytes", "must be at least 1024");
        }
        if self.max_concurrent_pdf == 0 {
            return invalid("seal.max_concurrent_pdf", "must be at least 1");
        }
        Ok(())
    }
}
