//! Certificate status: RFC 6960 OCSP (the request a responder expects, the response parsed and verified) and
//! RFC 5280 CRLs (parsed, verified, looked up), with where a certificate says to ask (AIA OCSP, CRL
//! distribution points). Fetching is the caller's business; this module only judges bytes.
//!
//! Every check is explicit and separate, because a fetcher and a verifier need different ones: the signature
//! and the responder's authority ([`OcspResponse::status_of`], [`Crl::status_of`]) always; freshness
//! ([`OcspResponse::check_fresh`], [`Crl::check_fresh`]) when the data was just fetched; the nonce
//! ([`OcspResponse::check_nonce`]) when one was sent.

use der::{
    Choice, Decode, Encode, Sequence,
    asn1::{Any, BitString, GeneralizedTime, Int, Null, ObjectIdentifier, OctetString},
};
use spki::AlgorithmIdentifierOwned;
use x509_cert::{
    Certificate,
    crl::RevokedCert,
    ext::{
        Extensions,
        pkix::{
            AuthorityInfoAccessSyntax, CrlDistributionPoints, ExtendedKeyUsage,
            name::{DistributionPointName, GeneralName},
        },
    },
    name::Name,
    time::Time,
};

use crate::{
    CertEntry, HashAlgorithm, algorithms::verify, certificate::names_equal, time::unix_seconds,
    trust::valid_at,
};

/// `id-ad-ocsp` (RFC 5280 §4.2.2.1).
const ID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
/// `id-pkix-ocsp-basic` (RFC 6960 §4.2.1).
const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// `id-pkix-ocsp-nonce` (RFC 6960 §4.4.1).
const ID_PKIX_OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// `id-kp-OCSPSigning` (RFC 6960 §4.2.2.2).
const ID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
/// `id-ri-ocsp-response` (RFC 5940): an OCSP response among a SignedData's `RevocationInfoChoices`.
pub const ID_RI_OCSP_RESPONSE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.16.2");

/// Clock skew tolerated between this host and a responder or CRL issuer, seconds.
pub const CLOCK_SKEW_SECONDS: i64 = 300;

/// Why revocation data was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    /// The bytes are not the structure they should be.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// The decoder's complaint.
        detail: String,
    },
    /// The OCSP responder answered with an error status (RFC 6960 §4.2.1).
    #[error("the OCSP responder answered {0}")]
    ResponderError(&'static str),
    /// The response or CRL says nothing about this certificate.
    #[error("the {0} does not cover this certificate")]
    NotCovered(&'static str),
    /// Its signature does not verify, or its signer has no authority to speak for the issuer.
    #[error("{0}")]
    NotAuthorized(String),
    /// Its algorithm or key cannot be checked here.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// It is too old, or claims to come from the future.
    #[error("{0}")]
    Stale(String),
    /// The nonce sent is not the one echoed.
    #[error("the OCSP response does not echo the request's nonce")]
    NonceMismatch,
}

fn malformed(what: &'static str) -> impl Fn(der::Error) -> RevocationError {
    move |error| RevocationError::Malformed {
        what,
        detail: error.to_string(),
    }
}

/// What revocation data says about one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertStatusKind {
    /// Not revoked at the time of the data.
    Good,
    /// Revoked at `time` (Unix seconds), with the RFC 5280 reason code when one is given.
    Revoked {
        /// The revocation time, Unix seconds.
        time: i64,
        /// The CRLReason code, if stated.
        reason: Option<u8>,
    },
    /// The responder does not know the certificate (OCSP only).
    Unknown,
}

/// A verified status, with the times the data speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertStatus {
    /// The status.
    pub kind: CertStatusKind,
    /// `thisUpdate`, Unix seconds: the status was correct at this time.
    pub this_update: i64,
    /// `nextUpdate`, Unix seconds, when given.
    pub next_update: Option<i64>,
    /// OCSP `producedAt` (Unix seconds); for a CRL, its `thisUpdate`.
    pub produced_at: i64,
}

// ------------------------------------------------------------------ where to ask

/// The `http://` URLs of the certificate's AIA OCSP entries (other schemes are not fetched).
#[must_use]
pub fn ocsp_urls(certificate: &Certificate) -> Vec<String> {
    let Ok(Some((_, aia))) = certificate
        .tbs_certificate()
        .get_extension::<AuthorityInfoAccessSyntax>()
    else {
        return Vec::new();
    };
    aia.0
        .iter()
        .filter(|access| access.access_method == ID_AD_OCSP)
        .filter_map(|access| http_uri(&access.access_location))
        .collect()
}

/// The `http://` URLs of the certificate's CRL distribution points (full names only).
#[must_use]
pub fn crl_urls(certificate: &Certificate) -> Vec<String> {
    distribution_point_names(certificate)
        .iter()
        .filter_map(http_uri)
        .collect()
}

/// Every full name of the certificate's CRL distribution points (any scheme), to match a CRL's
/// issuing distribution point against.
fn distribution_point_names(certificate: &Certificate) -> Vec<GeneralName> {
    let Ok(Some((_, points))) = certificate
        .tbs_certificate()
        .get_extension::<CrlDistributionPoints>()
    else {
        return Vec::new();
    };
    points
        .0
        .into_iter()
        .filter_map(|point| match point.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names),
            _ => None,
        })
        .flatten()
        .collect()
}

/// A URI general name whose scheme is `http` (revocation data is signed, so it needs no TLS, and RFC 5280
/// §4.2.1.13 and RFC 6960 Appendix A describe HTTP).
fn http_uri(name: &GeneralName) -> Option<String> {
    match name {
        GeneralName::UniformResourceIdentifier(uri) => {
            let uri = uri.as_str();
            uri.get(..7)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
                .then(|| uri.to_owned())
        }
        _ => None,
    }
}

/// Whether `issuer` issued `certificate`: names chain and the issuer's key verifies the certificate's signature.
#[must_use]
pub fn issued_by(certificate: &CertEntry, issuer: &CertEntry) -> bool {
    if !names_equal(
        certificate.certificate.tbs_certificate().issuer(),
        issuer.certificate.tbs_certificate().subject(),
    ) {
        return false;
    }
    let Ok(raw) = certificate.raw() else {
        return false;
    };
    let Ok(tbs) = raw.tbs_certificate.to_der() else {
        return false;
    };
    verify(
        &raw.signature_algorithm,
        None,
        issuer
            .certificate
            .tbs_certificate()
            .subject_public_key_info(),
        &tbs,
        raw.signature.raw_bytes(),
    )
    .is_ok()
}

// ------------------------------------------------------------------ OCSP wire structures (RFC 6960 §4)

/// `CertID`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct CertId {
    hash_algorithm: AlgorithmIdentifierOwned,
    issuer_name_hash: OctetString,
    issuer_key_hash: OctetString,
    serial_number: Int,
}

/// `Request`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct Request {
    req_cert: CertId,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    single_request_extensions: Option<Extensions>,
}

/// `TBSRequest` (no requestorName: requests are unsigned).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct TbsRequest {
    request_list: Vec<Request>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    request_extensions: Option<Extensions>,
}

/// `OCSPRequest` without `optionalSignature`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct OcspRequestWire {
    tbs_request: TbsRequest,
}

/// `OCSPResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct OcspResponseWire {
    response_status: der::asn1::Any,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    response_bytes: Option<ResponseBytes>,
}

/// `ResponseBytes`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct ResponseBytes {
    response_type: ObjectIdentifier,
    response: OctetString,
}

/// `BasicOCSPResponse`, with the signed `tbsResponseData` kept as received.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct BasicOcspResponse {
    tbs_response_data: Any,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    certs: Option<Vec<Any>>,
}

/// `ResponseData`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct ResponseData {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    responder_id: ResponderId,
    produced_at: GeneralizedTime,
    responses: Vec<SingleResponse>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    response_extensions: Option<Extensions>,
}

/// `ResponderID`.
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
enum ResponderId {
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    ByName(Name),
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    ByKey(OctetString),
}

/// `SingleResponse`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct SingleResponse {
    cert_id: CertId,
    cert_status: CertStatusWire,
    this_update: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    next_update: Option<GeneralizedTime>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    single_extensions: Option<Extensions>,
}

/// `CertStatus`.
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
enum CertStatusWire {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Good(Null),
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Revoked(RevokedInfo),
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Unknown(Null),
}

/// `RevokedInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct RevokedInfo {
    revocation_time: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    revocation_reason: Option<der::asn1::Any>,
}

/// The SHA-1 of the issuer's name and of its public key bits (RFC 6960 §4.1.1), for a hash algorithm.
fn issuer_hashes(
    issuer: &Certificate,
    hash: HashAlgorithm,
) -> Result<(Vec<u8>, Vec<u8>), der::Error> {
    let tbs = issuer.tbs_certificate();
    let name = tbs.subject().to_der()?;
    let key = tbs.subject_public_key_info().subject_public_key.raw_bytes();
    Ok((hash.digest(&name), hash.digest(key)))
}

fn serial_int(certificate: &Certificate) -> Result<Int, der::Error> {
    Int::new(certificate.tbs_certificate().serial_number().as_bytes())
}

/// Sixteen random bytes for an OCSP nonce (RFC 8954 recommends at least 16).
///
/// # Errors
/// The OS random source failed.
pub fn random_nonce() -> Result<Vec<u8>, getrandom::Error> {
    let mut nonce = vec![0u8; 16];
    getrandom::fill(&mut nonce)?;
    Ok(nonce)
}

/// An unsigned OCSP request (DER) for `certificate` issued by `issuer`: one `CertID` with SHA-1, as responders
/// expect (RFC 5019 §2.1.1), and the nonce extension when `nonce` is given.
///
/// # Errors
/// The encoder's error for an impossible certificate.
pub fn build_ocsp_request(
    certificate: &Certificate,
    issuer: &Certificate,
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>, der::Error> {
    let (issuer_name_hash, issuer_key_hash) = issuer_hashes(issuer, HashAlgorithm::Sha1)?;
    let cert_id = CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: crate::oids::ID_SHA1,
            parameters: Some(Any::from(Null)),
        },
        issuer_name_hash: OctetString::new(issuer_name_hash)?,
        issuer_key_hash: OctetString::new(issuer_key_hash)?,
        serial_number: serial_int(certificate)?,
    };
    let request_extensions = nonce
        .map(|nonce| -> Result<Extensions, der::Error> {
            Ok(vec![x509_cert::ext::Extension {
                extn_id: ID_PKIX_OCSP_NONCE,
                critical: false,
                // RFC 8954: the extension's value is a DER OCTET STRING holding the nonce.
                extn_value: OctetString::new(OctetString::new(nonce)?.to_der()?)?,
            }])
        })
        .transpose()?;
    OcspRequestWire {
        tbs_request: TbsRequest {
            request_list: vec![Request {
                req_cert: cert_id,
                single_request_extensions: None,
            }],
            request_extensions,
        },
    }
    .to_der()
}

/// A successful OCSP response, parsed (nothing verified yet).
#[derive(Clone, Debug)]
pub struct OcspResponse {
    basic: BasicOcspResponse,
    data: ResponseData,
    certs: Vec<CertEntry>,
}

impl OcspResponse {
    /// Reads an `OCSPResponse` (DER) that carries a `BasicOCSPResponse`.
    ///
    /// # Errors
    /// [`RevocationError::Malformed`], or [`RevocationError::ResponderError`] for an error status.
    pub fn parse(der: &[u8]) -> Result<Self, RevocationError> {
        let wire = OcspResponseWire::from_der(der).map_err(malformed("OCSP response"))?;
        let status = wire.response_status.value();
        if der::Tagged::tag(&wire.response_status) != der::Tag::Enumerated || status.len() != 1 {
            return Err(RevocationError::Malformed {
                what: "OCSP response",
                detail: "responseStatus is not a small ENUMERATED".into(),
            });
        }
        let status = match status[0] {
            0 => None,
            1 => Some("malformedRequest"),
            2 => Some("internalError"),
            3 => Some("tryLater"),
            5 => Some("sigRequired"),
            6 => Some("unauthorized"),
            _ => Some("an undefined status"),
        };
        if let Some(status) = status {
            return Err(RevocationError::ResponderError(status));
        }
        let bytes = wire.response_bytes.ok_or(RevocationError::Malformed {
            what: "OCSP response",
            detail: "a successful response without responseBytes".into(),
        })?;
        if bytes.response_type != ID_PKIX_OCSP_BASIC {
            return Err(RevocationError::Unsupported(format!(
                "OCSP response type {}",
                bytes.response_type
            )));
        }
        let basic = BasicOcspResponse::from_der(bytes.response.as_bytes())
            .map_err(malformed("BasicOCSPResponse"))?;
        let data = basic
            .tbs_response_data
            .decode_as::<ResponseData>()
            .map_err(malformed("ResponseData"))?;
        let certs = basic
            .certs
            .iter()
            .flatten()
            .map(|any| any.to_der().and_then(|der| CertEntry::from_der(&der)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(malformed("OCSP responder certificate"))?;
        Ok(Self { basic, data, certs })
    }

    /// `producedAt`, Unix seconds.
    #[must_use]
    pub fn produced_at(&self) -> i64 {
        generalized_unix(&self.data.produced_at)
    }

    /// The status of `certificate` (issued by `issuer`, which the caller has checked with [`issued_by`]),
    /// after checking that the response is signed by the issuer itself or by a responder certificate the
    /// issuer issued for OCSP signing (`id-kp-OCSPSigning`, valid when the response was produced), and that
    /// the signer is the one `responderID` names.
    ///
    /// # Errors
    /// [`RevocationError::NotCovered`] when no SingleResponse is for this certificate,
    /// [`RevocationError::NotAuthorized`] for a bad signature or an unauthorized signer.
    pub fn status_of(
        &self,
        certificate: &Certificate,
        issuer: &CertEntry,
    ) -> Result<CertStatus, RevocationError> {
        let single = self.single_for(certificate, &issuer.certificate)?;
        let signer = self.authorized_signer(issuer)?;
        let tbs = self
            .basic
            .tbs_response_data
            .to_der()
            .map_err(malformed("ResponseData"))?;
        verify(
            &self.basic.signature_algorithm,
            None,
            signer.tbs_certificate().subject_public_key_info(),
            &tbs,
            self.basic.signature.raw_bytes(),
        )
        .map_err(|error| match error {
            crate::SignatureCheck::Invalid => RevocationError::NotAuthorized(
                "the OCSP response's signature does not verify".into(),
            ),
            other => RevocationError::Unsupported(format!("OCSP response signature: {other}")),
        })?;
        let kind = match &single.cert_status {
            CertStatusWire::Good(_) => CertStatusKind::Good,
            CertStatusWire::Unknown(_) => CertStatusKind::Unknown,
            CertStatusWire::Revoked(info) => CertStatusKind::Revoked {
                time: generalized_unix(&info.revocation_time),
                reason: info
                    .revocation_reason
                    .as_ref()
                    .and_then(|any| any.value().first().copied()),
            },
        };
        Ok(CertStatus {
            kind,
            this_update: generalized_unix(&single.this_update),
            next_update: single.next_update.as_ref().map(generalized_unix),
            produced_at: self.produced_at(),
        })
    }

    /// The SingleResponse whose CertID names `certificate` under `issuer` (with the CertID's own hash).
    fn single_for(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
    ) -> Result<&SingleResponse, RevocationError> {
        let serial = certificate.tbs_certificate().serial_number().as_bytes();
        self.data
            .responses
            .iter()
            .find(|single| {
                let id = &single.cert_id;
                let Some(hash) = HashAlgorithm::from_algorithm_identifier(&id.hash_algorithm)
                else {
                    return false;
                };
                let Ok((name_hash, key_hash)) = issuer_hashes(issuer, hash) else {
                    return false;
                };
                id.serial_number.as_bytes() == serial
                    && id.issuer_name_hash.as_bytes() == name_hash
                    && id.issuer_key_hash.as_bytes() == key_hash
            })
            .ok_or(RevocationError::NotCovered("OCSP response"))
    }

    /// The certificate whose key must verify the response: the issuer, or a delegated responder it issued.
    fn authorized_signer(&self, issuer: &CertEntry) -> Result<Certificate, RevocationError> {
        if self.responder_is(&issuer.certificate) {
            return Ok(issuer.certificate.clone());
        }
        let produced_at = self.produced_at();
        // The first carried certificate that responderID names is the signer; it must have the authority.
        let Some(candidate) = self
            .certs
            .iter()
            .find(|c| self.responder_is(&c.certificate))
        else {
            return Err(RevocationError::NotAuthorized(
                "the OCSP response is signed neither by the issuer nor by a responder certificate it carries"
                    .into(),
            ));
        };
        let eku = candidate
            .certificate
            .tbs_certificate()
            .get_extension::<ExtendedKeyUsage>();
        let ocsp_signing =
            matches!(eku, Ok(Some((_, usages))) if usages.0.contains(&ID_KP_OCSP_SIGNING));
        if !ocsp_signing {
            return Err(RevocationError::NotAuthorized(
                "the OCSP responder certificate lacks id-kp-OCSPSigning".into(),
            ));
        }
        if !issued_by(candidate, issuer) {
            return Err(RevocationError::NotAuthorized(
                "the OCSP responder certificate was not issued by the certificate's issuer".into(),
            ));
        }
        if !valid_at(&candidate.certificate, produced_at) {
            return Err(RevocationError::NotAuthorized(
                "the OCSP responder certificate was not valid when the response was produced"
                    .into(),
            ));
        }
        Ok(candidate.certificate.clone())
    }

    /// Whether `responderID` names `certificate` (by subject, or by the SHA-1 of its key bits).
    fn responder_is(&self, certificate: &Certificate) -> bool {
        let tbs = certificate.tbs_certificate();
        match &self.data.responder_id {
            ResponderId::ByName(name) => names_equal(name, tbs.subject()),
            ResponderId::ByKey(hash) => {
                hash.as_bytes()
                    == HashAlgorithm::Sha1
                        .digest(tbs.subject_public_key_info().subject_public_key.raw_bytes())
            }
        }
    }

    /// Whether the response carries a nonce extension at all (RFC 5019 responders answering from a cache
    /// carry none).
    #[must_use]
    pub fn has_nonce(&self) -> bool {
        self.data
            .response_extensions
            .iter()
            .flatten()
            .any(|extension| extension.extn_id == ID_PKIX_OCSP_NONCE)
    }

    /// Checks the nonce extension against the one sent.
    ///
    /// # Errors
    /// [`RevocationError::NonceMismatch`] when it is absent or different.
    pub fn check_nonce(&self, nonce: &[u8]) -> Result<(), RevocationError> {
        let expected = OctetString::new(nonce)
            .and_then(|n| n.to_der())
            .map_err(malformed("nonce"))?;
        let echoed = self
            .data
            .response_extensions
            .iter()
            .flatten()
            .find(|extension| extension.extn_id == ID_PKIX_OCSP_NONCE);
        match echoed {
            // Some responders echo the bare nonce rather than the OCTET STRING RFC 8954 asks for.
            Some(extension)
                if extension.extn_value.as_bytes() == expected
                    || extension.extn_value.as_bytes() == nonce =>
            {
                Ok(())
            }
            _ => Err(RevocationError::NonceMismatch),
        }
    }

    /// Checks that `status` (from this response) is current at `now`: `thisUpdate` not in the future, and
    /// `now` before `nextUpdate`, or, without `nextUpdate`, `thisUpdate` at most `max_age` seconds old.
    ///
    /// # Errors
    /// [`RevocationError::Stale`].
    pub fn check_fresh(status: &CertStatus, now: i64, max_age: i64) -> Result<(), RevocationError> {
        check_window("OCSP response", status, now, max_age)
    }
}

fn check_window(
    what: &str,
    status: &CertStatus,
    now: i64,
    max_age: i64,
) -> Result<(), RevocationError> {
    if status.this_update > now + CLOCK_SKEW_SECONDS {
        return Err(RevocationError::Stale(format!(
            "the {what}'s thisUpdate is in the future"
        )));
    }
    match status.next_update {
        Some(next) if now > next + CLOCK_SKEW_SECONDS => Err(RevocationError::Stale(format!(
            "the {what} expired (nextUpdate {})",
            crate::time::rfc3339(next)
        ))),
        None if now - status.this_update > max_age => Err(RevocationError::Stale(format!(
            "the {what} has no nextUpdate and is older than {max_age} s"
        ))),
        _ => Ok(()),
    }
}

fn generalized_unix(time: &GeneralizedTime) -> i64 {
    i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

// ------------------------------------------------------------------ CRLs (RFC 5280 §5)

/// `CertificateList`, with the signed `tbsCertList` kept as received.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct CrlWire {
    tbs_cert_list: Any,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

/// `TBSCertList`; unlike x509-cert's, `version` is optional, as RFC 5280 has it (v1 CRLs omit it).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct TbsCertList {
    #[asn1(optional = "true")]
    version: Option<u8>,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    this_update: Time,
    next_update: Option<Time>,
    revoked_certificates: Option<Vec<RevokedCert>>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    crl_extensions: Option<Extensions>,
}

/// `id-ce-cRLReasons` (RFC 5280 §5.3.1).
const ID_CE_CRL_REASONS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.21");
/// `id-ce-invalidityDate` (RFC 5280 §5.3.2), an entry extension read as information only.
const ID_CE_INVALIDITY_DATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.24");
/// `id-ce-holdInstructionCode` (RFC 5280 §5.3), an entry extension read as information only.
const ID_CE_HOLD_INSTRUCTION_CODE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.23");
/// `id-ce-certificateIssuer` (RFC 5280 §5.3.3): the entry is about another issuer's certificate (indirect CRLs).
const ID_CE_CERTIFICATE_ISSUER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.29");
/// `id-ce-deltaCRLIndicator` (RFC 5280 §5.2.4): a delta CRL, which lists only changes to a base CRL.
const ID_CE_DELTA_CRL_INDICATOR: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.27");
/// `id-ce-issuingDistributionPoint` (RFC 5280 §5.2.5): the CRL's scope. (x509-cert 0.3 gives its type the
/// wrong OID, so it is matched by this one.)
const ID_CE_ISSUING_DISTRIBUTION_POINT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.28");
/// `id-ce-freshestCRL` (RFC 5280 §5.2.6): where delta CRLs are; information only.
const ID_CE_FRESHEST_CRL: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.46");

/// A CRL, parsed (nothing verified yet).
#[derive(Clone, Debug)]
pub struct Crl {
    wire: CrlWire,
    tbs: TbsCertList,
}

impl Crl {
    /// Reads a `CertificateList` (DER).
    ///
    /// # Errors
    /// [`RevocationError::Malformed`].
    pub fn parse(der: &[u8]) -> Result<Self, RevocationError> {
        let wire = CrlWire::from_der(der).map_err(malformed("CRL"))?;
        let tbs = wire
            .tbs_cert_list
            .decode_as::<TbsCertList>()
            .map_err(malformed("TBSCertList"))?;
        Ok(Self { wire, tbs })
    }

    /// The status of `certificate` (issued by `issuer`, checked by the caller with [`issued_by`]), after
    /// checking that `issuer` issued this CRL (its name and its signature).
    ///
    /// # Errors
    /// [`RevocationError::NotCovered`] when the CRL is another issuer's, [`RevocationError::NotAuthorized`]
    /// when its signature does not verify under the issuer's key.
    pub fn status_of(
        &self,
        certificate: &Certificate,
        issuer: &CertEntry,
    ) -> Result<CertStatus, RevocationError> {
        let issuer_tbs = issuer.certificate.tbs_certificate();
        if !names_equal(&self.tbs.issuer, issuer_tbs.subject())
            || !names_equal(&self.tbs.issuer, certificate.tbs_certificate().issuer())
        {
            return Err(RevocationError::NotCovered("CRL"));
        }
        let tbs = self
            .wire
            .tbs_cert_list
            .to_der()
            .map_err(malformed("TBSCertList"))?;
        verify(
            &self.wire.signature_algorithm,
            None,
            issuer_tbs.subject_public_key_info(),
            &tbs,
            self.wire.signature.raw_bytes(),
        )
        .map_err(|error| match error {
            crate::SignatureCheck::Invalid => {
                RevocationError::NotAuthorized("the CRL's signature does not verify".into())
            }
            other => RevocationError::Unsupported(format!("CRL signature: {other}")),
        })?;
        self.check_scope(certificate)?;
        let serial = certificate.tbs_certificate().serial_number().as_bytes();
        let kind = self
            .tbs
            .revoked_certificates
            .iter()
            .flatten()
            .find(|entry| entry.serial_number.as_bytes() == serial)
            .map_or(CertStatusKind::Good, |entry| CertStatusKind::Revoked {
                time: unix_seconds(&entry.revocation_date),
                reason: entry
                    .crl_entry_extensions
                    .iter()
                    .flatten()
                    .find(|extension| extension.extn_id == ID_CE_CRL_REASONS)
                    .and_then(|extension| Any::from_der(extension.extn_value.as_bytes()).ok())
                    .and_then(|any| any.value().first().copied()),
            });
        let this_update = unix_seconds(&self.tbs.this_update);
        Ok(CertStatus {
            kind,
            this_update,
            next_update: self.tbs.next_update.as_ref().map(unix_seconds),
            produced_at: this_update,
        })
    }

    /// Whether this CRL may speak for `certificate` at all (RFC 5280 §6.3.3): no critical CRL or entry
    /// extension this module does not process, not a delta CRL, not indirect, no entry about another issuer's
    /// certificate, and an issuing distribution point (when present) whose scope covers the certificate: all
    /// reasons, the right kind of certificate, and one of the certificate's distribution points when it names
    /// one. Anything else is refused rather than read as "not listed, so good".
    ///
    /// # Errors
    /// [`RevocationError::Unsupported`] naming what is not handled, [`RevocationError::NotCovered`] when the
    /// CRL's scope excludes the certificate.
    fn check_scope(&self, certificate: &Certificate) -> Result<(), RevocationError> {
        let unsupported = |what: String| Err(RevocationError::Unsupported(what));
        let mut idp = None;
        for extension in self.tbs.crl_extensions.iter().flatten() {
            let id = extension.extn_id;
            if id == ID_CE_DELTA_CRL_INDICATOR {
                return unsupported("a delta CRL (deltaCRLIndicator)".into());
            }
            if id == ID_CE_ISSUING_DISTRIBUTION_POINT {
                idp = Some(
                    x509_cert::ext::pkix::crl::IssuingDistributionPoint::from_der(
                        extension.extn_value.as_bytes(),
                    )
                    .map_err(malformed("issuingDistributionPoint"))?,
                );
            } else if extension.critical
                && id != crate::oids::ID_CE_AUTHORITY_KEY_IDENTIFIER
                && id != crate::oids::ID_CE_CRL_NUMBER
                && id != ID_CE_FRESHEST_CRL
            {
                return unsupported(format!("a critical CRL extension {id}"));
            }
        }
        for entry in self.tbs.revoked_certificates.iter().flatten() {
            for extension in entry.crl_entry_extensions.iter().flatten() {
                let id = extension.extn_id;
                if id == ID_CE_CERTIFICATE_ISSUER {
                    return unsupported("a CRL entry about another issuer's certificate".into());
                }
                if extension.critical
                    && id != ID_CE_CRL_REASONS
                    && id != ID_CE_INVALIDITY_DATE
                    && id != ID_CE_HOLD_INSTRUCTION_CODE
                {
                    return unsupported(format!("a critical CRL entry extension {id}"));
                }
            }
        }
        let Some(idp) = idp else {
            return Ok(());
        };
        if idp.indirect_crl {
            return unsupported("an indirect CRL".into());
        }
        if idp.only_some_reasons.is_some() {
            return unsupported("a CRL for only some reasons (onlySomeReasons)".into());
        }
        let is_ca = matches!(
            certificate
                .tbs_certificate()
                .get_extension::<x509_cert::ext::pkix::BasicConstraints>(),
            Ok(Some((_, constraints))) if constraints.ca
        );
        if idp.only_contains_attribute_certs
            || (idp.only_contains_ca_certs && !is_ca)
            || (idp.only_contains_user_certs && is_ca)
        {
            return Err(RevocationError::NotCovered("CRL"));
        }
        match &idp.distribution_point {
            None => Ok(()),
            Some(DistributionPointName::FullName(names)) => {
                let ours = distribution_point_names(certificate);
                if names.iter().any(|name| ours.contains(name)) {
                    Ok(())
                } else {
                    Err(RevocationError::NotCovered("CRL"))
                }
            }
            Some(DistributionPointName::NameRelativeToCRLIssuer(_)) => {
                unsupported("a CRL distribution point named relative to its issuer".into())
            }
        }
    }

    /// Checks that `status` (from this CRL) is current at `now` (see [`OcspResponse::check_fresh`]).
    ///
    /// # Errors
    /// [`RevocationError::Stale`].
    pub fn check_fresh(status: &CertStatus, now: i64, max_age: i64) -> Result<(), RevocationError> {
        check_window("CRL", status, now, max_age)
    }
}

impl OcspResponse {
    /// The certificates the response carries, DER.
    #[must_use]
    pub fn certificates(&self) -> Vec<Vec<u8>> {
        self.certs.iter().map(|c| c.der.clone()).collect()
    }
}
