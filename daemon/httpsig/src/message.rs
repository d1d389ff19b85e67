//! The framework-free view of an HTTP request that the verifiers read: method, target URI, header fields
//! and body bytes, with RFC 9421 §2.1 field lookup (case-insensitive names, repeated fields combined).

/// An HTTP request as the server received it, borrowed from whatever framework parsed it.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The request method as received, for example `"POST"`.
    pub method: &'a str,
    /// The absolute target URI the server reconstructs (`scheme://authority/path?query`), without fragment.
    pub target_uri: &'a str,
    /// Header fields in received order; names in any case.
    pub headers: &'a [(&'a str, &'a str)],
    /// The exact body bytes; `None` or an empty slice both mean "no body".
    pub body: Option<&'a [u8]>,
}

impl<'a> Message<'a> {
    /// The value of the header field `name` (case-insensitive) per RFC 9421 §2.1: each field line's value
    /// with leading and trailing whitespace removed, all lines of that name joined by `", "`. `None` when
    /// the field is absent.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut out: Option<String> = None;
        for (n, v) in self.headers {
            if n.eq_ignore_ascii_case(name) {
                let v = v.trim_matches(|c| c == ' ' || c == '\t');
                match &mut out {
                    Some(s) => {
                        s.push_str(", ");
                        s.push_str(v);
                    }
                    None => out = Some(v.to_owned()),
                }
            }
        }
        out
    }

    /// The body bytes, or an empty slice when there is none.
    pub fn body_bytes(&self) -> &'a [u8] {
        self.body.unwrap_or(&[])
    }
}

/// The parts of an absolute URI that the derived components of RFC 9421 §2.2 need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UriParts<'a> {
    pub scheme: &'a str,
    /// Host and port as written, without user information.
    pub authority: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
}

/// Splits an absolute URI (`scheme://authority/path?query#fragment`); the fragment is dropped.
pub(crate) fn split_uri(uri: &str) -> Option<UriParts<'_>> {
    let uri = uri.split('#').next().unwrap_or(uri);
    let (scheme, rest) = uri.split_once("://")?;
    if scheme.is_empty()
        || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if authority.is_empty() {
        return None;
    }
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    Some(UriParts {
        scheme,
        authority,
        path,
        query,
    })
}

/// `uri` without its fragment.
pub(crate) fn strip_fragment(uri: &str) -> &str {
    uri.split('#').next().unwrap_or(uri)
}
