//! Device public keys (33-byte compressed SEC1 P-256 points, standard base64 on the wire) and their
//! fingerprints (lower-case hex SHA-256 of those 33 bytes).

use p256::ecdsa::VerifyingKey;
use sha2::{Digest, Sha256};

use crate::DeviceError;

/// Length of a compressed SEC1 P-256 point: a 0x02/0x03 prefix and the 32-byte X coordinate.
pub const PUBLIC_KEY_LEN: usize = 33;

/// A validated device public key: a point on P-256, not the identity, received in compressed form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevicePublicKey {
    key: VerifyingKey,
    bytes: [u8; PUBLIC_KEY_LEN],
}

impl DevicePublicKey {
    /// Parses the wire form: standard base64 of the 33-byte compressed point.
    pub fn from_base64(text: &str) -> Result<Self, DeviceError> {
        let bytes = crate::decode_base64(text)
            .ok_or(DeviceError::InvalidPublicKey("not standard base64"))?;
        Self::from_compressed(&bytes)
    }

    /// Parses a 33-byte compressed SEC1 point (0x02 or 0x03 followed by X).
    pub fn from_compressed(bytes: &[u8]) -> Result<Self, DeviceError> {
        let bytes: [u8; PUBLIC_KEY_LEN] = bytes.try_into().map_err(|_| {
            DeviceError::InvalidPublicKey("expected a 33-byte compressed P-256 point")
        })?;
        if bytes[0] != 0x02 && bytes[0] != 0x03 {
            return Err(DeviceError::InvalidPublicKey(
                "expected a compressed point (prefix 0x02 or 0x03)",
            ));
        }
        // Decompression fails for X >= p and for an X with no point on the curve; the identity has no
        // 33-byte encoding, and VerifyingKey refuses it anyway.
        let key = VerifyingKey::from_sec1_bytes(&bytes)
            .map_err(|_| DeviceError::InvalidPublicKey("the point is not on the P-256 curve"))?;
        Ok(Self { key, bytes })
    }

    /// The 33-byte compressed encoding, exactly as received.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.bytes
    }

    /// The wire form: standard base64 of the compressed point.
    pub fn to_base64(&self) -> String {
        crate::encode_base64(&self.bytes)
    }

    /// The fingerprint: lower-case hex SHA-256 of the compressed point.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.bytes)
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    pub(crate) fn from_verifying_key(key: VerifyingKey) -> Self {
        let point = key.to_sec1_point(true);
        let mut bytes = [0u8; PUBLIC_KEY_LEN];
        bytes.copy_from_slice(point.as_bytes());
        Self { key, bytes }
    }
}

/// Parses a `device_public_key` (standard base64 of a 33-byte compressed P-256 point).
pub fn parse_public_key(text: &str) -> Result<DevicePublicKey, DeviceError> {
    DevicePublicKey::from_base64(text)
}

/// The fingerprint of a key: lower-case hex SHA-256 of its bytes (the 33-byte compressed point).
pub fn fingerprint(key_bytes: &[u8]) -> String {
    crate::to_hex(&Sha256::digest(key_bytes))
}

/// Parses a fingerprint: exactly 64 lower-case hex digits, returned as the 32 digest bytes.
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], DeviceError> {
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return Err(DeviceError::InvalidFingerprint);
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let high = nibble(pair[0]).ok_or(DeviceError::InvalidFingerprint)?;
        let low = nibble(pair[1]).ok_or(DeviceError::InvalidFingerprint)?;
        *byte = (high << 4) | low;
    }
    Ok(out)
}
