//! The plugin's configuration: the JSON object sigild passes to `create`, checked once so that a bad entry is
//! refused at load time with a message naming the field, rather than failing on the first time stamp.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use sigil_plugin_api::serde_json::{self, Value};
use sigil_plugin_api::{Base64Bytes, PluginError};

/// Default bound of one time-stamp exchange when the request carries no `timeout_ms` hint.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// Longest accepted `timeout_ms`: a TSA that needs more than ten minutes is not one to wait for.
const MAX_TIMEOUT_MS: u64 = 600_000;

/// A secret as it comes from the config: read like the value itself, shown by `Debug` as `<redacted>`, so a
/// struct holding one can derive `Debug` without leaking it.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Redacted<T>(pub T);

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The config as it arrives. Unknown keys are refused, as in `sigild.toml`, so a typo such as `timeout`
/// instead of `timeout_ms` is an error rather than a silently ignored setting. No `Debug`: it may hold the
/// inline basic auth password.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// TSA endpoint, `http://` or `https://`. Required.
    url: Option<String>,
    /// Bound of one exchange (connect, send, receive), in milliseconds, when the request has no hint.
    timeout_ms: Option<u64>,
    /// HTTP basic auth user name.
    username: Option<String>,
    /// HTTP basic auth password, inline. Prefer `password_file`.
    password: Option<Redacted<String>>,
    /// File holding the basic auth password (one trailing newline is ignored), e.g. a systemd credential.
    password_file: Option<PathBuf>,
    /// The imprint hash this TSA is best used with: `sha256` (default), `sha384` or `sha512`.
    hash: Option<String>,
    /// Short stable id for metrics and logs. Default: derived from the URL's host.
    slug: Option<String>,
    /// Display name. Default: the URL's host.
    name: Option<String>,
    /// Whether the TSA issues eIDAS qualified time stamps. Default false.
    qualified: Option<bool>,
    /// The TSA policy OID it stamps under, dotted.
    policy_oid: Option<String>,
    /// HTTP(S) proxy URL, e.g. `http://proxy.lan:3128`. Default: none; proxy environment variables are
    /// deliberately not read, so where a daemon connects to is decided by its config alone. May carry
    /// credentials, hence redacted.
    proxy: Option<Redacted<String>>,
}

/// A checked configuration.
#[derive(Clone)]
pub struct TsaHttpConfig {
    /// The endpoint, validated as an absolute http(s) URL without credentials.
    pub url: String,
    /// The host part of `url`, for messages.
    pub host: String,
    /// Whether `url` is https.
    pub https: bool,
    /// Default bound of one exchange.
    pub timeout: Duration,
    /// `Authorization` header value, when basic auth is configured. A secret: never logged or displayed.
    pub authorization: Option<String>,
    /// Preferred imprint hash name.
    pub hash: String,
    /// Short stable id.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Issues qualified time stamps.
    pub qualified: bool,
    /// TSA policy OID, dotted.
    pub policy_oid: Option<String>,
    /// Proxy URL. May carry credentials (`http://user:password@proxy:3128`): `Debug` shows it without them.
    pub proxy: Option<String>,
}

impl fmt::Debug for TsaHttpConfig {
    // Hand-written so that the Authorization value never reaches a log line through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsaHttpConfig")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("hash", &self.hash)
            .field("slug", &self.slug)
            .field("name", &self.name)
            .field("qualified", &self.qualified)
            .field("policy_oid", &self.policy_oid)
            .field("proxy", &self.proxy.as_deref().map(redact_userinfo))
            .finish()
    }
}

fn invalid(field: &str, problem: impl fmt::Display) -> PluginError {
    PluginError::invalid_input(format!("tsa-http config `{field}`: {problem}"))
}

impl TsaHttpConfig {
    /// Checks a config object and reads the password file, if any.
    pub fn from_json(config: Value) -> Result<Self, PluginError> {
        let raw: RawConfig = serde_json::from_value(config)
            .map_err(|error| PluginError::invalid_input(format!("tsa-http config: {error}")))?;

        let url = raw.url.ok_or_else(|| invalid("url", "is required"))?;
        let endpoint = Endpoint::parse(&url).map_err(|problem| invalid("url", problem))?;

        let timeout_ms = raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if timeout_ms == 0 || timeout_ms > MAX_TIMEOUT_MS {
            return Err(invalid(
                "timeout_ms",
                format!("{timeout_ms} is outside 1..={MAX_TIMEOUT_MS}"),
            ));
        }

        let hash = raw.hash.unwrap_or_else(|| "sha256".to_owned());
        if !matches!(hash.as_str(), "sha256" | "sha384" | "sha512") {
            return Err(invalid(
                "hash",
                format!("{hash:?} is not one of sha256, sha384, sha512"),
            ));
        }

        let slug = match raw.slug {
            Some(slug) => {
                check_slug(&slug).map_err(|problem| invalid("slug", problem))?;
                slug
            }
            None => slug_from_host(&endpoint.host),
        };
        let name = raw.name.unwrap_or_else(|| endpoint.host.clone());
        if name.trim().is_empty() {
            return Err(invalid("name", "must not be empty"));
        }

        if let Some(oid) = &raw.policy_oid {
            check_oid(oid).map_err(|problem| invalid("policy_oid", problem))?;
        }

        let proxy = raw.proxy.map(|proxy| proxy.0);
        if let Some(proxy) = &proxy {
            // The proxy URL may legitimately carry credentials, so it is checked but never echoed back.
            ureq::Proxy::new(proxy)
                .map_err(|error| invalid("proxy", format!("not a usable proxy URL ({error})")))?;
        }

        let password = match (raw.password, raw.password_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "password_file",
                    "give either `password` or `password_file`, not both",
                ));
            }
            (Some(password), None) => Some(password.0),
            (None, Some(path)) => Some(read_password_file(&path)?),
            (None, None) => None,
        };
        let authorization = match (raw.username, password) {
            (Some(username), Some(password)) => {
                // RFC 7617: the user-id cannot contain a colon, the first colon separates it from the password.
                if username.contains(':') || username.chars().any(char::is_control) {
                    return Err(invalid(
                        "username",
                        "must not contain `:` or control characters",
                    ));
                }
                if password.chars().any(char::is_control) {
                    return Err(invalid("password", "must not contain control characters"));
                }
                let token = Base64Bytes(format!("{username}:{password}").into_bytes());
                Some(format!("Basic {}", token.to_base64()))
            }
            (Some(_), None) => {
                return Err(invalid("username", "needs `password` or `password_file`"));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "password",
                    "needs `username` (basic auth sends both)",
                ));
            }
            (None, None) => None,
        };

        Ok(TsaHttpConfig {
            url,
            host: endpoint.host,
            https: endpoint.https,
            timeout: Duration::from_millis(timeout_ms),
            authorization,
            hash,
            slug,
            name,
            qualified: raw.qualified.unwrap_or(false),
            policy_oid: raw.policy_oid,
            proxy,
        })
    }
}

/// `scheme://user:password@host:port/...` becomes `scheme://<redacted>@host:port/...`; a URL without
/// credentials is returned as it is.
fn redact_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let prefix = scheme
        .map(|scheme| format!("{scheme}://"))
        .unwrap_or_default();
    format!("{prefix}<redacted>@{}{tail}", &authority[at + 1..])
}

/// The parts of the endpoint URL the plugin cares about.
struct Endpoint {
    host: String,
    https: bool,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Endpoint, String> {
        let uri: ureq::http::Uri = url
            .parse()
            .map_err(|error| format!("{url:?} is not a URL ({error})"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            Some(other) => return Err(format!("scheme {other:?} is not http or https")),
            None => return Err(format!("{url:?} is not an absolute http(s) URL")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url:?} has no host"))?;
        // Credentials in the URL would end up in logs and metrics labels; they belong in username/password.
        if authority.as_str().contains('@') {
            return Err("must not contain credentials; use `username` and `password_file`".into());
        }
        let host = authority.host().to_ascii_lowercase();
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        Ok(Endpoint { host, https })
    }
}

/// Slugs are API values (`tsaSlug`, e.g. `rfc3161.ai.moda`) and metric labels: 1 to 64 bytes of
/// `[a-z0-9._-]` keeps them safe in both.
fn check_slug(slug: &str) -> Result<(), String> {
    let valid_bytes = slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'));
    if slug.is_empty() || slug.len() > 64 || !valid_bytes {
        return Err(format!("{slug:?} must be 1 to 64 bytes of [a-z0-9._-]"));
    }
    Ok(())
}

/// The host name is a stable default (`timestamp.digicert.com`); an IPv6 literal's colons become `-`.
fn slug_from_host(host: &str) -> String {
    let slug: String = host
        .trim_matches(['[', ']'])
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '-',
        })
        .take(64)
        .collect();
    if slug.is_empty() {
        "tsa-http".to_owned()
    } else {
        slug
    }
}

/// A dotted OID: at least two arcs of decimal digits, the first 0, 1 or 2.
fn check_oid(oid: &str) -> Result<(), String> {
    let arcs: Vec<&str> = oid.split('.').collect();
    let digits_only = arcs
        .iter()
        .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
    if arcs.len() < 2 || !digits_only || !matches!(arcs[0], "0" | "1" | "2") {
        return Err(format!("{oid:?} is not a dotted OID such as 1.2.3.4"));
    }
    Ok(())
}

/// Reads a password file. The path appears in errors, the contents never.
fn read_password_file(path: &std::path::Path) -> Result<String, PluginError> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        invalid(
            "password_file",
            format!("cannot read {}: {error}", path.display()),
        )
    })?;
    // `echo secret > file` and systemd-creds leave one trailing newline that is not part of the secret.
    let text = text
        .strip_suffix('\n')
        .map(|rest| rest.strip_suffix('\r').unwrap_or(rest))
        .unwrap_or(&text);
    if text.is_empty() {
        return Err(invalid(
            "password_file",
            format!("{} is empty", path.display()),
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_plugin_api::Status;
    use sigil_plugin_api::serde_json::json;

    /// Each malformed config and the field its error must name.
    #[test]
    fn malformed_configs_are_refused_naming_the_field() {
        let cases = [
            (json!({}), "`url`"),
            (json!({"url": "ftp://tsa.example"}), "`url`"),
            (json!({"url": "tsa.example/path"}), "`url`"),
            (json!({"url": "http://user:pw@tsa.example"}), "`url`"),
            (json!({"url": "not a url"}), "`url`"),
            (
                json!({"url": "http://tsa.example", "timeout_ms": 0}),
                "`timeout_ms`",
            ),
            (
                json!({"url": "http://tsa.example", "timeout_ms": 600_001}),
                "`timeout_ms`",
            ),
            (
                json!({"url": "http://tsa.example", "hash": "md5"}),
                "`hash`",
            ),
            (
                json!({"url": "http://tsa.example", "slug": "Upper"}),
                "`slug`",
            ),
            (json!({"url": "http://tsa.example", "slug": ""}), "`slug`"),
            (json!({"url": "http://tsa.example", "name": " "}), "`name`"),
            (
                json!({"url": "http://tsa.example", "policy_oid": "1.2.x"}),
                "`policy_oid`",
            ),
            (
                json!({"url": "http://tsa.example", "policy_oid": "7.1"}),
                "`policy_oid`",
            ),
            (
                json!({"url": "http://tsa.example", "username": "u"}),
                "`username`",
            ),
            (
                json!({"url": "http://tsa.example", "password": "p"}),
                "`password`",
            ),
            (
                json!({"url": "http://tsa.example", "username": "a:b", "password": "p"}),
                "`username`",
            ),
            (
                json!({"url": "http://tsa.example", "username": "u", "password": "p", "password_file": "/x"}),
                "`password_file`",
            ),
            (
                json!({"url": "http://tsa.example", "username": "u", "password_file": "/nonexistent/pw"}),
                "`password_file`",
            ),
            (
                json!({"url": "http://tsa.example", "timeout": 5}),
                "unknown field `timeout`",
            ),
            (json!({"url": 7}), "invalid type"),
        ];
        for (config, expected) in cases {
            let error = TsaHttpConfig::from_json(config.clone()).unwrap_err();
            assert_eq!(error.status, Status::InvalidInput, "{config}");
            assert!(
                error.message.contains(expected),
                "{config}: {:?} should mention {expected}",
                error.message
            );
        }
    }

    #[test]
    fn defaults_and_derived_values() {
        let config =
            TsaHttpConfig::from_json(json!({"url": "http://Timestamp.DigiCert.com"})).unwrap();
        assert_eq!(config.slug, "timestamp.digicert.com");
        assert_eq!(config.name, "timestamp.digicert.com");
        assert_eq!(config.hash, "sha256");
        assert_eq!(config.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
        assert!(!config.qualified && !config.https);
        assert!(config.authorization.is_none() && config.policy_oid.is_none());
        let other = TsaHttpConfig::from_json(json!({"url": "http://[::1]:8080/"})).unwrap();
        assert_eq!(other.slug, "--1");
        let other = TsaHttpConfig::from_json(
            json!({"url": "https://rfc3161.ai.moda", "slug": "rfc3161.ai.moda"}),
        )
        .unwrap();
        assert_eq!(other.slug, "rfc3161.ai.moda");
    }

    #[test]
    fn basic_auth_is_encoded_and_redacted() {
        let config = TsaHttpConfig::from_json(
            json!({"url": "https://tsa.example", "username": "Aladdin", "password": "open sesame"}),
        )
        .unwrap();
        // The RFC 7617 example.
        assert_eq!(
            config.authorization.as_deref(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("QWxh") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    /// No secret reaches `{:?}`: not the password, not the Authorization value, not proxy credentials. (The
    /// raw config has no `Debug` at all.)
    #[test]
    fn debug_output_holds_no_secret() {
        let config = json!({
            "url": "https://tsa.example",
            "username": "Aladdin",
            "password": "open sesame",
            "proxy": "http://proxyuser:proxy-pass-77@proxy.lan:3128",
        });
        let checked = TsaHttpConfig::from_json(config).unwrap();
        for shown in [format!("{checked:?}"), format!("{checked:#?}")] {
            for secret in [
                "open sesame",
                "QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
                "proxy-pass-77",
                "proxyuser",
            ] {
                assert!(!shown.contains(secret), "{secret:?} in {shown}");
            }
            assert!(shown.contains("<redacted>"), "{shown}");
        }
        assert!(format!("{checked:?}").contains("proxy.lan:3128"));
    }

    #[test]
    fn userinfo_is_redacted_from_urls() {
        for (url, shown) in [
            (
                "http://u:p@proxy.lan:3128",
                "http://<redacted>@proxy.lan:3128",
            ),
            (
                "http://u:p@proxy.lan:3128/x?y",
                "http://<redacted>@proxy.lan:3128/x?y",
            ),
            ("socks5://u@p@proxy:1080", "socks5://<redacted>@proxy:1080"),
            ("http://proxy.lan:3128", "http://proxy.lan:3128"),
            ("http://proxy.lan/a@b", "http://proxy.lan/a@b"),
            ("u:p@proxy.lan:3128", "<redacted>@proxy.lan:3128"),
        ] {
            assert_eq!(redact_userinfo(url), shown, "{url}");
        }
    }

    #[test]
    fn password_file_drops_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "open sesame\r\n").unwrap();
        let config = TsaHttpConfig::from_json(
            json!({"url": "http://tsa.example", "username": "Aladdin", "password_file": path}),
        )
        .unwrap();
        assert_eq!(
            config.authorization.as_deref(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
        std::fs::write(&path, "\n").unwrap();
        let error = TsaHttpConfig::from_json(
            json!({"url": "http://tsa.example", "username": "Aladdin", "password_file": path}),
        )
        .unwrap_err();
        assert!(error.message.contains("is empty"), "{error}");
    }
}
