//! The result bodies the wallet POSTs to the callback (contract §5), and `verify_message`.

use base64::Engine as _;
use serde::Serialize;

use crate::{Permission, Refusal, RequestType};

/// The bytes no `sign_message` may start with: the domain of what a tenant key signs besides messages.
pub const RESERVED_PREFIX: &[u8] = b"SIGIL-CONNECT-";

/// The domain tag of a transfer or `sc_call` authorization.
pub const AUTHORIZATION_TAG: &[u8] = b"SIGIL-CONNECT-AUTHZ-V1\0";

/// What a key signs to authorize a `transfer` or `sc_call` (Sigil does not broadcast): the domain tag, then
/// the request's canonical JSON. No `sign_message` can produce these bytes ([`RESERVED_PREFIX`]).
pub fn authorization_message(canonical_request: &str) -> Vec<u8> {
    let mut message = AUTHORIZATION_TAG.to_vec();
    message.extend_from_slice(canonical_request.as_bytes());
    message
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A `transfer` or `sc_call` was signed (by the wallet: and broadcast; by Sigil: authorized, see the
    /// two optional fields).
    Signed {
        /// The signing identity.
        identity: String,
        /// The transaction hash.
        tx_hash: String,
        /// The tick the transaction targets.
        target_tick: u64,
        /// Beyond the contract: standard base64 of the signature authorizing the canonical request (Sigil
        /// does not broadcast); after the contract's fields when present.
        signature: Option<String>,
        /// Beyond the contract: standard base64 of the public key that made `signature`.
        public_key: Option<String>,
    },
    /// A `sign_message` was signed.
    SignedMessage {
        /// The signing identity.
        identity: String,
        /// Standard base64 of the 64-byte signature.
        signature: String,
        /// Standard base64 of the 32-byte public key.
        public_key: String,
    },
    /// A `verify_message` was checked.
    Verified {
        /// Whether the signature verifies.
        valid: bool,
        /// The identity of the public key.
        identity: String,
    },
    /// A `connect` was approved.
    Connected {
        /// The connected identity.
        identity: String,
        /// The granted permissions.
        permissions: Vec<Permission>,
    },
    /// The request was refused; `reason` is e.g. `user_rejected`, `permission_denied`, `expired`.
    Rejected {
        /// Why.
        reason: String,
    },
}

#[derive(Serialize)]
struct SignedBody<'a> {
    status: &'static str,
    nonce: &'a str,
    #[serde(rename = "type")]
    kind: RequestType,
    identity: &'a str,
    tx_hash: &'a str,
    target_tick: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key: Option<&'a str>,
}

#[derive(Serialize)]
struct SignedMessageBody<'a> {
    status: &'static str,
    nonce: &'a str,
    #[serde(rename = "type")]
    kind: RequestType,
    identity: &'a str,
    signature: &'a str,
    public_key: &'a str,
}

#[derive(Serialize)]
struct VerifiedBody<'a> {
    status: &'static str,
    nonce: &'a str,
    #[serde(rename = "type")]
    kind: RequestType,
    valid: bool,
    identity: &'a str,
}

#[derive(Serialize)]
struct ConnectedBody<'a> {
    status: &'static str,
    nonce: &'a str,
    #[serde(rename = "type")]
    kind: RequestType,
    identity: &'a str,
    permissions: &'a [Permission],
}

#[derive(Serialize)]
struct RejectedBody<'a> {
    status: &'static str,
    nonce: &'a str,
    #[serde(rename = "type")]
    kind: RequestType,
    reason: &'a str,
}

/// The result JSON body for `nonce` and `kind`, with the key order the app emits:
/// `{status, nonce, type, ...}` then the outcome's fields in contract §5's order.
pub fn result_body(nonce: &str, kind: RequestType, outcome: &Outcome) -> String {
    let body = match outcome {
        Outcome::Signed {
            identity,
            tx_hash,
            target_tick,
            signature,
            public_key,
        } => serde_json::to_string(&SignedBody {
            status: "signed",
            nonce,
            kind,
            identity,
            tx_hash,
            target_tick: *target_tick,
            signature: signature.as_deref(),
            public_key: public_key.as_deref(),
        }),
        Outcome::SignedMessage {
            identity,
            signature,
            public_key,
        } => serde_json::to_string(&SignedMessageBody {
            status: "signed",
            nonce,
            kind,
            identity,
            signature,
            public_key,
        }),
        Outcome::Verified { valid, identity } => serde_json::to_string(&VerifiedBody {
            status: "verified",
            nonce,
            kind,
            valid: *valid,
            identity,
        }),
        Outcome::Connected {
            identity,
            permissions,
        } => serde_json::to_string(&ConnectedBody {
            status: "connected",
            nonce,
            kind,
            identity,
            permissions,
        }),
        Outcome::Rejected { reason } => serde_json::to_string(&RejectedBody {
            status: "rejected",
            nonce,
            kind,
            reason,
        }),
    };
    body.expect("strings, integers and booleans always serialize")
}

/// Verifies a signature for `verify_message`. `public_key_b64` is standard base64 of 32 bytes (Ed25519)
/// or of a 33- or 65-byte SEC1 point (P-256); `signature_b64` is standard base64 of 64 bytes (Ed25519,
/// or P-256 `r‖s` over SHA-256 of the message, high or low S). `message` is the request's decoded `data`
/// when present, else its UTF-8 `message`.
///
/// `Ok(false)` for a well-formed signature that does not verify; `Err` (`invalid_public_key` or
/// `invalid_signature_field`) for malformed inputs.
pub fn verify_message(
    message: &[u8],
    signature_b64: &str,
    public_key_b64: &str,
) -> Result<bool, Refusal> {
    let bad_key = |message: &str| {
        Refusal::new(
            "invalid_public_key",
            message.to_owned(),
            Some("request.public_key".to_owned()),
        )
    };
    let bad_signature = |message: &str| {
        Refusal::new(
            "invalid_signature_field",
            message.to_owned(),
            Some("request.signature".to_owned()),
        )
    };
    let standard = &base64::engine::general_purpose::STANDARD;
    let key = standard
        .decode(public_key_b64.as_bytes())
        .map_err(|_| bad_key("public_key is not standard base64"))?;
    let signature: [u8; 64] = standard
        .decode(signature_b64.as_bytes())
        .map_err(|_| bad_signature("signature is not standard base64"))?
        .try_into()
        .map_err(|_| bad_signature("signature must be 64 bytes"))?;
    match key.len() {
        32 => {
            let key =
                ed25519_dalek::VerifyingKey::from_bytes(&key.try_into().expect("32 bytes checked"))
                    .map_err(|_| bad_key("not an Ed25519 public key"))?;
            let signature = ed25519_dalek::Signature::from_bytes(&signature);
            Ok(key.verify_strict(message, &signature).is_ok())
        }
        33 | 65 => {
            use p256::ecdsa::signature::Verifier as _;
            // Only the compressed (02/03, 33 bytes) and uncompressed (04, 65 bytes) encodings: the
            // library would also take the compact (05) and hybrid (06/07) tags.
            if !matches!((key.len(), key[0]), (33, 0x02 | 0x03) | (65, 0x04)) {
                return Err(bad_key("not a compressed or uncompressed SEC1 point"));
            }
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&key)
                .map_err(|_| bad_key("not a P-256 point on the curve"))?;
            let signature = p256::ecdsa::Signature::from_slice(&signature)
                .map_err(|_| bad_signature("r or s is zero or not below the group order"))?;
            Ok(key.verify(message, &signature).is_ok())
        }
        _ => Err(bad_key(
            "public_key must be 32 bytes (Ed25519) or 33/65 bytes SEC1 (P-256)",
        )),
    }
}
