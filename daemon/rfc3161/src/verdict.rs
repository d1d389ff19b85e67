//! The ETSI verdict of a time-stamp verification: [`TimestampVerdict`] adds the RFC 3161 mappings
//! (`Verdict::of_token`, `of_error`, `of_result`) to sigil-cms's [`Verdict`], whose vocabulary (EN 319 102-1)
//! and trust mapping ([`Verdict::of_trust`]) every format shares.
//!
//! `PASSED` is earned only when every check passed **and** the signer chains to an anchor the verifier
//! configured. A cryptographically sound token from an unknown root is `INDETERMINATE /
//! NO_CERTIFICATE_CHAIN_FOUND`, never `PASSED`.

use sigil_cms::{SubIndication, Verdict};

use crate::verify::{VerifiedToken, VerifyError};

/// The verdicts of time-stamp verification, as associated functions of [`Verdict`]: bring the trait into
/// scope and call `Verdict::of_result(&result)`.
pub trait TimestampVerdict {
    /// The verdict for a token whose every structural and cryptographic check passed: `PASSED` only if its
    /// signer chained to an anchor.
    fn of_token(token: &VerifiedToken) -> Verdict;

    /// The verdict for a token that failed a check before trust was considered.
    fn of_error(error: &VerifyError) -> Verdict;

    /// The verdict of a whole verification.
    fn of_result(result: &Result<VerifiedToken, VerifyError>) -> Verdict;
}

impl TimestampVerdict for Verdict {
    fn of_token(token: &VerifiedToken) -> Verdict {
        Verdict::of_trust(&token.trust)
    }

    fn of_error(error: &VerifyError) -> Verdict {
        use SubIndication as S;
        use VerifyError as E;
        let message = error.to_string();
        match error {
            E::Malformed(_)
            | E::NotGranted { .. }
            | E::SignerInfoCount(_)
            | E::MissingSignedAttributes
            | E::MissingAttribute(_)
            | E::MalformedAttribute(_)
            | E::ContentTypeMismatch(_)
            | E::UnsupportedVersion(_)
            | E::TooManyCertificates(_) => Verdict::failed(S::FormatFailure, message),
            E::ImprintAlgorithmMismatch { .. }
            | E::ImprintMismatch { .. }
            | E::DigestLength { .. }
            | E::MessageDigestMismatch => Verdict::failed(S::HashFailure, message),
            E::NonceMissing { .. } | E::NonceMismatch { .. } | E::PolicyNotAccepted(_) => {
                Verdict::failed(S::PolicyProcessingError, message)
            }
            E::SignatureInvalid => Verdict::failed(S::SigCryptoFailure, message),
            E::SignerCertificateNotFound | E::SigningCertificateMismatch(_) => {
                Verdict::indeterminate(S::NoSigningCertificateFound, message)
            }
            E::MissingTimestampingEku
            | E::TimestampingEkuAbsent
            | E::TimestampingEkuNotCritical
            | E::ExtraKeyPurposes(_) => Verdict::indeterminate(S::ChainConstraintsFailure, message),
            E::SignerCertificateNotValidAtGenTime { .. } => {
                Verdict::indeterminate(S::OutOfBoundsNoPoe, message)
            }
            E::UnsupportedImprintAlgorithm(_)
            | E::UnsupportedDigestAlgorithm(_)
            | E::UnsupportedSignatureAlgorithm(_)
            | E::UnsupportedSignerKey(_)
            | E::Sha1Refused(_) => Verdict::indeterminate(S::CryptoConstraintsFailure, message),
        }
    }

    fn of_result(result: &Result<VerifiedToken, VerifyError>) -> Verdict {
        match result {
            Ok(token) => Self::of_token(token),
            Err(error) => Self::of_error(error),
        }
    }
}
