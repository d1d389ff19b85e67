//! ECDSA P-256 with SHA-256 over the message bytes, encoded as the 64-byte `r‖s` in standard base64.
//! High-S signatures are refused, so every valid signature has exactly one encoding.

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::scalar::IsHigh as _;

use crate::{DeviceError, DevicePublicKey};

/// Length of an encoded signature: 32-byte big-endian `r` followed by 32-byte big-endian `s`.
pub const SIGNATURE_LEN: usize = 64;

/// Parses a signature: standard base64 of 64 bytes `r‖s`, `0 < r, s < n` and `s <= n/2` (low-S).
pub fn parse_signature(text: &str) -> Result<Signature, DeviceError> {
    let bytes =
        crate::decode_base64(text).ok_or(DeviceError::InvalidSignature("not standard base64"))?;
    if bytes.len() != SIGNATURE_LEN {
        return Err(DeviceError::InvalidSignature("expected 64 bytes r||s"));
    }
    let signature = Signature::from_slice(&bytes).map_err(|_| {
        DeviceError::InvalidSignature("r or s is zero or not below the group order")
    })?;
    if bool::from(signature.s().is_high()) {
        return Err(DeviceError::InvalidSignature(
            "high-S signature (s > n/2); normalize s to n - s",
        ));
    }
    Ok(signature)
}

/// Verifies `signature_b64` over `message` (ECDSA P-256, SHA-256 of the message) for `key`.
pub fn verify(
    key: &DevicePublicKey,
    message: &[u8],
    signature_b64: &str,
) -> Result<(), DeviceError> {
    let signature = parse_signature(signature_b64)?;
    key.verifying_key()
        .verify(message, &signature)
        .map_err(|_| DeviceError::SignatureInvalid)
}

/// A device private key, for tests, simulators and documentation vectors.
#[derive(Clone)]
pub struct DeviceSigningKey(SigningKey);

impl std::fmt::Debug for DeviceSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DeviceSigningKey")
            .field(&self.public_key().fingerprint())
            .finish()
    }
}

impl DeviceSigningKey {
    /// A key from its 32-byte big-endian scalar; `None` when the scalar is zero or not below `n`.
    pub fn from_bytes(scalar: &[u8; 32]) -> Option<Self> {
        SigningKey::from_slice(scalar).ok().map(Self)
    }

    /// The matching public key.
    pub fn public_key(&self) -> DevicePublicKey {
        DevicePublicKey::from_verifying_key(*self.0.verifying_key())
    }

    /// Signs `message`: RFC 6979 deterministic ECDSA P-256 / SHA-256, low-S normalized, `r‖s` in
    /// standard base64.
    pub fn sign(&self, message: &[u8]) -> String {
        let signature: Signature = self.0.sign(message);
        crate::encode_base64(&signature.normalize_s().to_bytes())
    }
}
