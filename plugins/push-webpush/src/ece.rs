//! Message encryption for Web Push (RFC 8291) in the `aes128gcm` content coding (RFC 8188).
//!
//! For each message a fresh P-256 key pair (`as`) and a fresh 16-byte salt are drawn; with the subscription's
//! public key (`ua_public`, `keys.p256dh`) and authentication secret (`keys.auth`):
//!
//! ```text
//! ecdh_secret = ECDH(as_private, ua_public)                          x coordinate, 32 bytes
//! IKM   = HKDF-SHA256(salt = auth_secret, ikm = ecdh_secret,
//!                     info = "WebPush: info" 0x00 ‖ ua_public ‖ as_public, L = 32)
//! CEK   = HKDF-SHA256(salt, IKM, "Content-Encoding: aes128gcm" 0x00, 16)
//! NONCE = HKDF-SHA256(salt, IKM, "Content-Encoding: nonce" 0x00, 12)
//! body  = salt(16) ‖ rs(4, big-endian 4096) ‖ idlen(1) = 65 ‖ as_public(65)
//!       ‖ AES-128-GCM(CEK, NONCE, plaintext ‖ 0x02)                one record, the last one
//! ```
//!
//! The single record has no padding beyond its delimiter, so a plaintext may be at most
//! [`MAX_PLAINTEXT_BYTES`] (3993) bytes: the whole body then is 4096 bytes, what every push service accepts.

use std::fmt;

use aes_gcm::Aes128Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce};
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// The record size written into the header.
pub const RECORD_SIZE: u32 = 4096;
/// salt(16) ‖ rs(4) ‖ idlen(1) ‖ keyid(65).
pub const HEADER_BYTES: usize = 16 + 4 + 1 + 65;
/// AES-GCM's tag.
const TAG_BYTES: usize = 16;
/// The largest plaintext that fits one 4096-byte body with its header, delimiter and tag.
pub const MAX_PLAINTEXT_BYTES: usize = RECORD_SIZE as usize - HEADER_BYTES - TAG_BYTES - 1;
/// The delimiter after the plaintext of the last record (RFC 8188 §2).
const LAST_RECORD_DELIMITER: u8 = 0x02;

/// Why a message could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EceError {
    /// The plaintext is longer than [`MAX_PLAINTEXT_BYTES`].
    TooLarge(usize),
    /// The OS random source failed.
    Random(String),
    /// A primitive refused its input (does not happen with well-formed keys).
    Crypto(&'static str),
}

impl fmt::Display for EceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EceError::TooLarge(bytes) => write!(
                f,
                "the payload is {bytes} bytes; Web Push carries at most {MAX_PLAINTEXT_BYTES}"
            ),
            EceError::Random(error) => write!(f, "the OS random source failed: {error}"),
            EceError::Crypto(what) => write!(f, "encryption failed: {what}"),
        }
    }
}

/// The subscription's keys (`keys.p256dh`, `keys.auth`).
#[derive(Clone)]
pub struct UaKeys {
    /// The user agent's P-256 public key.
    pub public: PublicKey,
    /// The 16-byte authentication secret.
    pub auth: [u8; 16],
}

impl fmt::Debug for UaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The auth secret is what keeps third parties who know the public key from encrypting to the device.
        f.debug_struct("UaKeys")
            .field("public", &uncompressed(&self.public).as_slice().len())
            .field("auth", &"<redacted>")
            .finish()
    }
}

/// The 65-byte uncompressed SEC1 form of a public key.
pub fn uncompressed(key: &PublicKey) -> Vec<u8> {
    key.to_sec1_point(false).as_bytes().to_vec()
}

/// Fills a buffer from the operating system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], EceError> {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes).map_err(|error| EceError::Random(error.to_string()))?;
    Ok(bytes)
}

/// A fresh P-256 secret key from the OS random source.
pub fn random_secret_key() -> Result<SecretKey, EceError> {
    // A uniformly random 32-byte string is a valid scalar except with probability ~2^-32; draw again then.
    loop {
        if let Ok(key) = SecretKey::from_slice(&random_bytes::<32>()?) {
            return Ok(key);
        }
    }
}

/// Encrypts `plaintext` for a subscription, with a fresh salt and a fresh ephemeral key.
pub fn encrypt(keys: &UaKeys, plaintext: &[u8]) -> Result<Vec<u8>, EceError> {
    let salt = random_bytes::<16>()?;
    let ephemeral = random_secret_key()?;
    encrypt_with(keys, plaintext, &salt, &ephemeral)
}

/// Encrypts with a given salt and application-server key: [`encrypt`] without its randomness, for the
/// RFC 8291 example. Never reuse a salt or key for two messages.
pub fn encrypt_with(
    keys: &UaKeys,
    plaintext: &[u8],
    salt: &[u8; 16],
    as_secret: &SecretKey,
) -> Result<Vec<u8>, EceError> {
    if plaintext.len() > MAX_PLAINTEXT_BYTES {
        return Err(EceError::TooLarge(plaintext.len()));
    }
    let ua_public = uncompressed(&keys.public);
    let as_public = uncompressed(&as_secret.public_key());
    let shared = as_secret.diffie_hellman(&keys.public);

    // RFC 8291 §3.3: the auth secret is the salt of the first HKDF, which binds the key to the subscription.
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(&ua_public);
    key_info.extend_from_slice(&as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&keys.auth), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .map_err(|_| EceError::Crypto("HKDF length"))?;

    // RFC 8291 §3.4 / RFC 8188 §2.2.
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .map_err(|_| EceError::Crypto("HKDF length"))?;
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .map_err(|_| EceError::Crypto("HKDF length"))?;

    // One record (sequence number 0, so the nonce is used as derived), the last: plaintext ‖ 0x02.
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(LAST_RECORD_DELIMITER);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| EceError::Crypto("AES key length"))?;
    let sealed = cipher
        .encrypt(&Nonce::<Aes128Gcm>::from(nonce), record.as_slice())
        .map_err(|_| EceError::Crypto("AES-GCM"))?;

    let mut body = Vec::with_capacity(HEADER_BYTES + sealed.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&sealed);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn b64(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).unwrap()
    }

    /// RFC 8291 Appendix A: with the appendix's salt and application-server key, the body must be the
    /// appendix's, byte for byte.
    #[test]
    fn the_rfc_8291_example() {
        let keys = UaKeys {
            public: PublicKey::from_sec1_bytes(&b64(
                "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            ))
            .unwrap(),
            auth: b64("BTBZMqHH6r4Tts7J_aSIgg").try_into().unwrap(),
        };
        let as_secret =
            SecretKey::from_slice(&b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).unwrap();
        assert_eq!(
            uncompressed(&as_secret.public_key()),
            b64(
                "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
            )
        );
        assert_eq!(
            as_secret
                .diffie_hellman(&keys.public)
                .raw_secret_bytes()
                .as_slice(),
            b64("kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs")
        );
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let body = encrypt_with(
            &keys,
            b"When I grow up, I want to be a watermelon",
            &salt,
            &as_secret,
        )
        .unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(&body[..HEADER_BYTES]),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
        );
        assert_eq!(
            URL_SAFE_NO_PAD.encode(&body[HEADER_BYTES..]),
            "8pfeW0KbunFT06SuDKoJH9Ql87S1QUrdirN6GcG7sFz1y1sqLgVi1VhjVkHsUoEsbI_0LpXMuGvnzQ"
        );
        // The whole message as the appendix prints it.
        assert_eq!(
            URL_SAFE_NO_PAD.encode(&body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn the_size_limit_is_one_4096_byte_body() {
        let keys = UaKeys {
            public: random_secret_key().unwrap().public_key(),
            auth: [7; 16],
        };
        let body = encrypt(&keys, &[b'a'; MAX_PLAINTEXT_BYTES]).unwrap();
        assert_eq!(body.len(), RECORD_SIZE as usize);
        assert_eq!(
            encrypt(&keys, &[b'a'; MAX_PLAINTEXT_BYTES + 1]),
            Err(EceError::TooLarge(MAX_PLAINTEXT_BYTES + 1))
        );
    }

    #[test]
    fn salts_and_keys_are_fresh_per_message() {
        let keys = UaKeys {
            public: random_secret_key().unwrap().public_key(),
            auth: [7; 16],
        };
        let one = encrypt(&keys, b"same").unwrap();
        let two = encrypt(&keys, b"same").unwrap();
        assert_ne!(one[..16], two[..16], "salt");
        assert_ne!(one[21..86], two[21..86], "ephemeral key");
        assert_ne!(one[86..], two[86..]);
    }
}
