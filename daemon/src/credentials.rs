//! Credential primitives: argon2id password hashes, session JWTs (HS256 with a secret the daemon generates and
//! stores), and API keys (`sgk_live_`/`sgk_test_` + 64 hex), kept only as SHA-256 hashes. No HTTP here.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Argon2id with the configured cost.
#[derive(Clone)]
pub struct PasswordHasherConfig {
    memory_kib: u32,
    iterations: u32,
}

impl PasswordHasherConfig {
    /// Cost parameters from the config.
    pub fn new(memory_kib: u32, iterations: u32) -> Self {
        Self {
            memory_kib,
            iterations,
        }
    }

    fn argon2(&self) -> Argon2<'static> {
        // Params::new only fails for out-of-range values, which config validation already refuses.
        let params = Params::new(self.memory_kib, self.iterations, 1, None).unwrap_or_default();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Hashes a password into a PHC string. CPU-heavy: call from a blocking thread.
    pub fn hash(&self, password: &str) -> Result<String, String> {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| e.to_string())
    }

    /// Checks a password against a stored PHC string (constant-time comparison inside argon2). The stored hash's
    /// own parameters are used, so raising the configured cost does not lock out existing users.
    pub fn verify(&self, password: &str, stored: &str) -> bool {
        match PasswordHash::new(stored) {
            Ok(parsed) => self
                .argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }
}

/// The claims of a session JWT.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionClaims {
    /// User id.
    pub sub: String,
    /// Tenant context, if any.
    #[serde(rename = "tenantId")]
    pub tenant_id: Option<String>,
    /// Issued at (seconds since the epoch).
    pub iat: u64,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issuer, always `sigild`.
    pub iss: String,
    /// The session this token belongs to (see `store::Session`); tokens of ended sessions are refused.
    #[serde(default)]
    pub sid: Option<String>,
}

/// Why a session token was refused. The words are the API's, never the JWT library's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRejection {
    /// Well-formed and signed by us, but past its expiry.
    Expired,
    /// Anything else: malformed, wrong signature, algorithm or issuer, missing claims.
    Invalid,
}

impl SessionRejection {
    /// The client-facing message.
    pub fn message(self) -> &'static str {
        match self {
            SessionRejection::Expired => "session expired",
            SessionRejection::Invalid => "session token is invalid",
        }
    }

    /// The client-facing `details.reason`.
    pub fn reason(self) -> &'static str {
        match self {
            SessionRejection::Expired => "expired",
            SessionRejection::Invalid => "invalid",
        }
    }
}

const ISSUER: &str = "sigild";

/// Issues and verifies session JWTs.
#[derive(Clone)]
pub struct SessionKeys {
    encoding: jsonwebtoken::EncodingKey,
    decoding: jsonwebtoken::DecodingKey,
}

impl SessionKeys {
    /// Keys from the stored secret.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: jsonwebtoken::EncodingKey::from_secret(secret),
            decoding: jsonwebtoken::DecodingKey::from_secret(secret),
        }
    }

    /// A token of session `sid` for the user and tenant, valid for `ttl_secs` but never past `not_after` (the
    /// session's absolute end, Unix seconds).
    pub fn issue(
        &self,
        user: &str,
        tenant: Option<&str>,
        sid: &str,
        ttl_secs: u64,
        not_after: u64,
    ) -> Result<String, String> {
        let now = now_secs();
        let claims = SessionClaims {
            sub: user.to_string(),
            tenant_id: tenant.map(str::to_string),
            iat: now,
            exp: (now + ttl_secs).min(not_after),
            iss: ISSUER.into(),
            sid: Some(sid.to_string()),
        };
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// Verifies signature, algorithm, issuer and expiry (no leeway).
    pub fn verify(&self, token: &str) -> Result<SessionClaims, SessionRejection> {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        jsonwebtoken::decode::<SessionClaims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => SessionRejection::Expired,
                _ => SessionRejection::Invalid,
            })
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A freshly generated API key: the secret (shown once) and what is stored.
pub struct NewApiKey {
    /// The full key, e.g. `sgk_live_<64 hex>`.
    pub secret: String,
    /// What lists show: the environment prefix and the first 8 hex characters.
    pub prefix: String,
    /// Hex SHA-256 of the full key.
    pub hash: String,
}

/// Generates a key for `live` or `test`.
pub fn generate_api_key(environment: &str) -> NewApiKey {
    let secret = format!(
        "sgk_{environment}_{}",
        hex::encode(rand::random::<[u8; 32]>())
    );
    let prefix = secret[..secret.len() - 56].to_string();
    let hash = hash_api_key(&secret);
    NewApiKey {
        secret,
        prefix,
        hash,
    }
}

/// Whether a bearer token has the shape of an API key (as opposed to a JWT).
pub fn looks_like_api_key(token: &str) -> bool {
    let Some(rest) = token
        .strip_prefix("sgk_live_")
        .or_else(|| token.strip_prefix("sgk_test_"))
    else {
        return false;
    };
    rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Hex SHA-256 of a key. Keys carry 256 bits of entropy, so a fast hash is enough; argon2 would only slow down
/// every authenticated request.
pub fn hash_api_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time equality of two hex hashes.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip() {
        let hasher = PasswordHasherConfig::new(8 * 1024, 1);
        let stored = hasher.hash("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(hasher.verify("correct horse", &stored));
        assert!(!hasher.verify("wrong horse", &stored));
        assert!(!hasher.verify("correct horse", "not a phc string"));
    }

    #[test]
    fn sessions_round_trip_and_reject_tampering() {
        let keys = SessionKeys::new(&[7; 32]);
        let token = keys.issue("u1", Some("t1"), "s1", 60, u64::MAX).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!(
            (
                claims.sub.as_str(),
                claims.tenant_id.as_deref(),
                claims.sid.as_deref()
            ),
            ("u1", Some("t1"), Some("s1"))
        );
        // The session's absolute end caps the token's expiry.
        let capped = keys.issue("u1", None, "s1", 600, now_secs() + 60).unwrap();
        let claims = keys.verify(&capped).unwrap();
        assert!(claims.exp <= now_secs() + 60);
        assert!(
            SessionKeys::new(&[8; 32]).verify(&token).is_err(),
            "other secret"
        );
        let mut tampered = token.clone();
        tampered.replace_range(tampered.len() - 3.., "AAA");
        assert!(keys.verify(&tampered).is_err());
        assert!(keys.verify("not.a.jwt").is_err());
    }

    #[test]
    fn expired_sessions_are_refused() {
        let keys = SessionKeys::new(&[7; 32]);
        let claims = SessionClaims {
            sub: "u".into(),
            tenant_id: None,
            iat: 1,
            exp: 2,
            iss: ISSUER.into(),
            sid: None,
        };
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&[7; 32]),
        )
        .unwrap();
        let rejection = keys.verify(&token).unwrap_err();
        assert_eq!(rejection, SessionRejection::Expired);
        assert_eq!(rejection.message(), "session expired");
        assert_eq!(
            keys.verify("not.a.jwt").unwrap_err().message(),
            "session token is invalid"
        );
    }

    #[test]
    fn api_keys_have_the_documented_shape() {
        let key = generate_api_key("live");
        assert!(looks_like_api_key(&key.secret), "{}", key.secret);
        assert_eq!(key.secret.len(), "sgk_live_".len() + 64);
        assert_eq!(key.prefix.len(), "sgk_live_".len() + 8);
        assert!(key.secret.starts_with(&key.prefix));
        assert!(hashes_equal(&key.hash, &hash_api_key(&key.secret)));
        assert!(looks_like_api_key(&generate_api_key("test").secret));
        for bad in [
            "sgk_live_",
            "sgk_prod_".to_string().as_str(),
            "sgk_live_xyz",
            "eyJhbGciOi.x.y",
        ] {
            assert!(!looks_like_api_key(bad), "{bad}");
        }
    }
}
