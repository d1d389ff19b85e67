//! The `sigil.connect` protocol: `sigil://v1/request?d=` signing-request envelopes for Qubic wallets.
//! Parsing and every validation rule, the canonical payload and its ES256 trust proof, trust levels
//! against an issuer registry, Qubic identities, and the result bodies sent back to the dApp.
//! No HTTP, no storage and no clock: callers pass the current time (`now`, Unix seconds) in.
//!
//! # Reason codes
//!
//! Every refusal carries one of these machine-readable reasons ([`Refusal::reason`]):
//!
//! | Reason | Refused when |
//! |---|---|
//! | `invalid_scheme` | the URI is not `sigil://v1/request` (scheme `sigil`, host `v1`, path `/request`, no port or userinfo) |
//! | `missing_payload` | the URI has no `d` parameter |
//! | `envelope_too_large` | `d` is longer than [`MAX_D_CHARS`] characters (checked before decoding) |
//! | `invalid_encoding` | `d` is not base64url without padding |
//! | `invalid_json` | the decoded bytes are not UTF-8 JSON, or not an object; or a number cannot be canonicalized exactly (beyond ±2^53) |
//! | `callback_mismatch` | the URI's `cb` and the payload's `callback` are both present and differ |
//! | `invalid_type` | `request.type` is missing or unknown |
//! | `origin_missing` | `request.dapp` is not an object, or has no `origin` |
//! | `origin_not_https` | `dapp.origin` is not an https URL with a host |
//! | `invalid_dapp` | `dapp.name` or `dapp.icon` is present and not a string |
//! | `nonce_invalid` | the nonce is not 16–128 characters from `A–Z a–z 0–9 - _ = +` |
//! | `nonce_replay` | ([`NONCE_REPLAY`]) the nonce was seen within [`NONCE_WINDOW_SECS`]; checked by the caller, not here |
//! | `exp_invalid` | `exp` is not a positive integer |
//! | `exp_expired` | `exp <= now` |
//! | `exp_too_far` | `exp > now + MAX_TTL_SECS` |
//! | `callback_invalid` | `callback` is neither a string nor null, does not parse as a URL, or has userinfo |
//! | `callback_not_https` | `callback` is not `https://`, nor `http://` on `localhost` / `127.0.0.1` |
//! | `callback_private` | `callback`'s host is a literal private, loopback, link-local, unique-local or unspecified IP other than `127.0.0.1` |
//! | `redirect_invalid`, `redirect_not_https`, `redirect_private` | the same rules for `redirect_uri` |
//! | `redirect_origin_mismatch` | a request with a proof has a `redirect_uri` on another origin than `dapp.origin` (the proof does not cover it) |
//! | `invalid_identity` | `to` (transfer) or `from` is not a 60-letter Qubic identity with a valid checksum |
//! | `invalid_amount` | transfer `amount` is not a positive integer (JSON number ≤ 2^53, or digits without sign or leading zeros fitting a `u64`); sc_call `amount` likewise but may be 0 |
//! | `invalid_tick_offset` | `tick_offset` is not an integer |
//! | `invalid_contract_index` | `contract_index` is not an integer from 0 to 63 |
//! | `invalid_input_type` | `input_type` is not a non-negative integer |
//! | `invalid_payload` | sc_call `payload` is not a string |
//! | `message_empty` | `message` is missing, not a string, or empty |
//! | `message_too_long` | a `sign_message` message is longer than 2048 characters (Unicode scalar values) |
//! | `invalid_data` | `data` is not standard base64 (padding optional) |
//! | `message_reserved` | the bytes a `sign_message` would sign (`data`, else `message`) start with `SIGIL-CONNECT-`, the domain of [`authorization_message`] |
//! | `invalid_signature_field` | verify_message `signature` is not a string ([`verify_message`]: not base64 of 64 bytes) |
//! | `invalid_public_key` | verify_message `public_key` is not a string ([`verify_message`]: not an Ed25519 or P-256 key) |
//! | `invalid_permissions` | connect `permissions` is not an array of `transfer`, `sc_call`, `sign_message`, each at most once |
//! | `proof_invalid` | `proof` is present, not null, and not of the shape of contract §4 |
//! | `invalid_jwk` | ([`parse_p256_jwk`] only) not a public P-256 JWK with a point on the curve |
//!
//! A proof of the right shape whose hash or signature is wrong is not a refusal: it is a
//! [`TrustLevel`] ([`evaluate_trust`]).
//!
//! # Interpretations
//!
//! * Optional members that are `null` count as absent (`exp`, `from`, `tick_offset`, `amount` of
//!   sc_call, `payload`, `data`, `permissions`, `callback`, `redirect_uri`, `proof`, `key_id`,
//!   `public_jwk`, `dapp.name`, `dapp.icon`). The request object itself is kept exactly as received.
//! * Integers are JSON numbers with an integral value within ±2^53 (`1e6` counts, `1.5` does not).
//! * In the bare (legacy) form the request object is also read for `callback` and `redirect_uri`;
//!   it never carries a proof.
//! * Key order of the canonical payload: see [`canonical::locale_order`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod canonical;
mod envelope;
mod outcome;
pub mod qubic;
#[cfg(test)]
mod tests;
mod trust;
mod urls;

pub use canonical::{canonical_payload, canonicalize, payload_hash};
pub use envelope::{
    Dapp, Details, Envelope, MAX_CONTRACT_INDEX, MAX_MESSAGE_CHARS, Permission, Proof, RequestType,
    parse_envelope, parse_uri,
};
pub use outcome::{
    AUTHORIZATION_TAG, Outcome, RESERVED_PREFIX, authorization_message, result_body, verify_message,
};
pub use trust::{RegistryEntry, Trust, TrustLevel, evaluate_trust, parse_p256_jwk};

/// The longest `d` parameter accepted, in characters.
pub const MAX_D_CHARS: usize = 8192;
/// The lifetime of a request without `exp`, in seconds.
pub const DEFAULT_TTL_SECS: u64 = 300;
/// The furthest ahead `exp` may be, in seconds from now.
pub const MAX_TTL_SECS: u64 = 3600;
/// How long the caller must remember a nonce to refuse replays, in seconds.
pub const NONCE_WINDOW_SECS: u64 = 3600;
/// The reason the caller reports for a nonce seen within [`NONCE_WINDOW_SECS`].
pub const NONCE_REPLAY: &str = "nonce_replay";

/// A refusal with a machine-readable reason (snake_case), a human message, and the JSON path of the
/// field at fault when there is one (e.g. `request.to`, `callback`, `proof.signature`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct Refusal {
    /// The reason code (see the table in the crate documentation).
    pub reason: &'static str,
    /// A human-readable explanation.
    pub message: String,
    /// The JSON path of the offending field, when there is one.
    pub field: Option<String>,
}

impl Refusal {
    pub(crate) fn new(reason: &'static str, message: String, field: Option<String>) -> Self {
        Self {
            reason,
            message,
            field,
        }
    }
}
