//! Document seals for Sigil: CAdES detached signatures (ETSI EN 319 122-1) and the CMS of PAdES signatures,
//! JAdES detached JSON signatures (ETSI TS 119 182-1) as the public client expects them, the verification of
//! both with ETSI verdicts (with the signer's revocation status from embedded OCSP responses and CRLs), and the seal certificate's CSR and activation checks.
//!
//! Keys never leave the KMS: the builders work in explicit steps (bytes to sign out, signature in, then the
//! signature value out for the remote time-stamp and the token in), and the CSR helper signs through
//! [`SealSigner`]. Pure protocol code on sigil-cms and sigil-rfc3161: no I/O, no HTTP, no storage, no
//! configuration syntax.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cades;
mod cades_verify;
mod csr;
mod jades;
mod revocation_checks;
mod signer;
mod signer_checks;

pub use cades::{BuildError, CadesBuilder, CadesOptions, Profile, SignedCms};
pub use cades_verify::{
    ContentDigest, Level, SealCheck, SealReport, verify_cades, verify_cades_with,
};
pub use csr::{ActivationError, CsrError, CsrSubject, build_csr, check_activation_chain};
pub use jades::{
    JadesBuilder, JadesError, JadesObject, JadesOptions, JadesReport, JadesSignature, ObjectResult,
    verify_jades,
};
pub use revocation_checks::{
    MAX_VALIDATION_ENTRIES, PreparedValidationData, RevocationReport, RevocationStatus,
    ValidationData,
};
pub use signer::SealSigner;
pub use signer_checks::{CertificateTrust, TimestampReport, TrustSettings, is_eidas_qualified};

/// Re-exports of the sigil-cms items this crate's API uses, so callers need not depend on it directly.
pub use sigil_cms::{
    CmsSignatureAlgorithm, HashAlgorithm, Indication, SignatureAlgorithm, SignerError, SoftwareKey,
    SubIndication, TrustStore, Verdict,
};
