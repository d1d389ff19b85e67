//! Trust levels of an envelope against an issuer registry (contract §4), and P-256 JWKs.

use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::Value;

use crate::{Envelope, Proof, Refusal, canonical_payload, payload_hash};

/// One issuer the user trusts.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryEntry {
    /// The entry's id (reported in [`Trust::registry_entry`]).
    pub id: String,
    /// The issuer, compared exactly with the proof's `issuer`.
    pub issuer: String,
    /// The dApp origins this issuer may sign for, compared exactly with `dapp.origin`.
    pub origins: Vec<String>,
    /// The issuer's public P-256 JWK.
    pub public_jwk: Value,
    /// The key id, when the entry is bound to one.
    pub key_id: Option<String>,
    /// True when the user revoked the issuer.
    pub revoked: bool,
}

/// How far an envelope can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrustLevel {
    /// No proof.
    LegacyUnverified,
    /// The proof verifies with its own `public_jwk`, but the issuer is not in the registry.
    SignedUntrusted,
    /// The proof verifies with the registry's key for the issuer, for a registered origin.
    VerifiedRegistry,
    /// The payload hash or the signature does not match.
    SignatureInvalid,
    /// The issuer's registry entry is revoked.
    RegistryRevoked,
    /// The issuer is registered, but not for this `dapp.origin`.
    RegistryOriginMismatch,
    /// The issuer is not registered and the proof carries no key to check it with.
    RegistryKeyMismatch,
}

impl TrustLevel {
    /// The wire name, e.g. `verified_registry`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LegacyUnverified => "legacy_unverified",
            Self::SignedUntrusted => "signed_untrusted",
            Self::VerifiedRegistry => "verified_registry",
            Self::SignatureInvalid => "signature_invalid",
            Self::RegistryRevoked => "registry_revoked",
            Self::RegistryOriginMismatch => "registry_origin_mismatch",
            Self::RegistryKeyMismatch => "registry_key_mismatch",
        }
    }

    /// True when this level blocks approval.
    pub fn blocks(self) -> bool {
        matches!(
            self,
            Self::SignatureInvalid
                | Self::RegistryRevoked
                | Self::RegistryOriginMismatch
                | Self::RegistryKeyMismatch
        )
    }
}

/// The outcome of [`evaluate_trust`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// The level.
    pub level: TrustLevel,
    /// The proof's claimed issuer, when there is a proof.
    pub issuer: Option<String>,
    /// The id of the registry entry matched for the issuer, when one was.
    pub registry_entry: Option<String>,
}

/// Evaluates the envelope's proof against `registry`, in the order of contract §4's table:
///
/// 1. no proof: `legacy_unverified`;
/// 2. the recomputed payload hash (over `request` and the envelope's effective callback) differs from
///    `payload_hash`: `signature_invalid`;
/// 3. a registry entry for the issuer (same `issuer`; when the proof has a `key_id`, the first such entry
///    with no key id or an equal one, falling back to the issuer's first entry; without `key_id`, the
///    first entry) that is revoked: `registry_revoked`; whose origins lack `dapp.origin`:
///    `registry_origin_mismatch`; whose key fails the signature: `signature_invalid`; else
///    `verified_registry`;
/// 4. no entry: `public_jwk` present and verifying: `signed_untrusted`; present and failing:
///    `signature_invalid`; absent: `registry_key_mismatch`.
pub fn evaluate_trust(envelope: &Envelope, registry: &[RegistryEntry]) -> Trust {
    let Some(proof) = &envelope.proof else {
        return Trust {
            level: TrustLevel::LegacyUnverified,
            issuer: None,
            registry_entry: None,
        };
    };
    let trust = |level, entry: Option<&RegistryEntry>| Trust {
        level,
        issuer: Some(proof.issuer.clone()),
        registry_entry: entry.map(|entry| entry.id.clone()),
    };
    let Ok(canonical) = canonical_payload(&envelope.request, envelope.callback.as_deref()) else {
        return trust(TrustLevel::SignatureInvalid, None);
    };
    if payload_hash(&canonical) != proof.payload_hash {
        return trust(TrustLevel::SignatureInvalid, None);
    }
    if let Some(entry) = registry_match(proof, registry) {
        let level = if entry.revoked {
            TrustLevel::RegistryRevoked
        } else if !entry.origins.contains(&envelope.dapp.origin) {
            TrustLevel::RegistryOriginMismatch
        } else if verifies(&entry.public_jwk, &canonical, &proof.signature) {
            TrustLevel::VerifiedRegistry
        } else {
            TrustLevel::SignatureInvalid
        };
        return trust(level, Some(entry));
    }
    let level = match &proof.public_jwk {
        Some(jwk) if verifies(jwk, &canonical, &proof.signature) => TrustLevel::SignedUntrusted,
        Some(_) => TrustLevel::SignatureInvalid,
        None => TrustLevel::RegistryKeyMismatch,
    };
    trust(level, None)
}

fn registry_match<'a>(proof: &Proof, registry: &'a [RegistryEntry]) -> Option<&'a RegistryEntry> {
    let mut candidates = registry.iter().filter(|entry| entry.issuer == proof.issuer);
    match &proof.key_id {
        Some(key_id) => candidates
            .clone()
            .find(|entry| entry.key_id.as_ref().is_none_or(|k| k == key_id))
            .or_else(|| candidates.next()),
        None => candidates.next(),
    }
}

/// True when `signature` (base64url-nopad raw `r‖s`, high or low S) verifies over `canonical` with `jwk`.
fn verifies(jwk: &Value, canonical: &str, signature: &str) -> bool {
    let Ok(key) = parse_p256_jwk(jwk) else {
        return false;
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature.as_bytes())
    else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(&bytes) else {
        return false;
    };
    key.verify(canonical.as_bytes(), &signature).is_ok()
}

/// Parses a public P-256 JWK `{kty:"EC", crv:"P-256", x, y}`: base64url-nopad 32-byte coordinates of a
/// point on the curve. A private key (`d` member) is refused; other members (`ext`, `alg`, ...) are
/// ignored. Refused with `invalid_jwk`.
pub fn parse_p256_jwk(jwk: &Value) -> Result<VerifyingKey, Refusal> {
    let refuse = |message: &str| Refusal::new("invalid_jwk", message.to_owned(), None);
    let Some(members) = jwk.as_object() else {
        return Err(refuse("a JWK is a JSON object"));
    };
    if members.get("kty").and_then(Value::as_str) != Some("EC") {
        return Err(refuse("kty must be EC"));
    }
    if members.get("crv").and_then(Value::as_str) != Some("P-256") {
        return Err(refuse("crv must be P-256"));
    }
    if members.contains_key("d") {
        return Err(refuse("a private JWK (with d) is refused"));
    }
    let coordinate = |name: &str| {
        members
            .get(name)
            .and_then(Value::as_str)
            .and_then(|text| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(text.as_bytes())
                    .ok()
            })
            .filter(|bytes| bytes.len() == 32)
            .ok_or_else(|| refuse(&format!("{name} must be base64url of 32 bytes")))
    };
    let mut point = Vec::with_capacity(65);
    point.push(0x04);
    point.extend_from_slice(&coordinate("x")?);
    point.extend_from_slice(&coordinate("y")?);
    VerifyingKey::from_sec1_bytes(&point).map_err(|_| refuse("the point is not on the P-256 curve"))
}
