//! JAdES detached JSON signatures (ETSI TS 119 182-1) in the shape the public client checks (contract §5):
//! a General JWS JSON Serialization with one signature whose protected header carries `alg`, `x5c`
//! (standard base64), `x5t#S256`, `sigT` and `sigD` (`ObjectIdByURIHash`: `pars`, `hashM`, `hashV`,
//! `ctys`), no payload (the objects are referenced by digest), and optionally a signature time-stamp
//! (`etsiU` → `sigTst`) in the unprotected header. Built in steps like CAdES: [`JadesBuilder::new`] →
//! [`JadesBuilder::to_be_signed`] → the KMS signs → [`JadesBuilder::assemble`] → [`JadesSignature`]
//! (time-stamp its [`JadesSignature::timestamp_input`]) → [`JadesSignature::to_json`]. [`verify_jades`]
//! verifies one against supplied object digests.

use std::{collections::BTreeMap, time::SystemTime};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use der::{Decode, Encode, Sequence, asn1::ObjectIdentifier};
use serde_json::{Map, Value, json};
use sigil_cms::{
    CertEntry, CmsSignatureAlgorithm, HashAlgorithm, SignatureAlgorithm, SubIndication, Verdict,
    algorithms::{SignatureCheck, verify},
    oids,
    raw::verify_ed25519,
    time::rfc3339,
};
use spki::SubjectPublicKeyInfoOwned;

use crate::{
    BuildError, SealCheck, SealReport,
    cades::{check_digest, parse_chain},
    cades_verify::Level,
    signer_checks::{
        TrustSettings, final_verdict, is_eidas_qualified, judge_signer, verify_timestamp,
    },
};

/// The `sigD` mechanism: each signed object is referenced by URI and by the digest of its content.
pub const OBJECT_ID_BY_URI_HASH: &str = "http://uri.etsi.org/19182/ObjectIdByURIHash";

/// One detached object a JAdES signature covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JadesObject {
    /// Its reference (`sigD.pars`).
    pub uri: String,
    /// Its digest with the signature's `hashM`.
    pub digest: Vec<u8>,
    /// Its MIME type (`sigD.ctys`); `""` when unknown.
    pub content_type: String,
}

/// What a JAdES signature states beside its objects and chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JadesOptions {
    /// The claimed signing time (`sigT`).
    pub signing_time: SystemTime,
    /// The digest algorithm of every object (`hashM`): SHA-256, SHA-384 or SHA-512.
    pub digest_algorithm: HashAlgorithm,
}

impl Default for JadesOptions {
    fn default() -> Self {
        Self {
            signing_time: SystemTime::now(),
            digest_algorithm: HashAlgorithm::Sha256,
        }
    }
}

/// Why a JAdES signature could not be built.
#[derive(Debug, thiserror::Error)]
pub enum JadesError {
    /// The shared building errors (chain, digest lengths, signature check).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// No object was given.
    #[error("a JAdES signature needs at least one object")]
    NoObjects,
    /// The signer's key or algorithm has no JWS name here (ECDSA other than P-256/SHA-256 or P-384/SHA-384).
    #[error("no JWS algorithm for {0}")]
    UnsupportedAlgorithm(String),
    /// The signature from the KMS is not a DER ECDSA-Sig-Value of the curve's size.
    #[error("the ECDSA signature is not a DER ECDSA-Sig-Value for this curve")]
    BadEcdsaSignature,
}

/// The first step of a JAdES signature: the protected header, ready to be signed.
#[derive(Clone, Debug)]
pub struct JadesBuilder {
    algorithm: CmsSignatureAlgorithm,
    leaf: CertEntry,
    protected: String,
    signing_input: Vec<u8>,
}

impl JadesBuilder {
    /// A signature over `objects`, in order, by the key of `chain[0]` (DER, leaf first) signing with
    /// `algorithm`.
    ///
    /// # Errors
    /// [`JadesError`] for no objects, a bad chain or digest, or an algorithm without a JWS name.
    pub fn new(
        objects: &[JadesObject],
        chain: &[Vec<u8>],
        algorithm: CmsSignatureAlgorithm,
        options: JadesOptions,
    ) -> Result<Self, JadesError> {
        if objects.is_empty() {
            return Err(JadesError::NoObjects);
        }
        for object in objects {
            check_digest(options.digest_algorithm, &object.digest)?;
        }
        let chain = parse_chain(chain)?;
        let leaf = chain[0].clone();
        let alg = jws_name(
            algorithm,
            leaf.certificate.tbs_certificate().subject_public_key_info(),
        )?;
        let signing_time = options
            .signing_time
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let header = json!({
            "alg": alg,
            "typ": "jose+json",
            "x5c": chain.iter().map(|entry| STANDARD.encode(&entry.der)).collect::<Vec<_>>(),
            "x5t#S256": URL_SAFE_NO_PAD.encode(HashAlgorithm::Sha256.digest(&leaf.der)),
            "sigT": rfc3339(signing_time),
            "crit": ["sigT", "sigD"],
            "sigD": {
                "mId": OBJECT_ID_BY_URI_HASH,
                "pars": objects.iter().map(|o| o.uri.as_str()).collect::<Vec<_>>(),
                "hashM": hash_name(options.digest_algorithm),
                "hashV": objects.iter().map(|o| URL_SAFE_NO_PAD.encode(&o.digest)).collect::<Vec<_>>(),
                "ctys": objects.iter().map(|o| o.content_type.as_str()).collect::<Vec<_>>(),
            },
        });
        let protected = URL_SAFE_NO_PAD.encode(header.to_string());
        // The JWS payload is empty: the objects are bound through sigD's digests, not carried.
        let signing_input = format!("{protected}.").into_bytes();
        Ok(Self {
            algorithm,
            leaf,
            protected,
            signing_input,
        })
    }

    /// The bytes the key signs: the JWS Signing Input `BASE64URL(protected) || '.'` (empty payload).
    #[must_use]
    pub fn to_be_signed(&self) -> &[u8] {
        &self.signing_input
    }

    /// Completes the signature with the KMS's `signature` over [`JadesBuilder::to_be_signed`] (DER for
    /// ECDSA, converted here to JWS's fixed `r || s`), after checking it under the leaf certificate's key.
    ///
    /// # Errors
    /// [`JadesError`] when the signature is malformed or does not verify.
    pub fn assemble(self, signature: &[u8]) -> Result<JadesSignature, JadesError> {
        let spki = self
            .leaf
            .certificate
            .tbs_certificate()
            .subject_public_key_info();
        let jws_signature = match self.algorithm {
            CmsSignatureAlgorithm::Classic(algorithm) if is_ecdsa(algorithm) => {
                let size = curve_size(spki).ok_or(JadesError::BadEcdsaSignature)?;
                ecdsa_der_to_fixed(signature, size).ok_or(JadesError::BadEcdsaSignature)?
            }
            _ => signature.to_vec(),
        };
        verify_jws(self.algorithm, spki, &self.signing_input, &jws_signature)
            .map_err(|check| JadesError::Build(BuildError::SignatureRejected(check)))?;
        Ok(JadesSignature {
            protected: self.protected,
            signature: URL_SAFE_NO_PAD.encode(&jws_signature),
            timestamps: Vec::new(),
        })
    }
}

/// An assembled JAdES signature (B-B), to which a signature time-stamp may be added (B-T).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JadesSignature {
    protected: String,
    signature: String,
    timestamps: Vec<Vec<u8>>,
}

impl JadesSignature {
    /// The decoded JWS signature value; its SHA-256 is the contract's binding digest (`signature_sha256`).
    #[must_use]
    pub fn signature_value(&self) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(&self.signature).unwrap_or_default()
    }

    /// What a signature time-stamp's imprint is the hash of (TS 119 182-1 §5.3.4: the base64url JWS
    /// Signature component, as ASCII).
    #[must_use]
    pub fn timestamp_input(&self) -> &[u8] {
        self.signature.as_bytes()
    }

    /// Adds an RFC 3161 token over `hash(timestamp_input())` as `etsiU` → `sigTst`.
    pub fn add_signature_timestamp(&mut self, token_der: &[u8]) {
        self.timestamps.push(token_der.to_vec());
    }

    /// The General JWS JSON Serialization (`.jades.json`).
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut entry = Map::new();
        entry.insert("protected".into(), Value::String(self.protected.clone()));
        if !self.timestamps.is_empty() {
            let tokens: Vec<Value> = self
                .timestamps
                .iter()
                .map(|token| json!({ "val": STANDARD.encode(token) }))
                .collect();
            let sig_tst = json!({ "sigTst": { "tstTokens": tokens } });
            // etsiU members are base64url-encoded JSON (TS 119 182-1 §5.3.1 allows clear or encoded, not mixed).
            let encoded = URL_SAFE_NO_PAD.encode(sig_tst.to_string());
            entry.insert("header".into(), json!({ "etsiU": [encoded] }));
        }
        entry.insert("signature".into(), Value::String(self.signature.clone()));
        json!({ "signatures": [Value::Object(entry)] }).to_string()
    }
}

/// One signed object as verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectResult {
    /// Its reference (`sigD.pars[i]`).
    pub par: String,
    /// Its `ctys` entry (`""` when absent).
    pub content_type: String,
    /// Whether the caller supplied a digest for it.
    pub supplied: bool,
    /// Whether the supplied digest matched; `false` when not supplied.
    pub hash_match: bool,
}

/// What [`verify_jades`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JadesReport {
    /// The checks shared with CAdES (signer, trust, time-stamp, verdict). `hash_match` is true when every
    /// supplied digest matched.
    pub seal: SealReport,
    /// Every signed object, in `pars` order.
    pub objects: Vec<ObjectResult>,
    /// Signed references for which no digest was supplied.
    pub missing: Vec<String>,
    /// Supplied references that the signature does not cover.
    pub unreferenced: Vec<String>,
    /// Every signed object was supplied and matched, and the signature verified.
    pub complete: bool,
    /// SHA-256 hex of the decoded classical signature value (the contract's binding digest).
    pub signature_sha256_hex: Option<String>,
}

/// Verifies a JAdES signature (General or flattened JWS JSON) against `supplied` object digests (reference →
/// digest with the signature's `hashM`).
#[must_use]
pub fn verify_jades(
    json_bytes: &[u8],
    supplied: &BTreeMap<String, Vec<u8>>,
    settings: &TrustSettings<'_>,
) -> JadesReport {
    let mut report = JadesReport {
        seal: SealReport::new(),
        objects: Vec::new(),
        missing: Vec::new(),
        unreferenced: Vec::new(),
        complete: false,
        signature_sha256_hex: None,
    };
    match verify_inner(&mut report, json_bytes, supplied, settings) {
        Ok(()) => {}
        Err((check, verdict)) => {
            let seal = std::mem::replace(&mut report.seal, SealReport::new());
            report.seal = seal.stop(check, verdict);
        }
    }
    report.complete = report.seal.signature_valid
        && report.missing.is_empty()
        && !report.objects.is_empty()
        && report.objects.iter().all(|object| object.hash_match);
    report
}

type Stop = (SealCheck, Verdict);

fn format_failure(message: impl Into<String>) -> Stop {
    (
        SealCheck::Format,
        Verdict::failed(SubIndication::FormatFailure, message.into()),
    )
}

fn verify_inner(
    report: &mut JadesReport,
    json_bytes: &[u8],
    supplied: &BTreeMap<String, Vec<u8>>,
    settings: &TrustSettings<'_>,
) -> Result<(), Stop> {
    let document: Value = serde_json::from_slice(json_bytes)
        .map_err(|error| format_failure(format!("not JSON: {error}")))?;
    let entries: Vec<&Value> = match document.get("signatures") {
        Some(Value::Array(entries)) => entries.iter().collect(),
        Some(_) => return Err(format_failure("`signatures` is not an array")),
        None if document.get("signature").is_some() => vec![&document],
        None => {
            return Err(format_failure(
                "neither `signatures` nor `signature` is present",
            ));
        }
    };
    // Exactly one classical entry; a hybrid post-quantum entry (ML-DSA) is not checked here.
    let mut classical = Vec::new();
    for entry in entries {
        let protected_b64 = entry
            .get("protected")
            .and_then(Value::as_str)
            .ok_or_else(|| format_failure("a signature has no `protected` header"))?;
        let header = decode_header(protected_b64)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| format_failure("protected header has no `alg`"))?
            .to_owned();
        if alg.starts_with("ML-DSA") {
            report
                .seal
                .warnings
                .push("a post-quantum (ML-DSA) signature is present and was not checked".into());
            continue;
        }
        classical.push((entry, protected_b64, header, alg));
    }
    let (entry, protected_b64, header, alg) = match classical.len() {
        1 => classical.remove(0),
        n => {
            return Err(format_failure(format!(
                "{n} classical signatures, expected exactly one"
            )));
        }
    };
    let signature_b64 = entry
        .get("signature")
        .and_then(Value::as_str)
        .ok_or_else(|| format_failure("the signature has no `signature` value"))?;
    let signature = decode_b64url(signature_b64, "signature")?;
    report.signature_sha256_hex = Some(sigil_cms::hex(&HashAlgorithm::Sha256.digest(&signature)));

    // Critical headers must be understood.
    if let Some(crit) = header.get("crit") {
        let names = crit
            .as_array()
            .ok_or_else(|| format_failure("`crit` is not an array"))?;
        for name in names {
            match name.as_str() {
                Some("sigT" | "sigD" | "b64")
                    if name.as_str().is_some_and(|n| header.contains_key(n)) => {}
                _ => {
                    return Err(format_failure(format!(
                        "critical header {name} is not understood or absent"
                    )));
                }
            }
        }
    }
    if header.get("b64") == Some(&Value::Bool(false))
        && document.get("payload").is_some_and(|p| p != "")
    {
        return Err(format_failure(
            "an unencoded payload is carried; only detached signatures are accepted",
        ));
    }

    // Certificates: x5c (standard base64 DER), leaf first, bound by x5t#S256.
    let x5c = header
        .get("x5c")
        .and_then(Value::as_array)
        .filter(|list| !list.is_empty())
        .ok_or_else(|| {
            (
                SealCheck::SignerCertificate,
                Verdict::indeterminate(
                    SubIndication::NoSigningCertificateFound,
                    "protected header has no x5c certificate chain".into(),
                ),
            )
        })?;
    let mut chain = Vec::new();
    for (index, value) in x5c.iter().enumerate() {
        let der = value
            .as_str()
            .and_then(|text| STANDARD.decode(text).ok())
            .ok_or_else(|| format_failure(format!("x5c[{index}] is not standard base64")))?;
        let entry = CertEntry::from_der(&der).map_err(|error| {
            format_failure(format!("x5c[{index}] is not a certificate: {error}"))
        })?;
        chain.push(entry);
    }
    let leaf = chain[0].clone();
    report.seal.signer = Some(leaf.summary());
    report.seal.qualified = is_eidas_qualified(&leaf.certificate);
    let thumbprint = URL_SAFE_NO_PAD.encode(HashAlgorithm::Sha256.digest(&leaf.der));
    if header.get("x5t#S256").and_then(Value::as_str) != Some(thumbprint.as_str()) {
        return Err((
            SealCheck::SigningCertificateBinding,
            Verdict::indeterminate(
                SubIndication::NoSigningCertificateFound,
                "x5t#S256 is missing or is not the SHA-256 of x5c[0]".into(),
            ),
        ));
    }

    // sigD: the signed objects and their digests.
    let sig_d = header
        .get("sigD")
        .and_then(Value::as_object)
        .ok_or_else(|| format_failure("protected header has no sigD"))?;
    if sig_d.get("mId").and_then(Value::as_str) != Some(OBJECT_ID_BY_URI_HASH) {
        return Err(format_failure(format!(
            "sigD.mId is not {OBJECT_ID_BY_URI_HASH}"
        )));
    }
    let strings = |name: &str| -> Result<Vec<String>, Stop> {
        sig_d
            .get(name)
            .and_then(Value::as_array)
            .and_then(|list| list.iter().map(|v| v.as_str().map(str::to_owned)).collect())
            .ok_or_else(|| format_failure(format!("sigD.{name} is not an array of strings")))
    };
    let pars = strings("pars")?;
    let hash_values = strings("hashV")?;
    let content_types = if sig_d.contains_key("ctys") {
        strings("ctys")?
    } else {
        vec![String::new(); pars.len()]
    };
    if pars.is_empty() || hash_values.len() != pars.len() || content_types.len() != pars.len() {
        return Err(format_failure(
            "sigD.pars, hashV and ctys differ in length or are empty",
        ));
    }
    let hash = match sig_d.get("hashM").and_then(Value::as_str) {
        Some("S256") => HashAlgorithm::Sha256,
        Some("S384") => HashAlgorithm::Sha384,
        Some("S512") => HashAlgorithm::Sha512,
        other => {
            return Err((
                SealCheck::ContentDigest,
                Verdict::indeterminate(
                    SubIndication::CryptoConstraintsFailure,
                    format!("unsupported sigD.hashM {other:?}"),
                ),
            ));
        }
    };
    let mut all_match = true;
    for ((par, hash_value), content_type) in pars.iter().zip(&hash_values).zip(&content_types) {
        let signed = decode_b64url(hash_value, "sigD.hashV")?;
        if signed.len() != hash.output_len() {
            return Err(format_failure(format!(
                "sigD.hashV for {par} is not a {hash} digest"
            )));
        }
        let given = supplied.get(par);
        let hash_match = given.is_some_and(|digest| *digest == signed);
        if given.is_some() && !hash_match {
            all_match = false;
        }
        if given.is_none() {
            report.missing.push(par.clone());
        }
        report.objects.push(ObjectResult {
            par: par.clone(),
            content_type: content_type.clone(),
            supplied: given.is_some(),
            hash_match,
        });
    }
    report.unreferenced = supplied
        .keys()
        .filter(|uri| !pars.contains(uri))
        .cloned()
        .collect();
    report.seal.hash_match = Some(all_match);

    // The signature over the JWS Signing Input (detached: empty payload).
    let payload = document
        .get("payload")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let signing_input = format!("{protected_b64}.{payload}");
    let spki = leaf.certificate.tbs_certificate().subject_public_key_info();
    let algorithm = algorithm_of(&alg).ok_or_else(|| {
        (
            SealCheck::Signature,
            Verdict::indeterminate(
                SubIndication::CryptoConstraintsFailure,
                format!("unsupported JWS algorithm {alg}"),
            ),
        )
    })?;
    match verify_jws(algorithm, spki, signing_input.as_bytes(), &signature) {
        Ok(()) => {
            report.seal.signature_valid = true;
            report.seal.signature_algorithm = Some(algorithm);
        }
        Err(SignatureCheck::Invalid) => {
            return Err((
                SealCheck::Signature,
                Verdict::failed(
                    SubIndication::SigCryptoFailure,
                    "the JWS signature does not verify under x5c[0]'s key".into(),
                ),
            ));
        }
        Err(other) => {
            return Err((
                SealCheck::Signature,
                Verdict::indeterminate(SubIndication::CryptoConstraintsFailure, other.to_string()),
            ));
        }
    }
    if !all_match {
        let wrong: Vec<&str> = report
            .objects
            .iter()
            .filter(|o| o.supplied && !o.hash_match)
            .map(|o| o.par.as_str())
            .collect();
        return Err((
            SealCheck::ContentDigest,
            Verdict::failed(
                SubIndication::HashFailure,
                format!(
                    "supplied digests do not match the signed ones for: {}",
                    wrong.join(", ")
                ),
            ),
        ));
    }
    report.seal.level = Some(Level::BB);
    let signing_time = header
        .get("sigT")
        .and_then(Value::as_str)
        .map(str::to_owned);
    report.seal.signing_time = signing_time;

    // Signature time-stamp in the unprotected header.
    let mut validation_time = settings.now;
    if let Some(token) = signature_timestamp(entry)? {
        match verify_timestamp(&token, signature_b64.as_bytes(), settings.tsa) {
            Ok(timestamp) => {
                if timestamp.trusted {
                    validation_time = timestamp.gen_time_unix;
                } else {
                    report.seal.warnings.push(format!(
                        "the signature time-stamp's TSA is not trusted ({})",
                        timestamp.verdict.message
                    ));
                }
                report.seal.timestamp = Some(timestamp);
                report.seal.level = Some(Level::BT);
            }
            Err(verdict) => return Err((SealCheck::Timestamp, verdict)),
        }
    }
    let (trust, status) = judge_signer(&leaf, &chain[1..], settings, validation_time)
        .map_err(|verdict| (SealCheck::Certificate, verdict))?;
    report.seal.trust = trust;
    report.seal.verdict = final_verdict(trust, &status);
    if !trust.is_anchored() {
        report.seal.failed_check = Some(SealCheck::Trust);
    }
    Ok(())
}

/// The first `sigTst` token of the entry's `etsiU` (clear JSON or base64url JSON members).
fn signature_timestamp(entry: &Value) -> Result<Option<Vec<u8>>, Stop> {
    let Some(members) = entry
        .get("header")
        .and_then(|header| header.get("etsiU"))
        .and_then(Value::as_array)
    else {
        return Ok(None);
    };
    for member in members {
        let object = match member {
            Value::String(encoded) => {
                let bytes = decode_b64url(encoded, "etsiU member")?;
                serde_json::from_slice::<Value>(&bytes)
                    .map_err(|error| format_failure(format!("etsiU member is not JSON: {error}")))?
            }
            other => other.clone(),
        };
        if let Some(value) = object
            .get("sigTst")
            .and_then(|tst| tst.get("tstTokens"))
            .and_then(Value::as_array)
            .and_then(|tokens| tokens.first())
            .and_then(|token| token.get("val"))
            .and_then(Value::as_str)
        {
            let token = STANDARD
                .decode(value)
                .map_err(|_| format_failure("sigTst token is not standard base64"))?;
            return Ok(Some(token));
        }
    }
    Ok(None)
}

fn decode_b64url(text: &str, what: &str) -> Result<Vec<u8>, Stop> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| format_failure(format!("{what} is not unpadded base64url")))
}

fn decode_header(protected_b64: &str) -> Result<Map<String, Value>, Stop> {
    let bytes = decode_b64url(protected_b64, "protected header")?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(format_failure("protected header is not a JSON object")),
    }
}

fn hash_name(hash: HashAlgorithm) -> &'static str {
    match hash {
        HashAlgorithm::Sha384 => "S384",
        HashAlgorithm::Sha512 => "S512",
        _ => "S256",
    }
}

fn is_ecdsa(algorithm: SignatureAlgorithm) -> bool {
    matches!(
        algorithm,
        SignatureAlgorithm::EcdsaSha256
            | SignatureAlgorithm::EcdsaSha384
            | SignatureAlgorithm::EcdsaSha512
    )
}

/// The JWS `alg` (RFC 7518, RFC 8037) for a signer, checking that an ECDSA curve fits its hash.
fn jws_name(
    algorithm: CmsSignatureAlgorithm,
    spki: &SubjectPublicKeyInfoOwned,
) -> Result<&'static str, JadesError> {
    use SignatureAlgorithm as S;
    let unsupported = || JadesError::UnsupportedAlgorithm(format!("{algorithm:?}"));
    Ok(match algorithm {
        CmsSignatureAlgorithm::Ed25519 => "EdDSA",
        CmsSignatureAlgorithm::Classic(classic) => match classic {
            S::EcdsaSha256 if curve_size(spki) == Some(32) => "ES256",
            S::EcdsaSha384 if curve_size(spki) == Some(48) => "ES384",
            S::EcdsaSha256 | S::EcdsaSha384 | S::EcdsaSha512 => return Err(unsupported()),
            S::RsaPkcs1Sha256 => "RS256",
            S::RsaPkcs1Sha384 => "RS384",
            S::RsaPkcs1Sha512 => "RS512",
            S::RsaPssSha256 => "PS256",
            S::RsaPssSha384 => "PS384",
            S::RsaPssSha512 => "PS512",
        },
    })
}

fn algorithm_of(alg: &str) -> Option<CmsSignatureAlgorithm> {
    use SignatureAlgorithm as S;
    let classic = match alg {
        "EdDSA" => return Some(CmsSignatureAlgorithm::Ed25519),
        "ES256" => S::EcdsaSha256,
        "ES384" => S::EcdsaSha384,
        "RS256" => S::RsaPkcs1Sha256,
        "RS384" => S::RsaPkcs1Sha384,
        "RS512" => S::RsaPkcs1Sha512,
        "PS256" => S::RsaPssSha256,
        "PS384" => S::RsaPssSha384,
        "PS512" => S::RsaPssSha512,
        _ => return None,
    };
    Some(CmsSignatureAlgorithm::Classic(classic))
}

/// The scalar size of the key's curve: 32 for P-256, 48 for P-384.
fn curve_size(spki: &SubjectPublicKeyInfoOwned) -> Option<usize> {
    if spki.algorithm.oid != oids::ID_EC_PUBLIC_KEY {
        return None;
    }
    match spki
        .algorithm
        .parameters
        .as_ref()?
        .decode_as::<ObjectIdentifier>()
        .ok()?
    {
        oids::SECP256R1 => Some(32),
        oids::SECP384R1 => Some(48),
        _ => None,
    }
}

/// `ECDSA-Sig-Value` (RFC 3279 §2.2.3).
#[derive(Sequence)]
struct EcdsaSigValue<'a> {
    r: der::asn1::UintRef<'a>,
    s: der::asn1::UintRef<'a>,
}

fn ecdsa_der_to_fixed(der_signature: &[u8], size: usize) -> Option<Vec<u8>> {
    let value = EcdsaSigValue::from_der(der_signature).ok()?;
    let mut out = vec![0u8; 2 * size];
    for (index, part) in [value.r.as_bytes(), value.s.as_bytes()]
        .into_iter()
        .enumerate()
    {
        if part.len() > size {
            return None;
        }
        let end = (index + 1) * size;
        out[end - part.len()..end].copy_from_slice(part);
    }
    Some(out)
}

fn ecdsa_fixed_to_der(fixed: &[u8]) -> Option<Vec<u8>> {
    if fixed.is_empty() || !fixed.len().is_multiple_of(2) {
        return None;
    }
    let (r, s) = fixed.split_at(fixed.len() / 2);
    EcdsaSigValue {
        r: der::asn1::UintRef::new(r).ok()?,
        s: der::asn1::UintRef::new(s).ok()?,
    }
    .to_der()
    .ok()
}

/// Verifies a JWS signature (fixed `r || s` for ECDSA) over `signing_input`.
fn verify_jws(
    algorithm: CmsSignatureAlgorithm,
    spki: &SubjectPublicKeyInfoOwned,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), SignatureCheck> {
    match algorithm {
        CmsSignatureAlgorithm::Ed25519 => {
            if spki.algorithm.oid != oids::ID_ED25519 {
                return Err(SignatureCheck::KeyMismatch);
            }
            verify_ed25519(
                spki.subject_public_key.raw_bytes(),
                signing_input,
                signature,
            )
        }
        CmsSignatureAlgorithm::Classic(classic) => {
            let size = curve_size(spki);
            let der_signature;
            let signature = if is_ecdsa(classic) {
                if size.map(|s| 2 * s) != Some(signature.len()) {
                    return Err(SignatureCheck::Invalid);
                }
                der_signature = ecdsa_fixed_to_der(signature).ok_or(SignatureCheck::Invalid)?;
                der_signature.as_slice()
            } else {
                signature
            };
            let identifier = classic
                .algorithm_identifier()
                .map_err(|error| SignatureCheck::UnsupportedKey(error.to_string()))?;
            verify(&identifier, None, spki, signing_input, signature).map(|_| ())
        }
    }
}
