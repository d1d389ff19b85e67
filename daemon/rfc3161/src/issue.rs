//! The local TSA: [`issue_token`] answers a [`ParsedRequest`] with a strict-DER granted `TimeStampResp`,
//! [`reject`] builds a refusal, and [`respond`] does both from request bytes. Signing goes through
//! [`TsaSigner`], so the key may live in a KMS or HSM.

use std::time::SystemTime;

use der::{
    Encode,
    asn1::{Any, BitString, Int, ObjectIdentifier, OctetString, Utf8StringRef},
};
use x509_cert::{Certificate, ext::pkix::name::GeneralName};

use crate::{
    Accuracy, BigInteger, FailureInfo, GenTime, HashAlgorithm, ParsedRequest, PkiStatus,
    RequestError, SignerError, TimeError, TsaSigner,
    asn1::{AccuracyAsn, MessageImprint, PkiStatusInfo, TimeStampResp, TstInfo},
    oids,
};
use sigil_cms::{
    algorithms::verify,
    asn1::{
        Attribute, ContentInfo, EncapsulatedContentInfo, EssCertIdV2, IssuerAndSerialNumber,
        IssuerSerial, SetOf, SignedData, SignerIdentifier, SignerInfo, SigningCertificateV2,
    },
    time::x509_time,
};

/// Bytes of randomness in generated token serial numbers.
const SERIAL_BYTES: usize = 16;

/// How the local TSA stamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsaPolicy {
    /// The TSA policy OID written into every token; a request asking for another policy is refused with
    /// `unacceptedPolicy`.
    pub policy_oid: ObjectIdentifier,
    /// The accuracy to state. When it is below one second, genTime carries matching fractional digits.
    pub accuracy: Option<Accuracy>,
    /// The TSTInfo `ordering` flag (whether tokens from this TSA can be ordered by genTime alone).
    pub ordering: bool,
    /// Whether to name the TSA (the certificate's subject) in the TSTInfo `tsa` field.
    pub include_tsa_name: bool,
}

/// What every token repeats about the signer's chain, encoded once: the SHA-256 of the TSA certificate (for
/// the ESSCertIDv2) and the DER-sorted certificate SET (for requests with certReq). A TSA that issues many
/// tokens keeps one and returns it from [`TsaSigner::prepared_chain`].
#[derive(Clone, Debug)]
pub struct PreparedChain {
    leaf_sha256: Vec<u8>,
    certificates: SetOf<Any>,
}

impl PreparedChain {
    /// Encodes `chain` (TSA certificate first).
    ///
    /// # Errors
    /// [`IssueError::EmptyCertificateChain`], or an encoding error.
    pub fn new(chain: &[Certificate]) -> Result<Self, IssueError> {
        let leaf = chain.first().ok_or(IssueError::EmptyCertificateChain)?;
        let leaf_sha256 = HashAlgorithm::Sha256.digest(&leaf.to_der()?);
        let encoded = chain
            .iter()
            .map(Any::encode_from)
            .collect::<der::Result<Vec<_>>>()?;
        Ok(Self {
            leaf_sha256,
            certificates: SetOf::der_sorted(encoded)?,
        })
    }
}

/// A token issued by [`issue_token`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    /// The granted `TimeStampResp` to send (`application/timestamp-reply`).
    pub response_der: Vec<u8>,
    /// The token alone (ContentInfo), for storage or embedding in a CMS signature.
    pub token_der: Vec<u8>,
    /// The serial number in the token.
    pub serial: BigInteger,
    /// The genTime in the token.
    pub gen_time: GenTime,
}

/// Why no token was issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The request bytes were refused.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The request asks for a policy this TSA does not stamp under.
    #[error("requested policy {0} is not this TSA's policy")]
    UnacceptedPolicy(ObjectIdentifier),
    /// The imprint's algorithm is not SHA-256, SHA-384 or SHA-512.
    #[error("unsupported message imprint algorithm {0}")]
    UnsupportedHashAlgorithm(ObjectIdentifier),
    /// The imprint digest does not fit its algorithm.
    #[error("{algorithm} digest must be {expected} bytes, got {actual}")]
    DigestLength {
        /// The algorithm.
        algorithm: HashAlgorithm,
        /// Its output length.
        expected: usize,
        /// The digest's length.
        actual: usize,
    },
    /// The signer has no certificate.
    #[error("the TSA signer has no certificate")]
    EmptyCertificateChain,
    /// The serial number given is not positive or longer than 20 bytes.
    #[error("token serial numbers must be positive and at most 20 bytes")]
    InvalidSerial,
    /// The time cannot be encoded.
    #[error("genTime cannot be encoded: {0}")]
    InvalidTime(#[from] TimeError),
    /// The signer failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// The signer's output or certificate is unfit ([`check_signer`]).
    #[error("TSA signer misconfigured: {0}")]
    SignerMisconfigured(String),
    /// The random source failed.
    #[error("random source failed: {0}")]
    Random(String),
    /// Encoding failed.
    #[error("encoding failed: {0}")]
    Encoding(#[from] der::Error),
}

impl IssueError {
    /// The PKIFailureInfo a refusal carries for this error.
    #[must_use]
    pub fn failure_info(&self) -> FailureInfo {
        match self {
            Self::Request(error) => error.failure_info(),
            Self::UnacceptedPolicy(_) => FailureInfo::UnacceptedPolicy,
            Self::UnsupportedHashAlgorithm(_) => FailureInfo::BadAlg,
            Self::DigestLength { .. } => FailureInfo::BadDataFormat,
            Self::InvalidTime(_) => FailureInfo::TimeNotAvailable,
            Self::EmptyCertificateChain
            | Self::InvalidSerial
            | Self::Signer(_)
            | Self::SignerMisconfigured(_)
            | Self::Random(_)
            | Self::Encoding(_) => FailureInfo::SystemFailure,
        }
    }
}

/// A refused request: the `TimeStampResp` to send back and the reason, for logs and metrics.
#[derive(Debug)]
pub struct Refusal {
    /// The rejection `TimeStampResp` (status `rejection`, one failInfo bit, the error as statusString).
    pub response_der: Vec<u8>,
    /// Why.
    pub error: IssueError,
}

/// Answers request bytes: a token, or a refusal ready to send. Internal failures (signer, random source)
/// are refused with `systemFailure` and a generic text, so no internal detail reaches the client.
///
/// # Errors
/// [`Refusal`] carrying the rejection response and the cause.
pub fn respond(
    request_der: &[u8],
    signer: &dyn TsaSigner,
    policy: &TsaPolicy,
    gen_time: SystemTime,
) -> Result<IssuedToken, Refusal> {
    let outcome = ParsedRequest::from_der(request_der)
        .map_err(IssueError::from)
        .and_then(|request| issue_token(&request, signer, policy, None, gen_time));
    outcome.map_err(|error| {
        let failure = error.failure_info();
        let text = if failure == FailureInfo::SystemFailure {
            "system failure".to_owned()
        } else {
            error.to_string()
        };
        Refusal {
            response_der: reject(PkiStatus::Rejection, failure, &text),
            error,
        }
    })
}

/// Issues a token for `request` at `gen_time`, signed by `signer`.
///
/// `serial` is the token's serial number; `None` draws 128 random bits (RFC 3161 requires uniqueness per
/// TSA; a random serial of at least 64 bits needs no coordination between daemon nodes). The response is
/// strict DER: signed attributes (content-type, signing-time, message-digest, signing-certificate-v2 with
/// an ESSCertIDv2 over SHA-256) and the certificate SET are sorted; certificates are included only when
/// the request has certReq.
///
/// # Errors
/// [`IssueError`]; [`IssueError::failure_info`] gives the failInfo for a [`reject`] reply.
pub fn issue_token(
    request: &ParsedRequest,
    signer: &dyn TsaSigner,
    policy: &TsaPolicy,
    serial: Option<BigInteger>,
    gen_time: SystemTime,
) -> Result<IssuedToken, IssueError> {
    let hash = request.hash_algorithm;
    if hash == HashAlgorithm::Sha1 {
        return Err(IssueError::UnsupportedHashAlgorithm(hash.oid()));
    }
    if request.digest.len() != hash.output_len() {
        return Err(IssueError::DigestLength {
            algorithm: hash,
            expected: hash.output_len(),
            actual: request.digest.len(),
        });
    }
    if let Some(requested) = request.policy
        && requested != policy.policy_oid
    {
        return Err(IssueError::UnacceptedPolicy(requested));
    }
    let chain = signer.certificate_chain();
    let leaf = chain.first().ok_or(IssueError::EmptyCertificateChain)?;
    let serial = match serial {
        Some(serial)
            if serial.is_negative()
                || serial.encoded_len() > 20
                || serial == BigInteger::from(0u64) =>
        {
            return Err(IssueError::InvalidSerial);
        }
        Some(serial) => serial,
        None => BigInteger::random_positive(SERIAL_BYTES)
            .map_err(|error| IssueError::Random(error.to_string()))?,
    };
    let accuracy = policy.accuracy.filter(|a| *a != Accuracy::default());
    let fraction_digits = match accuracy {
        Some(Accuracy {
            seconds: 0, micros, ..
        }) if micros > 0 => 6,
        Some(Accuracy { seconds: 0, .. }) => 3,
        _ => 0,
    };
    let gen_time_value = GenTime::from_system_time(gen_time, fraction_digits)?;

    let tst_info = TstInfo {
        version: Int::new(&[1])?,
        policy: policy.policy_oid,
        message_imprint: MessageImprint {
            hash_algorithm: hash.algorithm_identifier(),
            hashed_message: OctetString::new(request.digest.as_slice())?,
        },
        serial_number: serial.to_int(),
        gen_time: gen_time_value.clone(),
        accuracy: accuracy.map(|a| AccuracyAsn {
            seconds: (a.seconds > 0).then_some(a.seconds),
            millis: (a.millis > 0).then_some(a.millis),
            micros: (a.micros > 0).then_some(a.micros),
        }),
        ordering: policy.ordering,
        nonce: request.nonce.as_ref().map(BigInteger::to_int),
        tsa: policy
            .include_tsa_name
            .then(|| GeneralName::DirectoryName(leaf.tbs_certificate().subject().clone())),
        extensions: None,
    };
    let e_content = tst_info.to_der()?;

    let algorithm = signer.algorithm();
    let digest_algorithm = algorithm.hash();
    let prepared_here;
    let prepared = match signer.prepared_chain() {
        Some(prepared) => prepared,
        None => {
            prepared_here = PreparedChain::new(chain)?;
            &prepared_here
        }
    };
    let leaf_tbs = leaf.tbs_certificate();
    let leaf_serial = Int::new(leaf_tbs.serial_number().as_bytes())?;
    let signing_certificate = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(prepared.leaf_sha256.as_slice())?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(leaf_tbs.issuer().clone())],
                serial_number: leaf_serial.clone(),
            }),
        }],
        policies: None,
    };
    let signed_attrs = SetOf::der_sorted(vec![
        attribute(oids::ID_CONTENT_TYPE, &oids::ID_CT_TST_INFO)?,
        attribute(oids::ID_SIGNING_TIME, &x509_time(gen_time)?)?,
        attribute(
            oids::ID_MESSAGE_DIGEST,
            &OctetString::new(digest_algorithm.digest(&e_content))?,
        )?,
        attribute(oids::ID_AA_SIGNING_CERTIFICATE_V2, &signing_certificate)?,
    ])?;
    let signature = signer.sign(&signed_attrs.to_der()?)?;

    let signer_info = SignerInfo {
        version: Int::new(&[1])?,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: leaf_tbs.issuer().clone(),
            serial_number: leaf_serial,
        }),
        digest_algorithm: digest_algorithm.algorithm_identifier(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: algorithm.algorithm_identifier()?,
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let certificates = request.cert_req.then(|| prepared.certificates.clone());
    let signed_data = SignedData {
        // Version 3: the encapsulated content is not id-data (RFC 5652 §5.1).
        version: Int::new(&[3])?,
        digest_algorithms: SetOf(vec![digest_algorithm.algorithm_identifier()]),
        encap_content_info: EncapsulatedContentInfo {
            e_content_type: oids::ID_CT_TST_INFO,
            e_content: Some(OctetString::new(e_content)?),
        },
        certificates,
        crls: None,
        signer_infos: SetOf(vec![signer_info]),
    };
    let token = ContentInfo {
        content_type: oids::ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data)?,
    };
    let token_der = token.to_der()?;
    let response = TimeStampResp {
        status: PkiStatusInfo {
            status: Int::new(&[0])?,
            status_string: None,
            fail_info: None,
        },
        time_stamp_token: Some(Any::encode_from(&token)?),
    };
    Ok(IssuedToken {
        response_der: response.to_der()?,
        token_der,
        serial,
        gen_time: gen_time_value,
    })
}

fn attribute(oid: ObjectIdentifier, value: &impl Encode) -> der::Result<Attribute> {
    let value = <Any as der::Decode>::from_der(&value.to_der()?)?;
    Ok(Attribute {
        attr_type: oid,
        attr_values: SetOf(vec![value]),
    })
}

/// Builds a refusal `TimeStampResp`: `status` (normally [`PkiStatus::Rejection`]), one failInfo bit, and
/// `text` as statusString when not empty.
#[must_use]
pub fn reject(status: PkiStatus, fail_info: FailureInfo, text: &str) -> Vec<u8> {
    encode_rejection(status, fail_info, text)
        .or_else(|_| encode_rejection(status, fail_info, ""))
        // A bare `rejection` status: the fixed DER of SEQUENCE { SEQUENCE { INTEGER 2 } }.
        .unwrap_or_else(|_| vec![0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02])
}

fn encode_rejection(status: PkiStatus, fail_info: FailureInfo, text: &str) -> der::Result<Vec<u8>> {
    let bit = usize::from(fail_info.bit());
    let mut bytes = vec![0u8; bit / 8 + 1];
    bytes[bit / 8] = 0x80 >> (bit % 8);
    // DER drops trailing zero bits of a named-bit BIT STRING; the last byte holds the only set bit.
    let unused = u8::try_from(7 - bit % 8).unwrap_or(0);
    let status_string = if text.is_empty() {
        None
    } else {
        Some(vec![Any::encode_from(&Utf8StringRef::new(text)?)?])
    };
    let status_code = BigInteger::from_twos_complement(&status.code().to_be_bytes());
    TimeStampResp {
        status: PkiStatusInfo {
            status: status_code.to_int(),
            status_string,
            fail_info: Some(BitString::new(unused, bytes)?),
        },
        time_stamp_token: None,
    }
    .to_der()
}

/// Checks once (at startup or reload) that a signer's certificate is fit for time-stamping and that its
/// key matches: signs a probe and verifies it under the certificate's key.
///
/// # Errors
/// [`IssueError::EmptyCertificateChain`], [`IssueError::Signer`], or
/// [`IssueError::SignerMisconfigured`] naming the problem.
pub fn check_signer(signer: &dyn TsaSigner) -> Result<(), IssueError> {
    let leaf: &Certificate = signer
        .certificate_chain()
        .first()
        .ok_or(IssueError::EmptyCertificateChain)?;
    let probe = b"sigil-rfc3161 signer probe";
    let signature = signer.sign(probe)?;
    let algorithm = signer.algorithm().algorithm_identifier()?;
    verify(
        &algorithm,
        None,
        leaf.tbs_certificate().subject_public_key_info(),
        probe,
        &signature,
    )
    .map_err(|error| {
        IssueError::SignerMisconfigured(format!(
            "probe signature does not verify under the TSA certificate: {error}"
        ))
    })?;
    let eku = leaf
        .tbs_certificate()
        .get_extension::<x509_cert::ext::pkix::ExtendedKeyUsage>();
    match eku {
        Ok(Some((true, usage))) if usage.0 == [oids::ID_KP_TIME_STAMPING] => Ok(()),
        _ => Err(IssueError::SignerMisconfigured(
            "the TSA certificate needs a critical extendedKeyUsage of id-kp-timeStamping only"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use der::Decode;
    use sigil_cms::asn1::der_set_order;
    use x509_cert::name::Name;

    use super::*;
    use crate::{
        CertificateValidity, SoftwareKey, SoftwareTsaSigner, build_root_ca, build_tsa_certificate,
        parse_response,
    };

    fn signer() -> SoftwareTsaSigner {
        let validity =
            CertificateValidity::starting(SystemTime::now(), std::time::Duration::from_secs(3600));
        let root_key = SoftwareKey::generate_p256().unwrap();
        let root = build_root_ca(
            &Name::from_str("CN=Unit Root").unwrap(),
            validity,
            &root_key,
        )
        .unwrap();
        let key = SoftwareKey::generate_p256().unwrap();
        let spki = key.subject_public_key_info().unwrap();
        let tsa = build_tsa_certificate(
            &Name::from_str("CN=Unit TSA").unwrap(),
            &spki,
            validity,
            &root,
            &root_key,
        )
        .unwrap();
        SoftwareTsaSigner::new(key, vec![tsa, root])
    }

    fn request(cert_req: bool) -> ParsedRequest {
        ParsedRequest {
            hash_algorithm: HashAlgorithm::Sha256,
            digest: vec![7; 32],
            policy: None,
            nonce: Some(BigInteger::from(99u64)),
            cert_req,
        }
    }

    fn policy() -> TsaPolicy {
        TsaPolicy {
            policy_oid: ObjectIdentifier::new_unwrap("1.2.3.4.1"),
            accuracy: Some(Accuracy {
                seconds: 0,
                millis: 250,
                micros: 0,
            }),
            ordering: false,
            include_tsa_name: false,
        }
    }

    fn signed_data(token_der: &[u8]) -> SignedData {
        let content_info = ContentInfo::from_der(token_der).unwrap();
        SignedData::from_der(&content_info.content.to_der().unwrap()).unwrap()
    }

    fn is_der_sorted<T: Encode>(items: &[T]) -> bool {
        let encoded: Vec<Vec<u8>> = items.iter().map(|item| item.to_der().unwrap()).collect();
        encoded
            .windows(2)
            .all(|pair| der_set_order(&pair[0], &pair[1]).is_le())
    }

    #[test]
    fn issued_tokens_are_canonical_der() {
        let signer = signer();
        check_signer(&signer).unwrap();
        let issued =
            issue_token(&request(true), &signer, &policy(), None, SystemTime::now()).unwrap();
        let data = signed_data(&issued.token_der);
        let attributes = data.signer_infos.0[0].signed_attrs.as_ref().unwrap();
        let types: Vec<ObjectIdentifier> = attributes.0.iter().map(|a| a.attr_type).collect();
        for required in [
            oids::ID_CONTENT_TYPE,
            oids::ID_MESSAGE_DIGEST,
            oids::ID_SIGNING_TIME,
            oids::ID_AA_SIGNING_CERTIFICATE_V2,
        ] {
            assert!(types.contains(&required), "missing {required}");
        }
        assert!(is_der_sorted(&attributes.0));
        let certificates = data.certificates.as_ref().unwrap();
        assert_eq!(certificates.0.len(), 2);
        assert!(is_der_sorted(&certificates.0));

        let token = parse_response(&issued.response_der).unwrap().token.unwrap();
        assert_eq!(token.nonce, Some(BigInteger::from(99u64)));
        assert_eq!(
            token.accuracy,
            Some(Accuracy {
                seconds: 0,
                millis: 250,
                micros: 0
            })
        );
        assert_eq!(token.tsa_name, None);
        // Sub-second accuracy gives genTime millisecond digits (trailing zeros dropped).
        assert!(issued.gen_time.as_str().len() <= "YYYYMMDDhhmmss.fffZ".len());
    }

    #[test]
    fn certificates_only_when_requested() {
        let issued = issue_token(
            &request(false),
            &signer(),
            &policy(),
            None,
            SystemTime::now(),
        )
        .unwrap();
        assert!(signed_data(&issued.token_der).certificates.is_none());
    }

    #[test]
    fn policy_serial_and_imprint_are_checked() {
        let signer = signer();
        let mut wrong_policy = request(true);
        wrong_policy.policy = Some(ObjectIdentifier::new_unwrap("1.2.3.4.2"));
        let error =
            issue_token(&wrong_policy, &signer, &policy(), None, SystemTime::now()).unwrap_err();
        assert_eq!(error.failure_info(), FailureInfo::UnacceptedPolicy);

        let negative = BigInteger::from_twos_complement(&[0xFF]);
        let error = issue_token(
            &request(true),
            &signer,
            &policy(),
            Some(negative),
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(matches!(error, IssueError::InvalidSerial));

        let mut short = request(true);
        short.digest.pop();
        let error = issue_token(&short, &signer, &policy(), None, SystemTime::now()).unwrap_err();
        assert_eq!(error.failure_info(), FailureInfo::BadDataFormat);

        let serial = BigInteger::from(12_345u64);
        let issued = issue_token(
            &request(true),
            &signer,
            &policy(),
            Some(serial.clone()),
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(issued.serial, serial);
    }

    #[test]
    fn rejections_carry_one_named_bit() {
        for failure in [
            FailureInfo::BadAlg,
            FailureInfo::BadRequest,
            FailureInfo::BadDataFormat,
            FailureInfo::TimeNotAvailable,
            FailureInfo::UnacceptedPolicy,
            FailureInfo::UnacceptedExtension,
            FailureInfo::AddInfoNotAvailable,
            FailureInfo::SystemFailure,
        ] {
            let der = reject(PkiStatus::Rejection, failure, "refused");
            let parsed = parse_response(&der).unwrap();
            assert_eq!(parsed.status, PkiStatus::Rejection);
            assert_eq!(parsed.failure_info, vec![failure]);
            assert_eq!(parsed.status_text, vec!["refused".to_owned()]);
            assert!(parsed.token.is_none());
        }
        // Without text there is no statusString.
        let der = reject(PkiStatus::Waiting, FailureInfo::SystemFailure, "");
        assert!(parse_response(&der).unwrap().status_text.is_empty());
    }
}
