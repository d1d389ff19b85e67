//! [`SoftwareTsaSigner`]: sigil-cms's in-process [`SoftwareKey`] with its certificate chain, signing
//! time-stamp tokens. Used by the tests and by the daemon's in-process fallback when no KMS is configured.

use x509_cert::Certificate;

use crate::{SignatureAlgorithm, SignerError, SoftwareKey, TsaSigner};

/// A [`SoftwareKey`] with its certificate chain (TSA certificate first): a complete [`TsaSigner`].
#[derive(Debug)]
pub struct SoftwareTsaSigner {
    key: SoftwareKey,
    chain: Vec<Certificate>,
}

impl SoftwareTsaSigner {
    /// Pairs a key with its chain. The chain's first certificate must certify this key; tokens signed
    /// otherwise would not verify, so [`crate::check_signer`] is worth calling once at startup.
    #[must_use]
    pub fn new(key: SoftwareKey, chain: Vec<Certificate>) -> Self {
        Self { key, chain }
    }

    /// The key.
    #[must_use]
    pub fn key(&self) -> &SoftwareKey {
        &self.key
    }
}

impl TsaSigner for SoftwareTsaSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.key.signature_algorithm()
    }

    fn certificate_chain(&self) -> &[Certificate] {
        &self.chain
    }

    fn sign(&self, signed_attrs_der: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.key.sign_message(signed_attrs_der)
    }
}
