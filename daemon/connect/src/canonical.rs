//! The canonical JSON that a trust proof signs (contract §4): object keys sorted as JavaScript's
//! `a.localeCompare(b)` sorts them, no whitespace, scalars as `JSON.stringify` writes them.
//!
//! `localeCompare` uses ICU's root collation. For ASCII keys [`locale_order`] reproduces it exactly
//! (checked against Node 20): at the primary level case is ignored, control characters other than
//! whitespace are ignorable, and whitespace, punctuation and symbols sort before digits, which sort
//! before letters; ties are broken by case, lower before upper, position by position. Non-ASCII
//! characters are an approximation: they sort after every ASCII letter, by UTF-16 code unit, which
//! keeps the order total but does not follow ICU.

use std::cmp::Ordering;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::Refusal;

/// ICU root primary order of the printable ASCII characters that are not letters or digits, and of the
/// whitespace controls (tab, LF, VT, FF, CR), as Node 20's `localeCompare` sorts them.
const VARIABLE_ORDER: &[u8] = b"\t\n\x0b\x0c\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$";

/// The primary weight of an ASCII character, `None` when it is completely ignorable.
fn ascii_primary(byte: u8) -> Option<u32> {
    if let Some(position) = VARIABLE_ORDER.iter().position(|&v| v == byte) {
        return Some(1 + position as u32);
    }
    match byte {
        b'0'..=b'9' => Some(0x100 + u32::from(byte - b'0')),
        b'a'..=b'z' => Some(0x200 + u32::from(byte - b'a')),
        b'A'..=b'Z' => Some(0x200 + u32::from(byte - b'A')),
        _ => None, // the other C0 controls and DEL
    }
}

/// The primary weights of `s`, with the case weight (1 for upper-case ASCII letters) of each. A
/// non-ASCII character weighs `0x10000` plus each of its UTF-16 code units: after every ASCII letter.
fn weights(s: &str) -> (Vec<u32>, Vec<u8>) {
    let mut primaries = Vec::with_capacity(s.len());
    let mut cases = Vec::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            if let Some(weight) = ascii_primary(c as u8) {
                primaries.push(weight);
                cases.push(u8::from(c.is_ascii_uppercase()));
            }
        } else {
            let mut buffer = [0u16; 2];
            for &unit in c.encode_utf16(&mut buffer).iter() {
                primaries.push(0x1_0000 + u32::from(unit));
                cases.push(0);
            }
        }
    }
    (primaries, cases)
}

/// The key order of JavaScript's `a.localeCompare(b)` (ICU root collation), exact for ASCII keys; see
/// the module documentation for non-ASCII. A total order: primary weights, then case position by
/// position, then UTF-16 code units.
pub fn locale_order(a: &str, b: &str) -> Ordering {
    let (primary_a, case_a) = weights(a);
    let (primary_b, case_b) = weights(b);
    primary_a
        .cmp(&primary_b)
        .then_with(|| case_a.cmp(&case_b))
        .then_with(|| a.encode_utf16().cmp(b.encode_utf16()))
}

/// The canonical JSON of `value` with the connect key order ([`locale_order`]): no whitespace, strings
/// escaped as `JSON.stringify` does, numbers in ECMAScript form. Integers beyond ±2^53 are refused
/// (`invalid_json`) rather than rounded as JavaScript would.
pub fn canonicalize(value: &Value) -> Result<String, Refusal> {
    sigil_device::jcs::canonicalize_with(value, locale_order)
        .map_err(|error| Refusal::new("invalid_json", error.to_string(), None))
}

/// The canonical string the proof signs: `canonicalize({request, callback: callback ?? null})`.
/// `redirect_uri` and `proof` are not covered.
pub fn canonical_payload(request: &Value, callback: Option<&str>) -> Result<String, Refusal> {
    let mut payload = serde_json::Map::new();
    payload.insert("request".to_owned(), request.clone());
    payload.insert(
        "callback".to_owned(),
        callback.map_or(Value::Null, |c| Value::String(c.to_owned())),
    );
    canonicalize(&Value::Object(payload))
}

/// `base64url-nopad(SHA-256(canonical))`, the proof's `payload_hash`.
pub fn payload_hash(canonical: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sorted(keys: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        keys.sort_by(|a, b| locale_order(a, b));
        keys
    }

    /// Every ASCII character, as Node 20 sorts them with `localeCompare` (hex code points). The
    /// controls 0x00-0x08, 0x0e-0x1f and 0x7f compare equal to each other and to "" in Node; here they
    /// tie-break by code unit, which is where Node's stable sort leaves them for this input.
    #[test]
    fn ascii_characters_in_node_order() {
        let node = "0 1 2 3 4 5 6 7 8 e f 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 7f 9 a b c d 20 \
                    5f 2d 2c 3b 3a 21 3f 2e 27 22 28 29 5b 5d 7b 7d 40 2a 2f 5c 26 23 25 60 5e 2b 3c 3d 3e 7c \
                    7e 24 30 31 32 33 34 35 36 37 38 39 61 41 62 42 63 43 64 44 65 45 66 46 67 47 68 48 69 49 \
                    6a 4a 6b 4b 6c 4c 6d 4d 6e 4e 6f 4f 70 50 71 51 72 52 73 53 74 54 75 55 76 56 77 57 78 58 \
                    79 59 7a 5a";
        let expected: Vec<String> = node
            .split_whitespace()
            .map(|h| char::from(u8::from_str_radix(h, 16).unwrap()).to_string())
            .collect();
        let all: Vec<String> = (0u8..128).map(|b| char::from(b).to_string()).collect();
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        assert_eq!(sorted(&refs), expected);
    }

    /// `node -e 'console.log([...].sort((a,b)=>a.localeCompare(b)))'` on Node 20.
    #[test]
    fn keys_in_node_order() {
        let input = [
            "a_b",
            "ab",
            "a-b",
            "A",
            "a",
            "a1",
            "Ab",
            "aB",
            "_x",
            "AB",
            "ab_",
            "a b",
            "tick_offset",
            "tickoffset",
            "tick-offset",
            "tx_hash",
            "txhash",
            "redirect_uri",
            "request",
            "payload_hash",
            "public_jwk",
            "key_id",
            "keyId",
            "Key_id",
        ];
        let node = [
            "_x",
            "a",
            "A",
            "a b",
            "a_b",
            "a-b",
            "a1",
            "ab",
            "aB",
            "Ab",
            "AB",
            "ab_",
            "key_id",
            "Key_id",
            "keyId",
            "payload_hash",
            "public_jwk",
            "redirect_uri",
            "request",
            "tick_offset",
            "tick-offset",
            "tickoffset",
            "tx_hash",
            "txhash",
        ];
        assert_eq!(sorted(&input), node);
    }

    #[test]
    fn order_is_total_with_non_ascii() {
        let keys = [
            "a", "Z", "Zé", "é", "_", "€", "😀", "\u{fb33}", "a\u{1}b", "ab",
        ];
        for a in keys {
            assert_eq!(locale_order(a, a), Ordering::Equal);
            for b in keys {
                assert_eq!(locale_order(a, b), locale_order(b, a).reverse(), "{a} {b}");
                for c in keys {
                    if locale_order(a, b).is_le() && locale_order(b, c).is_le() {
                        assert!(locale_order(a, c).is_le(), "{a} {b} {c}");
                    }
                }
            }
        }
        // Ignorable controls do not change the primary order, only the final tie-break.
        assert_eq!(locale_order("a\u{1}b", "ab"), Ordering::Less);
        assert_eq!(locale_order("a\u{1}c", "ab"), Ordering::Greater);
    }

    #[test]
    fn canonical_form_of_values() {
        let value =
            json!({"b": [1, 2.5, "x\n\"", null, true], "a_b": {"Z": 1e21, "a": -0.0}, "a1": 0});
        assert_eq!(
            canonicalize(&value).unwrap(),
            r#"{"a_b":{"a":0,"Z":1e+21},"a1":0,"b":[1,2.5,"x\n\"",null,true]}"#
        );
        assert_eq!(
            canonicalize(&json!(9_007_199_254_740_993u64))
                .unwrap_err()
                .reason,
            "invalid_json"
        );
        assert_eq!(
            canonical_payload(&json!({"type": "connect"}), None).unwrap(),
            r#"{"callback":null,"request":{"type":"connect"}}"#
        );
        assert_eq!(
            canonical_payload(&json!({}), Some("https://a.example/cb")).unwrap(),
            r#"{"callback":"https://a.example/cb","request":{}}"#
        );
        // SHA-256("abc"), base64url without padding.
        assert_eq!(
            payload_hash("abc"),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
    }
}
