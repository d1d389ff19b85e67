//! RFC 7512 `pkcs11:` key URIs: `pkcs11:token=<token label>;object=<key label>;type=private`, with values
//! percent-encoded as the RFC requires.

use core::fmt::Write as _;

use sigil_plugin_api::PluginError;

/// Longest label the plugin gives a key it generates, in bytes.
pub const MAX_LABEL_LEN: usize = 64;

/// Checks the label of a key to generate: 1 to 64 bytes of `[A-Za-z0-9._-]`. Narrower than PKCS#11 needs:
/// such labels read the same in URIs, logs and `pkcs11-tool` output. Keys made by other tools may have any
/// label; their URIs percent-encode it.
pub fn validate_label(label: &str) -> Result<(), PluginError> {
    if label.is_empty() || label.len() > MAX_LABEL_LEN {
        return Err(PluginError::invalid_input(format!(
            "key label must be 1 to {MAX_LABEL_LEN} bytes, got {}",
            label.len()
        )));
    }
    if let Some(bad) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(PluginError::invalid_input(format!(
            "key label {label:?} contains {bad:?}; only [A-Za-z0-9._-] is allowed"
        )));
    }
    Ok(())
}

/// A parsed key URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUri {
    /// `token=`: the token label.
    pub token: String,
    /// `object=`: the key's `CKA_LABEL`.
    pub object: String,
    /// `id=`: the key's `CKA_ID`, when the URI names it.
    pub id: Option<Vec<u8>>,
}

impl KeyUri {
    /// The URI this plugin hands out for a private key.
    pub fn new(token: &str, object: &str) -> KeyUri {
        KeyUri {
            token: token.to_owned(),
            object: object.to_owned(),
            id: None,
        }
    }

    /// Parses a `pkcs11:` URI. Path attributes may come in any order; `token` and `object` are required,
    /// `type` must be `private` when present, `id` is optional. Any other attribute, a repeated one, or a
    /// query (`?pin-value=...`: PINs come from the config only) is refused with INVALID_INPUT: a URI the
    /// plugin does not fully understand must not select a key.
    pub fn parse(text: &str) -> Result<KeyUri, PluginError> {
        // A query may carry a PIN (`?pin-value=`): error messages show the URI without it.
        let shown = text.split(['?', '#']).next().unwrap_or_default();
        let refuse = |why: &str| {
            PluginError::invalid_input(format!(
                "key URI {shown:?} is not accepted ({why}); expected pkcs11:token=<token>;object=<label>;type=private"
            ))
        };
        let path = text
            .strip_prefix("pkcs11:")
            .ok_or_else(|| refuse("wrong scheme"))?;
        if path.contains(['?', '#']) {
            return Err(refuse("queries and fragments are not supported"));
        }
        let (mut token, mut object, mut kind, mut id) = (None, None, None, None);
        for attribute in path.split(';') {
            let (name, value) = attribute
                .split_once('=')
                .ok_or_else(|| refuse("an attribute without `=`"))?;
            let value = percent_decode(value).ok_or_else(|| refuse("bad percent-encoding"))?;
            let slot = match name {
                "token" => &mut token,
                "object" => &mut object,
                "type" => &mut kind,
                "id" => &mut id,
                _ => return Err(refuse(&format!("unsupported attribute `{name}`"))),
            };
            if slot.replace(value).is_some() {
                return Err(refuse(&format!("attribute `{name}` repeated")));
            }
        }
        let text_value = |value: Vec<u8>, name: &str| {
            String::from_utf8(value).map_err(|_| refuse(&format!("`{name}` is not UTF-8")))
        };
        if let Some(kind) = kind
            && kind != b"private"
        {
            return Err(refuse("only type=private keys sign"));
        }
        let token = text_value(token.ok_or_else(|| refuse("no `token`"))?, "token")?;
        let object = text_value(object.ok_or_else(|| refuse("no `object`"))?, "object")?;
        if token.is_empty() || object.is_empty() {
            return Err(refuse("empty `token` or `object`"));
        }
        Ok(KeyUri { token, object, id })
    }
}

impl core::fmt::Display for KeyUri {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "pkcs11:token={};object={}",
            percent_encode(self.token.as_bytes()),
            percent_encode(self.object.as_bytes())
        )?;
        if let Some(id) = &self.id {
            write!(f, ";id={}", percent_encode(id))?;
        }
        f.write_str(";type=private")
    }
}

/// Encodes everything but RFC 3986 unreserved characters, which is valid in every RFC 7512 position.
fn percent_encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            text.push(char::from(byte));
        } else {
            let _ = write!(text, "%{byte:02X}");
        }
    }
    text
}

/// Decodes `%XX` escapes; `None` for a truncated or non-hex escape, or for a character RFC 7512 does not
/// allow unescaped in a path value.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
            continue;
        }
        // RFC 7512 pk11-pchar: unreserved / ":" "[" "]" "@" "!" "$" "'" "(" ")" "*" "+" "," "=" / "&".
        let allowed = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b':'
                    | b'['
                    | b']'
                    | b'@'
                    | b'!'
                    | b'$'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'='
                    | b'&'
            );
        if !allowed {
            return None;
        }
        decoded.push(byte);
        index += 1;
    }
    Some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_plugin_api::Status;

    #[test]
    fn labels() {
        let long = "a".repeat(MAX_LABEL_LEN);
        let too_long = "a".repeat(MAX_LABEL_LEN + 1);
        for (label, ok) in [
            ("seal-2026", true),
            ("A.b_c-9", true),
            (long.as_str(), true),
            ("", false),
            (too_long.as_str(), false),
            ("a b", false),
            ("a;b", false),
            ("a/b", false),
            ("é", false),
        ] {
            assert_eq!(validate_label(label).is_ok(), ok, "{label:?}");
        }
    }

    #[test]
    fn formats_and_parses() {
        let uri = KeyUri::new("sigil", "seal-2026");
        assert_eq!(
            uri.to_string(),
            "pkcs11:token=sigil;object=seal-2026;type=private"
        );
        assert_eq!(KeyUri::parse(&uri.to_string()).unwrap(), uri);

        let odd = KeyUri::new("My Token/1", "key;=%é");
        assert_eq!(
            odd.to_string(),
            "pkcs11:token=My%20Token%2F1;object=key%3B%3D%25%C3%A9;type=private"
        );
        assert_eq!(KeyUri::parse(&odd.to_string()).unwrap(), odd);

        let table: &[(&str, Option<KeyUri>)] = &[
            ("pkcs11:object=a;token=t", Some(KeyUri::new("t", "a"))),
            (
                "pkcs11:token=t;object=a;id=%01%ff;type=private",
                Some(KeyUri {
                    id: Some(vec![1, 255]),
                    ..KeyUri::new("t", "a")
                }),
            ),
            ("pkcs11:token=t;object=a%2", None),
            ("pkcs11:token=t;object=a%zz", None),
            ("pkcs11:token=t;object=a b", None),
            ("pkcs11:token=t;object=a;type=public", None),
            ("pkcs11:token=t;object=a;type=cert", None),
            ("pkcs11:token=t;object=a;serial=42", None),
            ("pkcs11:token=t;object=a;object=b", None),
            ("pkcs11:token=t;object=a?pin-value=1234", None),
            ("pkcs11:token=t;object=a#frag", None),
            ("pkcs11:token=t", None),
            ("pkcs11:object=a", None),
            ("pkcs11:token=;object=a", None),
            ("pkcs11:token=t;object=%FF", None),
            ("sigil-soft:store=t;object=a", None),
            ("PKCS11:token=t;object=a", None),
            ("", None),
        ];
        for (text, expected) in table {
            match (KeyUri::parse(text), expected) {
                (Ok(parsed), Some(expected)) => assert_eq!(&parsed, expected, "{text}"),
                (Err(error), None) => {
                    assert_eq!(error.status, Status::InvalidInput, "{text}");
                    assert!(!error.message.contains("1234"), "{}", error.message);
                }
                (got, _) => panic!("{text}: {got:?}"),
            }
        }
    }
}
