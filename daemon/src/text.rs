//! Checks for human-readable text fields (names, labels) and email addresses: no control characters, no
//! bidirectional or invisible formatting characters, and emails compared in one normal form.

use unicode_normalization::UnicodeNormalization;

use crate::error::ApiError;

/// Whether `c` is a control character (Cc), a line or paragraph separator, or a format character (Cf: bidi
/// controls, zero-width characters, the BOM, ...), or another character that renders as nothing.
pub fn is_forbidden(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

/// Format (Cf) characters and other invisible ones, by code point. The Cf list follows Unicode 15.1.
fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180E | 0x3164 | 0xFEFF | 0xFFA0
        | 0x0600..=0x0605 | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F | 0xFFF9..=0xFFFB
        | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0001 | 0xE0020..=0xE007F)
}

/// A human-readable field: trimmed, 1..=`max` characters, and free of control and invisible characters.
/// Errors name the field (400 `INVALID_REQUEST`).
pub fn checked_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(ApiError::invalid_field(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    refuse_forbidden(field, value)?;
    Ok(value.to_string())
}

/// Refuses control and invisible characters, naming the first one found.
pub fn refuse_forbidden(field: &str, value: &str) -> Result<(), ApiError> {
    match value.chars().find(|c| is_forbidden(*c)) {
        Some(c) => Err(ApiError::invalid_field(
            field,
            format!(
                "must not contain control or invisible formatting characters (found U+{:04X})",
                c as u32
            ),
        )),
        None => Ok(()),
    }
}

/// Longest accepted email address (RFC 5321 path limit).
pub const MAX_EMAIL: usize = 254;

/// The one form an email is stored and compared in: trimmed, NFKC (so full-width and other compatibility
/// look-alikes become their plain form), then lower case. Refuses invisible characters, whitespace, and
/// domains that are IP literals (`[1.2.3.4]`, `1.2.3.4`).
pub fn normalize_email(email: &str) -> Result<String, ApiError> {
    let invalid = |reason: &str| ApiError::invalid_field("email", reason.to_string());
    let email: String = email.trim().nfkc().collect::<String>().to_lowercase();
    if email.chars().any(is_forbidden) {
        return Err(invalid(
            "must not contain control or invisible formatting characters",
        ));
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(invalid("must be a valid email address"));
    };
    let valid = email.len() <= MAX_EMAIL
        && !email.chars().any(char::is_whitespace)
        && !local.is_empty()
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    if !valid {
        return Err(invalid("must be a valid email address"));
    }
    let ip_literal = domain.starts_with('[')
        || domain.parse::<std::net::IpAddr>().is_ok()
        || domain
            .split('.')
            .all(|label| label.bytes().all(|b| b.is_ascii_digit()));
    if ip_literal {
        return Err(invalid("must have a domain name, not an IP address"));
    }
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_control_and_invisible_characters() {
        assert_eq!(
            checked_text("name", "  Acme GmbH ", 200).unwrap(),
            "Acme GmbH"
        );
        assert_eq!(checked_text("name", "Zoë 東京", 200).unwrap(), "Zoë 東京");
        for bad in [
            "a\u{0}b",
            "a\u{1b}[31mb",
            "a\rb",
            "a\nb",
            "a\u{7f}b",
            "a\u{85}b",
            "a\u{200b}b",
            "a\u{200d}b",
            "a\u{200e}b",
            "a\u{200f}b",
            "a\u{202a}b",
            "a\u{202e}b",
            "a\u{2066}b",
            "a\u{2069}b",
            "a\u{feff}b",
            "a\u{2028}b",
            "a\u{ad}b",
            "a\u{e0041}b",
        ] {
            let error = checked_text("name", bad, 200).unwrap_err();
            assert_eq!(error.details["field"], "name", "{bad:?}");
        }
        assert!(checked_text("name", "", 200).is_err());
        assert!(checked_text("name", &"x".repeat(201), 200).is_err());
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ann@Example.ORG ").unwrap(),
            "ann@example.org"
        );
        // Full-width look-alikes collide with their ASCII form.
        assert_eq!(
            normalize_email("ＡＮＮ@ｅｘａｍｐｌｅ．ｏｒｇ").unwrap(),
            "ann@example.org"
        );
        for bad in [
            "",
            "ann",
            "@example.org",
            "ann@",
            "ann@example",
            "ann@.org",
            "ann@example..org",
            "a b@example.org",
            "a@b@c.org",
            "ann\u{200b}@example.org",
            "ann@exa\u{202e}mple.org",
            "ann\u{0}@example.org",
            "ann@[127.0.0.1]",
            "ann@127.0.0.1",
            "ann@[::1]",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }
}
