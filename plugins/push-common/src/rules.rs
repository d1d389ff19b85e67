//! Recipient rules shared by the push channels: parsing the `allow_private_networks` and `allowed_hosts`
//! settings, and the parts of an `http(s)://` URL that these rules look at ([`Target`]).
//!
//! Errors are returned as the problem alone (a `String`): each plugin prefixes it with its own name and the
//! config field, so the messages read as they did before the code was shared.

use std::time::Duration;

use sigil_netpolicy::{self as address_policy, AddressPolicy, Cidr};

/// How a refusal by the address policy ends: what the operator can do about it.
pub const ALLOW_HINT: &str =
    "deliveries to non-public addresses need their network in `allow_private_networks`";

/// Default bound of one delivery when the request carries no `timeout_ms` hint.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Longest accepted `timeout_ms`.
pub const MAX_TIMEOUT_MS: u64 = 600_000;

/// Checks `timeout_ms` (unset: [`DEFAULT_TIMEOUT_MS`]; accepted: 1 to [`MAX_TIMEOUT_MS`]).
pub fn timeout(timeout_ms: Option<u64>) -> Result<Duration, String> {
    let timeout_ms = timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if timeout_ms == 0 || timeout_ms > MAX_TIMEOUT_MS {
        return Err(format!("{timeout_ms} is outside 1..={MAX_TIMEOUT_MS}"));
    }
    Ok(Duration::from_millis(timeout_ms))
}

/// The checks every recipient string passes before its form is looked at: not empty, at most `max_bytes`,
/// no control characters.
pub fn check_recipient(recipient: &str, max_bytes: usize) -> Result<(), String> {
    if recipient.is_empty() {
        return Err("the recipient is empty".to_owned());
    }
    if recipient.len() > max_bytes {
        return Err(format!("the recipient is longer than {max_bytes} bytes"));
    }
    if recipient.chars().any(char::is_control) {
        return Err("the recipient contains control characters".to_owned());
    }
    Ok(())
}

/// Parses `allow_private_networks` (CIDRs, surrounding spaces ignored; unset means none) into the address
/// policy deliveries are held to. The error is the first entry's problem.
pub fn address_policy(networks: Option<Vec<String>>) -> Result<AddressPolicy, String> {
    let allowed = networks
        .unwrap_or_default()
        .iter()
        .map(|entry| entry.trim().parse::<Cidr>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|problem| problem.to_string())?;
    Ok(AddressPolicy::with_allowed(allowed))
}

/// Parses `allowed_hosts`: each entry `host`, `host:port` or `*.domain`, lowercased. Unset stays `None` (any
/// host). The error names the first entry that is none of these.
pub fn allowed_hosts(hosts: Option<Vec<String>>) -> Result<Option<Vec<String>>, String> {
    hosts
        .map(|hosts| {
            hosts
                .into_iter()
                .map(|host| {
                    let pattern = host.trim().to_ascii_lowercase();
                    let bare = pattern.strip_prefix("*.").unwrap_or(&pattern);
                    let valid = !bare.is_empty()
                        && !bare.contains(['/', '@', '*', '?', '#'])
                        && !bare.chars().any(|c| c.is_whitespace() || c.is_control());
                    if valid {
                        Ok(pattern)
                    } else {
                        Err(format!("{host:?} is not `host`, `host:port` or `*.domain`"))
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
}

/// Why a string is not an `http(s)://` URL the rules can look at, in the order [`Target::try_parse`] checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// It does not parse as a URI; the parser's complaint.
    NotAUrl(String),
    /// Its scheme is not `http` or `https`: the scheme, or `None` for a relative reference.
    Scheme(Option<String>),
    /// It has no authority (`scheme://host`).
    NoAuthority,
    /// Its authority carries credentials (`user:pass@`), which would be stored with the device and logged.
    Credentials,
    /// Its authority has an empty host.
    EmptyHost,
}

impl UrlError {
    /// The message push-webhook and push-ntfy give for `url`.
    pub fn message(&self, url: &str) -> String {
        match self {
            UrlError::NotAUrl(error) => format!("{url:?} is not a URL ({error})"),
            UrlError::Scheme(Some(other)) => format!("scheme {other:?} is not http or https"),
            UrlError::Scheme(None) => format!("{url:?} is not an absolute http(s) URL"),
            UrlError::NoAuthority | UrlError::EmptyHost => format!("{url:?} has no host"),
            UrlError::Credentials => "the URL must not contain credentials".to_owned(),
        }
    }
}

/// The parts of an `http(s)://` URL that the rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `"http"` or `"https"`, lowercased.
    pub scheme: &'static str,
    /// The host, lowercased; an IPv6 address keeps its brackets.
    pub host: String,
    /// The port, the scheme's default when none is written.
    pub port: u16,
    /// Whether `port` is the scheme's default (written or not).
    pub default_port: bool,
    /// The path without a trailing `/`, `""` for none.
    pub path: String,
    /// Whether the URL has a query or a fragment.
    pub has_query: bool,
}

impl Target {
    /// Parses `url`, with push-webhook's and push-ntfy's messages ([`UrlError::message`]).
    pub fn parse(url: &str) -> Result<Target, String> {
        Target::try_parse(url).map_err(|error| error.message(url))
    }

    /// Parses `url`, saying why it is refused as a [`UrlError`] so that a caller can word it its own way.
    pub fn try_parse(url: &str) -> Result<Target, UrlError> {
        let uri: ureq::http::Uri = url
            .parse()
            .map_err(|error: ureq::http::uri::InvalidUri| UrlError::NotAUrl(error.to_string()))?;
        let (scheme, default_port) = match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => ("https", 443),
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => ("http", 80),
            other => return Err(UrlError::Scheme(other.map(str::to_owned))),
        };
        let authority = uri.authority().ok_or(UrlError::NoAuthority)?;
        if authority.as_str().contains('@') {
            return Err(UrlError::Credentials);
        }
        let host = authority.host().to_ascii_lowercase();
        if host.is_empty() {
            return Err(UrlError::EmptyHost);
        }
        let port = authority.port_u16().unwrap_or(default_port);
        Ok(Target {
            scheme,
            host,
            port,
            default_port: port == default_port,
            path: uri.path().trim_end_matches('/').to_owned(),
            has_query: uri.query().is_some() || url.contains('#'),
        })
    }

    /// Whether both name the same scheme, host and port.
    pub fn same_origin(&self, other: &Target) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }

    /// `scheme://host`, with `:port` only when it is not the scheme's default.
    pub fn origin(&self) -> String {
        if self.default_port {
            format!("{}://{}", self.scheme, self.host)
        } else {
            format!("{}://{}:{}", self.scheme, self.host, self.port)
        }
    }

    /// `host:port`, as `allowed_hosts` refusals name it.
    pub fn host_port(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// A host written as an address (`127.0.0.1`, `[::1]`, or a form only the C resolver reads, such as
    /// `2130706433`) is checked here, before anything is sent; names are checked once resolved, by
    /// `sigil_netpolicy::guard`. The error ends with [`ALLOW_HINT`].
    pub fn check_address(&self, policy: &AddressPolicy) -> Result<(), String> {
        match address_policy::host_address(&self.host) {
            Some(ip) => policy
                .check(ip)
                .map_err(|refused| format!("{refused}; {ALLOW_HINT}")),
            None => Ok(()),
        }
    }

    /// Whether the host is written as an address inside one of the operator's `allow_private_networks`: the
    /// only case where the channels accept cleartext `http://` from a device.
    pub fn in_allowed_network(&self, policy: &AddressPolicy) -> bool {
        address_policy::host_address(&self.host)
            .is_some_and(|ip| policy.allowed().iter().any(|cidr| cidr.contains(ip)))
    }

    /// `example.com` matches the host on any port, `example.com:8443` only that port, `*.example.com` any
    /// subdomain (not `example.com` itself) on any port. Patterns are lowercased ([`allowed_hosts`]).
    pub fn matches(&self, pattern: &str) -> bool {
        if let Some(domain) = pattern.strip_prefix("*.") {
            return self
                .host
                .strip_suffix(domain)
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'));
        }
        pattern == self.host || pattern == self.host_port()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns() {
        let target = Target::parse("https://a.push.example:8443/x").unwrap();
        assert!(target.matches("a.push.example"));
        assert!(target.matches("a.push.example:8443"));
        assert!(target.matches("*.push.example"));
        assert!(!target.matches("*.a.push.example"));
        assert!(!target.matches("a.push.example:443"));
        assert_eq!(target.origin(), "https://a.push.example:8443");
        assert_eq!(
            allowed_hosts(Some(vec![" Devices.example ".into()])),
            Ok(Some(vec!["devices.example".to_owned()]))
        );
        assert!(allowed_hosts(Some(vec!["*.".into()])).is_err());
    }

    #[test]
    fn url_errors() {
        assert_eq!(
            Target::try_parse("ftp://x"),
            Err(UrlError::Scheme(Some("ftp".into())))
        );
        assert_eq!(Target::try_parse("/x"), Err(UrlError::Scheme(None)));
        assert_eq!(
            Target::try_parse("https://u:p@x/"),
            Err(UrlError::Credentials)
        );
        assert!(Target::parse("http://").unwrap_err().contains("not a URL"));
    }
}
