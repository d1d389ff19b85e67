//! The channel's configuration and its recipient rules: which addresses it delivers to. Per-device URLs come
//! from devices, not from the operator, so they are checked here against `allowed_hosts` before any request
//! goes out (a webhook channel that posts anywhere it is told is a server-side request forgery tool).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sigil_plugin_api::PluginError;
use sigil_plugin_api::serde_json::{self, Value};

/// Default bound of one delivery when the request carries no `timeout_ms` hint.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Longest accepted `timeout_ms`.
const MAX_TIMEOUT_MS: u64 = 600_000;
/// Shortest accepted secret. HMAC-SHA256 takes any key length, but a short shared secret can be guessed
/// offline from one captured delivery.
pub const MIN_SECRET_BYTES: usize = 16;
/// Longest accepted opaque device id or recipient URL.
const MAX_RECIPIENT_BYTES: usize = 2048;

/// The config as it arrives. Unknown keys are refused so that a typo is an error, not a silent default.
/// No `Debug`: it may hold the inline HMAC secret.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// Where deliveries to opaque device ids go (http or https). Optional: without it only recipients that
    /// are URLs are deliverable.
    url: Option<String>,
    /// The HMAC-SHA256 key, inline. Prefer `secret_file`.
    secret: Option<String>,
    /// File holding the HMAC key (one trailing newline is ignored), e.g. a systemd credential.
    secret_file: Option<PathBuf>,
    /// Bound of one delivery (connect, send, receive the status), in milliseconds, when the request has no
    /// hint.
    timeout_ms: Option<u64>,
    /// Hosts that per-device recipient URLs may point to: `host`, `host:port`, or `*.domain` for any
    /// subdomain. Unset: any host. The default `url` is the operator's own and is not restricted by it.
    allowed_hosts: Option<Vec<String>>,
}

/// A checked configuration.
#[derive(Clone)]
pub struct WebhookConfig {
    /// Destination for opaque device ids.
    pub url: Option<String>,
    /// The HMAC key. A secret: never logged or displayed.
    pub secret: Vec<u8>,
    /// Default bound of one delivery.
    pub timeout: Duration,
    /// Lowercased host patterns, when restricted.
    pub allowed_hosts: Option<Vec<String>>,
}

impl fmt::Debug for WebhookConfig {
    // Hand-written so that the secret never reaches a log line through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish()
    }
}

fn invalid(field: &str, problem: impl fmt::Display) -> PluginError {
    PluginError::invalid_input(format!("push-webhook config `{field}`: {problem}"))
}

impl WebhookConfig {
    /// Checks a config object and reads the secret file, if any.
    pub fn from_json(config: Value) -> Result<Self, PluginError> {
        let raw: RawConfig = serde_json::from_value(config)
            .map_err(|error| PluginError::invalid_input(format!("push-webhook config: {error}")))?;

        if let Some(url) = &raw.url {
            WebhookUrl::parse(url).map_err(|problem| invalid("url", problem))?;
        }

        let secret = match (raw.secret, raw.secret_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "secret_file",
                    "give either `secret` or `secret_file`, not both",
                ));
            }
            (Some(secret), None) => secret.into_bytes(),
            (None, Some(path)) => read_secret_file(&path)?,
            (None, None) => {
                return Err(invalid("secret", "`secret` or `secret_file` is required"));
            }
        };
        if secret.len() < MIN_SECRET_BYTES {
            return Err(invalid(
                "secret",
                format!(
                    "must be at least {MIN_SECRET_BYTES} bytes (for example `openssl rand -hex 32`)"
                ),
            ));
        }

        let timeout_ms = raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if timeout_ms == 0 || timeout_ms > MAX_TIMEOUT_MS {
            return Err(invalid(
                "timeout_ms",
                format!("{timeout_ms} is outside 1..={MAX_TIMEOUT_MS}"),
            ));
        }

        let allowed_hosts = raw
            .allowed_hosts
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
                            Err(invalid(
                                "allowed_hosts",
                                format!("{host:?} is not `host`, `host:port` or `*.domain`"),
                            ))
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;

        Ok(WebhookConfig {
            url: raw.url,
            secret,
            timeout: Duration::from_millis(timeout_ms),
            allowed_hosts,
        })
    }

    /// Where a delivery to `recipient` goes, or why it cannot go anywhere.
    pub fn destination(&self, recipient: &str) -> Result<String, String> {
        if recipient.is_empty() {
            return Err("the recipient is empty".to_owned());
        }
        if recipient.len() > MAX_RECIPIENT_BYTES {
            return Err(format!(
                "the recipient is longer than {MAX_RECIPIENT_BYTES} bytes"
            ));
        }
        if recipient.chars().any(char::is_control) {
            return Err("the recipient contains control characters".to_owned());
        }
        if !recipient.contains("://") {
            // An opaque device id: the receiver behind the default URL knows what it means.
            return self.url.clone().ok_or_else(|| {
                "the recipient is a device id, and this channel has no default `url` to send it to"
                    .to_owned()
            });
        }
        let url = WebhookUrl::parse(recipient)?;
        if let Some(patterns) = &self.allowed_hosts
            && !patterns.iter().any(|pattern| url.matches(pattern))
        {
            return Err(format!(
                "host {} is not in this channel's allowed_hosts",
                url.host_port()
            ));
        }
        Ok(recipient.to_owned())
    }
}

/// The parts of a webhook URL that the rules look at.
struct WebhookUrl {
    host: String,
    port: u16,
}

impl WebhookUrl {
    fn parse(url: &str) -> Result<WebhookUrl, String> {
        let uri: ureq::http::Uri = url
            .parse()
            .map_err(|error| format!("{url:?} is not a URL ({error})"))?;
        let default_port = match uri.scheme_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => 443,
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => 80,
            Some(other) => return Err(format!("scheme {other:?} is not http or https")),
            None => return Err(format!("{url:?} is not an absolute http(s) URL")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url:?} has no host"))?;
        // Credentials in a recipient URL would be stored with the device and end up in logs.
        if authority.as_str().contains('@') {
            return Err("the URL must not contain credentials".to_owned());
        }
        let host = authority.host().to_ascii_lowercase();
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        Ok(WebhookUrl {
            host,
            port: authority.port_u16().unwrap_or(default_port),
        })
    }

    fn host_port(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `example.com` matches the host on any port, `example.com:8443` only that port, `*.example.com` any
    /// subdomain (not `example.com` itself) on any port.
    fn matches(&self, pattern: &str) -> bool {
        if let Some(domain) = pattern.strip_prefix("*.") {
            return self
                .host
                .strip_suffix(domain)
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.'));
        }
        pattern == self.host || pattern == self.host_port()
    }
}

/// Reads a secret file. The path appears in errors, the contents never.
fn read_secret_file(path: &Path) -> Result<Vec<u8>, PluginError> {
    let mut bytes = std::fs::read(path).map_err(|error| {
        invalid(
            "secret_file",
            format!("cannot read {}: {error}", path.display()),
        )
    })?;
    // `echo secret > file` and systemd-creds leave one trailing newline that is not part of the secret.
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_plugin_api::Status;
    use sigil_plugin_api::serde_json::json;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn malformed_configs_are_refused_naming_the_field() {
        let cases = [
            (json!({}), "`secret`"),
            (json!({"secret": "short"}), "`secret`"),
            (
                json!({"secret": SECRET, "secret_file": "/x"}),
                "`secret_file`",
            ),
            (
                json!({"secret_file": "/nonexistent/secret"}),
                "`secret_file`",
            ),
            (
                json!({"secret": SECRET, "url": "ftp://hooks.example"}),
                "`url`",
            ),
            (
                json!({"secret": SECRET, "url": "https://u:p@hooks.example"}),
                "`url`",
            ),
            (json!({"secret": SECRET, "timeout_ms": 0}), "`timeout_ms`"),
            (
                json!({"secret": SECRET, "allowed_hosts": ["ok.example", "bad/path"]}),
                "`allowed_hosts`",
            ),
            (
                json!({"secret": SECRET, "allowed_hosts": [""]}),
                "`allowed_hosts`",
            ),
            (
                json!({"secret": SECRET, "allowed_hosts": "ok.example"}),
                "invalid type",
            ),
            (
                json!({"secret": SECRET, "hosts": []}),
                "unknown field `hosts`",
            ),
        ];
        for (config, expected) in cases {
            let error = WebhookConfig::from_json(config.clone()).unwrap_err();
            assert_eq!(error.status, Status::InvalidInput, "{config}");
            assert!(
                error.message.contains(expected),
                "{config}: {:?} should mention {expected}",
                error.message
            );
        }
    }

    #[test]
    fn the_secret_is_redacted() {
        let config = WebhookConfig::from_json(json!({"secret": SECRET})).unwrap();
        let shown = format!("{config:?}");
        assert!(
            !shown.contains(SECRET) && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    /// Recipients, with and without a default URL and a host list, and where they go.
    #[test]
    fn recipient_rules() {
        let open =
            WebhookConfig::from_json(json!({"secret": SECRET, "url": "https://hooks.example/in"}))
                .unwrap();
        let restricted = WebhookConfig::from_json(json!({
            "secret": SECRET,
            "allowed_hosts": ["devices.example", "LAN.example:8443", "*.push.example"],
        }))
        .unwrap();
        let cases: &[(&WebhookConfig, &str, Result<&str, &str>)] = &[
            (&open, "device-7", Ok("https://hooks.example/in")),
            (
                &open,
                "https://anywhere.example/hook",
                Ok("https://anywhere.example/hook"),
            ),
            (&open, "HTTP://upper.example/", Ok("HTTP://upper.example/")),
            (&open, "", Err("empty")),
            (&open, "dev\nice", Err("control characters")),
            (&open, "ftp://files.example/x", Err("not http or https")),
            (&open, "https://user:pw@hooks.example/", Err("credentials")),
            (&open, "http://", Err("not a URL")),
            (&restricted, "device-7", Err("no default `url`")),
            (
                &restricted,
                "https://devices.example/hook",
                Ok("https://devices.example/hook"),
            ),
            (
                &restricted,
                "http://devices.example:8080/hook",
                Ok("http://devices.example:8080/hook"),
            ),
            (
                &restricted,
                "https://lan.example:8443/",
                Ok("https://lan.example:8443/"),
            ),
            (
                &restricted,
                "https://lan.example/",
                Err("lan.example:443 is not in"),
            ),
            (
                &restricted,
                "https://a.push.example/",
                Ok("https://a.push.example/"),
            ),
            (&restricted, "https://push.example/", Err("not in")),
            (&restricted, "https://evilpush.example/", Err("not in")),
            (
                &restricted,
                "https://devices.example.evil.test/",
                Err("not in"),
            ),
            (
                &restricted,
                "http://169.254.169.254/latest/meta-data",
                Err("not in"),
            ),
        ];
        for (config, recipient, expected) in cases {
            let outcome = config.destination(recipient);
            match expected {
                Ok(url) => assert_eq!(outcome.as_deref(), Ok(*url), "{recipient:?}"),
                Err(fragment) => {
                    let reason = outcome.expect_err(recipient);
                    assert!(
                        reason.contains(fragment),
                        "{recipient:?}: {reason:?} should mention {fragment:?}"
                    );
                }
            }
        }
    }
}
