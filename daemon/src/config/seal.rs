//! `[seal]`: document seals. Which KMS instance holds the seal keys, which roots make a seal `chained`, and the
//! bounds of the seal upload, and how revocation data for the seal certificate's chain is fetched.

use std::path::PathBuf;
use std::time::Duration;

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
    /// Largest file `POST /seal/sign` and `POST /seal/verify` accept, in bytes (413 beyond). Other files than PDFs
    /// are hashed chunk by chunk as they arrive and never stored, so memory does not grow with this; a PDF is
    /// held in memory while sealed or verified (see `max_concurrent_pdf`).
    pub max_file_bytes: u64,
    /// How many PDF seals and PDF verifications run at once; further ones wait. Each holds its PDF in memory
    /// (the upload and the sealed copy), so PDF memory is bounded by about `max_concurrent_pdf × 2 ×
    /// max_file_bytes`. Other files are never held in memory and are not bounded by this. Read at start.
    pub max_concurrent_pdf: usize,
    /// Fetch revocation data when sealing: for each certificate of the seal certificate's chain (and the
    /// signature time-stamp's TSA certificate when it names an OCSP responder), an OCSP response from its AIA
    /// OCSP URL, else the CRL of its distribution point (`http://` only). What verifies goes into
    /// `ocspDers` of `POST /seal/sign-pades-hash` and into the DSS of a B-LTA PDF; a failure never fails the
    /// seal (it then carries no revocation data, and the log says why).
    pub revocation_fetch: bool,
    /// Deadline of a whole revocation fetch for a seal (every certificate's OCSP or CRL requests, made
    /// concurrently; each request is bounded by what remains). At most 10 seconds, so that a seal is answered
    /// and recorded well inside the request timeout.
    #[serde(with = "humantime_serde")]
    pub revocation_timeout: Duration,
    /// Largest OCSP response or CRL read, bytes; a larger answer counts as a failure.
    pub revocation_max_bytes: u64,
    /// Private networks (CIDRs) revocation requests may connect to besides public addresses, with the rules of
    /// `[webhooks] allow_private_networks` (checked after resolution, no redirects, no proxies), e.g.
    /// `127.0.0.0/8` for a test responder. Empty: public addresses only.
    pub revocation_allow_private_networks: Vec<String>,
}

impl Default for SealConfig {
    fn default() -> Self {
        Self {
            kms: "local-kms".into(),
            trust_roots_file: None,
            max_file_bytes: 64 * 1024 * 1024,
            max_concurrent_pdf: 4,
            revocation_fetch: true,
            revocation_timeout: Duration::from_secs(5),
            revocation_max_bytes: 1024 * 1024,
            revocation_allow_private_networks: Vec::new(),
        }
    }
}

impl SealConfig {
    /// The address policy revocation requests obey.
    pub fn revocation_address_policy(&self) -> sigil_netpolicy::AddressPolicy {
        super::webhooks::address_policy_of(&self.revocation_allow_private_networks)
    }

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
        for cidr in &self.revocation_allow_private_networks {
            cidr.parse::<sigil_netpolicy::Cidr>()
                .map_err(|reason| ConfigError::Invalid {
                    key: "seal.revocation_allow_private_networks",
                    reason,
                })?;
        }
        if self.revocation_timeout.is_zero() || self.revocation_timeout > Duration::from_secs(10) {
            return invalid(
                "seal.revocation_timeout",
                "must be between 1ms and 10 seconds",
            );
        }
        if self.revocation_max_bytes < 1024 || self.revocation_max_bytes > 64 * 1024 * 1024 {
            return invalid(
                "seal.revocation_max_bytes",
                "must be between 1024 and 67108864",
            );
        }
        Ok(())
    }
}
