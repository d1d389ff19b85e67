//! The time-stamping abstraction: [`TsaSigner`] signs the signed attributes of a time-stamp token. Like
//! sigil-cms's [`crate::CertificateSigner`] it takes the exact bytes to sign and hashes them itself, so an
//! implementation can forward them to a KMS or HSM unchanged, and fails with [`SignerError`].

use x509_cert::Certificate;

use crate::{SignatureAlgorithm, SignerError};

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
