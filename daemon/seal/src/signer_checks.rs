//! What every seal format checks about its signer and its signature time-stamp, the same way for CAdES and
//! JAdES: validity at the validation time, key usage, the trust classification the daemon reports as
//! `certificate.trust`, the eIDAS QC statement, and the RFC 3161 token over the signature (through
//! sigil-rfc3161).

use der::{
    Decode, Sequence,
    asn1::{Any, ObjectIdentifier},
};
use sigil_cms::{
    CertEntry, Indication, SubIndication, TrustStatus, TrustStore, Verdict,
    time::rfc3339,
    trust::{classify, valid_at},
};
use x509_cert::ext::pkix::KeyUsage;

/// `id-pe-qcStatements` (RFC 3739).
const ID_PE_QC_STATEMENTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.3");
/// `id-etsi-qcs-QcCompliance` (ETSI EN 319 412-5): an EU qualified certificate.
const ID_ETSI_QCS_QC_COMPLIANCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.1");

/// The trust sets a seal is verified against.
#[derive(Clone, Copy, Debug)]
pub struct TrustSettings<'a> {
    /// The operator-configured anchors: a chain to one of them is `chained`.
    pub anchors: &'a TrustStore,
    /// Sigil's platform root (the second anchor set): a chain to it is `dev_ca`.
    pub platform: &'a TrustStore,
    /// The anchors of time-stamping authorities, for signature time-stamps.
    pub tsa: &'a TrustStore,
    /// The current time, Unix seconds: the validation time when no trusted time-stamp proves an earlier one.
    pub now: i64,
}

/// How far a seal's signer certificate is trusted, as the daemon reports it in `certificate.trust`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertificateTrust {
    /// Chains to an operator-configured anchor.
    Chained,
    /// Chains to Sigil's platform root.
    DevCa,
    /// Self-signed and not an anchor.
    SelfSigned,
    /// No chain to any anchor.
    Untrusted,
}

impl CertificateTrust {
    /// The API spelling: `chained`, `dev_ca`, `self_signed`, `untrusted`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chained => "chained",
            Self::DevCa => "dev_ca",
            Self::SelfSigned => "self_signed",
            Self::Untrusted => "untrusted",
        }
    }

    /// Whether the chain reaches one of the two anchor sets.
    #[must_use]
    pub fn is_anchored(self) -> bool {
        matches!(self, Self::Chained | Self::DevCa)
    }
}

/// The verified signature time-stamp of a seal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimestampReport {
    /// genTime, RFC 3339.
    pub gen_time: String,
    /// genTime, Unix seconds.
    pub gen_time_unix: i64,
    /// The TSA: the token's `tsa` name, else its signer's subject.
    pub tsa_name: String,
    /// Whether the TSA chains to the TSA trust set; only then is genTime a proof of existence.
    pub trusted: bool,
    /// The token's own verdict (`PASSED` only when the TSA is trusted).
    pub verdict: Verdict,
    /// The token's serial number, decimal.
    pub serial: String,
}

/// Verifies a signature time-stamp token whose imprint must be the hash of `covered` (with the token's own
/// hash algorithm).
pub(crate) fn verify_timestamp(
    token_der: &[u8],
    covered: &[u8],
    tsa: &TrustStore,
) -> Result<TimestampReport, Verdict> {
    let token = sigil_rfc3161::parse_token(token_der).map_err(|error| {
        Verdict::failed(
            SubIndication::FormatFailure,
            format!("signature time-stamp token does not parse: {error}"),
        )
    })?;
    let algorithm = token.hash_algorithm.ok_or_else(|| {
        Verdict::indeterminate(
            SubIndication::CryptoConstraintsFailure,
            format!(
                "signature time-stamp uses an unsupported imprint algorithm {}",
                token.hash_algorithm_oid
            ),
        )
    })?;
    let digest = algorithm.digest(covered);
    let verified =
        sigil_rfc3161::verify_token_against_digest(token_der, &digest, tsa).map_err(|error| {
            use sigil_rfc3161::{VerifyError, VerifyErrorKind};
            let message = format!("signature time-stamp: {error}");
            match (&error, error.kind()) {
                (VerifyError::ImprintMismatch { .. }, _) => Verdict::failed(
                    SubIndication::HashFailure,
                    "signature time-stamp imprint is not the hash of the signature value".into(),
                ),
                (_, VerifyErrorKind::BadSignature) => {
                    Verdict::failed(SubIndication::SigCryptoFailure, message)
                }
                (_, VerifyErrorKind::Unsupported) => {
                    Verdict::indeterminate(SubIndication::CryptoConstraintsFailure, message)
                }
                (_, VerifyErrorKind::BadCertificate) => {
                    Verdict::indeterminate(SubIndication::ChainConstraintsFailure, message)
                }
                _ => Verdict::failed(SubIndication::FormatFailure, message),
            }
        })?;
    let verdict = Verdict::of_trust(&verified.trust);
    Ok(TimestampReport {
        gen_time: verified.token.gen_time.to_rfc3339(),
        gen_time_unix: verified.token.gen_time.unix_seconds(),
        tsa_name: verified
            .token
            .tsa_name
            .clone()
            .unwrap_or_else(|| verified.signer.subject.clone()),
        trusted: verified.trust.is_chained(),
        verdict,
        serial: verified.token.serial.to_decimal(),
    })
}

/// Checks the signer certificate at `at` (validity, key usage) and classifies its chain against the two
/// anchor sets. `Err` carries the verdict of the first failed check.
pub(crate) fn judge_signer(
    signer: &CertEntry,
    embedded: &[CertEntry],
    settings: &TrustSettings<'_>,
    at: i64,
) -> Result<(CertificateTrust, TrustStatus), Verdict> {
    if !valid_at(&signer.certificate, at) {
        let summary = signer.summary();
        return Err(Verdict::indeterminate(
            SubIndication::OutOfBoundsNoPoe,
            format!(
                "signer certificate (valid {} to {}) is not valid at the validation time {}",
                summary.not_before,
                summary.not_after,
                rfc3339(at)
            ),
        ));
    }
    check_key_usage(signer)?;
    let status = classify(signer, embedded, settings.anchors, at);
    if status.is_chained() {
        return Ok((CertificateTrust::Chained, status));
    }
    let platform = classify(signer, embedded, settings.platform, at);
    if platform.is_chained() {
        return Ok((CertificateTrust::DevCa, platform));
    }
    let trust = match status {
        TrustStatus::SelfSigned { .. } => CertificateTrust::SelfSigned,
        _ => CertificateTrust::Untrusted,
    };
    Ok((trust, status))
}

/// keyUsage, when present, must allow digitalSignature or nonRepudiation (contentCommitment).
fn check_key_usage(signer: &CertEntry) -> Result<(), Verdict> {
    match signer
        .certificate
        .tbs_certificate()
        .get_extension::<KeyUsage>()
    {
        Ok(None) => Ok(()),
        Ok(Some((_, usage))) if usage.digital_signature() || usage.non_repudiation() => Ok(()),
        Ok(Some(_)) => Err(Verdict::indeterminate(
            SubIndication::ChainConstraintsFailure,
            "signer certificate's keyUsage allows neither digitalSignature nor nonRepudiation"
                .into(),
        )),
        Err(error) => Err(Verdict::indeterminate(
            SubIndication::ChainConstraintsFailure,
            format!("signer certificate's keyUsage does not parse: {error}"),
        )),
    }
}

/// `QCStatement` (RFC 3739 §3.2.6).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct QcStatement {
    statement_id: ObjectIdentifier,
    #[asn1(optional = "true")]
    statement_info: Option<Any>,
}

/// Whether the certificate's QCStatements extension claims EU qualified status (QcCompliance).
#[must_use]
pub fn is_eidas_qualified(certificate: &x509_cert::Certificate) -> bool {
    let Some(extensions) = certificate.tbs_certificate().extensions() else {
        return false;
    };
    extensions
        .iter()
        .filter(|extension| extension.extn_id == ID_PE_QC_STATEMENTS)
        .filter_map(|extension| Vec::<QcStatement>::from_der(extension.extn_value.as_bytes()).ok())
        .flatten()
        .any(|statement| statement.statement_id == ID_ETSI_QCS_QC_COMPLIANCE)
}

/// The verdict of a seal whose every check passed: `PASSED` when anchored, otherwise the trust verdict.
pub(crate) fn final_verdict(trust: CertificateTrust, status: &TrustStatus) -> Verdict {
    match trust {
        CertificateTrust::Chained => Verdict::of_trust(status),
        CertificateTrust::DevCa => Verdict {
            indication: Indication::Passed,
            sub_indication: None,
            message: "chains to Sigil's platform root".into(),
        },
        CertificateTrust::SelfSigned | CertificateTrust::Untrusted => Verdict::of_trust(status),
    }
}
