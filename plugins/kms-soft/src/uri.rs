//! Key URIs of the software keystore, `sigil-soft:store=<store>;object=<label>`, and the naming rule that labels
//! and store names share with the key file names.

use core::fmt;

use sigil_plugin_api::PluginError;

/// The URI scheme. Like RFC 7512's `pkcs11:`, the path is a `;`-separated list of `attribute=value` pairs.
pub const SCHEME: &str = "sigil-soft";

/// Longest label or store name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a key label or store name: 1 to 64 bytes of `[A-Za-z0-9._-]`.
///
/// The set is that narrow because a label is also a file name stem (no `/`, no NUL, nothing a shell or a path
/// join could misread) and every allowed byte is an RFC 3986 "unreserved" character, so URIs never need
/// percent-encoding. A name made only of dots is refused so that no label ever reads as `.` or `..`.
pub fn validate_name(what: &str, name: &str) -> Result<(), PluginError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(PluginError::invalid_input(format!(
            "{what} must be 1 to {MAX_NAME_LEN} bytes, got {}",
            name.len()
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(PluginError::invalid_input(format!(
            "{what} {name:?} contains {bad:?}; only [A-Za-z0-9._-] is allowed"
        )));
    }
    if name.bytes().all(|byte| byte == b'.') {
        return Err(PluginError::invalid_input(format!(
            "{what} {name:?} is only dots"
        )));
    }
    Ok(())
}

/// A parsed key URI: which store, which key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyUri {
    /// The store's name (`store_name` in the config, recorded in `store.json`).
    pub store: String,
    /// The key's label, also its file name stem.
    pub label: String,
}

impl KeyUri {
    /// A URI from a store name and a label, both validated.
    pub fn new(store: &str, label: &str) -> Result<KeyUri, PluginError> {
        validate_name("store name", store)?;
        validate_name("key label", label)?;
        Ok(KeyUri {
            store: store.to_owned(),
            label: label.to_owned(),
        })
    }

    /// Parses `sigil-soft:store=<store>;object=<label>`. The two attributes may come in either order (as in
    /// RFC 7512); anything else (another scheme, an unknown or repeated attribute, a query or fragment, a
    /// value outside the name rule) is refused with INVALID_INPUT, because a URI that almost matches must
    /// never select a key.
    pub fn parse(text: &str) -> Result<KeyUri, PluginError> {
        // Whatever follows `?` or `#` is not echoed: a pasted URI could carry a secret there.
        let shown = text.split(['?', '#']).next().unwrap_or_default();
        let refuse = |why: &str| {
            PluginError::invalid_input(format!(
                "key URI {shown:?} is not a {SCHEME}: URI ({why}); expected {SCHEME}:store=<store>;object=<label>"
            ))
        };
        let path = text
            .strip_prefix(SCHEME)
            .and_then(|rest| rest.strip_prefix(':'))
            .ok_or_else(|| refuse("wrong scheme"))?;
        let mut store = None;
        let mut label = None;
        for attribute in path.split(';') {
            let (name, value) = attribute
                .split_once('=')
                .ok_or_else(|| refuse("an attribute without `=`"))?;
            let slot = match name {
                "store" => &mut store,
                "object" => &mut label,
                _ => return Err(refuse(&format!("unknown attribute `{name}`"))),
            };
            if slot.replace(value).is_some() {
                return Err(refuse(&format!("attribute `{name}` repeated")));
            }
        }
        let store = store.ok_or_else(|| refuse("no `store` attribute"))?;
        let label = label.ok_or_else(|| refuse("no `object` attribute"))?;
        KeyUri::new(store, label).map_err(|error| refuse(&error.message))
    }
}

impl fmt::Display for KeyUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}:store={};object={}", self.store, self.label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_plugin_api::Status;

    #[test]
    fn names() {
        let long = "a".repeat(MAX_NAME_LEN);
        let too_long = "a".repeat(MAX_NAME_LEN + 1);
        let table: &[(&str, bool)] = &[
            ("seal-2026", true),
            ("A.b_c-9", true),
            (&long, true),
            ("", false),
            (&too_long, false),
            ("a/b", false),
            ("../x", false),
            (".", false),
            ("..", false),
            ("a b", false),
            ("a;b", false),
            ("a=b", false),
            ("a%41", false),
            ("é", false),
            ("a\0", false),
        ];
        for (name, ok) in table {
            assert_eq!(validate_name("label", name).is_ok(), *ok, "{name:?}");
        }
    }

    #[test]
    fn uris() {
        let uri = KeyUri::new("main", "seal-2026").unwrap();
        assert_eq!(uri.to_string(), "sigil-soft:store=main;object=seal-2026");
        assert_eq!(KeyUri::parse(&uri.to_string()).unwrap(), uri);
        assert_eq!(
            KeyUri::parse("sigil-soft:object=seal-2026;store=main").unwrap(),
            uri
        );
        for bad in [
            "",
            "sigil-soft:",
            "pkcs11:store=main;object=a",
            "file:/etc/passwd",
            "sigil-soft:store=main",
            "sigil-soft:object=a",
            "sigil-soft:store=main;object=a;object=b",
            "sigil-soft:store=main;object=a;type=private",
            "sigil-soft:store=main;object=../a",
            "sigil-soft:store=main;object=a?pin-value=1",
            "sigil-soft:store=main;object",
            "sigil-soft:store=main;;object=a",
            "SIGIL-SOFT:store=main;object=a",
        ] {
            let error = KeyUri::parse(bad).unwrap_err();
            assert_eq!(error.status, Status::InvalidInput, "{bad:?}");
        }
    }
}
