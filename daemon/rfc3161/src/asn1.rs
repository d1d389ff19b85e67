//! The ASN.1 structures of RFC 3161 (requests, responses, TSTInfo), of the CMS subset a time-stamp token
//! uses (RFC 5652) and of the ESS signing-certificate attributes (RFC 2634, RFC 5035), declared with the
//! `der` derive on the new RustCrypto generation. Wire types only: the public API lives elsewhere.

use der::{
    Choice, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag,
    Writer,
    asn1::{Any, BitString, Int, ObjectIdentifier, OctetString},
};
use spki::AlgorithmIdentifierOwned;
use x509_cert::{
    ext::{Extensions, pkix::name::GeneralName},
    name::Name,
};

use crate::time::GenTime;

/// `SET OF T` read leniently and written as given.
///
/// Reading keeps the received order and duplicates (TSAs send both unsorted and duplicate certificate
/// SETs). Writing emits the elements in the stored order, so a SET read from DER re-encodes to the very
/// bytes received (what a signature over signed attributes was computed on); builders sort with
/// [`SetOf::der_sorted`] before encoding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SetOf<T>(pub Vec<T>);

impl<T: Encode> SetOf<T> {
    /// The elements in DER order (X.690 §11.6: ascending encodings).
    pub(crate) fn der_sorted(items: Vec<T>) -> der::Result<Self> {
        let mut keyed = items
            .into_iter()
            .map(|item| Ok((item.to_der()?, item)))
            .collect::<der::Result<Vec<_>>>()?;
        keyed.sort_by(|(a, _), (b, _)| der_set_order(a, b));
        Ok(Self(keyed.into_iter().map(|(_, item)| item).collect()))
    }
}

/// X.690 §11.6 ordering: compare as octet strings, the shorter padded with trailing zero octets.
pub(crate) fn der_set_order(a: &[u8], b: &[u8]) -> core::cmp::Ordering {
    let length = a.len().max(b.len());
    (0..length)
        .map(|i| {
            (
                a.get(i).copied().unwrap_or(0),
                b.get(i).copied().unwrap_or(0),
            )
        })
        .find(|(x, y)| x != y)
        .map_or(core::cmp::Ordering::Equal, |(x, y)| x.cmp(&y))
}

impl<T> FixedTag for SetOf<T> {
    const TAG: Tag = Tag::Set;
}

impl<'a, T> DecodeValue<'a> for SetOf<T>
where
    T: der::Decode<'a, Error = der::Error>,
{
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, _header: Header) -> der::Result<Self> {
        let mut items = Vec::new();
        while !reader.is_finished() {
            items.push(T::decode(reader)?);
        }
        Ok(Self(items))
    }
}

impl<T: Encode> EncodeValue for SetOf<T> {
    fn value_len(&self) -> der::Result<Length> {
        self.0
            .iter()
            .try_fold(Length::ZERO, |total, item| total + item.encoded_len()?)
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        self.0.iter().try_for_each(|item| item.encode(writer))
    }
}

/// `MessageImprint` (RFC 3161 §2.4.1).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct MessageImprint {
    pub hash_algorithm: AlgorithmIdentifierOwned,
    pub hashed_message: OctetString,
}

/// `TimeStampReq` (RFC 3161 §2.4.1).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct TimeStampReq {
    pub version: Int,
    pub message_imprint: MessageImprint,
    #[asn1(optional = "true")]
    pub req_policy: Option<ObjectIdentifier>,
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    #[asn1(default = "Default::default")]
    pub cert_req: bool,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// `PKIStatusInfo` (RFC 3161 §2.4.2). `statusString` is a SEQUENCE OF UTF8String; other string types are
/// kept as [`Any`] and rendered when they are text.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct PkiStatusInfo {
    pub status: Int,
    #[asn1(optional = "true")]
    pub status_string: Option<Vec<Any>>,
    #[asn1(optional = "true")]
    pub fail_info: Option<BitString>,
}

/// `TimeStampResp` (RFC 3161 §2.4.2); the token is kept raw for storage and separate parsing.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct TimeStampResp {
    pub status: PkiStatusInfo,
    #[asn1(optional = "true")]
    pub time_stamp_token: Option<Any>,
}

/// `Accuracy` (RFC 3161 §2.4.2).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct AccuracyAsn {
    #[asn1(optional = "true")]
    pub seconds: Option<u64>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub millis: Option<u16>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub micros: Option<u16>,
}

/// `TSTInfo` (RFC 3161 §2.4.2). `tsa` is `[0] GeneralName`, explicit because GeneralName is a CHOICE.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct TstInfo {
    pub version: Int,
    pub policy: ObjectIdentifier,
    pub message_imprint: MessageImprint,
    pub serial_number: Int,
    pub gen_time: GenTime,
    #[asn1(optional = "true")]
    pub accuracy: Option<AccuracyAsn>,
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// `ContentInfo` (RFC 5652 §3).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct ContentInfo {
    pub content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub content: Any,
}

/// `EncapsulatedContentInfo` (RFC 5652 §5.2).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct EncapsulatedContentInfo {
    pub e_content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub e_content: Option<OctetString>,
}

/// `SignedData` (RFC 5652 §5.1). Certificates are kept raw ([`Any`]) so that each one's exact bytes are
/// hashed for ESSCertID and so that other `CertificateChoices` can be skipped rather than refused.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct SignedData {
    pub version: Int,
    pub digest_algorithms: SetOf<AlgorithmIdentifierOwned>,
    pub encap_content_info: EncapsulatedContentInfo,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub certificates: Option<SetOf<Any>>,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub crls: Option<SetOf<Any>>,
    pub signer_infos: SetOf<SignerInfo>,
}

/// `IssuerAndSerialNumber` (RFC 5652 §10.2.4); the serial is a plain INTEGER (negative serials exist).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct IssuerAndSerialNumber {
    pub issuer: Name,
    pub serial_number: Int,
}

/// `SignerIdentifier` (RFC 5652 §5.3).
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
pub(crate) enum SignerIdentifier {
    IssuerAndSerialNumber(IssuerAndSerialNumber),
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    SubjectKeyIdentifier(OctetString),
}

/// `Attribute` (RFC 5652 §5.3); values kept raw.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct Attribute {
    pub attr_type: ObjectIdentifier,
    pub attr_values: SetOf<Any>,
}

/// `SignerInfo` (RFC 5652 §5.3).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct SignerInfo {
    pub version: Int,
    pub sid: SignerIdentifier,
    pub digest_algorithm: AlgorithmIdentifierOwned,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub signed_attrs: Option<SetOf<Attribute>>,
    pub signature_algorithm: AlgorithmIdentifierOwned,
    pub signature: OctetString,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub unsigned_attrs: Option<SetOf<Attribute>>,
}

/// `IssuerSerial` (RFC 5035): the issuer as GeneralNames and the serial number.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct IssuerSerial {
    pub issuer: Vec<GeneralName>,
    pub serial_number: Int,
}

/// `ESSCertID` (RFC 2634 §5.4.1): a SHA-1 hash of the signer certificate.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct EssCertId {
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `SigningCertificate` (RFC 2634 §5.4).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct SigningCertificate {
    pub certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    pub policies: Option<Vec<Any>>,
}

/// `ESSCertIDv2` (RFC 5035 §4): `hashAlgorithm` defaults to SHA-256 and is then omitted, as DER requires.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct EssCertIdV2 {
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `SigningCertificateV2` (RFC 5035 §3).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct SigningCertificateV2 {
    pub certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    pub policies: Option<Vec<Any>>,
}

/// `RSASSA-PSS-params` (RFC 8017 A.2.3); every field has a DEFAULT (SHA-1, MGF1-SHA-1, 20, 1).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct RsaPssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub mask_gen_algorithm: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    pub trailer_field: Option<u32>,
}

/// A certificate split only into its three top-level parts, so that the TBS bytes signed by the issuer
/// are the received ones (re-encoding a decoded `Certificate` could reorder a multi-valued RDN).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub(crate) struct RawCertificate {
    pub tbs_certificate: Any,
    pub signature_algorithm: AlgorithmIdentifierOwned,
    pub signature: BitString,
}
