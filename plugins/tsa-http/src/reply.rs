//! A shape check of a TSA's answer: is it plausibly a DER `TimeStampResp`? It tells a TSA answer from an HTML
//! error page or a proxy's login form served with status 200, so such failures count as `parse` failures of
//! the provider. It is deliberately no verifier: sigild decodes and verifies the token itself.
//!
//! ```text
//! TimeStampResp ::= SEQUENCE {
//!     status          PKIStatusInfo,
//!     timeStampToken  TimeStampToken OPTIONAL }
//! PKIStatusInfo ::= SEQUENCE {
//!     status        PKIStatus,            -- INTEGER
//!     statusString  PKIFreeText OPTIONAL,
//!     failInfo      PKIFailureInfo OPTIONAL }
//! ```

/// One decoded tag-length header.
struct Header {
    tag: u8,
    /// Bytes the header itself takes.
    header_len: usize,
    /// Bytes of content that follow it.
    content_len: usize,
}

const TAG_SEQUENCE: u8 = 0x30;
const TAG_INTEGER: u8 = 0x02;

/// Reads the tag and definite length at the start of `bytes`, and checks the content fits in `bytes`.
///
/// Long-form lengths that are not minimal are tolerated (strict DER forbids them, and the token inside is
/// checked properly by sigild); the indefinite form is not, because DER never uses it at this level.
fn read_header(bytes: &[u8]) -> Result<Header, String> {
    let (&tag, rest) = bytes.split_first().ok_or("it is empty")?;
    if tag & 0x1f == 0x1f {
        return Err(format!("tag {tag:#04x} uses the multi-byte form"));
    }
    let (&first, rest) = rest.split_first().ok_or("it ends inside a length")?;
    let (content_len, length_bytes) = match first {
        0x00..=0x7f => (usize::from(first), 0),
        0x80 => return Err("it uses an indefinite length".to_owned()),
        _ => {
            let count = usize::from(first & 0x7f);
            // Four bytes already allow 4 GiB, far beyond the response size limit.
            if count > 4 {
                return Err(format!("a {count}-byte length is implausible"));
            }
            let length = rest.get(..count).ok_or("it ends inside a length")?;
            let value = length
                .iter()
                .fold(0usize, |value, &byte| (value << 8) | usize::from(byte));
            (value, count)
        }
    };
    let header_len = 2 + length_bytes;
    if bytes.len() - header_len < content_len {
        return Err(format!(
            "an element declares {content_len} bytes but only {} follow",
            bytes.len() - header_len
        ));
    }
    Ok(Header {
        tag,
        header_len,
        content_len,
    })
}

/// Checks that `body` is one DER SEQUENCE, nothing after it, whose first element is a SEQUENCE
/// (PKIStatusInfo) starting with an INTEGER (PKIStatus). The error says what is wrong, for the operator.
pub fn check_timestamp_resp_shape(body: &[u8]) -> Result<(), String> {
    check_shape(body).map_err(|problem| format!("{problem}{}", text_hint(body)))
}

fn check_shape(body: &[u8]) -> Result<(), String> {
    let outer = read_header(body)?;
    if outer.tag != TAG_SEQUENCE {
        return Err(format!(
            "it starts with tag {:#04x}, not a SEQUENCE",
            outer.tag
        ));
    }
    let outer_end = outer.header_len + outer.content_len;
    if outer_end != body.len() {
        return Err(format!(
            "{} bytes follow the TimeStampResp SEQUENCE",
            body.len() - outer_end
        ));
    }
    let content = &body[outer.header_len..outer_end];
    let status_info =
        read_header(content).map_err(|problem| format!("PKIStatusInfo: {problem}"))?;
    if status_info.tag != TAG_SEQUENCE {
        return Err(format!(
            "its first element has tag {:#04x}, not a PKIStatusInfo SEQUENCE",
            status_info.tag
        ));
    }
    let status_content =
        &content[status_info.header_len..status_info.header_len + status_info.content_len];
    let status = read_header(status_content).map_err(|problem| format!("PKIStatus: {problem}"))?;
    if status.tag != TAG_INTEGER || status.content_len == 0 {
        return Err(format!(
            "PKIStatusInfo starts with tag {:#04x} (length {}), not a PKIStatus INTEGER",
            status.tag, status.content_len
        ));
    }
    Ok(())
}

/// When an answer that should be DER starts like text (an HTML page, a JSON error), says so.
fn text_hint(body: &[u8]) -> &'static str {
    let start = &body[..body.len().min(64)];
    if !start.is_empty()
        && start
            .iter()
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        " (the answer looks like text)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs and whether they pass, with a fragment of the expected complaint.
    #[test]
    fn shapes() {
        let granted_no_token: &[u8] = &[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00];
        let rejection_with_text: &[u8] = &[
            0x30, 0x0b, 0x30, 0x09, 0x02, 0x01, 0x02, 0x30, 0x04, 0x0c, 0x02, b'n', b'o',
        ];
        let mut long_form = vec![0x30, 0x82, 0x01, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00];
        long_form.extend(std::iter::repeat_n(0x05, 0x100)); // stands in for the token
        let cases: &[(&[u8], Option<&str>)] = &[
            (granted_no_token, None),
            (rejection_with_text, None),
            (&long_form, None),
            (b"", Some("empty")),
            (
                b"<html><body>Service Unavailable</body></html>",
                Some("looks like text"),
            ),
            (&[0x30], Some("inside a length")),
            (&[0x30, 0x80, 0x00, 0x00], Some("indefinite")),
            (&[0x30, 0x85, 1, 0, 0, 0, 0], Some("implausible")),
            (
                &[0x30, 0x06, 0x30, 0x03, 0x02, 0x01],
                Some("declares 6 bytes"),
            ),
            (
                &[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00, 0xff],
                Some("1 bytes follow"),
            ),
            (&[0x30, 0x03, 0x02, 0x01, 0x00], Some("not a PKIStatusInfo")),
            (
                &[0x30, 0x05, 0x30, 0x03, 0x04, 0x01, 0x00],
                Some("not a PKIStatus INTEGER"),
            ),
            (
                &[0x30, 0x04, 0x30, 0x02, 0x02, 0x00],
                Some("not a PKIStatus INTEGER"),
            ),
            (&[0x30, 0x00], Some("PKIStatusInfo: it is empty")),
            (
                &[0x30, 0x04, 0x30, 0x02, 0x02, 0x05],
                Some("declares 5 bytes"),
            ),
            (&[0x3f, 0x00], Some("multi-byte")),
        ];
        for (input, expected) in cases {
            let outcome = check_timestamp_resp_shape(input);
            match expected {
                None => assert!(outcome.is_ok(), "{input:02x?}: {outcome:?}"),
                Some(fragment) => {
                    let problem = outcome.expect_err("must be refused");
                    assert!(
                        problem.contains(fragment),
                        "{input:02x?}: {problem:?} should mention {fragment:?}"
                    );
                }
            }
        }
    }
}
