//! What the revocation data a seal carries says about its signer: OCSP responses and CRLs embedded in the
//! CMS (`RevocationInfoChoices`) or beside it (a PDF's DSS), each verified through sigil-cms against an
//! issuer that really issued the signer certificate. Nothing is fetched here; absent data is `none`.

use der::{Encode, Sequence, asn1::Any, asn1::ObjectIdentifier};
use sigil_cms::{
    CertEntry, SubIndication, Verdict,
    revocation::{CertStatusKind, Crl, ID_RI_OCSP_RESPONSE, OcspResponse, issued_by},
    time::rfc3339,
};

/// Validation data found beside a signature (a PDF's DSS): certificates, OCSP responses and CRLs, DER.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValidationData {
    /// Certificates (issuers, responders).
    pub certs: Vec<Vec<u8>>,
    /// `OCSPResponse`s.
    pub ocsps: Vec<Vec<u8>>,
    /// `CertificateList`s.
    pub crls: Vec<Vec<u8>>,
}

/// What the embedded revocation data says about the signer certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevocationStatus {
    /// No verified OCSP response or CRL covers the signer.
    None,
    /// Not revoked when the data was produced.
    Good,
    /// Revoked.
    Revoked {
        /// The revocation time, RFC 3339.
        time: String,
        /// The revocation time, Unix seconds.
        time_unix: i64,
        /// The RFC 5280 reason code, if stated.
        reason: Option<u8>,
    },
    /// The OCSP responder did not know the certificate.
    Unknown,
}

impl RevocationStatus {
    /// `none`, `good`, `revoked`, `unknown`.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Good => "good",
            Self::Revoked { .. } => "revoked",
            Self::Unknown => "unknown",
        }
    }
}

/// The signer's revocation status and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevocationReport {
    /// The status.
    pub status: RevocationStatus,
    /// `ocsp` or `crl`; `None` with [`RevocationStatus::None`].
    pub source: Option<&'static str>,
    /// When the data was produced (OCSP `producedAt`, CRL `thisUpdate`), RFC 3339.
    pub produced_at: Option<String>,
    /// Embedded data about the signer that did not verify, and why.
    pub problems: Vec<String>,
}

impl RevocationReport {
    /// No data.
    #[must_use]
    pub fn none() -> Self {
        Self {
            status: RevocationStatus::None,
            source: None,
            produced_at: None,
            problems: Vec::new(),
        }
    }
}

/// `OtherRevocationInfoFormat` (RFC 5652 §10.2.1).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct OtherRevocationInfoFormat {
    other_rev_info_format: ObjectIdentifier,
    other_rev_info: Any,
}

/// Splits a SignedData's `RevocationInfoChoices` into CRLs and (RFC 5940) OCSP responses.
pub(crate) fn from_revocation_choices(choices: &[Any], into: &mut ValidationData) {
    for choice in choices {
        let tag = der::Tagged::tag(choice);
        if tag == der::Tag::Sequence {
            if let Ok(der) = choice.to_der() {
                into.crls.push(der);
            }
        } else if tag.number() == der::TagNumber(1) && tag.is_context_specific() {
            let other = Any::new(der::Tag::Sequence, choice.value())
                .ok()
                .and_then(|any| any.decode_as::<OtherRevocationInfoFormat>().ok());
            if let Some(other) = other
                && other.other_rev_info_format == ID_RI_OCSP_RESPONSE
                && let Ok(der) = other.other_rev_info.to_der()
            {
                into.ocsps.push(der);
            }
        }
    }
}

/// Judges the signer's revocation status from `data`, with issuers looked for among `known` and
/// `data.certs` (an issuer counts only if its key verifies the signer certificate). OCSP is preferred to a
/// CRL; among several, the most recently produced wins.
pub(crate) fn judge_revocation<'a>(
    signer: &CertEntry,
    known: impl Iterator<Item = &'a CertEntry>,
    data: &ValidationData,
) -> RevocationReport {
    let mut report = RevocationReport::none();
    if data.ocsps.is_empty() && data.crls.is_empty() {
        return report;
    }
    let extra: Vec<CertEntry> = data
        .certs
        .iter()
        .filter_map(|der| CertEntry::from_der(der).ok())
        .collect();
    let is_issuer =
        |candidate: &&CertEntry| candidate.der != signer.der && issued_by(signer, candidate);
    let mut known = known;
    let Some(issuer) = known
        .find(is_issuer)
        .or_else(|| extra.iter().find(is_issuer))
        .cloned()
    else {
        return report;
    };
    let issuer = &issuer;
    let mut best: Option<(i64, &'static str, CertStatusKind)> = None;
    let mut consider = |source: &'static str,
                        outcome: Result<sigil_cms::revocation::CertStatus, _>,
                        problems: &mut Vec<String>| match outcome {
        Ok(status) => {
            let better = best.as_ref().is_none_or(|(at, best_source, _)| {
                (source == "ocsp" && *best_source == "crl")
                    || (source == *best_source && status.produced_at > *at)
            });
            if better {
                best = Some((status.produced_at, source, status.kind));
            }
        }
        // Data about other certificates (the issuer's own, the TSA's) is expected beside the signer's.
        Err(sigil_cms::revocation::RevocationError::NotCovered(_)) => {}
        Err(error) => problems.push(format!("{source}: {error}")),
    };
    let mut problems = Vec::new();
    for der in &data.ocsps {
        let outcome = OcspResponse::parse(der)
            .and_then(|response| response.status_of(&signer.certificate, issuer));
        consider("ocsp", outcome, &mut problems);
    }
    for der in &data.crls {
        let outcome = Crl::parse(der).and_then(|crl| crl.status_of(&signer.certificate, issuer));
        consider("crl", outcome, &mut problems);
    }
    report.problems = problems;
    if let Some((produced_at, source, kind)) = best {
        report.source = Some(source);
        report.produced_at = Some(rfc3339(produced_at));
        report.status = match kind {
            CertStatusKind::Good => RevocationStatus::Good,
            CertStatusKind::Unknown => RevocationStatus::Unknown,
            CertStatusKind::Revoked { time, reason } => RevocationStatus::Revoked {
                time: rfc3339(time),
                time_unix: time,
                reason,
            },
        };
    }
    report
}

/// The verdict of an otherwise sound seal whose signer is revoked: `FAILED REVOKED` when a trusted
/// time-stamp shows the signature was made at or after the revocation; otherwise `INDETERMINATE
/// REVOKED_NO_POE`. Never `PASSED`: even a signature proven to predate the revocation is not passed, because
/// the long-term validation that could pass it (EN 319 102-1 §5.6) is not built.
pub(crate) fn revoked_verdict(revoked_at: i64, proven_existence: Option<i64>) -> Verdict {
    match proven_existence {
        Some(existed) if existed >= revoked_at => Verdict::failed(
            SubIndication::Revoked,
            format!(
                "the signer certificate was revoked at {}, before the signature time-stamp ({})",
                rfc3339(revoked_at),
                rfc3339(existed)
            ),
        ),
        Some(existed) => Verdict::indeterminate(
            SubIndication::RevokedNoPoe,
            format!(
                "the signer certificate was revoked at {}, after the signature time-stamp ({}); a revoked \
                 certificate's seal is not passed without long-term validation",
                rfc3339(revoked_at),
                rfc3339(existed)
            ),
        ),
        None => Verdict::indeterminate(
            SubIndication::RevokedNoPoe,
            format!(
                "the signer certificate was revoked at {} and no trusted time-stamp proves the signature \
                 existed before",
                rfc3339(revoked_at)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Decode;

    #[test]
    fn a_revoked_signer_is_never_passed() {
        let cases = [
            (100, Some(150), SubIndication::Revoked),
            (100, Some(100), SubIndication::Revoked),
            (100, Some(50), SubIndication::RevokedNoPoe),
            (100, None, SubIndication::RevokedNoPoe),
        ];
        for (revoked_at, existed, sub) in cases {
            let verdict = revoked_verdict(revoked_at, existed);
            assert!(!verdict.passed());
            assert_eq!(
                verdict.sub_indication,
                Some(sub),
                "{revoked_at} {existed:?}"
            );
        }
    }

    #[test]
    fn revocation_choices_split_into_crls_and_ocsp_responses() {
        let crl = Any::new(der::Tag::Sequence, vec![0x02, 0x01, 0x01]).unwrap();
        let ocsp_body = [0x30u8, 0x03, 0x0a, 0x01, 0x00];
        let other = OtherRevocationInfoFormat {
            other_rev_info_format: ID_RI_OCSP_RESPONSE,
            other_rev_info: Any::from_der(&ocsp_body).unwrap(),
        };
        let inner = other.to_der().unwrap();
        let tagged = Any::new(
            der::Tag::ContextSpecific {
                constructed: true,
                number: der::TagNumber(1),
            },
            // The IMPLICIT [1] replaces the SEQUENCE header: its contents are the SEQUENCE's.
            inner[2..].to_vec(),
        )
        .unwrap();
        let mut data = ValidationData::default();
        from_revocation_choices(&[crl.clone(), tagged], &mut data);
        assert_eq!(data.crls, vec![crl.to_der().unwrap()]);
        assert_eq!(data.ocsps, vec![ocsp_body.to_vec()]);
    }
}
