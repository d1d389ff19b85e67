//! The Sigilum agent profile of RFC 9421: fixed covered components, a self-signed agent certificate carried
//! in a header, and the server-side checks and error codes of the Sigilum API, plus the matching signer.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::digest::{DigestError, content_digest_sha256, verify_content_digest};
use crate::message::{Message, strip_fragment};
use crate::rfc9421::{self, Rfc9421Error, SignatureSpec};

/// The signature label the Sigilum SDKs use.
pub const LABEL: &str = "sig1";

/// Covered components without a body, in the SDKs' order.
pub const COMPONENTS_NO_BODY: [&str; 6] = [
    "@method",
    "@target-uri",
    "sigilum-namespace",
    "sigilum-subject",
    "sigilum-agent-key",
    "sigilum-agent-cert",
];

/// Covered components with a body, in the SDKs' order (`content-digest` third).
pub const COMPONENTS_WITH_BODY: [&str; 7] = [
    "@method",
    "@target-uri",
    "content-digest",
    "sigilum-namespace",
    "sigilum-subject",
    "sigilum-agent-key",
    "sigilum-agent-cert",
];

/// The six header fields every Sigilum-signed request carries.
pub const REQUIRED_HEADERS: [&str; 6] = [
    "signature-input",
    "signature",
    "sigilum-agent-cert",
    "sigilum-agent-key",
    "sigilum-namespace",
    "sigilum-subject",
];

const CERT_DOMAIN: &str = "sigilum-certificate-v1";

/// base64url, padding optional: the SDKs send unpadded certificates, other clients may pad.
const URL_SAFE_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a Sigilum-signed request was refused; [`SigilumError::code`] and [`SigilumError::status`] give the
/// Sigilum API's error code and HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigilumError {
    /// A required header field is absent.
    #[error("signature header {0} is missing")]
    SignatureMissing(&'static str),
    /// A header field exceeds the policy's size limit.
    #[error("signature header {header} is oversize ({len} bytes, limit {max})")]
    HeaderOversize {
        /// The header name.
        header: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// `Signature-Input` or `Signature` is malformed or lacks a required parameter.
    #[error("malformed signature: {0}")]
    MalformedSignature(String),
    /// `created` is too old, in the future beyond the allowed skew, or `expires` has passed.
    #[error("signature expired: {0}")]
    Expired(String),
    /// The agent certificate or key header is unusable or inconsistent.
    #[error("invalid agent certificate: {0}")]
    Certificate(String),
    /// The `keyid` parameter is not the certificate's key id.
    #[error("signature keyid does not match the certificate keyId")]
    KeyIdMismatch,
    /// The covered components are not the profile's.
    #[error("invalid signature components: {0}")]
    ComponentsInvalid(String),
    /// The body does not match `Content-Digest`.
    #[error("content-digest mismatch: {0}")]
    DigestMismatch(DigestError),
    /// The Ed25519 signature does not verify over the signature base.
    #[error("signature verification failed: {0}")]
    BadSignature(Rfc9421Error),
    /// The verified namespace is not the one the route requires.
    #[error("signature namespace {actual} does not match the expected namespace {expected}")]
    NamespaceMismatch {
        /// The namespace the route requires.
        expected: String,
        /// The verified namespace.
        actual: String,
    },
    /// The verified agent key is not the one the route requires.
    #[error("signature key does not match the expected agent key")]
    KeyMismatch,
    /// The nonce was seen before (detected by the daemon's nonce store).
    #[error("signature nonce was already used")]
    NonceReplay,
}

impl SigilumError {
    /// The Sigilum API error code, e.g. `SIGNATURE_INVALID`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SignatureMissing(_) => "SIGNATURE_MISSING",
            Self::HeaderOversize { .. }
            | Self::MalformedSignature(_)
            | Self::Certificate(_)
            | Self::KeyIdMismatch
            | Self::BadSignature(_) => "SIGNATURE_INVALID",
            Self::Expired(_) => "SIGNATURE_EXPIRED",
            Self::ComponentsInvalid(_) => "SIGNATURE_COMPONENTS_INVALID",
            Self::DigestMismatch(_) => "SIGNATURE_DIGEST_MISMATCH",
            Self::NamespaceMismatch { .. } => "SIGNATURE_NAMESPACE_MISMATCH",
            Self::KeyMismatch => "SIGNATURE_KEY_MISMATCH",
            Self::NonceReplay => "SIGNATURE_NONCE_REPLAY",
        }
    }

    /// The HTTP status: 401 for authentication failures, 403 for route binding, 409 for replay.
    pub fn status(&self) -> u16 {
        match self {
            Self::NamespaceMismatch { .. } | Self::KeyMismatch => 403,
            Self::NonceReplay => 409,
            _ => 401,
        }
    }
}

/// Verifier limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Oldest accepted `created`, in seconds before now. Default 300.
    pub max_age_secs: u64,
    /// How far `created` may be in the future (clock skew). Default 5; Sigilum's own server allows 0.
    pub future_skew_secs: u64,
    /// Largest accepted value of each Sigilum, signature and digest header field. Default 8192.
    pub max_header_bytes: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_age_secs: 300,
            future_skew_secs: 5,
            max_header_bytes: 8192,
        }
    }
}

/// The proof of a [`Certificate`]: the agent key's signature over [`Certificate::proof_payload`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateProof {
    /// Always `ed25519`.
    pub alg: String,
    /// base64url (no padding) Ed25519 signature.
    pub sig: String,
}

/// A Sigilum v1 agent certificate (self-signed by the agent key). Unknown JSON fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// Always 1.
    pub version: u32,
    /// The agent's namespace.
    pub namespace: String,
    /// `did:sigilum:<namespace>`.
    pub did: String,
    /// `<did>#ed25519-<hex of the first 8 bytes of SHA-256(public key)>`.
    pub key_id: String,
    /// `ed25519:<standard base64 of the 32-byte key>`.
    pub public_key: String,
    /// Issue time as the SDK wrote it (RFC 3339).
    pub issued_at: String,
    /// Expiry (RFC 3339) or `null`.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// The self-signature.
    pub proof: CertificateProof,
}

impl Certificate {
    /// The UTF-8 text the proof signs: the domain line and one `name:value` line per field, `\n`-joined.
    pub fn proof_payload(&self) -> String {
        [
            CERT_DOMAIN.to_owned(),
            format!("namespace:{}", self.namespace),
            format!("did:{}", self.did),
            format!("key-id:{}", self.key_id),
            format!("public-key:{}", self.public_key),
            format!("issued-at:{}", self.issued_at),
            format!("expires-at:{}", self.expires_at.as_deref().unwrap_or("")),
        ]
        .join("\n")
    }

    /// Checks version, proof, DID and key id; returns the certified public key.
    pub fn verify(&self) -> Result<[u8; 32], SigilumError> {
        let bad = |m: &str| SigilumError::Certificate(m.to_owned());
        if self.version != 1 {
            return Err(bad("unsupported certificate version"));
        }
        if !self.proof.alg.eq_ignore_ascii_case("ed25519") {
            return Err(bad("certificate proof algorithm is not ed25519"));
        }
        let key = parse_agent_key(&self.public_key)
            .ok_or_else(|| bad("certificate publicKey is not ed25519:<base64>"))?;
        let sig: [u8; 64] = URL_SAFE_ANY_PAD
            .decode(&self.proof.sig)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("certificate proof is not a base64url 64-byte signature"))?;
        let vk = VerifyingKey::from_bytes(&key)
            .map_err(|_| bad("certificate publicKey is not a valid Ed25519 key"))?;
        vk.verify_strict(
            self.proof_payload().as_bytes(),
            &Signature::from_bytes(&sig),
        )
        .map_err(|_| bad("certificate proof does not verify"))?;
        if self.did != format!("did:sigilum:{}", self.namespace) {
            return Err(bad("certificate did does not match its namespace"));
        }
        if self.key_id != derive_key_id(&self.did, &key) {
            return Err(bad("certificate keyId does not match its public key"));
        }
        Ok(key)
    }

    /// The `sigilum-agent-cert` header value: base64url without padding of the JSON.
    pub fn to_header_value(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes a `sigilum-agent-cert` header value (base64url, padded or not, of the JSON). Does not verify.
    pub fn from_header_value(value: &str) -> Result<Self, SigilumError> {
        let json = URL_SAFE_ANY_PAD
            .decode(value.trim())
            .map_err(|_| SigilumError::Certificate("sigilum-agent-cert is not base64url".into()))?;
        serde_json::from_slice(&json)
            .map_err(|e| SigilumError::Certificate(format!("certificate JSON: {e}")))
    }
}

/// `<did>#ed25519-<hex(SHA-256(public key)[..8])>`.
pub fn derive_key_id(did: &str, public_key: &[u8; 32]) -> String {
    let h = Sha256::digest(public_key);
    let hex: String = h[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{did}#ed25519-{hex}")
}

/// `ed25519:<standard base64 of the 32-byte key>` → the key bytes.
pub fn parse_agent_key(text: &str) -> Option<[u8; 32]> {
    let b64 = text.strip_prefix("ed25519:")?;
    STANDARD.decode(b64).ok()?.try_into().ok()
}

/// The key as `ed25519:<standard base64>`.
pub fn agent_key_text(public_key: &[u8; 32]) -> String {
    format!("ed25519:{}", STANDARD.encode(public_key))
}

/// Sigilum's namespace rule: 3 to 64 ASCII letters, digits or `-`, starting and ending with a letter or digit.
pub fn is_valid_namespace(ns: &str) -> bool {
    let b = ns.as_bytes();
    (3..=64).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A request that passed [`verify_sigilum`]: who signed it and with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAgent {
    /// The agent's namespace (from the header, equal to the certificate's).
    pub namespace: String,
    /// The `sigilum-subject` header value.
    pub subject: String,
    /// The agent's Ed25519 public key.
    pub public_key: [u8; 32],
    /// The key as sent, `ed25519:<base64>`.
    pub public_key_text: String,
    /// The certificate's key id (equal to the `keyid` parameter).
    pub key_id: String,
    /// The `nonce` parameter, for the daemon's replay check.
    pub nonce: String,
    /// The `created` parameter.
    pub created: i64,
    /// The verified certificate.
    pub certificate: Certificate,
}

impl VerifiedAgent {
    /// Route binding: the namespace a route expects (URL-decoded, then compared exactly, as Sigilum does).
    pub fn check_namespace(&self, expected: &str) -> Result<(), SigilumError> {
        match percent_decode(expected) {
            Some(e) if e == self.namespace => Ok(()),
            _ => Err(SigilumError::NamespaceMismatch {
                expected: expected.to_owned(),
                actual: self.namespace.clone(),
            }),
        }
    }

    /// Route binding: the agent key a route expects, as `ed25519:<base64>` (compared as key bytes).
    pub fn check_public_key(&self, expected: &str) -> Result<(), SigilumError> {
        match parse_agent_key(expected.trim()) {
            Some(k) if k == self.public_key => Ok(()),
            _ => Err(SigilumError::KeyMismatch),
        }
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether the profile treats the request as having a body: non-empty, and not GET or HEAD (whose bodies
/// the Sigilum server ignores).
pub fn has_body(msg: &Message<'_>) -> bool {
    !msg.body_bytes().is_empty()
        && !msg.method.eq_ignore_ascii_case("GET")
        && !msg.method.eq_ignore_ascii_case("HEAD")
}

/// Verifies a Sigilum-signed request at `now_unix` (see the crate docs for the order of checks). Route
/// binding and nonce replay are left to the caller ([`VerifiedAgent::check_namespace`],
/// [`VerifiedAgent::check_public_key`], [`SigilumError::NonceReplay`]).
pub fn verify_sigilum(
    msg: &Message<'_>,
    policy: &Policy,
    now_unix: i64,
) -> Result<VerifiedAgent, SigilumError> {
    verify_sigilum_cached(msg, policy, now_unix, None)
}

/// Remembers certificates whose proof verified, by the SHA-256 of their exact header value, so that an agent's
/// repeated requests cost one Ed25519 verification each (the request's) instead of two. Sound because the
/// proof is a pure function of those bytes; everything else about the certificate (expiry, key and namespace
/// headers, key id) is still checked on every request. Bounded: when full, it starts over.
#[derive(Debug)]
pub struct CertificateCache {
    verified: std::sync::Mutex<std::collections::HashMap<[u8; 32], VerifyingKey>>,
    capacity: usize,
}

impl CertificateCache {
    /// A cache of at most `capacity` certificates.
    pub fn new(capacity: usize) -> Self {
        Self {
            verified: std::sync::Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    fn id(header_value: &str) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(header_value.as_bytes()).into()
    }

    fn get(&self, header_value: &str) -> Option<VerifyingKey> {
        let verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        verified.get(&Self::id(header_value)).copied()
    }

    /// Keeps the decoded key (its point decompressed) of a certificate whose proof verified.
    fn insert(&self, header_value: &str, public_key: VerifyingKey) {
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if verified.len() >= self.capacity {
            verified.clear();
        }
        verified.insert(Self::id(header_value), public_key);
    }

    /// How many certificates are remembered.
    pub fn len(&self) -> usize {
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// [`verify_sigilum`] with an optional [`CertificateCache`] for the certificate proof.
pub fn verify_sigilum_cached(
    msg: &Message<'_>,
    policy: &Policy,
    now_unix: i64,
    cache: Option<&CertificateCache>,
) -> Result<VerifiedAgent, SigilumError> {
    // 1. Presence and size.
    let mut values: Vec<String> = Vec::with_capacity(REQUIRED_HEADERS.len());
    for name in REQUIRED_HEADERS {
        values.push(
            msg.header(name)
                .ok_or(SigilumError::SignatureMissing(name))?,
        );
    }
    let digest_header = msg.header("content-digest");
    for (name, v) in REQUIRED_HEADERS
        .iter()
        .zip(&values)
        .chain(digest_header.iter().map(|d| (&"content-digest", d)))
    {
        if v.len() > policy.max_header_bytes {
            return Err(SigilumError::HeaderOversize {
                header: name,
                len: v.len(),
                max: policy.max_header_bytes,
            });
        }
    }
    let [input, signature, cert_text, key_text, namespace, subject] =
        <[String; 6]>::try_from(values)
            .map_err(|_| SigilumError::MalformedSignature("internal header count".into()))?;

    // 2. Structured fields and parameters.
    let malformed = |m: String| SigilumError::MalformedSignature(m);
    let all = rfc9421::parse_signature_input(&input).map_err(|e| malformed(e.to_string()))?;
    let params = rfc9421::single_signature(&all).map_err(|e| malformed(e.to_string()))?;
    let created = params
        .created
        .filter(|c| *c > 0)
        .ok_or_else(|| malformed("created must be a positive integer".into()))?;
    match &params.alg {
        Some(a) if a.eq_ignore_ascii_case("ed25519") => {}
        Some(a) => return Err(malformed(format!("alg {a:?} is not ed25519"))),
        None => return Err(malformed("alg is missing".into())),
    }
    let keyid = params
        .keyid
        .clone()
        .ok_or_else(|| malformed("keyid is missing".into()))?;
    let nonce = params
        .nonce
        .clone()
        .ok_or_else(|| malformed("nonce is missing".into()))?;
    let sigs = rfc9421::parse_signature(&signature).map_err(|e| malformed(e.to_string()))?;
    let sig = match sigs.as_slice() {
        [(label, sig)] if *label == params.label => sig.clone(),
        [_] => {
            return Err(malformed(format!(
                "Signature has no member {}",
                params.label
            )));
        }
        _ => {
            return Err(malformed(format!(
                "expected exactly one signature, found {}",
                sigs.len()
            )));
        }
    };
    if sig.len() != 64 {
        return Err(malformed("signature is not 64 bytes".into()));
    }

    // 3. Freshness.
    let age = i128::from(now_unix) - i128::from(created);
    if age < -i128::from(policy.future_skew_secs) {
        return Err(SigilumError::Expired(format!(
            "created is {} s in the future",
            -age
        )));
    }
    if age > i128::from(policy.max_age_secs) {
        return Err(SigilumError::Expired(format!(
            "created is {age} s old (limit {})",
            policy.max_age_secs
        )));
    }
    if let Some(expires) = params.expires
        && now_unix > expires
    {
        return Err(SigilumError::Expired("expires has passed".into()));
    }

    // 4. Certificate.
    let bad_cert = |m: String| SigilumError::Certificate(m);
    if !is_valid_namespace(&namespace) {
        return Err(bad_cert(format!(
            "sigilum-namespace {namespace:?} is not a valid namespace"
        )));
    }
    let certificate = Certificate::from_header_value(&cert_text)?;
    let key = match cache.and_then(|cache| cache.get(&cert_text)) {
        Some(key) => key,
        None => {
            let public_key = certificate.verify()?;
            let key = VerifyingKey::from_bytes(&public_key)
                .map_err(|_| bad_cert("certificate publicKey is not a valid Ed25519 key".into()))?;
            if let Some(cache) = cache {
                cache.insert(&cert_text, key);
            }
            key
        }
    };
    let public_key = key.to_bytes();
    if let Some(exp) = &certificate.expires_at {
        let exp = parse_rfc3339(exp)
            .ok_or_else(|| bad_cert("certificate expiresAt is not an RFC 3339 time".into()))?;
        if now_unix >= exp {
            return Err(bad_cert("certificate has expired".into()));
        }
    }
    if certificate.public_key != key_text {
        return Err(bad_cert(
            "certificate publicKey does not match the sigilum-agent-key header".into(),
        ));
    }
    if certificate.namespace != namespace {
        return Err(bad_cert(format!(
            "certificate namespace {:?} does not match the sigilum-namespace header {namespace:?}",
            certificate.namespace
        )));
    }

    // 5. keyid.
    if keyid != certificate.key_id {
        return Err(SigilumError::KeyIdMismatch);
    }

    // 6. Covered components: the profile's set, in any order (the base follows the signer's order).
    let body = has_body(msg);
    let expected: &[&str] = if body {
        &COMPONENTS_WITH_BODY
    } else {
        &COMPONENTS_NO_BODY
    };
    let mut covered: Vec<&str> = params.components.iter().map(|c| c.serialized()).collect();
    covered.sort_unstable();
    let mut want: Vec<String> = expected.iter().map(|c| format!("\"{c}\"")).collect();
    want.sort_unstable();
    if covered != want {
        let listed: Vec<&str> = params.components.iter().map(|c| c.serialized()).collect();
        return Err(SigilumError::ComponentsInvalid(format!(
            "covered ({}) but the profile requires ({}) for a request {} a body",
            listed.join(" "),
            expected.join(" "),
            if body { "with" } else { "without" }
        )));
    }

    // 7. Content-Digest.
    if body {
        let d = digest_header.as_deref().ok_or_else(|| {
            SigilumError::ComponentsInvalid("a request with a body needs content-digest".into())
        })?;
        verify_content_digest(d, msg.body_bytes()).map_err(SigilumError::DigestMismatch)?;
    }

    // 8. The signature itself.
    // Sigilum signers spell `@method` in lower case: that base is tried first, so an accepted request costs
    // one Ed25519 verification.
    rfc9421::verify_ed25519_with_key(msg, params, &sig, &key, rfc9421::MethodCase::LowerFirst)
        .map_err(SigilumError::BadSignature)?;

    Ok(VerifiedAgent {
        namespace,
        subject,
        public_key,
        public_key_text: key_text,
        key_id: certificate.key_id.clone(),
        nonce,
        created,
        certificate,
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` → UNIX seconds.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match (b.get(i), s.len() - i) {
        (Some(b'Z' | b'z'), 1) => 0,
        (Some(sign @ (b'+' | b'-')), 6) if b[i + 3] == b':' => {
            let o = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let (yy, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// A Sigilum agent's signing identity: namespace, Ed25519 seed and certificate issue time.
#[derive(Clone)]
pub struct AgentIdentity {
    /// The agent's namespace.
    pub namespace: String,
    /// The 32-byte Ed25519 seed (private key).
    pub seed: [u8; 32],
    /// The certificate's `issuedAt`, as it will be written.
    pub issued_at: String,
}

impl std::fmt::Debug for AgentIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentIdentity")
            .field("namespace", &self.namespace)
            .field("public_key", &self.public_key_text())
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

impl AgentIdentity {
    fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.seed)
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing_key().verifying_key().to_bytes()
    }

    /// The public key as `ed25519:<base64>`.
    pub fn public_key_text(&self) -> String {
        agent_key_text(&self.public_key())
    }

    /// `did:sigilum:<namespace>`.
    pub fn did(&self) -> String {
        format!("did:sigilum:{}", self.namespace)
    }

    /// The key id the certificate carries.
    pub fn key_id(&self) -> String {
        derive_key_id(&self.did(), &self.public_key())
    }

    /// The self-signed v1 certificate (no expiry).
    pub fn certificate(&self) -> Certificate {
        let mut cert = Certificate {
            version: 1,
            namespace: self.namespace.clone(),
            did: self.did(),
            key_id: self.key_id(),
            public_key: self.public_key_text(),
            issued_at: self.issued_at.clone(),
            expires_at: None,
            proof: CertificateProof {
                alg: "ed25519".into(),
                sig: String::new(),
            },
        };
        let sig = self.signing_key().sign(cert.proof_payload().as_bytes());
        cert.proof.sig = URL_SAFE_NO_PAD.encode(sig.to_bytes());
        cert
    }
}

/// Signs a request as the Sigilum SDKs do and returns the header fields to add, in this order:
/// `sigilum-namespace`, `sigilum-subject`, `sigilum-agent-key`, `sigilum-agent-cert`, `content-digest`
/// (only for a non-empty body), `signature-input`, `signature`. `target_uri` must be absolute; its
/// fragment is dropped. Fails only on values that cannot be signed (a relative URI, line breaks, a
/// nonce that is not an sfv String).
pub fn sign_sigilum(
    identity: &AgentIdentity,
    method: &str,
    target_uri: &str,
    body: Option<&[u8]>,
    subject: &str,
    created: i64,
    nonce: &str,
) -> Result<Vec<(String, String)>, Rfc9421Error> {
    let body = body.unwrap_or(&[]);
    let mut headers: Vec<(String, String)> = vec![
        ("sigilum-namespace".into(), identity.namespace.clone()),
        ("sigilum-subject".into(), subject.to_owned()),
        ("sigilum-agent-key".into(), identity.public_key_text()),
        (
            "sigilum-agent-cert".into(),
            identity.certificate().to_header_value(),
        ),
    ];
    let components: &[&str] = if body.is_empty() {
        &COMPONENTS_NO_BODY
    } else {
        headers.push(("content-digest".into(), content_digest_sha256(body)));
        &COMPONENTS_WITH_BODY
    };
    let key_id = identity.key_id();
    let method = method.to_ascii_lowercase();
    let borrowed: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let msg = Message {
        method: &method,
        target_uri: strip_fragment(target_uri),
        headers: &borrowed,
        body: Some(body),
    };
    let spec = SignatureSpec {
        label: LABEL,
        components,
        created: Some(created),
        keyid: Some(&key_id),
        alg: Some("ed25519"),
        nonce: Some(nonce),
        ..SignatureSpec::default()
    };
    let signed = rfc9421::sign_ed25519(&msg, &spec, &identity.seed)?;
    headers.push(("signature-input".into(), signed.signature_input));
    headers.push(("signature".into(), signed.signature));
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_rule() {
        for ok in ["abc", "fixture-alice", "A1-b", &"a".repeat(64)] {
            assert!(is_valid_namespace(ok), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "-abc",
            "abc-",
            "a_bc",
            "ab c",
            "é12",
            &"a".repeat(65),
        ] {
            assert!(!is_valid_namespace(bad), "{bad}");
        }
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-02-20T18:04:26Z"), Some(1_771_610_666));
        assert_eq!(
            parse_rfc3339("2026-02-20T19:04:26.123+01:00"),
            Some(1_771_610_666)
        );
        for bad in [
            "",
            "2026-02-20",
            "2026-13-01T00:00:00Z",
            "2026-02-20T18:04:26",
            "2026-02-20T18:04:26.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("fixture%2Dalice").as_deref(),
            Some("fixture-alice")
        );
        assert_eq!(percent_decode("abc%"), None);
        assert_eq!(percent_decode("abc%zz"), None);
        assert_eq!(percent_decode("abc%+1"), None);
    }

    #[test]
    fn the_certificate_cache_skips_only_a_proof_it_has_seen_verify() {
        let identity = AgentIdentity {
            namespace: "cache-ns".into(),
            seed: [5; 32],
            issued_at: "2026-11-30T00:00:00Z".into(),
        };
        let url = "https://sigil.example/v1/verify?namespace=cache-ns";
        let cache = CertificateCache::new(4);
        let check = |nonce: &str, tamper: bool| {
            let mut headers = sign_sigilum(
                &identity,
                "get",
                url,
                None,
                "cache-ns",
                1_700_000_000,
                nonce,
            )
            .unwrap();
            if tamper {
                // A different certificate (another issuedAt) whose proof is the old one's: never verified.
                let mut cert = identity.certificate();
                cert.issued_at = "2026-12-01T00:00:00Z".into();
                for (name, value) in headers.iter_mut() {
                    if name == "sigilum-agent-cert" {
                        *value = cert.to_header_value();
                    }
                }
            }
            let borrowed: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let msg = Message {
                method: "GET",
                target_uri: url,
                headers: &borrowed,
                body: None,
            };
            verify_sigilum_cached(&msg, &Policy::default(), 1_700_000_010, Some(&cache))
        };
        assert!(check("nonce-a", false).is_ok());
        assert_eq!(cache.len(), 1);
        assert!(check("nonce-b", false).is_ok());
        assert_eq!(cache.len(), 1, "the same certificate is remembered once");
        assert!(matches!(
            check("nonce-c", true),
            Err(SigilumError::Certificate(_))
        ));
        assert_eq!(cache.len(), 1, "a failed proof is not remembered");
    }
}
