//! VAPID (RFC 8292): the application server identifies itself to the push service with a short-lived JWT,
//! ES256-signed with its P-256 key, and the matching public key:
//!
//! ```text
//! Authorization: vapid t=<header.claims.signature>, k=<base64url of the 65-byte uncompressed public key>
//!
//! header = {"alg":"ES256","typ":"JWT"}
//! claims = {"aud":"https://push.example","exp":<now + 12 h>,"sub":"mailto:ops@example.org"}
//! ```
//!
//! `aud` is the origin of the subscription's endpoint, `exp` at most 24 hours ahead (RFC 8292 §2), `sub` the
//! operator's contact. The signature is the raw `r ‖ s` of JWS (RFC 7515 §A.3), not DER. Push services that
//! bind subscriptions to an application server key (browsers do, through `applicationServerKey`) refuse a
//! message signed by another key.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::SecretKey;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use sigil_plugin_api::serde_json::json;

use crate::ece::uncompressed;

/// How long a JWT is valid: RFC 8292 allows up to 24 hours; half of that leaves room for clock skew.
pub const JWT_LIFETIME_SECS: u64 = 12 * 60 * 60;

/// The application server's VAPID key.
#[derive(Clone)]
pub struct VapidKey {
    signing: SigningKey,
    /// base64url (no padding) of the uncompressed public key: the `k` parameter, and the
    /// `applicationServerKey` a web app passes to `PushManager.subscribe()`.
    public_b64: String,
}

impl fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapidKey")
            .field("public", &self.public_b64)
            .field("private", &"<redacted>")
            .finish()
    }
}

impl VapidKey {
    /// Reads a key file: PEM (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`) or the raw 32-byte scalar in
    /// base64url. The path appears in errors, the contents never.
    pub fn from_file(path: &Path) -> Result<VapidKey, String> {
        let bytes = std::fs::read(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("{} is neither PEM nor base64url text", path.display()))?;
        VapidKey::parse(&text).map_err(|problem| format!("{}: {problem}", path.display()))
    }

    /// Parses the contents of a key file (see [`VapidKey::from_file`]).
    pub fn parse(text: &str) -> Result<VapidKey, String> {
        let text = text.trim();
        let secret = if text.contains("-----BEGIN PRIVATE KEY-----") {
            SecretKey::from_pkcs8_pem(text)
                .map_err(|_| "not a PKCS#8 P-256 private key".to_owned())?
        } else if text.contains("-----BEGIN EC PRIVATE KEY-----") {
            SecretKey::from_sec1_pem(text).map_err(|_| "not a SEC1 P-256 private key".to_owned())?
        } else if text.starts_with("-----BEGIN") {
            return Err(
                "PEM of another kind; expected `PRIVATE KEY` or `EC PRIVATE KEY`".to_owned(),
            );
        } else {
            let raw = decode_b64url(text)
                .ok_or_else(|| "neither PEM nor base64url of a 32-byte key".to_owned())?;
            if raw.len() != 32 {
                return Err(format!(
                    "a raw key is 32 bytes in base64url; this one is {} bytes",
                    raw.len()
                ));
            }
            SecretKey::from_slice(&raw).map_err(|_| "not a valid P-256 private key".to_owned())?
        };
        Ok(VapidKey::from_secret(&secret))
    }

    /// The key for a P-256 secret.
    pub fn from_secret(secret: &SecretKey) -> VapidKey {
        VapidKey {
            signing: SigningKey::from(secret),
            public_b64: URL_SAFE_NO_PAD.encode(uncompressed(&secret.public_key())),
        }
    }

    /// The public key, base64url.
    pub fn public_key_b64(&self) -> &str {
        &self.public_b64
    }

    /// The signed JWT for one audience.
    pub fn jwt(&self, audience: &str, subject: &str, expires: u64) -> String {
        let header = URL_SAFE_NO_PAD.encode(json!({"typ": "JWT", "alg": "ES256"}).to_string());
        let claims = URL_SAFE_NO_PAD
            .encode(json!({"aud": audience, "exp": expires, "sub": subject}).to_string());
        let signing_input = format!("{header}.{claims}");
        let signature: Signature = self.signing.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    /// The `Authorization` header value for a message to `audience`, valid until `expires` (Unix seconds).
    pub fn authorization(&self, audience: &str, subject: &str, expires: u64) -> String {
        format!(
            "vapid t={}, k={}",
            self.jwt(audience, subject, expires),
            self.public_b64
        )
    }
}

/// The `aud` claim of a JWT, read without verifying it (the push service verifies; this only checks that a
/// credential was made for the endpoint it is about to be sent to).
pub fn audience_of(token: &str) -> Option<String> {
    let claims = token.split('.').nth(1)?;
    let claims: sigil_plugin_api::serde_json::Value =
        sigil_plugin_api::serde_json::from_slice(&decode_b64url(claims)?).ok()?;
    claims.get("aud")?.as_str().map(str::to_owned)
}

/// Decodes base64url with or without padding; the standard alphabet (`+`, `/`) is accepted too, as some
/// subscription serializers use it.
pub fn decode_b64url(text: &str) -> Option<Vec<u8>> {
    let normalized: String = text
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(normalized).ok()
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;
    use sigil_plugin_api::serde_json::{self, Value};

    use super::*;

    const RAW: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";

    #[test]
    fn the_jwt_verifies_with_the_public_key() {
        let key = VapidKey::parse(RAW).unwrap();
        let header = key.authorization(
            "https://push.example",
            "mailto:ops@example.org",
            1_900_000_000,
        );
        let (token, k) = header
            .strip_prefix("vapid t=")
            .unwrap()
            .split_once(", k=")
            .unwrap();
        assert_eq!(k, key.public_key_b64());
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decoded = |part: &str| -> Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
        };
        assert_eq!(decoded(parts[0]), json!({"typ": "JWT", "alg": "ES256"}));
        assert_eq!(
            decoded(parts[1]),
            json!({"aud": "https://push.example", "exp": 1_900_000_000u64, "sub": "mailto:ops@example.org"})
        );
        let verifying = VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(k).unwrap()).unwrap();
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        verifying
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .unwrap();
        // Another message does not verify.
        assert!(verifying.verify(b"other", &signature).is_err());
    }

    #[test]
    fn key_formats() {
        let raw = VapidKey::parse(RAW).unwrap();
        let secret = SecretKey::from_slice(&decode_b64url(RAW).unwrap()).unwrap();
        let sec1 = secret
            .to_sec1_pem(p256::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string();
        assert_eq!(
            VapidKey::parse(&sec1).unwrap().public_key_b64(),
            raw.public_key_b64()
        );
        let pkcs8 = {
            use p256::pkcs8::EncodePrivateKey;
            secret
                .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
                .unwrap()
                .to_string()
        };
        assert_eq!(
            VapidKey::parse(&pkcs8).unwrap().public_key_b64(),
            raw.public_key_b64()
        );
        // The RFC 8291 example's key pair: its public key is known.
        assert_eq!(
            raw.public_key_b64(),
            "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
        );
        for (text, problem) in [
            ("AAAA", "32 bytes"),
            ("not base64!", "neither PEM"),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
                "another kind",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
                "PKCS#8",
            ),
            (&URL_SAFE_NO_PAD.encode([0u8; 32]), "not a valid"),
        ] {
            let error = VapidKey::parse(text).unwrap_err();
            assert!(error.contains(problem), "{text}: {error}");
        }
        let shown = format!("{raw:?}");
        assert!(
            !shown.contains(RAW) && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}
