//! Wire structures shared by every CMS-based format: the SignedData subset of RFC 5652 (ContentInfo,
//! SignedData, SignerInfo, attributes), the ESS signing-certificate attributes (RFC 2634, RFC 5035), the
//! RSASSA-PSS parameters (RFC 8017) and a certificate split at its signature. Declared with the `der` derive on
//! the new RustCrypto generation; a time-stamp token, a CAdES signature and a PAdES signature dictionary's
//! contents all read and write through these.
//!
//! These are wire types: fields are public and carry what the encoding carries, nothing is judged here.

use der::{
    Choice, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag,
    Writer,
    asn1::{Any, BitString, Int, ObjectIdentifier, OctetString},
};
use spki::AlgorithmIdentifierOwned;
use x509_cert::{Certificate, ext::pkix::name::GeneralName, name::Name};

use crate::{BigInteger, certificate::names_equal};

/// `SET OF T` read leniently and written as given.
///
/// Reading keeps the received order and duplicates (TSAs send both unsorted and duplicate certificate
/// SETs). Writing emits the elements in the stored order, so a SET read from DER re-encodes to the very
/// bytes received (what a signature over signed attributes was computed on); builders sort with
/// [`SetOf::der_sorted`] before encoding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetOf<T>(
    /// The elements, in the order read or to be written.
    pub Vec<T>,
);

impl<T: Encode> SetOf<T> {
    /// The elements in DER order (X.690 §11.6: ascending encodings).
    pub fn der_sorted(items: Vec<T>) -> der::Result<Self> {
        let mut keyed = items
            .into_iter()
            .map(|item| Ok((item.to_der()?, item)))
            .collect::<der::Result<Vec<_>>>()?;
        keyed.sort_by(|(a, _), (b, _)| der_set_order(a, b));
        Ok(Self(keyed.into_iter().map(|(_, item)| item).collect()))
    }
}

/// X.690 §11.6 ordering: compare as octet strings, the shorter padded with trailing zero octets.
pub fn der_set_order(a: &[u8], b: &[u8]) -> core::cmp::Ordering {
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

/// `ContentInfo` (RFC 5652 §3).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct ContentInfo {
    /// The content type (`id-signedData` for everything this crate reads).
    pub content_type: ObjectIdentifier,
    /// The content, kept raw.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub content: Any,
}

/// `EncapsulatedContentInfo` (RFC 5652 §5.2).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct EncapsulatedContentInfo {
    /// What the content is (`id-ct-TSTInfo`, `id-data` ...).
    pub e_content_type: ObjectIdentifier,
    /// The content octets; absent for detached signatures.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub e_content: Option<OctetString>,
}

/// `SignedData` (RFC 5652 §5.1). Certificates are kept raw ([`Any`]) so that each one's exact bytes are
/// hashed for ESSCertID and so that other `CertificateChoices` can be skipped rather than refused.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SignedData {
    /// CMSVersion (1 or 3 in practice).
    pub version: Int,
    /// The digest algorithms of the signers.
    pub digest_algorithms: SetOf<AlgorithmIdentifierOwned>,
    /// The signed content.
    pub encap_content_info: EncapsulatedContentInfo,
    /// The `CertificateChoices`, raw.
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub certificates: Option<SetOf<Any>>,
    /// The `RevocationInfoChoices`, raw.
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub crls: Option<SetOf<Any>>,
    /// One entry per signer.
    pub signer_infos: SetOf<SignerInfo>,
}

/// `IssuerAndSerialNumber` (RFC 5652 §10.2.4); the serial is a plain INTEGER (negative serials exist).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct IssuerAndSerialNumber {
    /// The certificate's issuer.
    pub issuer: Name,
    /// The certificate's serial number.
    pub serial_number: Int,
}

/// `SignerIdentifier` (RFC 5652 §5.3).
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
pub enum SignerIdentifier {
    /// The certificate's issuer and serial number.
    IssuerAndSerialNumber(IssuerAndSerialNumber),
    /// The certificate's subjectKeyIdentifier.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    SubjectKeyIdentifier(OctetString),
}

impl SignerIdentifier {
    /// Whether `certificate` is the one this identifier names: same issuer and serial number (serials
    /// compared as integers, so a non-minimal encoding still matches), or same subjectKeyIdentifier.
    #[must_use]
    pub fn matches(&self, certificate: &Certificate) -> bool {
        let tbs = certificate.tbs_certificate();
        match self {
            SignerIdentifier::IssuerAndSerialNumber(id) => {
                BigInteger::from_int(&id.serial_number)
                    == BigInteger::from_twos_complement(tbs.serial_number().as_bytes())
                    && names_equal(&id.issuer, tbs.issuer())
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => tbs
                .get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
                .ok()
                .flatten()
                .is_some_and(|(_, own)| own.0.as_bytes() == ski.as_bytes()),
        }
    }
}

/// `Attribute` (RFC 5652 §5.3); values kept raw.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct Attribute {
    /// The attribute's OID.
    pub attr_type: ObjectIdentifier,
    /// Its values, raw (most attributes allow exactly one).
    pub attr_values: SetOf<Any>,
}

/// An attribute that occurs more than once in a SET of attributes, or has other than one value, where
/// exactly one is allowed (RFC 5652 §11 for the CMS attributes, RFC 5035 for the ESS ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("attribute {0} occurs more than once or has other than one value")]
pub struct AmbiguousAttribute(
    /// The attribute's OID.
    pub ObjectIdentifier,
);

impl SetOf<Attribute> {
    /// The single value of the attribute `oid`; `None` when it is absent.
    ///
    /// # Errors
    /// [`AmbiguousAttribute`] when the attribute occurs twice or does not have exactly one value.
    pub fn single_value(&self, oid: ObjectIdentifier) -> Result<Option<&Any>, AmbiguousAttribute> {
        let mut matching = self.0.iter().filter(|attribute| attribute.attr_type == oid);
        let Some(attribute) = matching.next() else {
            return Ok(None);
        };
        if matching.next().is_some() {
            return Err(AmbiguousAttribute(oid));
        }
        match attribute.attr_values.0.as_slice() {
            [value] => Ok(Some(value)),
            _ => Err(AmbiguousAttribute(oid)),
        }
    }
}

/// `SignerInfo` (RFC 5652 §5.3).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SignerInfo {
    /// CMSVersion: 1 for issuerAndSerialNumber, 3 for subjectKeyIdentifier.
    pub version: Int,
    /// Which certificate holds the signing key.
    pub sid: SignerIdentifier,
    /// The hash of the content (and of the signed attributes, for most algorithms).
    pub digest_algorithm: AlgorithmIdentifierOwned,
    /// The signed attributes; the signature is over their DER as a SET.
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub signed_attrs: Option<SetOf<Attribute>>,
    /// The signature algorithm.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    /// The signature value.
    pub signature: OctetString,
    /// Unsigned attributes (counter-signatures, time-stamp tokens of CAdES).
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
pub struct IssuerSerial {
    /// The issuer's names (a directoryName in practice).
    pub issuer: Vec<GeneralName>,
    /// The certificate's serial number.
    pub serial_number: Int,
}

/// `ESSCertID` (RFC 2634 §5.4.1): a SHA-1 hash of the signer certificate.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct EssCertId {
    /// SHA-1 of the certificate DER.
    pub cert_hash: OctetString,
    /// Issuer and serial of the certificate, optional.
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `SigningCertificate` (RFC 2634 §5.4).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SigningCertificate {
    /// The signer certificate first, then optionally others of its chain.
    pub certs: Vec<EssCertId>,
    /// Policy information, kept raw and not interpreted.
    #[asn1(optional = "true")]
    pub policies: Option<Vec<Any>>,
}

/// `ESSCertIDv2` (RFC 5035 §4): `hashAlgorithm` defaults to SHA-256 and is then omitted, as DER requires.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct EssCertIdV2 {
    /// The hash of `cert_hash`; absent for SHA-256.
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    /// Hash of the certificate DER.
    pub cert_hash: OctetString,
    /// Issuer and serial of the certificate, optional.
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `SigningCertificateV2` (RFC 5035 §3).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SigningCertificateV2 {
    /// The signer certificate first, then optionally others of its chain.
    pub certs: Vec<EssCertIdV2>,
    /// Policy information, kept raw and not interpreted.
    #[asn1(optional = "true")]
    pub policies: Option<Vec<Any>>,
}

/// `RSASSA-PSS-params` (RFC 8017 A.2.3); every field has a DEFAULT (SHA-1, MGF1-SHA-1, 20, 1).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct RsaPssParams {
    /// The message hash; absent means SHA-1.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    /// The mask generation function; absent means MGF1 with SHA-1.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub mask_gen_algorithm: Option<AlgorithmIdentifierOwned>,
    /// Salt length in bytes; absent means 20.
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub salt_length: Option<u32>,
    /// Trailer field; absent means 1, the only value defined.
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    pub trailer_field: Option<u32>,
}

/// A certificate split only into its three top-level parts, so that the TBS bytes signed by the issuer
/// are the received ones (re-encoding a decoded `Certificate` could reorder a multi-valued RDN).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct RawCertificate {
    /// The TBSCertificate exactly as received.
    pub tbs_certificate: Any,
    /// The issuer's signature algorithm.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    /// The issuer's signature.
    pub signature: BitString,
}
