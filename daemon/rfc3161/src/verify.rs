//! Token verification: [`verify_response`], [`verify_token`] and [`verify_token_against_digest`] check a
//! token against what the caller expects and against the RFC 3161 and RFC 5652 rules, failing with one
//! [`VerifyError`] variant per broken rule, and classify the signer's trust ([`TrustStatus`]).

use der::{
    Encode,
    asn1::{Any, ObjectIdentifier, OctetString},
};
use sigil_cms::{
    CertEntry, EssBinding, EssError,
    algorithms::{SignatureCheck, verify},
    asn1::{Attribute, SetOf, SignerInfo},
    ess::check_signing_certificate,
    trust::{classify, valid_at},
};
use x509_cert::{Certificate, ext::pkix::ExtendedKeyUsage};

use crate::{
    BigInteger, CertificateSummary, HashAlgorithm, SignatureAlgorithm, TrustStatus, TrustStore,
    oids,
    response::{
        ParseError, PkiStatus, TimestampToken, looks_like_content_info, parse_response,
        parse_token, render_status,
    },
};

/// What the caller knows the token must say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectations {
    /// The imprint's hash algorithm.
    pub hash_alg: HashAlgorithm,
    /// The imprint digest.
    pub digest: Vec<u8>,
    /// The nonce sent, which the token must echo.
    pub nonce: Option<BigInteger>,
    /// Policies the caller accepts; `None` accepts any.
    pub acceptable_policies: Option<Vec<ObjectIdentifier>>,
    /// The request set `certReq`, so the token must carry the signer certificate itself (RFC 3161 §2.4.1).
    pub signer_certificate_required: bool,
}

/// Certificates a token may embed. Real TSAs send their chain (two to four); more is an attempt to make
/// chain building expensive.
pub const MAX_EMBEDDED_CERTIFICATES: usize = 16;

/// A token that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The response's PKIStatus (`Granted` for a bare token).
    pub status: PkiStatus,
    /// The parsed token.
    pub token: TimestampToken,
    /// The certificate whose key made the signature.
    pub signer_certificate: Certificate,
    /// The signer certificate, summarised.
    pub signer: CertificateSummary,
    /// The algorithm of the CMS signature.
    pub signature_algorithm: SignatureAlgorithm,
    /// The ESS attribute that bound the signer certificate.
    pub ess_binding: EssBinding,
    /// How far the signer is trusted. Verification succeeds for all three classes: only `Chained` earns a
    /// `PASSED` verdict ([`crate::TimestampVerdict::of_token`]); a caller that accepts tokens must require it.
    pub trust: TrustStatus,
}

/// One failed rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The bytes are not a response or token.
    #[error(transparent)]
    Malformed(#[from] ParseError),
    /// TSTInfo `version` is not 1.
    #[error("TSTInfo version {0} is not supported (expected 1)")]
    UnsupportedVersion(String),
    /// The token embeds more certificates than [`MAX_EMBEDDED_CERTIFICATES`].
    #[error("token embeds {0} certificates, more than the {MAX_EMBEDDED_CERTIFICATES} accepted")]
    TooManyCertificates(usize),
    /// SHA-1 is used where it is no longer accepted (the verifier did not allow it).
    #[error("SHA-1 is not accepted as the {0}")]
    Sha1Refused(&'static str),
    /// The response's status is not granted (0) or grantedWithMods (1).
    #[error("time-stamp request was not granted: status {status:?} {text}")]
    NotGranted {
        /// The status.
        status: PkiStatus,
        /// statusString and failInfo, rendered.
        text: String,
    },
    /// The imprint uses another hash algorithm than expected.
    #[error("message imprint algorithm is {found}, expected {expected}")]
    ImprintAlgorithmMismatch {
        /// The expected OID.
        expected: ObjectIdentifier,
        /// The token's OID.
        found: ObjectIdentifier,
    },
    /// The imprint digest differs from the expected one.
    #[error("message imprint {found_hex} does not match the expected digest {expected_hex}")]
    ImprintMismatch {
        /// Expected digest, hex.
        expected_hex: String,
        /// The token's digest, hex.
        found_hex: String,
    },
    /// The digest given for checking has the wrong length for the token's algorithm.
    #[error("the digest given is {actual} bytes, the token's {algorithm} imprint is {expected}")]
    DigestLength {
        /// The token's hash algorithm.
        algorithm: HashAlgorithm,
        /// Its output length.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// The token's imprint algorithm is not one this crate knows, so a digest cannot be judged.
    #[error("unsupported message imprint algorithm {0}")]
    UnsupportedImprintAlgorithm(ObjectIdentifier),
    /// A nonce was sent but the token has none.
    #[error("token carries no nonce, expected {expected}")]
    NonceMissing {
        /// The nonce sent.
        expected: BigInteger,
    },
    /// The token's nonce is not the one sent.
    #[error("token nonce {found} differs from the nonce sent {expected}")]
    NonceMismatch {
        /// The nonce sent.
        expected: BigInteger,
        /// The token's nonce.
        found: BigInteger,
    },
    /// The token's policy is not acceptable.
    #[error("TSA policy {0} is not acceptable")]
    PolicyNotAccepted(ObjectIdentifier),
    /// A token has exactly one SignerInfo (RFC 3161 §2.4.2).
    #[error("token has {0} SignerInfos, expected exactly one")]
    SignerInfoCount(usize),
    /// The SignerInfo has no signed attributes, which a token must have (content-type, message-digest,
    /// signing certificate).
    #[error("SignerInfo has no signed attributes")]
    MissingSignedAttributes,
    /// A required signed attribute is absent.
    #[error("signed attribute {0} is missing")]
    MissingAttribute(&'static str),
    /// A signed attribute occurs twice, has other than one value, or does not decode.
    #[error("signed attribute {0} is malformed")]
    MalformedAttribute(&'static str),
    /// The content-type attribute is not id-ct-TSTInfo.
    #[error("content-type attribute is {0}, expected id-ct-TSTInfo")]
    ContentTypeMismatch(ObjectIdentifier),
    /// The SignerInfo's digestAlgorithm is not supported.
    #[error("unsupported digest algorithm {0}")]
    UnsupportedDigestAlgorithm(ObjectIdentifier),
    /// The message-digest attribute is not the hash of the TSTInfo.
    #[error("message-digest attribute does not match the hash of the TSTInfo")]
    MessageDigestMismatch,
    /// No embedded or given certificate matches the SignerInfo's sid.
    #[error("signer certificate not found among the embedded and given certificates")]
    SignerCertificateNotFound,
    /// The signature algorithm is not supported (SHA-1 signatures included).
    #[error("unsupported signature algorithm {0}")]
    UnsupportedSignatureAlgorithm(ObjectIdentifier),
    /// The signer's key is of an unsupported type or does not fit the signature algorithm.
    #[error("unsupported signer key: {0}")]
    UnsupportedSignerKey(String),
    /// The CMS signature over the signed attributes does not verify.
    #[error("signature does not verify")]
    SignatureInvalid,
    /// The ESS signing-certificate attribute names another certificate.
    #[error("{0} attribute does not match the signer certificate")]
    SigningCertificateMismatch(&'static str),
    /// The signer certificate has no extendedKeyUsage extension.
    #[error("signer certificate has no extendedKeyUsage (id-kp-timeStamping required)")]
    MissingTimestampingEku,
    /// extendedKeyUsage is present but does not contain id-kp-timeStamping.
    #[error("signer certificate's extendedKeyUsage lacks id-kp-timeStamping")]
    TimestampingEkuAbsent,
    /// extendedKeyUsage carries id-kp-timeStamping but is not marked critical (RFC 3161 §2.3).
    #[error("signer certificate's extendedKeyUsage is not critical")]
    TimestampingEkuNotCritical,
    /// extendedKeyUsage carries purposes beside id-kp-timeStamping (RFC 3161 §2.3: only that one).
    #[error("signer certificate's extendedKeyUsage has other purposes besides timeStamping: {0:?}")]
    ExtraKeyPurposes(Vec<ObjectIdentifier>),
    /// The signer certificate is not valid at genTime.
    #[error(
        "signer certificate (valid {not_before} to {not_after}) is not valid at genTime {gen_time}"
    )]
    SignerCertificateNotValidAtGenTime {
        /// genTime, RFC 3339.
        gen_time: String,
        /// notBefore, RFC 3339.
        not_before: String,
        /// notAfter, RFC 3339.
        not_after: String,
    },
}

/// Broad classes of [`VerifyError`], for mapping to HTTP statuses or error codes in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VerifyErrorKind {
    /// The input does not parse or breaks the token's structure rules.
    Malformed,
    /// The TSA refused the request.
    NotGranted,
    /// The token is well formed but not for this data, nonce or policy.
    Mismatch,
    /// The signature or the ESS binding is wrong.
    BadSignature,
    /// The signer certificate is unfit for time-stamping.
    BadCertificate,
    /// An algorithm or key type this crate does not support.
    Unsupported,
}

impl VerifyError {
    /// The class of this error.
    #[must_use]
    pub fn kind(&self) -> VerifyErrorKind {
        match self {
            Self::Malformed(_)
            | Self::SignerInfoCount(_)
            | Self::MissingSignedAttributes
            | Self::MissingAttribute(_)
            | Self::MalformedAttribute(_)
            | Self::ContentTypeMismatch(_)
            | Self::UnsupportedVersion(_)
            | Self::TooManyCertificates(_) => VerifyErrorKind::Malformed,
            Self::NotGranted { .. } => VerifyErrorKind::NotGranted,
            Self::ImprintAlgorithmMismatch { .. }
            | Self::ImprintMismatch { .. }
            | Self::DigestLength { .. }
            | Self::NonceMissing { .. }
            | Self::NonceMismatch { .. }
            | Self::PolicyNotAccepted(_) => VerifyErrorKind::Mismatch,
            Self::MessageDigestMismatch
            | Self::SignatureInvalid
            | Self::SigningCertificateMismatch(_)
            | Self::SignerCertificateNotFound => VerifyErrorKind::BadSignature,
            Self::MissingTimestampingEku
            | Self::TimestampingEkuAbsent
            | Self::TimestampingEkuNotCritical
            | Self::ExtraKeyPurposes(_)
            | Self::SignerCertificateNotValidAtGenTime { .. } => VerifyErrorKind::BadCertificate,
            Self::UnsupportedImprintAlgorithm(_)
            | Self::UnsupportedDigestAlgorithm(_)
            | Self::UnsupportedSignatureAlgorithm(_)
            | Self::UnsupportedSignerKey(_)
            | Self::Sha1Refused(_) => VerifyErrorKind::Unsupported,
        }
    }
}

/// Verifies a DER `TimeStampResp` against `expected`, classifying the signer against `trust`.
///
/// # Errors
/// The first [`VerifyError`] met, in this order: parsing, status, TSTInfo version, embedded certificate
/// count, SHA-1 imprint, imprint algorithm and digest, nonce,
/// policy, CMS structure and attributes, signer lookup, signature, ESS binding, extendedKeyUsage,
/// signer validity at genTime.
pub fn verify_response(
    resp_der: &[u8],
    expected: &Expectations,
    trust: &TrustStore,
) -> Result<VerifiedToken, VerifyError> {
    let response = parse_response(resp_der)?;
    if !response.status.is_granted() {
        return Err(VerifyError::NotGranted {
            status: response.status,
            text: render_status(&response),
        });
    }
    let status = response.status;
    // `parse_response` refuses a granted response without a token.
    let token = response.token.ok_or(ParseError::MissingToken(status))?;
    verify_parsed(token, status, expected, trust)
}

/// Verifies a bare token (ContentInfo) against `expected`.
///
/// # Errors
/// As [`verify_response`], without the status check.
pub fn verify_token(
    token_der: &[u8],
    expected: &Expectations,
    trust: &TrustStore,
) -> Result<VerifiedToken, VerifyError> {
    let token = parse_token(token_der)?;
    verify_parsed(token, PkiStatus::Granted, expected, trust)
}

/// `/tsa/verify-hash`: checks that `digest` is the token's imprint (with the token's own algorithm),
/// then the signature, the signer's extendedKeyUsage and validity, and classifies trust. Accepts a
/// `TimeStampResp` or a bare token. No nonce or policy is checked.
///
/// # Errors
/// [`VerifyError::ImprintMismatch`] (carrying both digests) when the data differs, otherwise as
/// [`verify_response`].
pub fn verify_token_against_digest(
    tsr_der: &[u8],
    digest: &[u8],
    trust: &TrustStore,
) -> Result<VerifiedToken, VerifyError> {
    let (token, status) = if looks_like_content_info(tsr_der) {
        (parse_token(tsr_der)?, PkiStatus::Granted)
    } else {
        let response = parse_response(tsr_der)?;
        if !response.status.is_granted() {
            return Err(VerifyError::NotGranted {
                status: response.status,
                text: render_status(&response),
            });
        }
        let status = response.status;
        (
            response.token.ok_or(ParseError::MissingToken(status))?,
            status,
        )
    };
    let hash_alg = token
        .hash_algorithm
        .ok_or(VerifyError::UnsupportedImprintAlgorithm(
            token.hash_algorithm_oid,
        ))?;
    if digest.len() != hash_alg.output_len() {
        return Err(VerifyError::DigestLength {
            algorithm: hash_alg,
            expected: hash_alg.output_len(),
            actual: digest.len(),
        });
    }
    let expected = Expectations {
        hash_alg,
        digest: digest.to_vec(),
        nonce: None,
        acceptable_policies: None,
        signer_certificate_required: false,
    };
    verify_parsed(token, status, &expected, trust)
}

fn verify_parsed(
    token: TimestampToken,
    status: PkiStatus,
    expected: &Expectations,
    trust: &TrustStore,
) -> Result<VerifiedToken, VerifyError> {
    if token.version != BigInteger::from(1u64) {
        return Err(VerifyError::UnsupportedVersion(token.version.to_decimal()));
    }
    if token.parts.certs.len() > MAX_EMBEDDED_CERTIFICATES {
        return Err(VerifyError::TooManyCertificates(token.parts.certs.len()));
    }
    if token.hash_algorithm == Some(HashAlgorithm::Sha1) && !trust.sha1_allowed() {
        return Err(VerifyError::Sha1Refused("message imprint algorithm"));
    }
    check_expectations(&token, expected)?;
    let info = match token.parts.signer_infos.as_slice() {
        [only] => only,
        other => return Err(VerifyError::SignerInfoCount(other.len())),
    };
    let attributes = info
        .signed_attrs
        .as_ref()
        .ok_or(VerifyError::MissingSignedAttributes)?;
    check_content_attributes(info, attributes, &token.parts.e_content)?;

    if HashAlgorithm::from_algorithm_identifier(&info.digest_algorithm) == Some(HashAlgorithm::Sha1)
        && !trust.sha1_allowed()
    {
        return Err(VerifyError::Sha1Refused("SignerInfo digest algorithm"));
    }
    let signer = find_signer(info, &token, trust, expected.signer_certificate_required)?;
    let signed_bytes = attributes
        .to_der()
        .map_err(|_| VerifyError::MalformedAttribute("signedAttrs"))?;
    let digest_hint = HashAlgorithm::from_algorithm_identifier(&info.digest_algorithm);
    let spki = signer
        .certificate
        .tbs_certificate()
        .subject_public_key_info();
    let signature = info.signature.as_bytes();
    let signature_algorithm = match verify(
        &info.signature_algorithm,
        digest_hint,
        spki,
        &signed_bytes,
        signature,
    ) {
        Ok(algorithm) => algorithm,
        Err(SignatureCheck::Invalid) => {
            // RFC 5652 signs the DER of the attributes; a signer that sent them unsorted may still have
            // signed the sorted form.
            let sorted = SetOf::der_sorted(attributes.0.clone()).and_then(|set| set.to_der());
            match sorted {
                Ok(sorted) if sorted != signed_bytes => verify(
                    &info.signature_algorithm,
                    digest_hint,
                    spki,
                    &sorted,
                    signature,
                )
                .map_err(signature_error)?,
                _ => return Err(VerifyError::SignatureInvalid),
            }
        }
        Err(other) => return Err(signature_error(other)),
    };

    let ess_binding = check_ess_binding(attributes, &signer)?;
    check_time_stamping_eku(&signer.certificate)?;
    let gen_time = token.gen_time.unix_seconds();
    if !valid_at(&signer.certificate, gen_time) {
        let summary = signer.summary();
        return Err(VerifyError::SignerCertificateNotValidAtGenTime {
            gen_time: token.gen_time.to_rfc3339(),
            not_before: summary.not_before,
            not_after: summary.not_after,
        });
    }
    let trust_status = classify(&signer, &token.parts.certs, trust, gen_time);
    Ok(VerifiedToken {
        status,
        signer: signer.summary(),
        signer_certificate: signer.certificate,
        token,
        signature_algorithm,
        ess_binding,
        trust: trust_status,
    })
}

fn signature_error(check: SignatureCheck) -> VerifyError {
    match check {
        SignatureCheck::Invalid => VerifyError::SignatureInvalid,
        SignatureCheck::UnsupportedAlgorithm(oid) => {
            VerifyError::UnsupportedSignatureAlgorithm(oid)
        }
        SignatureCheck::UnsupportedKey(detail) => VerifyError::UnsupportedSignerKey(detail),
        SignatureCheck::KeyMismatch => VerifyError::UnsupportedSignerKey(
            "the key type does not fit the signature algorithm".into(),
        ),
    }
}

fn check_expectations(token: &TimestampToken, expected: &Expectations) -> Result<(), VerifyError> {
    if token.hash_algorithm_oid != expected.hash_alg.oid() {
        return Err(VerifyError::ImprintAlgorithmMismatch {
            expected: expected.hash_alg.oid(),
            found: token.hash_algorithm_oid,
        });
    }
    if token.message_imprint != expected.digest {
        return Err(VerifyError::ImprintMismatch {
            expected_hex: crate::hex(&expected.digest),
            found_hex: crate::hex(&token.message_imprint),
        });
    }
    if let Some(nonce) = &expected.nonce {
        match &token.nonce {
            None => {
                return Err(VerifyError::NonceMissing {
                    expected: nonce.clone(),
                });
            }
            Some(found) if found != nonce => {
                return Err(VerifyError::NonceMismatch {
                    expected: nonce.clone(),
                    found: found.clone(),
                });
            }
            Some(_) => {}
        }
    }
    if let Some(policies) = &expected.acceptable_policies
        && !policies.contains(&token.policy)
    {
        return Err(VerifyError::PolicyNotAccepted(token.policy));
    }
    Ok(())
}

/// The single value of the attribute `oid`, `None` when absent.
fn single_value<'a>(
    attributes: &'a SetOf<Attribute>,
    oid: ObjectIdentifier,
    name: &'static str,
) -> Result<Option<&'a Any>, VerifyError> {
    attributes
        .single_value(oid)
        .map_err(|_| VerifyError::MalformedAttribute(name))
}

fn check_content_attributes(
    info: &SignerInfo,
    attributes: &SetOf<Attribute>,
    e_content: &[u8],
) -> Result<(), VerifyError> {
    let content_type = single_value(attributes, oids::ID_CONTENT_TYPE, "content-type")?
        .ok_or(VerifyError::MissingAttribute("content-type"))?
        .decode_as::<ObjectIdentifier>()
        .map_err(|_| VerifyError::MalformedAttribute("content-type"))?;
    if content_type != oids::ID_CT_TST_INFO {
        return Err(VerifyError::ContentTypeMismatch(content_type));
    }
    let message_digest = single_value(attributes, oids::ID_MESSAGE_DIGEST, "message-digest")?
        .ok_or(VerifyError::MissingAttribute("message-digest"))?
        .decode_as::<OctetString>()
        .map_err(|_| VerifyError::MalformedAttribute("message-digest"))?;
    let digest_alg = HashAlgorithm::from_algorithm_identifier(&info.digest_algorithm).ok_or(
        VerifyError::UnsupportedDigestAlgorithm(info.digest_algorithm.oid),
    )?;
    if digest_alg.digest(e_content) != message_digest.as_bytes() {
        return Err(VerifyError::MessageDigestMismatch);
    }
    Ok(())
}

/// The certificate named by the SignerInfo's sid: from the token, or (unless the request set `certReq`, which
/// obliges the TSA to embed it) from the verifier's known certificates.
fn find_signer(
    info: &SignerInfo,
    token: &TimestampToken,
    trust: &TrustStore,
    embedded_only: bool,
) -> Result<CertEntry, VerifyError> {
    let known: &[CertEntry] = if embedded_only {
        &[]
    } else {
        trust.intermediate_entries()
    };
    let roots: &[CertEntry] = if embedded_only {
        &[]
    } else {
        trust.root_entries()
    };
    token
        .parts
        .certs
        .iter()
        .chain(known)
        .chain(roots)
        .find(|entry| info.sid.matches(&entry.certificate))
        .cloned()
        .ok_or(VerifyError::SignerCertificateNotFound)
}

/// The ESS binding of the signer certificate (sigil-cms's check), in this crate's errors.
fn check_ess_binding(
    attributes: &SetOf<Attribute>,
    signer: &CertEntry,
) -> Result<EssBinding, VerifyError> {
    check_signing_certificate(attributes, signer).map_err(|error| match error {
        // RFC 3161 §2.4.1: the signer certificate is bound by one of the two ESS attributes.
        EssError::Missing => {
            VerifyError::MissingAttribute("signing-certificate or signing-certificate-v2")
        }
        EssError::Malformed(name) => VerifyError::MalformedAttribute(name),
        EssError::UnsupportedHash(oid) => VerifyError::UnsupportedDigestAlgorithm(oid),
        EssError::Mismatch(name) => VerifyError::SigningCertificateMismatch(name),
    })
}

/// RFC 3161 §2.3: the TSA certificate carries exactly one extendedKeyUsage purpose, id-kp-timeStamping,
/// and the extension is critical.
fn check_time_stamping_eku(certificate: &Certificate) -> Result<(), VerifyError> {
    let (critical, usage) = certificate
        .tbs_certificate()
        .get_extension::<ExtendedKeyUsage>()
        .map_err(|_| VerifyError::MissingTimestampingEku)?
        .ok_or(VerifyError::MissingTimestampingEku)?;
    if !usage.0.contains(&oids::ID_KP_TIME_STAMPING) {
        return Err(VerifyError::TimestampingEkuAbsent);
    }
    if !critical {
        return Err(VerifyError::TimestampingEkuNotCritical);
    }
    let others: Vec<ObjectIdentifier> = usage
        .0
        .iter()
        .copied()
        .filter(|purpose| *purpose != oids::ID_KP_TIME_STAMPING)
        .collect();
    if !others.is_empty() {
        return Err(VerifyError::ExtraKeyPurposes(others));
    }
    Ok(())
}
