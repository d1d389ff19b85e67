//! The pure protocol of Sigil Auth devices: P-256 device keys and their fingerprints, ECDSA signatures
//! (`r‖s`, low-S), the domain-separated messages a device signs, and the pictogram a person compares.
//! No HTTP, no storage and no clock: callers pass bytes, strings and the current time in.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod jcs;
pub mod keys;
pub mod messages;
pub mod pictogram;
pub mod signature;
#[cfg(test)]
mod tests;

pub use keys::{DevicePublicKey, fingerprint, parse_fingerprint, parse_public_key};
pub use messages::{Decision, Purpose, action_digest, verify_response};
pub use pictogram::{Pictogram, pictogram, pictogram_of_hex};
pub use signature::{DeviceSigningKey, parse_signature, verify};

/// Why a device key, fingerprint, message input or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The device public key is not base64 of a 33-byte compressed SEC1 P-256 point on the curve.
    #[error("invalid device public key: {0}")]
    InvalidPublicKey(&'static str),
    /// The fingerprint is not exactly 64 lower-case hexadecimal digits.
    #[error("invalid fingerprint: expected 64 lower-case hex digits")]
    InvalidFingerprint,
    /// The signature is not base64 of a 64-byte low-S `r‖s` with both scalars in range.
    #[error("invalid signature encoding: {0}")]
    InvalidSignature(&'static str),
    /// The signature is well formed but does not verify for this key and message.
    #[error("the signature does not verify")]
    SignatureInvalid,
    /// The registration nonce is not non-empty standard base64.
    #[error("invalid nonce: expected non-empty standard base64")]
    InvalidNonce,
    /// The action cannot be canonicalized (a number outside the exactly representable integer range).
    #[error("invalid action: {0}")]
    InvalidAction(&'static str),
    /// The poll timestamp is not a canonical decimal number of Unix seconds.
    #[error("invalid timestamp: expected decimal Unix seconds without sign or leading zeros")]
    InvalidTimestamp,
    /// The poll timestamp is further from the server's clock than the allowed skew.
    #[error("timestamp is {skew} s away from the server clock (at most {max} s allowed)")]
    StaleTimestamp {
        /// The absolute difference, in seconds.
        skew: u64,
        /// The largest difference accepted, in seconds.
        max: u64,
    },
}

impl DeviceError {
    /// The API error code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidPublicKey(_) => "INVALID_PUBLIC_KEY",
            Self::InvalidFingerprint => "INVALID_FINGERPRINT",
            Self::InvalidSignature(_) => "INVALID_SIGNATURE",
            Self::SignatureInvalid => "SIGNATURE_INVALID",
            Self::InvalidNonce => "INVALID_NONCE",
            Self::InvalidAction(_) => "INVALID_ACTION",
            Self::InvalidTimestamp => "INVALID_TIMESTAMP",
            Self::StaleTimestamp { .. } => "STALE_TIMESTAMP",
        }
    }
}

/// Lower-case hexadecimal of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Decodes strict standard base64 (with padding, canonical trailing bits, no whitespace).
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// Encodes standard base64 with padding.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
