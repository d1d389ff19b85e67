//! The two signing abstractions: [`TsaSigner`] signs the signed attributes of a time-stamp token and
//! [`CertificateSigner`] signs a TBSCertificate. Both take the exact bytes to sign and hash them
//! themselves, so an implementation can forward them to a KMS or HSM unchanged.

use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

use crate::SignatureAlgorithm;

/// Why a signer could not sign.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    /// The key cannot be used now (KMS unreachable, token not logged in, key disabled).
    #[error("signing key unavailable: {0}")]
    Unavailable(String),
    /// The signing operation itself failed.
    #[error("signing failed: {0}")]
    Failed(String),
    /// The key cannot produce the requested algorithm.
    #[error("unsupported by this key: {0}")]
    Unsupported(String),
}

/// A time-stamping key and its certificates.
///
/// `sign` receives the DER of the `SET OF` signed attributes (tag 0x31, RFC 5652 §5.4) and returns the
/// signature for [`TsaSigner::algorithm`]: for ECDSA a DER `ECDSA-Sig-Value`, for RSA the raw signature
/// octets. The signer hashes the input itself.
pub trait TsaSigner {
    /// The algorithm `sign` produces.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// The TSA certificate first, then any intermediates (the root may be included or not).
    fn certificate_chain(&self) -> &[Certificate];
    /// Signs the DER of the signed attributes.
    ///
    /// # Errors
    /// [`SignerError`] when the key cannot sign.
    fn sign(&self, signed_attrs_der: &[u8]) -> Result<Vec<u8>, SignerError>;
    /// The chain's per-token encodings, computed once ([`crate::PreparedChain::new`]) by a signer that issues
    /// many tokens; `None` (the default) encodes them for every token.
    fn prepared_chain(&self) -> Option<&crate::PreparedChain> {
        None
    }
}

/// A key that signs certificates (the TBS signer): a CA key, or a key signing its own root certificate.
pub trait CertificateSigner {
    /// The algorithm `sign` produces.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// The key's public half, as it goes into a certificate.
    ///
    /// # Errors
    /// [`SignerError`] when the public key cannot be read.
    fn public_key(&self) -> Result<SubjectPublicKeyInfoOwned, SignerError>;
    /// Signs the DER of a TBSCertificate; same output conventions as [`TsaSigner::sign`].
    ///
    /// # Errors
    /// [`SignerError`] when the key cannot sign.
    fn sign(&self, tbs_der: &[u8]) -> Result<Vec<u8>, SignerError>;
}
