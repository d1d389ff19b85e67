//! The domain-separated messages a device signs. Each starts with its own NUL-terminated tag, so a
//! signature made for one purpose never verifies as another; actions are bound by `A`, the SHA-256 of
//! their RFC 8785 canonical JSON (of `{}` when there is none).

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{DeviceError, DevicePublicKey};

/// Length of a challenge, in bytes.
pub const CHALLENGE_LEN: usize = 32;

/// The largest difference between a poll's `X-Sigil-Device-Timestamp` and the server clock, in seconds.
pub const POLL_MAX_SKEW_SECS: u64 = 60;

/// What a device signature is for; each purpose has its own domain tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Proof of possession at registration: `SIGIL-REGISTER-V1\0 ‖ nonce`.
    Register,
    /// Approving a challenge: `SIGIL-AUTH-V1\0 ‖ challenge ‖ A`.
    ChallengeApprove,
    /// Rejecting a challenge: `SIGIL-DENY-V1\0 ‖ challenge ‖ A`.
    ChallengeDeny,
    /// Approving a multi-party approval request: `SIGIL-MPA-V1\0 ‖ request_id ‖ A`.
    MpaApprove,
    /// Rejecting a multi-party approval request: `SIGIL-MPA-DENY-V1\0 ‖ request_id ‖ A`.
    MpaDeny,
    /// Authenticating a poll: `SIGIL-POLL-V1\0 ‖ fingerprint ‖ timestamp`.
    Poll,
}

impl Purpose {
    /// Every purpose, in documentation order.
    pub const ALL: [Self; 6] = [
        Self::Register,
        Self::ChallengeApprove,
        Self::ChallengeDeny,
        Self::MpaApprove,
        Self::MpaDeny,
        Self::Poll,
    ];

    /// The domain tag that starts the message, including its terminating zero byte.
    pub fn domain_tag(self) -> &'static [u8] {
        match self {
            Self::Register => b"SIGIL-REGISTER-V1\0",
            Self::ChallengeApprove => b"SIGIL-AUTH-V1\0",
            Self::ChallengeDeny => b"SIGIL-DENY-V1\0",
            Self::MpaApprove => b"SIGIL-MPA-V1\0",
            Self::MpaDeny => b"SIGIL-MPA-DENY-V1\0",
            Self::Poll => b"SIGIL-POLL-V1\0",
        }
    }
}

/// A device's answer to a challenge or a multi-party approval request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The person approved.
    Approve,
    /// The person rejected.
    Deny,
}

/// `A`: SHA-256 of the action's RFC 8785 canonical JSON, or of `{}` when there is no action.
pub fn action_digest(action: Option<&Value>) -> Result<[u8; 32], DeviceError> {
    let canonical = match action {
        Some(action) => crate::jcs::canonicalize(action)?,
        None => "{}".to_owned(),
    };
    Ok(Sha256::digest(canonical.as_bytes()).into())
}

/// Decodes a registration nonce from its wire form (non-empty standard base64).
pub fn decode_nonce(nonce_b64: &str) -> Result<Vec<u8>, DeviceError> {
    match crate::decode_base64(nonce_b64) {
        Some(nonce) if !nonce.is_empty() => Ok(nonce),
        _ => Err(DeviceError::InvalidNonce),
    }
}

/// The registration message: `SIGIL-REGISTER-V1\0 ‖ nonce` (the decoded nonce bytes).
pub fn registration_message(nonce: &[u8]) -> Vec<u8> {
    concat(Purpose::Register, &[nonce])
}

/// The challenge message: `SIGIL-AUTH-V1\0` (approve) or `SIGIL-DENY-V1\0` (deny) `‖ challenge ‖ A`.
pub fn challenge_message(
    decision: Decision,
    challenge: &[u8; CHALLENGE_LEN],
    action: Option<&Value>,
) -> Result<Vec<u8>, DeviceError> {
    let purpose = match decision {
        Decision::Approve => Purpose::ChallengeApprove,
        Decision::Deny => Purpose::ChallengeDeny,
    };
    Ok(concat(purpose, &[challenge, &action_digest(action)?]))
}

/// The multi-party approval message: `SIGIL-MPA-V1\0` (approve) or `SIGIL-MPA-DENY-V1\0` (deny)
/// `‖ request_id (UTF-8) ‖ A`. `A` has a fixed length, so the request id needs no delimiter.
pub fn mpa_message(
    decision: Decision,
    request_id: &str,
    action: Option<&Value>,
) -> Result<Vec<u8>, DeviceError> {
    let purpose = match decision {
        Decision::Approve => Purpose::MpaApprove,
        Decision::Deny => Purpose::MpaDeny,
    };
    Ok(concat(
        purpose,
        &[request_id.as_bytes(), &action_digest(action)?],
    ))
}

/// The poll message: `SIGIL-POLL-V1\0 ‖ fingerprint (64 lower-case hex) ‖ timestamp (decimal seconds)`.
pub fn poll_message(fingerprint: &str, timestamp: u64) -> Result<Vec<u8>, DeviceError> {
    crate::parse_fingerprint(fingerprint)?;
    Ok(concat(
        Purpose::Poll,
        &[fingerprint.as_bytes(), timestamp.to_string().as_bytes()],
    ))
}

/// Parses `X-Sigil-Device-Timestamp`: decimal Unix seconds, ASCII digits only, no leading zeros, so
/// the value has exactly one spelling in the signed message.
pub fn parse_poll_timestamp(header: &str) -> Result<u64, DeviceError> {
    let canonical = !header.is_empty()
        && header.bytes().all(|b| b.is_ascii_digit())
        && (header == "0" || !header.starts_with('0'));
    if !canonical {
        return Err(DeviceError::InvalidTimestamp);
    }
    header.parse().map_err(|_| DeviceError::InvalidTimestamp)
}

/// Checks a poll timestamp against the caller's clock (`now`, Unix seconds): at most
/// [`POLL_MAX_SKEW_SECS`] either way.
pub fn check_poll_timestamp(timestamp: u64, now: u64) -> Result<(), DeviceError> {
    let skew = timestamp.abs_diff(now);
    if skew > POLL_MAX_SKEW_SECS {
        return Err(DeviceError::StaleTimestamp {
            skew,
            max: POLL_MAX_SKEW_SECS,
        });
    }
    Ok(())
}

/// Verifies a device response: `signature_b64` over the already built `message` (from one of the
/// functions above, which fix the purpose) under `public_key`.
pub fn verify_response(
    public_key: &DevicePublicKey,
    message: &[u8],
    signature_b64: &str,
) -> Result<(), DeviceError> {
    crate::signature::verify(public_key, message, signature_b64)
}

fn concat(purpose: Purpose, parts: &[&[u8]]) -> Vec<u8> {
    let tag = purpose.domain_tag();
    let mut message =
        Vec::with_capacity(tag.len() + parts.iter().map(|part| part.len()).sum::<usize>());
    message.extend_from_slice(tag);
    for part in parts {
        message.extend_from_slice(part);
    }
    message
}
