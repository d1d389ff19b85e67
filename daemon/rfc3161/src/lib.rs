//! RFC 3161 time-stamp protocol for Sigil: building and parsing requests, parsing and verifying responses
//! and tokens, issuing tokens as a local TSA, and making the local TSA's certificates.
//!
//! Pure protocol code: typed inputs, typed results, no I/O, no HTTP, no storage and no configuration
//! syntax. Keys are reached only through the [`TsaSigner`] and [`CertificateSigner`] traits so that they
//! can live in a KMS or HSM; [`SoftwareKey`] is the in-process implementation.
//!
//! Built on `sigil-cms`, which holds what other formats share (the CMS and ESS structures, algorithms and
//! signature verification, certificate building, chain building and trust, ETSI verdicts); the items of it
//! this crate's callers need are re-exported here under their historical paths.

#![forbid(unsafe_code)]

mod asn1;
mod certs;
mod issue;
mod oids;
mod request;
mod response;
mod signer;
mod software;
mod time;
mod verdict;
mod verify;

pub use certs::build_tsa_certificate;
pub use issue::{
    IssueError, IssuedToken, PreparedChain, Refusal, TsaPolicy, check_signer, issue_token, reject,
    respond,
};
pub use request::{ParsedRequest, RequestError, TimestampRequest};
pub use response::{
    Accuracy, FailureInfo, ParseError, PkiStatus, TimestampResponse, TimestampToken, inspect,
    parse_response, parse_token, token_slice,
};
pub use sigil_cms::{
    BerError, BigInteger, CertificateError, CertificateSigner, CertificateSummary,
    CertificateValidity, ChainTop, EssBinding, HashAlgorithm, Indication, SignatureAlgorithm,
    SignerError, SoftwareKey, SubIndication, TrustStatus, TrustStore, UntrustedReason, Verdict,
    WireEncoding, build_root_ca,
};
pub use signer::TsaSigner;
pub use software::SoftwareTsaSigner;
pub use time::{GenTime, TimeError};
pub use verdict::TimestampVerdict;
pub use verify::{
    Expectations, MAX_EMBEDDED_CERTIFICATES, VerifiedToken, VerifyError, VerifyErrorKind,
    verify_response, verify_token, verify_token_against_digest,
};

/// Re-exports of the crates and types that appear in this crate's API, so callers need not match versions.
pub use const_oid::ObjectIdentifier;
pub use spki::SubjectPublicKeyInfoOwned;
pub use x509_cert::{Certificate, name::Name};
pub use {der, x509_cert};

/// The OIDs this crate uses, for callers that configure policies or compare algorithms.
pub mod oid {
    pub use crate::oids::*;
}

pub(crate) use sigil_cms::hex;
