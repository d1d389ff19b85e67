//! Reading time-stamp responses and tokens (RFC 3161 §2.4.2) into typed values, without judging them:
//! [`parse_response`], [`parse_token`] and [`inspect`] (either form, for `/tsa/inspect`). Verification is
//! `verify.rs`; this module only has to be liberal about what TSAs put on the wire.
//!
//! Tolerated: BER (indefinite and non-minimal lengths, constructed OCTET/BIT STRINGs, BOOLEAN TRUE other
//! than 0xFF, non-minimal INTEGERs), unsorted SETs, duplicate certificates (kept once, counted),
//! non-X.509 `CertificateChoices` (skipped, counted), embedded certificates that do not parse (skipped,
//! counted), fractional and comma-decimal genTimes, NULL hash parameters, trailing zeros in genTime
//! fractions, negative serials. Refused: trailing bytes after the outer value, BER inside OCTET STRINGs
//! other than eContent (certificate extension values: such an extension reads as absent), tag numbers
//! above four bytes, nesting deeper than 48 levels, detached content. A certificate that is itself BER is
//! rewritten to DER, so its issuer's signature and an ESSCertID hash over it no longer match (the chain
//! then classifies `Untrusted`, the ESS check fails): CMS hashes the certificate as sent.

use der::{
    Encode, Tag, Tagged,
    asn1::{Any, ObjectIdentifier},
};
use sigil_cms::{
    CertEntry, MalformedError,
    asn1::{ContentInfo, SignedData, SignerInfo},
    ber::{decode_any, decode_liberal},
    certificate::render_general_name,
};
use x509_cert::Certificate;

use crate::{
    BigInteger, CertificateSummary, GenTime, HashAlgorithm, WireEncoding,
    asn1::{TimeStampResp, TstInfo},
    oids,
};

/// `PKIStatus` (RFC 3161 §2.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PkiStatus {
    /// 0: a token is present.
    Granted,
    /// 1: a token is present, with modifications.
    GrantedWithMods,
    /// 2: refused.
    Rejection,
    /// 3: not yet processed.
    Waiting,
    /// 4: revocation imminent.
    RevocationWarning,
    /// 5: revocation has occurred.
    RevocationNotification,
    /// Any other value.
    Unknown(i64),
}

impl PkiStatus {
    /// The INTEGER value.
    #[must_use]
    pub fn code(self) -> i64 {
        match self {
            Self::Granted => 0,
            Self::GrantedWithMods => 1,
            Self::Rejection => 2,
            Self::Waiting => 3,
            Self::RevocationWarning => 4,
            Self::RevocationNotification => 5,
            Self::Unknown(code) => code,
        }
    }

    /// The status for an INTEGER value.
    #[must_use]
    pub fn from_code(code: i64) -> Self {
        match code {
            0 => Self::Granted,
            1 => Self::GrantedWithMods,
            2 => Self::Rejection,
            3 => Self::Waiting,
            4 => Self::RevocationWarning,
            5 => Self::RevocationNotification,
            other => Self::Unknown(other),
        }
    }

    /// Whether a token must accompany this status (granted or grantedWithMods).
    #[must_use]
    pub fn is_granted(self) -> bool {
        matches!(self, Self::Granted | Self::GrantedWithMods)
    }
}

/// One `PKIFailureInfo` bit (RFC 3161 §2.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureInfo {
    /// Bit 0: unrecognised or unsupported algorithm.
    BadAlg,
    /// Bit 2: transaction not permitted or supported.
    BadRequest,
    /// Bit 5: the data submitted has the wrong format.
    BadDataFormat,
    /// Bit 14: the TSA's time source is not available.
    TimeNotAvailable,
    /// Bit 15: the requested policy is not supported.
    UnacceptedPolicy,
    /// Bit 16: the requested extension is not supported.
    UnacceptedExtension,
    /// Bit 17: the additional information requested is not available.
    AddInfoNotAvailable,
    /// Bit 25: the request cannot be handled due to system failure.
    SystemFailure,
    /// A bit RFC 3161 does not name.
    Other(u8),
}

impl FailureInfo {
    /// The bit number in the BIT STRING.
    #[must_use]
    pub fn bit(self) -> u8 {
        match self {
            Self::BadAlg => 0,
            Self::BadRequest => 2,
            Self::BadDataFormat => 5,
            Self::TimeNotAvailable => 14,
            Self::UnacceptedPolicy => 15,
            Self::UnacceptedExtension => 16,
            Self::AddInfoNotAvailable => 17,
            Self::SystemFailure => 25,
            Self::Other(bit) => bit,
        }
    }

    /// The failure for a bit number.
    #[must_use]
    pub fn from_bit(bit: u8) -> Self {
        match bit {
            0 => Self::BadAlg,
            2 => Self::BadRequest,
            5 => Self::BadDataFormat,
            14 => Self::TimeNotAvailable,
            15 => Self::UnacceptedPolicy,
            16 => Self::UnacceptedExtension,
            17 => Self::AddInfoNotAvailable,
            25 => Self::SystemFailure,
            other => Self::Other(other),
        }
    }

    /// The RFC 3161 name (`badAlg`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::BadAlg => "badAlg",
            Self::BadRequest => "badRequest",
            Self::BadDataFormat => "badDataFormat",
            Self::TimeNotAvailable => "timeNotAvailable",
            Self::UnacceptedPolicy => "unacceptedPolicy",
            Self::UnacceptedExtension => "unacceptedExtension",
            Self::AddInfoNotAvailable => "addInfoNotAvailable",
            Self::SystemFailure => "systemFailure",
            Self::Other(_) => "unknown",
        }
    }
}

/// `Accuracy` of a token (RFC 3161 §2.4.2), absent fields as zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Accuracy {
    /// Whole seconds.
    pub seconds: u64,
    /// Milliseconds, 0 to 999.
    pub millis: u16,
    /// Microseconds, 0 to 999.
    pub micros: u16,
}

/// Why bytes are not a time-stamp response or token this crate can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// No bytes at all.
    #[error("empty input")]
    Empty,
    /// The outer structure does not decode (`what` names it).
    #[error("malformed {what}: {source}")]
    Malformed {
        /// The structure that failed (`TimeStampResp`, `ContentInfo`, `SignedData`, `TSTInfo`).
        what: &'static str,
        /// The decoder's error.
        source: der::Error,
    },
    /// The ContentInfo is not SignedData.
    #[error("token content type is {0}, expected id-signedData")]
    NotSignedData(ObjectIdentifier),
    /// The SignedData does not encapsulate a TSTInfo.
    #[error("encapsulated content type is {0}, expected id-ct-TSTInfo")]
    NotTstInfo(ObjectIdentifier),
    /// The SignedData has no encapsulated content (detached), which a token never is.
    #[error("token has no encapsulated TSTInfo")]
    MissingContent,
    /// A granted response without a token.
    #[error("response status {0:?} carries no token")]
    MissingToken(PkiStatus),
    /// A response that is not granted (only from [`inspect`], which needs a token).
    #[error("response was not granted: status {status:?} {text}")]
    NotGranted {
        /// The status.
        status: PkiStatus,
        /// statusString and failInfo, rendered.
        text: String,
    },
}

impl From<MalformedError> for ParseError {
    fn from(error: MalformedError) -> Self {
        Self::Malformed {
            what: error.what,
            source: error.source,
        }
    }
}

/// A parsed `TimeStampResp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimestampResponse {
    /// The PKIStatus.
    pub status: PkiStatus,
    /// The statusString entries that are text.
    pub status_text: Vec<String>,
    /// The failInfo bits set.
    pub failure_info: Vec<FailureInfo>,
    /// The token, when present.
    pub token: Option<TimestampToken>,
    /// How the response was encoded.
    pub encoding: WireEncoding,
}

/// A parsed time-stamp token: what `/tsa/inspect` reports, and what verification checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimestampToken {
    /// The token (ContentInfo) as DER; the DER rewrite when it arrived as BER.
    pub token_der: Vec<u8>,
    /// TSTInfo `version` (1 in every known token).
    pub version: BigInteger,
    /// TSA policy OID.
    pub policy: ObjectIdentifier,
    /// Imprint hash algorithm OID as received.
    pub hash_algorithm_oid: ObjectIdentifier,
    /// The imprint hash algorithm when this crate knows it.
    pub hash_algorithm: Option<HashAlgorithm>,
    /// The imprint digest.
    pub message_imprint: Vec<u8>,
    /// Serial number (`serial.to_decimal()`, `serial.to_hex()`).
    pub serial: BigInteger,
    /// genTime (`gen_time.to_rfc3339()`, `gen_time.unix_seconds()`).
    pub gen_time: GenTime,
    /// Accuracy, when stated.
    pub accuracy: Option<Accuracy>,
    /// The `ordering` flag.
    pub ordering: bool,
    /// The nonce echoed from the request.
    pub nonce: Option<BigInteger>,
    /// The `tsa` GeneralName, rendered (`directoryName` as RFC 4514, others prefixed `DNS:`, `URI:` ...).
    pub tsa_name: Option<String>,
    /// The signer certificate when it is embedded and identified by the SignerInfo's sid.
    pub signer: Option<CertificateSummary>,
    /// The embedded certificates, each once, in received order.
    pub certificates: Vec<Certificate>,
    /// How many embedded certificates repeated an earlier one.
    pub duplicate_certificates: usize,
    /// How many `CertificateChoices` were skipped (attribute certificates, or certificates that do not
    /// parse).
    pub skipped_certificates: usize,
    /// The SignerInfo's signatureAlgorithm OID.
    pub signature_algorithm_oid: ObjectIdentifier,
    /// How the token was encoded.
    pub encoding: WireEncoding,
    pub(crate) parts: TokenParts,
}

/// What verification needs beyond the public fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenParts {
    pub signer_infos: Vec<SignerInfo>,
    pub e_content: Vec<u8>,
    pub certs: Vec<CertEntry>,
}

impl TimestampToken {
    /// The embedded certificate that the first SignerInfo's sid names, if any.
    pub(crate) fn embedded_signer(&self) -> Option<&CertEntry> {
        let info = self.parts.signer_infos.first()?;
        self.parts
            .certs
            .iter()
            .find(|entry| info.sid.matches(&entry.certificate))
    }
}

/// Parses a DER (or BER) `TimeStampResp`.
///
/// # Errors
/// [`ParseError`] when the bytes are not a response, or when a granted response has no token or a token
/// that does not parse.
pub fn parse_response(der: &[u8]) -> Result<TimestampResponse, ParseError> {
    if der.is_empty() {
        return Err(ParseError::Empty);
    }
    let (response, encoding) =
        decode_liberal::<TimeStampResp>(der).map_err(|source| ParseError::Malformed {
            what: "TimeStampResp",
            source,
        })?;
    let status_info = &response.status;
    let status = PkiStatus::from_code(int_to_i64(&status_info.status));
    let status_text = status_info
        .status_string
        .iter()
        .flatten()
        .filter_map(any_text)
        .collect();
    let failure_info = status_info
        .fail_info
        .as_ref()
        .map(|bits| {
            bits.bits()
                .enumerate()
                .filter(|(_, set)| *set)
                .map(|(index, _)| FailureInfo::from_bit(u8::try_from(index).unwrap_or(u8::MAX)))
                .collect()
        })
        .unwrap_or_default();
    let token = match &response.time_stamp_token {
        Some(any) => Some(parse_token_any(any)?),
        None if status.is_granted() => return Err(ParseError::MissingToken(status)),
        None => None,
    };
    // A token inside a BER response was decoded from the rewrite; it arrived as BER all the same.
    let token = token.map(|mut token| {
        if encoding == WireEncoding::Ber {
            token.encoding = WireEncoding::Ber;
        }
        token
    });
    let encoding = match (encoding, &token) {
        (WireEncoding::Der, Some(token)) => token.encoding,
        (other, _) => other,
    };
    Ok(TimestampResponse {
        status,
        status_text,
        failure_info,
        token,
        encoding,
    })
}

/// The TimeStampToken inside a DER `TimeStampResp`, as the sub-slice it is: no copy, and no parse of the token.
/// Meant for responses verified when they arrived (a stored stamp answering again); it checks only the shape
/// `SEQUENCE { PKIStatusInfo, token }` and returns `None` for anything else: no token, trailing bytes, or BER
/// (indefinite lengths), for which [`parse_response`] is the way.
pub fn token_slice(response_der: &[u8]) -> Option<&[u8]> {
    use der::Reader as _;
    let mut outer = der::SliceReader::new(response_der).ok()?;
    let response = outer.tlv_bytes().ok()?;
    if !outer.is_finished() || response.first() != Some(&0x30) {
        return None;
    }
    let header =
        <der::Header as der::Decode>::decode(&mut der::SliceReader::new(response).ok()?).ok()?;
    let body = response.get(response.len() - usize::try_from(header.length()).ok()?..)?;
    let mut fields = der::SliceReader::new(body).ok()?;
    let status = fields.tlv_bytes().ok()?;
    if status.first() != Some(&0x30) || fields.is_finished() {
        return None;
    }
    let token = fields.tlv_bytes().ok()?;
    (fields.is_finished() && token.first() == Some(&0x30)).then_some(token)
}

/// Parses a bare token: a DER (or BER) `ContentInfo` holding SignedData over a TSTInfo.
///
/// # Errors
/// [`ParseError`] naming the structure that is wrong.
pub fn parse_token(der: &[u8]) -> Result<TimestampToken, ParseError> {
    if der.is_empty() {
        return Err(ParseError::Empty);
    }
    let (content_info, encoding) =
        decode_liberal::<ContentInfo>(der).map_err(|source| ParseError::Malformed {
            what: "ContentInfo",
            source,
        })?;
    token_from_content_info(&content_info, encoding)
}

/// Parses either a `TimeStampResp` or a bare token (what a `.tsr` file holds varies between tools) and
/// returns the token.
///
/// # Errors
/// [`ParseError::NotGranted`] for a response without a token, otherwise as [`parse_token`].
pub fn inspect(der: &[u8]) -> Result<TimestampToken, ParseError> {
    if looks_like_content_info(der) {
        return parse_token(der);
    }
    let response = parse_response(der)?;
    let rendered = render_status(&response);
    response.token.ok_or(ParseError::NotGranted {
        status: response.status,
        text: rendered,
    })
}

/// A ContentInfo starts with an OID inside its SEQUENCE; a TimeStampResp with a SEQUENCE.
pub(crate) fn looks_like_content_info(der: &[u8]) -> bool {
    let Some(&[first, length]) = der.get(..2) else {
        return false;
    };
    if first != 0x30 {
        return false;
    }
    let skip = match length {
        0x80 => 0,
        0x81..=0x88 => usize::from(length - 0x80),
        _ => 0,
    };
    der.get(2 + skip) == Some(&0x06)
}

pub(crate) fn render_status(response: &TimestampResponse) -> String {
    let mut parts: Vec<String> = response.status_text.clone();
    if !response.failure_info.is_empty() {
        let names: Vec<&str> = response.failure_info.iter().map(|f| f.name()).collect();
        parts.push(format!("failInfo: {}", names.join(", ")));
    }
    parts.join("; ")
}

fn parse_token_any(any: &Any) -> Result<TimestampToken, ParseError> {
    let (content_info, encoding) =
        decode_any::<ContentInfo>(any).map_err(|source| ParseError::Malformed {
            what: "ContentInfo",
            source,
        })?;
    token_from_content_info(&content_info, encoding)
}

fn token_from_content_info(
    content_info: &ContentInfo,
    outer: WireEncoding,
) -> Result<TimestampToken, ParseError> {
    if content_info.content_type != oids::ID_SIGNED_DATA {
        return Err(ParseError::NotSignedData(content_info.content_type));
    }
    let (signed_data, inner) =
        decode_any::<SignedData>(&content_info.content).map_err(|source| {
            ParseError::Malformed {
                what: "SignedData",
                source,
            }
        })?;
    let encap = &signed_data.encap_content_info;
    if encap.e_content_type != oids::ID_CT_TST_INFO {
        return Err(ParseError::NotTstInfo(encap.e_content_type));
    }
    let e_content = encap
        .e_content
        .as_ref()
        .ok_or(ParseError::MissingContent)?
        .as_bytes()
        .to_vec();
    let (tst_info, tst_encoding) =
        decode_liberal::<TstInfo>(&e_content).map_err(|source| ParseError::Malformed {
            what: "TSTInfo",
            source,
        })?;

    let mut certs: Vec<CertEntry> = Vec::new();
    let mut duplicate_certificates = 0;
    let mut skipped_certificates = 0;
    for choice in signed_data.certificates.iter().flat_map(|set| set.0.iter()) {
        // Only the plain `certificate` alternative is a SEQUENCE; [0]..[3] are other CertificateChoices.
        if choice.tag() != Tag::Sequence {
            skipped_certificates += 1;
            continue;
        }
        let Ok(der) = choice.to_der() else {
            skipped_certificates += 1;
            continue;
        };
        if certs.iter().any(|entry| entry.der == der) {
            duplicate_certificates += 1;
            continue;
        }
        match CertEntry::from_der(&der) {
            Ok(entry) => certs.push(entry),
            Err(_) => skipped_certificates += 1,
        }
    }

    let signer_infos = signed_data.signer_infos.0.clone();
    let signature_algorithm_oid = signer_infos
        .first()
        .map_or(ObjectIdentifier::new_unwrap("0.0"), |info| {
            info.signature_algorithm.oid
        });
    let imprint = &tst_info.message_imprint;
    let mut token = TimestampToken {
        token_der: Vec::new(),
        version: BigInteger::from_int(&tst_info.version),
        policy: tst_info.policy,
        hash_algorithm_oid: imprint.hash_algorithm.oid,
        hash_algorithm: HashAlgorithm::from_oid(&imprint.hash_algorithm.oid),
        message_imprint: imprint.hashed_message.as_bytes().to_vec(),
        serial: BigInteger::from_int(&tst_info.serial_number),
        gen_time: tst_info.gen_time.clone(),
        accuracy: tst_info.accuracy.as_ref().map(|a| Accuracy {
            seconds: a.seconds.unwrap_or(0),
            millis: a.millis.unwrap_or(0),
            micros: a.micros.unwrap_or(0),
        }),
        ordering: tst_info.ordering,
        nonce: tst_info.nonce.as_ref().map(BigInteger::from_int),
        tsa_name: tst_info.tsa.as_ref().map(render_general_name),
        signer: None,
        certificates: certs
            .iter()
            .map(|entry| entry.certificate.clone())
            .collect(),
        duplicate_certificates,
        skipped_certificates,
        signature_algorithm_oid,
        encoding: if [outer, inner, tst_encoding].contains(&WireEncoding::Ber) {
            WireEncoding::Ber
        } else {
            WireEncoding::Der
        },
        parts: TokenParts {
            signer_infos,
            e_content,
            certs,
        },
    };
    token.token_der = content_info
        .to_der()
        .map_err(|source| ParseError::Malformed {
            what: "ContentInfo",
            source,
        })?;
    token.signer = token.embedded_signer().map(CertEntry::summary);
    Ok(token)
}

/// The text of a string-typed value (UTF8String, PrintableString, IA5String, VisibleString).
fn any_text(any: &Any) -> Option<String> {
    match any.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString => {
            core::str::from_utf8(any.value()).ok().map(str::to_owned)
        }
        _ => None,
    }
}

/// An INTEGER as i64, saturating (only status codes go through this).
pub(crate) fn int_to_i64(int: &der::asn1::Int) -> i64 {
    let bytes = int.as_bytes();
    if bytes.len() > 8 {
        return if bytes[0] & 0x80 != 0 {
            i64::MIN
        } else {
            i64::MAX
        };
    }
    let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        0xFF
    } else {
        0x00
    };
    let mut buffer = [fill; 8];
    buffer[8 - bytes.len()..].copy_from_slice(bytes);
    i64::from_be_bytes(buffer)
}
