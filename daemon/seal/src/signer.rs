//! The sealing-key abstraction: [`SealSigner`] signs the exact bytes a seal format hands it (CMS signed
//! attributes, a JWS signing input, a CSR's CertificationRequestInfo), so the daemon can forward them to its
//! KMS plugin unchanged. Building never calls it: the builders return the bytes to sign and take the
//! signature back, and only the CSR helper signs through it directly.

use sigil_cms::{
    CertificateSigner, CmsSignatureAlgorithm, SignerError, SoftwareKey, SubjectPublicKeyInfoOwned,
};

/// A key that makes seals. `sign` hashes the message itself with the hash [`SealSigner::algorithm`] names
/// and returns, for ECDSA, a DER `ECDSA-Sig-Value`; for RSA (PKCS#1 v1.5 or PSS) and Ed25519 the raw
/// signature octets.
pub trait SealSigner {
    /// The algorithm `sign` produces.
    fn algorithm(&self) -> CmsSignatureAlgorithm;
    /// The key's public half.
    ///
    /// # Errors
    /// [`SignerError`] when the public key cannot be read.
    fn public_key(&self) -> Result<SubjectPublicKeyInfoOwned, SignerError>;
    /// Signs `message`.
    ///
    /// # Errors
    /// [`SignerError`] when the key cannot sign.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError>;
}

impl SealSigner for SoftwareKey {
    fn algorithm(&self) -> CmsSignatureAlgorithm {
        CmsSignatureAlgorithm::Classic(self.signature_algorithm())
    }

    fn public_key(&self) -> Result<SubjectPublicKeyInfoOwned, SignerError> {
        CertificateSigner::public_key(self)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.sign_message(message)
    }
}
