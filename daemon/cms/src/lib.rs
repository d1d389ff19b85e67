//! CMS (RFC 5652) and X.509 protocol code shared by Sigil's formats: the RFC 3161 time-stamp protocol
//! (`sigil-rfc3161`) today, CAdES, PAdES and JAdES seals and approvals later.
//!
//! It holds what is not specific to one format: liberal BER input ([`ber`]), the CMS and ESS wire structures
//! ([`asn1`]), OIDs ([`oids`]), arbitrary-length INTEGERs ([`BigInteger`]), time helpers ([`time`]), hash and
//! signature algorithms with CMS/X.509 signature verification ([`algorithms`]), certificate building through
//! the [`CertificateSigner`] trait (keys may live in a KMS or HSM; [`SoftwareKey`] is the in-process one),
//! certificates as verifiers hold them ([`certificate`]), the ESS signing-certificate check ([`ess`]), chain
//! building against a [`TrustStore`] ([`trust`]) and ETSI verdicts ([`Verdict`]), and signatures outside CMS
//! and X.509 with a bare key ([`raw`]: Ed25519 and P-256, for HTTP Message Signatures and device challenges),
//! generic SignedData building and reading ([`signed_data`]) for the seal formats, and certificate status from
//! OCSP responses and CRLs ([`revocation`]: requests, parsing, verification; no fetching).
//!
//! Pure protocol code: typed inputs, typed results, no I/O, no HTTP, no storage and no configuration syntax.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod algorithms;
pub mod asn1;
pub mod ber;
pub mod certificate;
mod certs;
pub mod ess;
mod integer;
pub mod oids;
pub mod raw;
pub mod revocation;
pub mod signed_data;
mod signer;
mod software;
#[cfg(test)]
mod testing;
pub mod time;
pub mod trust;
mod verdict;

pub use algorithms::{HashAlgorithm, SignatureAlgorithm, SignatureCheck};
pub use ber::{BerError, WireEncoding};
pub use certificate::{CertEntry, CertificateSummary, MalformedError};
pub use certs::{
    CertificateError, CertificateValidity, EndEntityProfile, build_empty_crl,
    build_end_entity_certificate, build_root_ca,
};
pub use ess::{EssBinding, EssError};
pub use integer::BigInteger;
pub use raw::{EcdsaSignatureEncoding, verify_ed25519, verify_p256_sha256};
pub use signed_data::{CmsSignatureAlgorithm, ParsedSignedData, SignedDataError};
pub use signer::{CertificateSigner, SignerError};
pub use software::SoftwareKey;
pub use trust::{ChainTop, TrustStatus, TrustStore, UntrustedReason};
pub use verdict::{Indication, SubIndication, Verdict};

/// Re-exports of the crates and types that appear in this crate's API, so callers need not match versions.
pub use const_oid::ObjectIdentifier;
pub use spki::SubjectPublicKeyInfoOwned;
pub use x509_cert::{Certificate, name::Name};
pub use {der, spki, x509_cert};

/// Lowercase hex of `bytes`, as renderings and error messages of the formats show digests and serials.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}
