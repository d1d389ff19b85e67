//! The DER the token does not hand out ready-made: SubjectPublicKeyInfo from raw key material
//! (`CKA_EC_POINT`, `CKA_MODULUS` + `CKA_PUBLIC_EXPONENT`), `CKA_EC_PARAMS` for the curves, the
//! `ECDSA-Sig-Value` SEQUENCE from a raw `r‖s`, and the DigestInfo prefixes of RSA PKCS#1 v1.5.

use der::asn1::{AnyRef, BitString, ObjectIdentifier, OctetStringRef, PrintableStringRef, UintRef};
use der::{Any, Decode, Encode, Tag};
use sigil_plugin_api::PluginError;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// id-ecPublicKey (RFC 5480).
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// prime256v1 / secp256r1 (RFC 5480).
const OID_PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// id-Ed25519 (RFC 8410).
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// rsaEncryption (RFC 8017).
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Length of an uncompressed P-256 point, `04‖X‖Y`.
const P256_POINT_LEN: usize = 65;
/// Length of an Ed25519 public key.
const ED25519_KEY_LEN: usize = 32;

/// Which curve a `CKA_EC_PARAMS` value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256.
    P256,
    /// Ed25519 (by OID, or by the `edwards25519` PrintableString older tokens use).
    Ed25519,
    /// Anything else: the plugin lists such keys as unusable.
    Other,
}

fn encoding_error(error: der::Error) -> PluginError {
    PluginError::internal(format!("DER encoding failed: {error}"))
}

/// `CKA_EC_PARAMS` for P-256: the DER namedCurve OID.
pub fn p256_ec_params() -> Result<Vec<u8>, PluginError> {
    OID_PRIME256V1.to_der().map_err(encoding_error)
}

/// `CKA_EC_PARAMS` for Ed25519: the DER id-Ed25519 OID (PKCS#11 3.0 §2.3.11).
pub fn ed25519_ec_params() -> Result<Vec<u8>, PluginError> {
    OID_ED25519.to_der().map_err(encoding_error)
}

/// Reads a `CKA_EC_PARAMS` value.
pub fn classify_ec_params(params: &[u8]) -> Curve {
    if let Ok(oid) = ObjectIdentifier::from_der(params) {
        return match oid {
            OID_PRIME256V1 => Curve::P256,
            OID_ED25519 => Curve::Ed25519,
            _ => Curve::Other,
        };
    }
    match PrintableStringRef::from_der(params) {
        Ok(name) if name.as_str() == "edwards25519" => Curve::Ed25519,
        _ => Curve::Other,
    }
}

/// The raw point inside `CKA_EC_POINT`. PKCS#11 says the value is a DER OCTET STRING (SoftHSM follows it),
/// but some tokens return the bare point, so both are accepted; the expected length decides.
fn unwrap_ec_point(value: &[u8], expected_len: usize) -> Result<&[u8], PluginError> {
    if let Ok(octets) = <&OctetStringRef>::from_der(value)
        && octets.as_bytes().len() == expected_len
    {
        return Ok(octets.as_bytes());
    }
    if value.len() == expected_len {
        return Ok(value);
    }
    Err(PluginError::parse(format!(
        "CKA_EC_POINT of {} bytes holds no {expected_len}-byte point",
        value.len()
    )))
}

fn spki(algorithm: AlgorithmIdentifierOwned, key: &[u8]) -> Result<Vec<u8>, PluginError> {
    SubjectPublicKeyInfoOwned {
        algorithm,
        subject_public_key: BitString::from_bytes(key).map_err(encoding_error)?,
    }
    .to_der()
    .map_err(encoding_error)
}

/// The SPKI of a P-256 key from its `CKA_EC_POINT`.
pub fn p256_spki(ec_point: &[u8]) -> Result<Vec<u8>, PluginError> {
    let point = unwrap_ec_point(ec_point, P256_POINT_LEN)?;
    if point[0] != 0x04 {
        return Err(PluginError::parse(
            "CKA_EC_POINT is not an uncompressed P-256 point",
        ));
    }
    let algorithm = AlgorithmIdentifierOwned {
        oid: OID_EC_PUBLIC_KEY,
        parameters: Some(Any::encode_from(&OID_PRIME256V1).map_err(encoding_error)?),
    };
    spki(algorithm, point)
}

/// The SPKI of an Ed25519 key from its `CKA_EC_POINT` (RFC 8410: no parameters).
pub fn ed25519_spki(ec_point: &[u8]) -> Result<Vec<u8>, PluginError> {
    let key = unwrap_ec_point(ec_point, ED25519_KEY_LEN)?;
    let algorithm = AlgorithmIdentifierOwned {
        oid: OID_ED25519,
        parameters: None,
    };
    spki(algorithm, key)
}

/// The SPKI of an RSA key: `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` with
/// rsaEncryption and NULL parameters (RFC 8017 A.1.1, RFC 3279).
pub fn rsa_spki(modulus: &[u8], public_exponent: &[u8]) -> Result<Vec<u8>, PluginError> {
    let key = der_sequence_of_uints(&[modulus, public_exponent])?;
    let algorithm = AlgorithmIdentifierOwned {
        oid: OID_RSA_ENCRYPTION,
        parameters: Some(Any::null()),
    };
    spki(algorithm, &key)
}

/// `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` (RFC 3279) from CKM_ECDSA's raw `r‖s`.
pub fn ecdsa_signature_der(raw: &[u8]) -> Result<Vec<u8>, PluginError> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(PluginError::parse(format!(
            "the token returned a {}-byte ECDSA signature; expected r‖s",
            raw.len()
        )));
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    der_sequence_of_uints(&[r, s])
}

/// A SEQUENCE of unsigned big-endian INTEGERs; `UintRef` strips leading zeros and adds the sign byte.
fn der_sequence_of_uints(values: &[&[u8]]) -> Result<Vec<u8>, PluginError> {
    let mut content = Vec::new();
    for value in values {
        UintRef::new(value)
            .map_err(encoding_error)?
            .encode_to_vec(&mut content)
            .map_err(encoding_error)?;
    }
    AnyRef::new(Tag::Sequence, &content)
        .map_err(encoding_error)?
        .to_der()
        .map_err(encoding_error)
}

/// The hashes of the RSA and ECDSA schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    /// The DER `DigestInfo` up to the digest itself (RFC 8017 §9.2, note 1): CKM_RSA_PKCS pads
    /// `prefix‖digest` and nothing else, so the prefix is what makes it a PKCS#1 v1.5 signature of that hash.
    pub fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Hash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Hash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Hash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }

    /// The digest of `data`, or `data` itself when the caller hashed it (its length checked).
    pub fn digest(self, data: &[u8], prehashed: bool) -> Result<Vec<u8>, PluginError> {
        use sha2::Digest as _;
        if prehashed {
            if data.len() != self.digest_len() {
                return Err(PluginError::invalid_input(format!(
                    "prehashed data must be the {}-byte {self:?} digest, got {} bytes",
                    self.digest_len(),
                    data.len()
                )));
            }
            return Ok(data.to_vec());
        }
        Ok(match self {
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_params() {
        assert_eq!(
            p256_ec_params().unwrap(),
            [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]
        );
        assert_eq!(ed25519_ec_params().unwrap(), [0x06, 0x03, 0x2b, 0x65, 0x70]);
        assert_eq!(classify_ec_params(&p256_ec_params().unwrap()), Curve::P256);
        assert_eq!(
            classify_ec_params(&ed25519_ec_params().unwrap()),
            Curve::Ed25519
        );
        let mut printable = vec![0x13, 12];
        printable.extend_from_slice(b"edwards25519");
        assert_eq!(classify_ec_params(&printable), Curve::Ed25519);
        // secp384r1, and garbage.
        assert_eq!(
            classify_ec_params(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]),
            Curve::Other
        );
        assert_eq!(classify_ec_params(b"\x05\x00"), Curve::Other);
    }

    #[test]
    fn ec_points_wrapped_or_bare() {
        let mut point = vec![0x04];
        point.extend_from_slice(&[0x3f; 64]);
        let mut wrapped = vec![0x04, 65];
        wrapped.extend_from_slice(&point);
        assert_eq!(unwrap_ec_point(&wrapped, 65).unwrap(), &point[..]);
        // A bare point whose second byte happens to read as a valid OCTET STRING length is still bare.
        assert_eq!(unwrap_ec_point(&point, 65).unwrap(), &point[..]);
        assert!(unwrap_ec_point(&point[..64], 65).is_err());
        assert!(p256_spki(&wrapped).is_ok());
        let mut compressed = wrapped.clone();
        compressed[2] = 0x02;
        assert!(p256_spki(&compressed).is_err());
    }

    #[test]
    fn ecdsa_signature_encoding() {
        // r with the high bit set gains a 0x00; s with leading zeros loses them.
        let mut raw = vec![0x80; 32];
        raw.extend_from_slice(&[0x00; 31]);
        raw.push(0x01);
        let der = ecdsa_signature_der(&raw).unwrap();
        let mut expected = vec![0x30, 0x26, 0x02, 0x21, 0x00];
        expected.extend_from_slice(&[0x80; 32]);
        expected.extend_from_slice(&[0x02, 0x01, 0x01]);
        assert_eq!(der, expected);
        assert!(ecdsa_signature_der(&[1, 2, 3]).is_err());
    }

    #[test]
    fn digests() {
        for hash in [Hash::Sha256, Hash::Sha384, Hash::Sha512] {
            assert_eq!(hash.digest(b"x", false).unwrap().len(), hash.digest_len());
            // The prefix ends with OCTET STRING of the digest's length.
            assert_eq!(
                *hash.digest_info_prefix().last().unwrap() as usize,
                hash.digest_len()
            );
            assert!(hash.digest(&[0; 20], true).is_err());
        }
    }
}
