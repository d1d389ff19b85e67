//! Verification verdicts in the vocabulary of ETSI EN 319 102-1 (§5.1.3), as EU DSS reports them: a main
//! [`Indication`] and, unless it passed, a [`SubIndication`] saying which check failed. Timestamps use it now;
//! seals and approvals will report through the same types: each format maps its own errors with
//! [`Verdict::failed`] and [`Verdict::indeterminate`], and its successes with [`Verdict::of_trust`].
//!
//! `PASSED` is earned only when every check passed **and** the signer chains to an anchor the verifier
//! configured. A cryptographically sound object from an unknown root is `INDETERMINATE /
//! NO_CERTIFICATE_CHAIN_FOUND`, never `PASSED`.

use crate::trust::{TrustStatus, UntrustedReason};

/// The main status of a validation (EN 319 102-1, Table 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Indication {
    /// Every check passed and the chain reaches a configured anchor.
    Passed,
    /// The checks could not establish validity (unknown root, missing certificate, unsupported algorithm,
    /// certificate outside its validity period).
    Indeterminate,
    /// A check proved the object invalid (hash mismatch, bad signature, broken format).
    Failed,
}

impl Indication {
    /// The ETSI spelling: `PASSED`, `INDETERMINATE`, `FAILED`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Indication::Passed => "PASSED",
            Indication::Indeterminate => "INDETERMINATE",
            Indication::Failed => "FAILED",
        }
    }
}

/// Which check failed (EN 319 102-1, Table 5), for `FAILED` and `INDETERMINATE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubIndication {
    /// The object does not have the structure its format requires.
    FormatFailure,
    /// The signed data's hash does not match (wrong file, altered signed content).
    HashFailure,
    /// The signature does not verify under the signer's key.
    SigCryptoFailure,
    /// The signer certificate cannot be identified (absent, or the ESS attribute names another).
    NoSigningCertificateFound,
    /// No chain from the signer to a configured trust anchor.
    NoCertificateChainFound,
    /// A chain was found but a certificate in it breaks a constraint (not a CA, wrong key usage, too long).
    ChainConstraintsFailure,
    /// A certificate in the chain failed for a reason not covered above (a bad issuer signature).
    CertificateChainGeneralFailure,
    /// An algorithm is not supported or not allowed (SHA-1).
    CryptoConstraintsFailure,
    /// A certificate was outside its validity period at the time in question.
    OutOfBoundsNoPoe,
    /// The object does not satisfy what the verifier asked for (nonce, policy).
    PolicyProcessingError,
    /// The signer certificate was revoked before the time the signature is proven to exist (`FAILED`).
    Revoked,
    /// The signer certificate is revoked and nothing proves the signature existed before that
    /// (`INDETERMINATE`).
    RevokedNoPoe,
}

impl SubIndication {
    /// The ETSI spelling, e.g. `NO_CERTIFICATE_CHAIN_FOUND`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SubIndication::FormatFailure => "FORMAT_FAILURE",
            SubIndication::HashFailure => "HASH_FAILURE",
            SubIndication::SigCryptoFailure => "SIG_CRYPTO_FAILURE",
            SubIndication::NoSigningCertificateFound => "NO_SIGNING_CERTIFICATE_FOUND",
            SubIndication::NoCertificateChainFound => "NO_CERTIFICATE_CHAIN_FOUND",
            SubIndication::ChainConstraintsFailure => "CHAIN_CONSTRAINTS_FAILURE",
            SubIndication::CertificateChainGeneralFailure => "CERTIFICATE_CHAIN_GENERAL_FAILURE",
            SubIndication::CryptoConstraintsFailure => "CRYPTO_CONSTRAINTS_FAILURE",
            SubIndication::OutOfBoundsNoPoe => "OUT_OF_BOUNDS_NO_POE",
            SubIndication::PolicyProcessingError => "POLICY_PROCESSING_ERROR",
            SubIndication::Revoked => "REVOKED",
            SubIndication::RevokedNoPoe => "REVOKED_NO_POE",
        }
    }
}

/// The outcome of a validation: indication, sub-indication and one sentence naming the failed check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The main status.
    pub indication: Indication,
    /// Which check failed; `None` exactly when `indication` is [`Indication::Passed`].
    pub sub_indication: Option<SubIndication>,
    /// Which check failed and why, for people; for `PASSED`, a summary.
    pub message: String,
}

impl Verdict {
    /// Whether the object passed every check, trust included.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.indication == Indication::Passed
    }

    /// A `FAILED` verdict: a check proved the object invalid.
    #[must_use]
    pub fn failed(sub: SubIndication, message: String) -> Self {
        Self {
            indication: Indication::Failed,
            sub_indication: Some(sub),
            message,
        }
    }

    /// An `INDETERMINATE` verdict: the checks could not establish validity.
    #[must_use]
    pub fn indeterminate(sub: SubIndication, message: String) -> Self {
        Self {
            indication: Indication::Indeterminate,
            sub_indication: Some(sub),
            message,
        }
    }

    /// The verdict of a trust classification alone, for an object whose every other check passed: `PASSED`
    /// only when chained to an anchor.
    #[must_use]
    pub fn of_trust(trust: &TrustStatus) -> Self {
        let explanation = trust.explanation().unwrap_or_default();
        match trust {
            TrustStatus::Chained { chain } => Self {
                indication: Indication::Passed,
                sub_indication: None,
                message: match chain.last() {
                    Some(anchor) => format!("chains to the trust anchor `{}`", anchor.subject),
                    None => "chains to a trust anchor".into(),
                },
            },
            TrustStatus::SelfSigned { .. } => {
                Self::indeterminate(SubIndication::NoCertificateChainFound, explanation)
            }
            TrustStatus::Untrusted { reason, .. } => {
                let sub = match reason {
                    UntrustedReason::IssuerNotFound { .. } => {
                        SubIndication::NoCertificateChainFound
                    }
                    UntrustedReason::SignatureInvalid { .. } => {
                        SubIndication::CertificateChainGeneralFailure
                    }
                    UntrustedReason::UnsupportedAlgorithm { .. } => {
                        SubIndication::CryptoConstraintsFailure
                    }
                    UntrustedReason::NotValidAtTime { .. } => SubIndication::OutOfBoundsNoPoe,
                    UntrustedReason::NotCa { .. }
                    | UntrustedReason::ChainTooLong
                    | UntrustedReason::TooManyCandidates => SubIndication::ChainConstraintsFailure,
                };
                Self::indeterminate(sub, explanation)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChainTop;

    fn top() -> ChainTop {
        ChainTop {
            subject: "CN=Unknown Root".into(),
            issuer: "CN=Unknown Root".into(),
            sha256_hex: "00".repeat(32),
        }
    }

    #[test]
    fn only_a_chain_to_an_anchor_passes() {
        let chained = Verdict::of_trust(&TrustStatus::Chained { chain: Vec::new() });
        assert!(chained.passed());
        assert_eq!(chained.sub_indication, None);

        let self_signed = Verdict::of_trust(&TrustStatus::SelfSigned { top: top() });
        assert_eq!(self_signed.indication, Indication::Indeterminate);
        assert_eq!(
            self_signed.sub_indication,
            Some(SubIndication::NoCertificateChainFound)
        );

        let table = [
            (
                UntrustedReason::IssuerNotFound {
                    issuer: "CN=X".into(),
                },
                SubIndication::NoCertificateChainFound,
            ),
            (
                UntrustedReason::SignatureInvalid {
                    subject: "CN=A".into(),
                    issuer: "CN=B".into(),
                },
                SubIndication::CertificateChainGeneralFailure,
            ),
            (
                UntrustedReason::NotValidAtTime {
                    subject: "CN=A".into(),
                },
                SubIndication::OutOfBoundsNoPoe,
            ),
            (
                UntrustedReason::ChainTooLong,
                SubIndication::ChainConstraintsFailure,
            ),
        ];
        for (reason, sub) in table {
            let verdict = Verdict::of_trust(&TrustStatus::Untrusted { reason, top: top() });
            assert_eq!(verdict.indication, Indication::Indeterminate);
            assert_eq!(verdict.sub_indication, Some(sub));
            assert!(verdict.message.contains("CN=Unknown Root"));
        }
    }

    #[test]
    fn etsi_spellings() {
        assert_eq!(Indication::Indeterminate.as_str(), "INDETERMINATE");
        assert_eq!(
            SubIndication::NoCertificateChainFound.as_str(),
            "NO_CERTIFICATE_CHAIN_FOUND"
        );
        let failed = Verdict::failed(SubIndication::HashFailure, "wrong file".into());
        assert_eq!(failed.indication, Indication::Failed);
        assert!(!failed.passed());
    }
}
