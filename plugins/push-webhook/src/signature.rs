//! The delivery signature receivers check: HMAC-SHA256 under the shared secret over `"<timestamp>.<body>"`,
//! sent as `X-Sigil-Signature: sha256=<lowercase hex>` next to `X-Sigil-Timestamp: <unix seconds>`.
//!
//! Signing the timestamp with the body lets a receiver refuse replays of an old delivery (by rejecting
//! timestamps too far from its clock) without keeping every delivery id forever.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The value of `X-Sigil-Signature` for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut header = String::with_capacity(7 + 64);
    header.push_str("sha256=");
    for byte in digest {
        header.push(char::from(HEX[usize::from(byte >> 4)]));
        header.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    header
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned against an independent implementation:
    /// `printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'key-of-sixteen-b'`.
    #[test]
    fn matches_openssl() {
        assert_eq!(
            sign(b"key-of-sixteen-b", 1_700_000_000, br#"{"a":1}"#),
            "sha256=784063fa0e7c8fe4ad424eea010a42eeef36656a8716a7f72d8eba5bb0c1eca4"
        );
    }
}
