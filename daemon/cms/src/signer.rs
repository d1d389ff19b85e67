//! The certificate-signing abstraction: [`CertificateSigner`] signs a TBSCertificate. It takes the exact
//! bytes to sign and hashes them itself, so an implementation can forward them to a KMS or HSM unchanged.
//! Formats add their own signer traits beside it (RFC 3161's `TsaSigner`) with the same conventions and
//! [`SignerError`].

use spki::SubjectPublicKeyInfoOwned;

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

/// A key that signs certificates (the TBS signer): a CA key, or a key signing its own root certificate.
pub trait CertificateSigner {
    /// The algorithm `sign` produces.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// The key's public half, as it goes into a certificate.
    ///
    /// # Errors
    /// [`SignerError`] when the public key cannot be read.
    fn public_key(&self) -> Result<SubjectPublicKeyInfoOwned, SignerError>;
    /// Signs the DER of a TBSCertificate, hashing it first: for ECDSA a DER `ECDSA-Sig-Value`, for RSA the
    /// raw signature octets.
    ///
    /// # Errors
    /// [`SignerError`] when the key cannot sign.
    fn sign(&self, tbs_der: &[u8]) -> Result<Vec<u8>, SignerError>;
}
