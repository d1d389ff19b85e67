//! RFC 9530 `Content-Digest`: parsing the field as a Dictionary of Byte Sequences, verifying the exact body
//! bytes against every supported algorithm present (SHA-256, SHA-512) in constant time, and making values.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sfv::{BareItem, Dictionary, Item, ListEntry, Parser};
use sha2::{Digest as _, Sha256, Sha512};
use subtle::ConstantTimeEq as _;

/// A digest algorithm from the IANA Hash Algorithms for HTTP Digest Fields registry that this crate computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// `sha-256`.
    Sha256,
    /// `sha-512`.
    Sha512,
}

impl DigestAlgorithm {
    /// The registry key, e.g. `sha-256`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Sha256 => "sha-256",
            Self::Sha512 => "sha-512",
        }
    }

    /// The algorithm for a registry key; `None` for unknown or unsupported (e.g. insecure) ones.
    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "sha-256" => Some(Self::Sha256),
            "sha-512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The digest of `body`.
    pub fn digest(self, body: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(body).to_vec(),
            Self::Sha512 => Sha512::digest(body).to_vec(),
        }
    }
}

/// Why a `Content-Digest` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The value is not a structured-field Dictionary of Byte Sequences.
    #[error("content-digest is not a valid structured field: {0}")]
    Malformed(String),
    /// No algorithm this crate supports is present.
    #[error("content-digest has no supported algorithm (sha-256 or sha-512)")]
    NoSupportedAlgorithm,
    /// A supported algorithm's digest does not match the body.
    #[error("content-digest {0} does not match the body")]
    Mismatch(&'static str),
}

/// Parses a `Content-Digest` value into `(algorithm key, digest bytes)` pairs in field order.
pub fn parse_content_digest(value: &str) -> Result<Vec<(String, Vec<u8>)>, DigestError> {
    let dict: Dictionary = Parser::new(value)
        .parse()
        .map_err(|e| DigestError::Malformed(e.to_string()))?;
    dict.iter()
        .map(|(k, entry)| match entry {
            ListEntry::Item(Item {
                bare_item: BareItem::ByteSequence(b),
                ..
            }) => Ok((k.as_str().to_owned(), b.clone())),
            _ => Err(DigestError::Malformed(format!(
                "member {} is not a byte sequence",
                k.as_str()
            ))),
        })
        .collect()
}

/// Verifies `body` against every supported algorithm in the `Content-Digest` value (unknown algorithms
/// are ignored); returns the algorithms checked. All must match and at least one must be present.
pub fn verify_content_digest(
    value: &str,
    body: &[u8],
) -> Result<Vec<DigestAlgorithm>, DigestError> {
    let mut checked = Vec::new();
    for (key, expected) in parse_content_digest(value)? {
        let Some(alg) = DigestAlgorithm::from_key(&key) else {
            continue;
        };
        let actual = alg.digest(body);
        if actual.len() != expected.len() || !bool::from(actual.ct_eq(&expected)) {
            return Err(DigestError::Mismatch(alg.key()));
        }
        checked.push(alg);
    }
    if checked.is_empty() {
        return Err(DigestError::NoSupportedAlgorithm);
    }
    Ok(checked)
}

/// A `Content-Digest` value with one algorithm, e.g. `sha-256=:...:`.
pub fn content_digest(alg: DigestAlgorithm, body: &[u8]) -> String {
    format!("{}=:{}:", alg.key(), STANDARD.encode(alg.digest(body)))
}

/// The `sha-256=:...:` value the Sigilum SDKs send.
pub fn content_digest_sha256(body: &[u8]) -> String {
    content_digest(DigestAlgorithm::Sha256, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 9530 §2 / RFC 9421 B.2: {"hello": "world"} digests.
    const BODY: &[u8] = b"{\"hello\": \"world\"}";

    #[test]
    fn rfc_examples_verify() {
        let sha256 = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:";
        let sha512 = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";
        assert_eq!(content_digest_sha256(BODY), sha256);
        assert_eq!(content_digest(DigestAlgorithm::Sha512, BODY), sha512);
        assert_eq!(
            verify_content_digest(sha256, BODY),
            Ok(vec![DigestAlgorithm::Sha256])
        );
        assert_eq!(
            verify_content_digest(sha512, BODY),
            Ok(vec![DigestAlgorithm::Sha512])
        );
        let both = format!("{sha512}, {sha256}, md5=:AAAA:");
        assert_eq!(
            verify_content_digest(&both, BODY),
            Ok(vec![DigestAlgorithm::Sha512, DigestAlgorithm::Sha256])
        );
    }

    #[test]
    fn refusals() {
        let cases: &[(&str, DigestError)] = &[
            ("md5=:AAAA:", DigestError::NoSupportedAlgorithm),
            ("sha-256=:AAAA:", DigestError::Mismatch("sha-256")),
            (
                "sha-256=\"abc\"",
                DigestError::Malformed("member sha-256 is not a byte sequence".into()),
            ),
        ];
        for (value, want) in cases {
            assert_eq!(
                verify_content_digest(value, BODY).as_ref(),
                Err(want),
                "{value}"
            );
        }
        let wrong = content_digest_sha256(b"other");
        assert_eq!(
            verify_content_digest(&wrong, BODY),
            Err(DigestError::Mismatch("sha-256"))
        );
        let mixed = format!("{}, {wrong}", content_digest(DigestAlgorithm::Sha512, BODY));
        assert_eq!(
            verify_content_digest(&mixed, BODY),
            Err(DigestError::Mismatch("sha-256"))
        );
        for garbage in [
            "",
            "sha-256=:abc",
            "SHA-256=:AAAA:",
            "sha-256=:!!!!:",
            "\u{0}",
        ] {
            assert!(
                matches!(
                    verify_content_digest(garbage, BODY),
                    Err(DigestError::Malformed(_) | DigestError::NoSupportedAlgorithm)
                ),
                "{garbage:?}"
            );
        }
    }
}
