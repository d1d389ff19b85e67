//! Webhook signatures, pure functions.
//!
//! - **Standard Webhooks** (`webhook-signature: v1,<base64>`): HMAC-SHA256 over `<id>.<timestamp>.<body>`. The key
//!   is the base64 decoding of what follows `whsec_` when the endpoint secret has that prefix, and otherwise the
//!   secret's UTF-8 bytes. A receiver using a `standardwebhooks` library with a secret without the prefix passes
//!   `whsec_` + base64(secret) to it, which decodes back to the same bytes.
//! - **Sigilum** (`X-Sigilum-Signature: sha256=<hex>`): HMAC-SHA256 over the exact body, keyed with the secret
//!   string's bytes (with or without `whsec_`, as written).

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The Standard Webhooks key of an endpoint secret; `None` when it has the `whsec_` prefix but what follows is
/// not base64 (refused when the endpoint is created).
pub fn standard_key(secret: &str) -> Option<Vec<u8>> {
    match secret.strip_prefix("whsec_") {
        Some(encoded) => STANDARD.decode(encoded).ok().filter(|key| !key.is_empty()),
        None => Some(secret.as_bytes().to_vec()),
    }
}

/// `v1,<base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))>`.
pub fn standard_signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut context = hmac::Context::with_key(&key);
    context.update(id.as_bytes());
    context.update(b".");
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
}

/// `sha256=<lowercase hex(HMAC-SHA256(secret, body))>`.
pub fn sigilum_signature(secret: &str, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    format!(
        "sha256={}",
        hex::encode(hmac::sign(&key, body.as_bytes()).as_ref())
    )
}

/// `v1,<lowercase hex(HMAC-SHA256(secret, "<timestamp>.<body>"))>`: the Sigil Auth SDKs' format (the Go SDK
/// verifies it as sent; the Node SDK after the `v1,` is removed).
pub fn sigil_auth_signature(secret: &str, timestamp: i64, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body.as_bytes());
    format!("v1,{}", hex::encode(context.sign().as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example published with the Standard Webhooks specification (and its reference libraries' tests).
    #[test]
    fn standard_webhooks_reference_vector() {
        let key = standard_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            standard_signature(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    /// A secret without the prefix is its own bytes, which is what a receiver gets by giving its library
    /// `whsec_` + base64(secret).
    #[test]
    fn a_plain_secret_is_its_bytes_and_whsec_of_its_base64_is_the_same_key() {
        let plain = "0123456789abcdef-plain";
        let wrapped = format!("whsec_{}", STANDARD.encode(plain));
        assert_eq!(standard_key(plain).unwrap(), plain.as_bytes());
        assert_eq!(standard_key(&wrapped).unwrap(), plain.as_bytes());
        assert_eq!(
            standard_signature(&standard_key(plain).unwrap(), "evt_1", 1, "{}"),
            standard_signature(&standard_key(&wrapped).unwrap(), "evt_1", 1, "{}")
        );
        assert!(standard_key("whsec_not base64!").is_none());
        assert!(standard_key("whsec_").is_none());
    }

    /// RFC 4231 test case 2 (key "Jefe"), and an endpoint-sized secret computed independently (Python's hmac).
    #[test]
    fn sigilum_signature_is_hex_hmac_of_the_exact_body() {
        assert_eq!(
            sigilum_signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            sigilum_signature(
                "0123456789abcdef-sigilum",
                r#"{"event":"approval.approved","id":"apr_1"}"#
            ),
            "sha256=e4de03ccf5964828821993313a0a6a1036b092f4391c4936aa0c3ae626fbada2"
        );
        assert_ne!(
            sigilum_signature("Jefe", "what do ya want for nothing? "),
            sigilum_signature("Jefe", "what do ya want for nothing?")
        );
    }

    #[test]
    fn sigil_auth_signatures_are_hex_hmac_over_timestamp_dot_body() {
        // Computed independently: python3 -c "import hmac,hashlib;
        //   print(hmac.new(b'secret', b'1700000000.{}', hashlib.sha256).hexdigest())"
        assert_eq!(
            sigil_auth_signature("secret", 1_700_000_000, "{}"),
            "v1,b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }
}
