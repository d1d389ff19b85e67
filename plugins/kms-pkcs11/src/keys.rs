//! Key pairs on the token: generation (private halves sensitive and never extractable), lookup by label,
//! public keys as SPKI, signing, and deletion scheduling. Every function works on a session the caller holds
//! (see [`crate::token`]).

use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki::types::{Date, Ulong};
use sigil_plugin_api::{KeyAlgorithm, PluginError, SignatureAlgorithm};

use crate::calendar::CivilDate;
use crate::encoding::{self, Curve, Hash};
use crate::token::pkcs11_error;
use crate::uri::KeyUri;

/// RSA public exponent 65537, big-endian.
const RSA_PUBLIC_EXPONENT: [u8; 3] = [0x01, 0x00, 0x01];

/// Length of the random `CKA_ID` given to generated key pairs.
const KEY_ID_LEN: u32 = 16;

/// What the plugin knows about one private key object.
#[derive(Debug, Clone)]
pub struct PrivateKey {
    /// The object on the token.
    pub handle: ObjectHandle,
    /// `CKA_LABEL`, when it is UTF-8.
    pub label: Option<String>,
    /// `CKA_ID` (empty when absent).
    pub id: Vec<u8>,
    /// Derived from `CKA_KEY_TYPE` and the curve or modulus size; `Unknown` for anything else.
    pub algorithm: KeyAlgorithm,
    /// `CKA_SIGN`: false once deletion is scheduled (or for keys made for other purposes).
    pub can_sign: bool,
}

fn attribute_error(error: cryptoki::error::Error) -> PluginError {
    pkcs11_error("C_GetAttributeValue", error)
}

/// Reads a private key object's attributes. Two round trips: the type-specific attributes depend on the key
/// type, and asking an RSA key for `CKA_EC_PARAMS` is an error on some tokens.
pub fn describe(session: &Session, handle: ObjectHandle) -> Result<PrivateKey, PluginError> {
    let mut key = PrivateKey {
        handle,
        label: None,
        id: Vec::new(),
        algorithm: KeyAlgorithm::Unknown,
        can_sign: false,
    };
    let mut key_type = None;
    let common = [
        AttributeType::Label,
        AttributeType::Id,
        AttributeType::KeyType,
        AttributeType::Sign,
    ];
    for attribute in session
        .get_attributes(handle, &common)
        .map_err(attribute_error)?
    {
        match attribute {
            Attribute::Label(bytes) => key.label = String::from_utf8(bytes).ok(),
            Attribute::Id(bytes) => key.id = bytes,
            Attribute::KeyType(kind) => key_type = Some(kind),
            Attribute::Sign(sign) => key.can_sign = sign,
            _ => {}
        }
    }
    key.algorithm = match key_type {
        Some(KeyType::RSA) => {
            let modulus = session
                .get_attributes(handle, &[AttributeType::Modulus])
                .map_err(attribute_error)?;
            match modulus.first() {
                Some(Attribute::Modulus(modulus)) => rsa_algorithm(modulus),
                _ => KeyAlgorithm::Unknown,
            }
        }
        Some(kind @ (KeyType::EC | KeyType::EC_EDWARDS)) => {
            let params = session
                .get_attributes(handle, &[AttributeType::EcParams])
                .map_err(attribute_error)?;
            let curve = match params.first() {
                Some(Attribute::EcParams(params)) => encoding::classify_ec_params(params),
                _ => Curve::Other,
            };
            match (kind, curve) {
                (KeyType::EC, Curve::P256) => KeyAlgorithm::EcdsaP256,
                (KeyType::EC_EDWARDS, Curve::Ed25519) => KeyAlgorithm::Ed25519,
                _ => KeyAlgorithm::Unknown,
            }
        }
        _ => KeyAlgorithm::Unknown,
    };
    Ok(key)
}

/// The RSA algorithm of a modulus, by its exact bit length.
fn rsa_algorithm(modulus: &[u8]) -> KeyAlgorithm {
    let significant = modulus.iter().skip_while(|byte| **byte == 0).count();
    let top_bits = modulus
        .iter()
        .find(|byte| **byte != 0)
        .map_or(0, |byte| 8 - byte.leading_zeros() as usize);
    match (significant.saturating_sub(1)) * 8 + top_bits {
        2048 => KeyAlgorithm::Rsa2048,
        3072 => KeyAlgorithm::Rsa3072,
        4096 => KeyAlgorithm::Rsa4096,
        _ => KeyAlgorithm::Unknown,
    }
}

/// The private key a URI names on this token. Zero matches is NOT_FOUND; several (same label, no `id=` to
/// tell them apart) is an error rather than a guess.
pub fn find_private_key(session: &Session, uri: &KeyUri) -> Result<PrivateKey, PluginError> {
    let mut template = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::Token(true),
        Attribute::Label(uri.object.as_bytes().to_vec()),
    ];
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    let handles = session
        .find_objects(&template)
        .map_err(|error| pkcs11_error("C_FindObjects", error))?;
    match handles.as_slice() {
        [] => Err(PluginError::not_found(format!(
            "no private key {uri} on token {:?}",
            uri.token
        ))),
        [handle] => describe(session, *handle),
        several => Err(PluginError::backend(format!(
            "{} private keys match {uri}; name one with an `id=` attribute (list_keys gives such URIs)",
            several.len()
        ))),
    }
}

/// Every private key on the token, described.
pub fn list_private_keys(session: &Session) -> Result<Vec<PrivateKey>, PluginError> {
    let handles = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Token(true),
        ])
        .map_err(|error| pkcs11_error("C_FindObjects", error))?;
    handles
        .into_iter()
        .map(|handle| describe(session, handle))
        .collect()
}

/// The public key object paired with `key` (same label and `CKA_ID`), if the token has one.
fn find_public_key(
    session: &Session,
    key: &PrivateKey,
) -> Result<Option<ObjectHandle>, PluginError> {
    let Some(label) = &key.label else {
        return Ok(None);
    };
    let mut template = vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    if !key.id.is_empty() {
        template.push(Attribute::Id(key.id.clone()));
    }
    let handles = session
        .find_objects(&template)
        .map_err(|error| pkcs11_error("C_FindObjects", error))?;
    Ok(handles.first().copied())
}

/// The recorded last day of the key's grace period: `CKA_END_DATE` of its public key object (see
/// [`schedule_deletion`] for why not of the private key). `None` when unset or unreadable.
pub fn scheduled_deletion_last_day(session: &Session, key: &PrivateKey) -> Option<CivilDate> {
    let public = find_public_key(session, key).ok()??;
    match session
        .get_attributes(public, &[AttributeType::EndDate])
        .ok()?
        .first()?
    {
        Attribute::EndDate(date) => CivilDate::from_ck_parts(&date.year, &date.month, &date.day),
        _ => None,
    }
}

/// The key's public half as a DER SubjectPublicKeyInfo. EC and Ed25519 points are only on the public key
/// object; RSA falls back to the private object's (public) modulus and exponent when there is none.
pub fn public_key_spki(session: &Session, key: &PrivateKey) -> Result<Vec<u8>, PluginError> {
    let public = find_public_key(session, key)?;
    match key.algorithm {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::Ed25519 => {
            let public = public.ok_or_else(|| {
                PluginError::not_found(
                    "the token has no public key object for this key, and EC private keys carry no point",
                )
            })?;
            let point = session
                .get_attributes(public, &[AttributeType::EcPoint])
                .map_err(attribute_error)?;
            let Some(Attribute::EcPoint(point)) = point.first() else {
                return Err(PluginError::parse(
                    "the public key object has no CKA_EC_POINT",
                ));
            };
            if key.algorithm == KeyAlgorithm::EcdsaP256 {
                encoding::p256_spki(point)
            } else {
                encoding::ed25519_spki(point)
            }
        }
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            let attributes = session
                .get_attributes(
                    public.unwrap_or(key.handle),
                    &[AttributeType::Modulus, AttributeType::PublicExponent],
                )
                .map_err(attribute_error)?;
            let (mut modulus, mut exponent) = (None, None);
            for attribute in attributes {
                match attribute {
                    Attribute::Modulus(value) => modulus = Some(value),
                    Attribute::PublicExponent(value) => exponent = Some(value),
                    _ => {}
                }
            }
            match (modulus, exponent) {
                (Some(modulus), Some(exponent)) => encoding::rsa_spki(&modulus, &exponent),
                _ => Err(PluginError::parse(
                    "the RSA key has no CKA_MODULUS or CKA_PUBLIC_EXPONENT",
                )),
            }
        }
        KeyAlgorithm::Unknown => Err(PluginError::unsupported(
            "the key's type or curve is not one this plugin supports",
        )),
    }
}

/// Generates a key pair on the token under `label`, with a random `CKA_ID`. The private key is a token object,
/// private, sensitive, never extractable, and may only sign; the public key may only verify. Returns the
/// SPKI. A label already used by any object on the token is refused (checked here; the caller serialises
/// generations of one instance so the check and the creation cannot interleave).
pub fn generate(
    session: &Session,
    label: &str,
    algorithm: KeyAlgorithm,
) -> Result<Vec<u8>, PluginError> {
    let existing = session
        .find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
        .map_err(|error| pkcs11_error("C_FindObjects", error))?;
    if !existing.is_empty() {
        return Err(PluginError::invalid_input(format!(
            "an object labelled {label:?} already exists on the token (conflict)"
        )));
    }
    let id = session
        .generate_random_vec(KEY_ID_LEN)
        .map_err(|error| pkcs11_error("C_GenerateRandom", error))?;
    let mut public = vec![
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.clone()),
    ];
    let mut private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id),
    ];
    let mechanism = match algorithm {
        KeyAlgorithm::EcdsaP256 => {
            public.push(Attribute::EcParams(encoding::p256_ec_params()?));
            private.push(Attribute::Derive(false));
            Mechanism::EccKeyPairGen
        }
        KeyAlgorithm::Ed25519 => {
            public.push(Attribute::EcParams(encoding::ed25519_ec_params()?));
            private.push(Attribute::Derive(false));
            Mechanism::EccEdwardsKeyPairGen
        }
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            let bits: u64 = match algorithm {
                KeyAlgorithm::Rsa2048 => 2048,
                KeyAlgorithm::Rsa3072 => 3072,
                _ => 4096,
            };
            public.extend([
                Attribute::ModulusBits(Ulong::from(bits)),
                Attribute::PublicExponent(RSA_PUBLIC_EXPONENT.to_vec()),
                Attribute::Encrypt(false),
                Attribute::Wrap(false),
            ]);
            private.extend([Attribute::Decrypt(false), Attribute::Unwrap(false)]);
            Mechanism::RsaPkcsKeyPairGen
        }
        KeyAlgorithm::Unknown => return Err(PluginError::unsupported("unknown key algorithm")),
    };
    let (public_handle, private_handle) = session
        .generate_key_pair(&mechanism, &public, &private)
        .map_err(|error| pkcs11_error("C_GenerateKeyPair", error))?;
    let spki = describe(session, private_handle).and_then(|key| public_key_spki(session, &key));
    if spki.is_err() {
        // A key whose public half cannot be served would only block its label: take it back.
        let _ = session.destroy_object(private_handle);
        let _ = session.destroy_object(public_handle);
    }
    spki
}

/// Signs `data` (the message, or its digest when `prehashed`) with the key.
///
/// Every RSA and ECDSA scheme hashes here and hands the token the digest, so prehashed and plain requests
/// take one path and no token needs the combined hash-and-sign mechanisms (SoftHSM2 has no
/// CKM_ECDSA_SHA256): ECDSA is CKM_ECDSA over the SHA-256 digest, its raw `r‖s` re-encoded as DER; PKCS#1
/// v1.5 is CKM_RSA_PKCS over `DigestInfo‖digest`; PSS is CKM_RSA_PKCS_PSS with MGF1 of the same hash and a
/// salt as long as the hash. Ed25519 is CKM_EDDSA over the message.
pub fn sign(
    session: &Session,
    key: &PrivateKey,
    scheme: SignatureAlgorithm,
    data: &[u8],
    prehashed: bool,
) -> Result<Vec<u8>, PluginError> {
    let mismatch = || {
        PluginError::unsupported(format!(
            "a {:?} key cannot sign with {scheme:?}",
            key.algorithm
        ))
    };
    let rsa_key = matches!(
        key.algorithm,
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096
    );
    let token_sign = |mechanism: &Mechanism, input: &[u8]| {
        session
            .sign(mechanism, key.handle, input)
            .map_err(|error| pkcs11_error("C_Sign", error))
    };
    match scheme {
        SignatureAlgorithm::EcdsaP256Sha256 if key.algorithm == KeyAlgorithm::EcdsaP256 => {
            let digest = Hash::Sha256.digest(data, prehashed)?;
            encoding::ecdsa_signature_der(&token_sign(&Mechanism::Ecdsa, &digest)?)
        }
        SignatureAlgorithm::Ed25519 if key.algorithm == KeyAlgorithm::Ed25519 => {
            if prehashed {
                return Err(PluginError::unsupported(
                    "ed25519 signs the message itself; prehashed data (Ed25519ph) is not supported",
                ));
            }
            let params = EddsaParams::new(EddsaSignatureScheme::Pure);
            token_sign(&Mechanism::Eddsa(params), data)
        }
        SignatureAlgorithm::RsaPkcs1v15Sha256
        | SignatureAlgorithm::RsaPkcs1v15Sha384
        | SignatureAlgorithm::RsaPkcs1v15Sha512
            if rsa_key =>
        {
            let hash = match scheme {
                SignatureAlgorithm::RsaPkcs1v15Sha256 => Hash::Sha256,
                SignatureAlgorithm::RsaPkcs1v15Sha384 => Hash::Sha384,
                _ => Hash::Sha512,
            };
            let mut input = hash.digest_info_prefix().to_vec();
            input.extend_from_slice(&hash.digest(data, prehashed)?);
            token_sign(&Mechanism::RsaPkcs, &input)
        }
        SignatureAlgorithm::RsaPssSha256
        | SignatureAlgorithm::RsaPssSha384
        | SignatureAlgorithm::RsaPssSha512
            if rsa_key =>
        {
            let (hash, hash_mechanism, mgf) = match scheme {
                SignatureAlgorithm::RsaPssSha256 => (
                    Hash::Sha256,
                    MechanismType::SHA256,
                    PkcsMgfType::MGF1_SHA256,
                ),
                SignatureAlgorithm::RsaPssSha384 => (
                    Hash::Sha384,
                    MechanismType::SHA384,
                    PkcsMgfType::MGF1_SHA384,
                ),
                _ => (
                    Hash::Sha512,
                    MechanismType::SHA512,
                    PkcsMgfType::MGF1_SHA512,
                ),
            };
            let params = PkcsPssParams {
                hash_alg: hash_mechanism,
                mgf,
                s_len: Ulong::from(hash.digest_len() as u64),
            };
            token_sign(
                &Mechanism::RsaPkcsPss(params),
                &hash.digest(data, prehashed)?,
            )
        }
        _ => Err(mismatch()),
    }
}

/// What [`schedule_deletion`] did.
pub enum Deletion {
    /// The key pair was destroyed now (grace 0).
    Destroyed,
    /// The key was retired, to be deleted after this last day of its grace period.
    Retired(CivilDate),
}

/// Schedules the key pair's deletion. PKCS#11 tokens cannot destroy an object at a future time, and this
/// plugin runs only when called, so a grace period is *recorded* on the token instead:
///
/// - `CKA_SIGN` is cleared on the private key, so the token itself refuses further signatures, through this
///   plugin or any other application;
/// - `CKA_END_DATE` of the public key object is set to the last day of the grace period. Not of the private
///   key: SoftHSM2 (through 2.6) stores a date set on a private key unencrypted but decrypts it when read, so
///   every later C_GetAttributeValue of it fails with CKR_GENERAL_ERROR (SoftHSMv2 issue #655).
///
/// The objects stay (the public key remains readable for verifying old signatures) until someone destroys
/// them: `schedule_deletion` with `grace_days = 0`, or an operator with `pkcs11-tool --delete-object`. A key
/// already retired keeps the earlier of its dates, so a retried request changes nothing.
pub fn schedule_deletion(
    session: &Session,
    key: &PrivateKey,
    grace_days: u32,
) -> Result<Deletion, PluginError> {
    let public = find_public_key(session, key)?;
    if grace_days == 0 {
        if let Some(public) = public {
            session
                .destroy_object(public)
                .map_err(|error| pkcs11_error("C_DestroyObject (public key)", error))?;
        }
        session
            .destroy_object(key.handle)
            .map_err(|error| pkcs11_error("C_DestroyObject (private key)", error))?;
        return Ok(Deletion::Destroyed);
    }
    let requested = CivilDate::today().plus_days(grace_days);
    let last_day = scheduled_deletion_last_day(session, key)
        .map_or(requested, |recorded| recorded.min(requested));
    session
        .update_attributes(key.handle, &[Attribute::Sign(false)])
        .map_err(|error| pkcs11_error("C_SetAttributeValue (private key CKA_SIGN)", error))?;
    if let Some(public) = public {
        let (year, month, day) = last_day.to_ck_parts();
        let date = Date::new_from_str_slice(&year, &month, &day)
            .map_err(|error| PluginError::internal(format!("CK_DATE: {error}")))?;
        session
            .update_attributes(public, &[Attribute::EndDate(date)])
            .map_err(|error| {
                pkcs11_error("C_SetAttributeValue (public key CKA_END_DATE)", error)
            })?;
    }
    Ok(Deletion::Retired(last_day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_sizes() {
        let modulus = |bits: usize| {
            let mut bytes = vec![0xff; bits / 8];
            bytes.insert(0, 0);
            bytes
        };
        assert_eq!(rsa_algorithm(&modulus(2048)), KeyAlgorithm::Rsa2048);
        assert_eq!(rsa_algorithm(&modulus(3072)), KeyAlgorithm::Rsa3072);
        assert_eq!(rsa_algorithm(&modulus(4096)), KeyAlgorithm::Rsa4096);
        assert_eq!(rsa_algorithm(&modulus(1024)), KeyAlgorithm::Unknown);
        // 2047 bits: top byte 0x7f.
        let mut short = vec![0x7f];
        short.extend_from_slice(&[0xff; 255]);
        assert_eq!(rsa_algorithm(&short), KeyAlgorithm::Unknown);
        assert_eq!(rsa_algorithm(&[]), KeyAlgorithm::Unknown);
    }
}
