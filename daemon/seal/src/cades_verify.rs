//! Verification of someone else's detached CAdES (or a PAdES signature's CMS) against the content digests
//! the caller computed: [`verify_cades`] runs the checks of EN 319 102-1 in order and reports the first
//! that failed, with the ETSI indication, the level reached and what it learnt about signer and time-stamp.

use der::asn1::{ObjectIdentifier, OctetString};
use sigil_cms::{
    CertificateSummary, CmsSignatureAlgorithm, EssError, HashAlgorithm, SubIndication, Verdict,
    algorithms::SignatureCheck,
    asn1::{Attribute, SetOf},
    ess::check_signing_certificate,
    oids,
    signed_data::{
        ID_AA_SIGNATURE_TIME_STAMP_TOKEN, SignerInfoCheck, find_signer, parse_signed_data,
        verify_signer_info,
    },
    time::{rfc3339, unix_seconds},
};
use x509_cert::time::Time;

use crate::revocation_checks::{
    PreparedValidationData, RevocationReport, RevocationStatus, ValidationData,
    from_revocation_choices, judge_revocation, revoked_verdict,
};
use crate::signer_checks::{
    CertificateTrust, TimestampReport, TrustSettings, final_verdict, is_eidas_qualified,
    judge_signer, verify_timestamp,
};

/// `id-aa-ets-certValues` (RFC 5126): validation data of CAdES-X-L / B-LT.
const ID_AA_ETS_CERT_VALUES: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.23");
/// `id-aa-ets-revocationValues` (RFC 5126).
const ID_AA_ETS_REVOCATION_VALUES: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.24");
/// `id-aa-ets-archiveTimestampV3` (EN 319 122-1): B-LTA.
const ID_AA_ETS_ARCHIVE_TIMESTAMP_V3: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("0.4.0.1733.2.4");

/// The baseline level a signature reached (EN 319 122-1 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Basic signature with the signing certificate bound.
    BB,
    /// With a signature time-stamp.
    BT,
    /// With validation data (certificates and revocation values).
    BLt,
    /// With an archive time-stamp.
    BLta,
}

impl Level {
    /// `B-B`, `B-T`, `B-LT`, `B-LTA`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BB => "B-B",
            Self::BT => "B-T",
            Self::BLt => "B-LT",
            Self::BLta => "B-LTA",
        }
    }
}

/// Which check a verification stopped at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SealCheck {
    /// The structure (CMS, JWS JSON, headers).
    Format,
    /// The content-type attribute.
    ContentType,
    /// The message-digest against the supplied content digest (JAdES: `sigD` hashes).
    ContentDigest,
    /// Finding the signer certificate.
    SignerCertificate,
    /// The signature value.
    Signature,
    /// The ESS signing-certificate(-v2) binding (JAdES: `x5t#S256`).
    SigningCertificateBinding,
    /// The signature time-stamp.
    Timestamp,
    /// The signer certificate's validity or key usage.
    Certificate,
    /// The chain to an anchor.
    Trust,
    /// The signer certificate's revocation status (embedded OCSP responses or CRLs say it is revoked).
    Revocation,
}

impl SealCheck {
    /// A stable lowercase name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Format => "format",
            Self::ContentType => "content_type",
            Self::ContentDigest => "content_digest",
            Self::SignerCertificate => "signer_certificate",
            Self::Signature => "signature",
            Self::SigningCertificateBinding => "signing_certificate_binding",
            Self::Timestamp => "timestamp",
            Self::Certificate => "certificate",
            Self::Trust => "trust",
            Self::Revocation => "revocation",
        }
    }
}

/// A digest of the signed content, as the caller computed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentDigest {
    /// The algorithm.
    pub algorithm: HashAlgorithm,
    /// The digest.
    pub digest: Vec<u8>,
}

/// What a verification found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealReport {
    /// Indication, sub-indication and message.
    pub verdict: Verdict,
    /// The check that failed or could not be completed; `None` when `PASSED`, and for a sound signature
    /// whose only shortfall is its trust (then `Some(Trust)`).
    pub failed_check: Option<SealCheck>,
    /// The level reached; `None` when the basic signature did not verify.
    pub level: Option<Level>,
    /// Whether the content digest matched; `None` when it was not checked.
    pub hash_match: Option<bool>,
    /// Whether the signature value verified under the signer certificate.
    pub signature_valid: bool,
    /// The signer certificate, when identified.
    pub signer: Option<CertificateSummary>,
    /// The signer's trust (`untrusted` until classified).
    pub trust: CertificateTrust,
    /// The signer certificate has the QcCompliance statement.
    pub qualified: bool,
    /// The claimed signing time (signing-time attribute or `sigT`), RFC 3339.
    pub signing_time: Option<String>,
    /// The signature time-stamp, when present and verified.
    pub timestamp: Option<TimestampReport>,
    /// The signature algorithm, when the signature verified.
    pub signature_algorithm: Option<CmsSignatureAlgorithm>,
    /// What the embedded revocation data (CMS `RevocationInfoChoices`, or the caller's, e.g. a PDF's DSS)
    /// says about the signer certificate.
    pub revocation: RevocationReport,
    /// Things a verifier should know that did not change the verdict.
    pub warnings: Vec<String>,
}

impl SealReport {
    pub(crate) fn new() -> Self {
        Self {
            verdict: Verdict::failed(SubIndication::FormatFailure, String::new()),
            failed_check: None,
            level: None,
            hash_match: None,
            signature_valid: false,
            signer: None,
            trust: CertificateTrust::Untrusted,
            qualified: false,
            signing_time: None,
            timestamp: None,
            signature_algorithm: None,
            revocation: RevocationReport::none(),
            warnings: Vec::new(),
        }
    }

    pub(crate) fn stop(mut self, check: SealCheck, verdict: Verdict) -> Self {
        self.failed_check = Some(check);
        self.verdict = verdict;
        self
    }
}

/// Verifies a detached CAdES signature (DER or BER) over content whose digests are `digests` (at least the
/// one the SignerInfo's digestAlgorithm names).
///
/// Checks, in order: structure and one SignerInfo; content-type; message-digest; signer certificate; the
/// signature over the received signed attributes; the ESS signing-certificate(-v2) binding; the signature
/// time-stamp (imprint = hash of the signature value; its TSA against `settings.tsa`); the signer
/// certificate's validity at the claimed signing time and at the validation time (a trusted time-stamp's
/// genTime, else now), its key usage; and the chain.
#[must_use]
pub fn verify_cades(
    cms: &[u8],
    digests: &[ContentDigest],
    settings: &TrustSettings<'_>,
) -> SealReport {
    verify_cades_with(cms, digests, settings, &PreparedValidationData::default())
}

/// [`verify_cades`] with validation data found beside the signature (a PDF's DSS): with the CMS's own
/// `RevocationInfoChoices` it decides the signer's revocation status. A revoked signer is never `PASSED`
/// (`FAILED REVOKED` when the signature time-stamp is not earlier than the revocation, else `INDETERMINATE
/// REVOKED_NO_POE`); `good`, `unknown` and `none` leave the verdict to the other checks.
#[must_use]
pub fn verify_cades_with(
    cms: &[u8],
    digests: &[ContentDigest],
    settings: &TrustSettings<'_>,
    beside: &PreparedValidationData,
) -> SealReport {
    let report = SealReport::new();
    let format = |message: String| Verdict::failed(SubIndication::FormatFailure, message);
    let parsed = match parse_signed_data(cms) {
        Ok(parsed) => parsed,
        Err(error) => return report.stop(SealCheck::Format, format(error.to_string())),
    };
    let info = match parsed.signed_data.signer_infos.0.as_slice() {
        [only] => only,
        other => {
            return report.stop(
                SealCheck::Format,
                format(format!("{} SignerInfos, expected exactly one", other.len())),
            );
        }
    };
    let Some(attributes) = info.signed_attrs.as_ref() else {
        return report.stop(
            SealCheck::Format,
            format("the SignerInfo has no signed attributes".into()),
        );
    };
    verify_parsed(report, &parsed, info, attributes, digests, settings, beside)
}

fn verify_parsed(
    mut report: SealReport,
    parsed: &sigil_cms::ParsedSignedData,
    info: &sigil_cms::asn1::SignerInfo,
    attributes: &SetOf<Attribute>,
    digests: &[ContentDigest],
    settings: &TrustSettings<'_>,
    beside: &PreparedValidationData,
) -> SealReport {
    let format = |message: String| Verdict::failed(SubIndication::FormatFailure, message);
    // Content type: present, single, and equal to the encapsulated content type (RFC 5652 §11.1).
    let content_type = attributes
        .single_value(oids::ID_CONTENT_TYPE)
        .ok()
        .flatten()
        .and_then(|value| value.decode_as::<ObjectIdentifier>().ok());
    let e_content_type = parsed.signed_data.encap_content_info.e_content_type;
    match content_type {
        None => {
            return report.stop(
                SealCheck::ContentType,
                format("signed attribute content-type is missing or malformed".into()),
            );
        }
        Some(found) if found != e_content_type => {
            return report.stop(
                SealCheck::ContentType,
                format(format!(
                    "content-type attribute {found} differs from the encapsulated content type {e_content_type}"
                )),
            );
        }
        Some(_) => {}
    }

    // Message digest against the caller's digest of the content.
    let Some(digest_algorithm) = HashAlgorithm::from_algorithm_identifier(&info.digest_algorithm)
    else {
        return report.stop(
            SealCheck::ContentDigest,
            Verdict::indeterminate(
                SubIndication::CryptoConstraintsFailure,
                format!("unsupported digest algorithm {}", info.digest_algorithm.oid),
            ),
        );
    };
    if digest_algorithm == HashAlgorithm::Sha1 {
        return report.stop(
            SealCheck::ContentDigest,
            Verdict::indeterminate(
                SubIndication::CryptoConstraintsFailure,
                "SHA-1 is not accepted as the digest algorithm".into(),
            ),
        );
    }
    let message_digest = attributes
        .single_value(oids::ID_MESSAGE_DIGEST)
        .ok()
        .flatten()
        .and_then(|value| value.decode_as::<OctetString>().ok());
    let Some(message_digest) = message_digest else {
        return report.stop(
            SealCheck::ContentDigest,
            format("signed attribute message-digest is missing or malformed".into()),
        );
    };
    let Some(supplied) = digests.iter().find(|d| d.algorithm == digest_algorithm) else {
        return report.stop(
            SealCheck::ContentDigest,
            Verdict::indeterminate(
                SubIndication::PolicyProcessingError,
                format!(
                    "the signature uses {digest_algorithm}, but no {digest_algorithm} digest of the content was supplied"
                ),
            ),
        );
    };
    let hash_match = supplied.digest == message_digest.as_bytes();
    report.hash_match = Some(hash_match);
    if !hash_match {
        return report.stop(
            SealCheck::ContentDigest,
            Verdict::failed(
                SubIndication::HashFailure,
                format!(
                    "the content does not match the signature: its {digest_algorithm} is {}, the signed message-digest is {}",
                    sigil_cms::hex(&supplied.digest),
                    sigil_cms::hex(message_digest.as_bytes())
                ),
            ),
        );
    }

    // Signer certificate: embedded, or among the verifier's known certificates.
    let known = settings
        .anchors
        .intermediate_entries()
        .iter()
        .chain(settings.anchors.root_entries())
        .chain(settings.platform.intermediate_entries())
        .chain(settings.platform.root_entries());
    let Some(signer) = find_signer(info, parsed.certificates.iter().chain(known)).cloned() else {
        return report.stop(
            SealCheck::SignerCertificate,
            Verdict::indeterminate(
                SubIndication::NoSigningCertificateFound,
                "the signer certificate named by the SignerInfo is neither embedded nor known"
                    .into(),
            ),
        );
    };
    report.signer = Some(signer.summary());
    report.qualified = is_eidas_qualified(&signer.certificate);

    // The signature over the received signed attributes.
    let spki = signer
        .certificate
        .tbs_certificate()
        .subject_public_key_info();
    match verify_signer_info(info, spki) {
        Ok(algorithm) => {
            report.signature_valid = true;
            report.signature_algorithm = Some(algorithm);
        }
        Err(SignerInfoCheck::Signature(SignatureCheck::Invalid)) => {
            return report.stop(
                SealCheck::Signature,
                Verdict::failed(
                    SubIndication::SigCryptoFailure,
                    "the signature does not verify under the signer certificate's key".into(),
                ),
            );
        }
        Err(other) => {
            return report.stop(
                SealCheck::Signature,
                Verdict::indeterminate(SubIndication::CryptoConstraintsFailure, other.to_string()),
            );
        }
    }

    // ESS binding (EN 319 122-1 §5.2.2: mandatory for every baseline level).
    if let Err(error) = check_signing_certificate(attributes, &signer) {
        let message = match error {
            EssError::Missing => "signed attribute signing-certificate-v2 (or signing-certificate) is missing, so the signature does not identify its certificate (CAdES baseline requires it)".to_owned(),
            other => other.to_string(),
        };
        return report.stop(
            SealCheck::SigningCertificateBinding,
            Verdict::indeterminate(SubIndication::NoSigningCertificateFound, message),
        );
    }
    report.level = Some(Level::BB);

    let signing_time = attributes
        .single_value(oids::ID_SIGNING_TIME)
        .ok()
        .flatten()
        .and_then(|value| value.decode_as::<Time>().ok())
        .map(|time| unix_seconds(&time));
    report.signing_time = signing_time.map(rfc3339);

    // Signature time-stamp(s): the first one is verified; its genTime is the proof of existence.
    let unsigned = info.unsigned_attrs.as_ref();
    let tokens: Vec<Vec<u8>> = unsigned
        .iter()
        .flat_map(|set| set.0.iter())
        .filter(|attribute| attribute.attr_type == ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
        .flat_map(|attribute| attribute.attr_values.0.iter())
        .filter_map(|value| der::Encode::to_der(value).ok())
        .collect();
    let mut validation_time = settings.now;
    if let Some(token) = tokens.first() {
        match verify_timestamp(token, info.signature.as_bytes(), settings.tsa) {
            Ok(timestamp) => {
                if timestamp.trusted {
                    validation_time = timestamp.gen_time_unix;
                } else {
                    report.warnings.push(format!(
                        "the signature time-stamp's TSA is not trusted ({}), so its time is not used as proof of existence",
                        timestamp.verdict.message
                    ));
                }
                if let Some(claimed) = signing_time
                    && claimed > timestamp.gen_time_unix + 300
                {
                    report.warnings.push(
                        "the claimed signing time is later than the signature time-stamp".into(),
                    );
                }
                report.timestamp = Some(timestamp);
                report.level = Some(Level::BT);
            }
            Err(verdict) => return report.stop(SealCheck::Timestamp, verdict),
        }
        if tokens.len() > 1 {
            report.warnings.push(format!(
                "{} signature time-stamps; only the first was verified",
                tokens.len()
            ));
        }
    }
    if report.level == Some(Level::BT) {
        let has = |oid| unsigned.is_some_and(|set| set.0.iter().any(|a| a.attr_type == oid));
        let validation_data = has(ID_AA_ETS_CERT_VALUES)
            || has(ID_AA_ETS_REVOCATION_VALUES)
            || parsed
                .signed_data
                .crls
                .as_ref()
                .is_some_and(|crls| !crls.0.is_empty());
        if validation_data {
            report.level = Some(Level::BLt);
            if has(ID_AA_ETS_REVOCATION_VALUES) {
                report.warnings.push(
                    "revocation values in unsigned attributes (CAdES-X-L) are not read; only SignedData's RevocationInfoChoices and the caller's validation data are".into(),
                );
            }
            if has(ID_AA_ETS_ARCHIVE_TIMESTAMP_V3) {
                report.level = Some(Level::BLta);
                report
                    .warnings
                    .push("archive time-stamps are not verified".into());
            }
        }
    }

    // The claimed signing time must fall inside the certificate's validity too.
    if let Some(claimed) = signing_time
        && !sigil_cms::trust::valid_at(&signer.certificate, claimed)
    {
        return report.stop(
            SealCheck::Certificate,
            Verdict::indeterminate(
                SubIndication::OutOfBoundsNoPoe,
                format!(
                    "the signer certificate is not valid at the claimed signing time {}",
                    rfc3339(claimed)
                ),
            ),
        );
    }
    match judge_signer(&signer, &parsed.certificates, settings, validation_time) {
        Ok((trust, status)) => {
            report.trust = trust;
            report.verdict = final_verdict(trust, &status);
            if !trust.is_anchored() {
                report.failed_check = Some(SealCheck::Trust);
            }
            let mut own = ValidationData::default();
            if let Some(choices) = &parsed.signed_data.crls {
                from_revocation_choices(&choices.0, &mut own);
            }
            let own = own.prepare();
            let known = parsed
                .certificates
                .iter()
                .chain(settings.anchors.intermediate_entries())
                .chain(settings.anchors.root_entries())
                .chain(settings.platform.intermediate_entries())
                .chain(settings.platform.root_entries());
            let proven = report
                .timestamp
                .as_ref()
                .filter(|t| t.trusted)
                .map(|t| t.gen_time_unix);
            report.revocation =
                judge_revocation(&signer, known, &[beside, &own], proven, settings.now);
            for problem in &report.revocation.problems {
                report.warnings.push(format!(
                    "embedded revocation data about the signer does not verify: {problem}"
                ));
            }
            if let Some(note) = &report.revocation.note {
                report.warnings.push(note.clone());
            }
            if let RevocationStatus::Revoked { time_unix, .. } = report.revocation.status {
                report.failed_check = Some(SealCheck::Revocation);
                report.verdict = revoked_verdict(time_unix, proven);
            }
            report
        }
        Err(verdict) => report.stop(SealCheck::Certificate, verdict),
    }
}
