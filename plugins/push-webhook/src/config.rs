//! The channel's configuration and its recipient rules: which addresses it delivers to. Per-device URLs come
//! from devices, not from the operator, so they are checked here against `allowed_hosts` before any request
//! goes out (a webhook channel that posts anywhere it is told is a server-side request forgery tool). Every
//! destination, the operator's `url` included, is also held to the [address policy](crate::address_policy):
//! here for hosts written as addresses, and again on the resolved addresses at connection time
//! ([`crate::guard`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sigil_plugin_api::PluginError;
use sigil_plugin_api::serde_json::{self, Value};

use sigil_push_common::rules::{self, Target};

use crate::address_policy::AddressPolicy;

/// Default bound of one delivery when the request carries no `timeout_ms` hint.
pub use sigil_push_common::rules::DEFAULT_TIMEOUT_MS;
/// Shortest accepted secret. HMAC-SHA256 takes any key length, but a short shared secret can be guessed
/// offline from one captured delivery.
pub const MIN_SECRET_BYTES: usize = 16;
/// How a refusal by the address policy ends: what the operator can do about it.
pub use sigil_push_common::rules::ALLOW_HINT;
/// Longest accepted opaque device id or recipient URL.
const MAX_RECIPIENT_BYTES: usize = 2048;

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

/// The config as it arrives. Unknown keys are refused so that a typo is an error, not a silent default.
/// No `Debug`: it may hold the inline HMAC secret.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// Where deliveries to opaque device ids go (http or https). Optional: without it only recipients that
    /// are URLs are deliverable.
    url: Option<String>,
    /// The HMAC-SHA256 key, inline. Prefer `secret_file`.
    secret: Option<Redacted<String>>,
    /// File holding the HMAC key (one trailing newline is ignored), e.g. a systemd credential.
    secret_file: Option<PathBuf>,
    /// Bound of one delivery (connect, send, receive the status), in milliseconds, when the request has no
    /// hint.
    timeout_ms: Option<u64>,
    /// Hosts that per-device recipient URLs may point to: `host`, `host:port`, or `*.domain` for any
    /// subdomain. Unset: any host. The default `url` is the operator's own and is not restricted by it.
    allowed_hosts: Option<Vec<String>>,
    /// Networks (CIDRs, e.g. `10.0.0.0/8`, `127.0.0.1/32`, `fd00::/8`) that deliveries may reach although
    /// they are loopback, private, link-local or otherwise not public. Default: none.
    allow_private_networks: Option<Vec<String>>,
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
    /// Which addresses deliveries may connect to.
    pub address_policy: AddressPolicy,
}

impl fmt::Debug for WebhookConfig {
    // Hand-written so that the secret never reaches a log line through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allow_private_networks", &self.address_policy.allowed())
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

        let address_policy = rules::address_policy(raw.allow_private_networks)
            .map_err(|problem| invalid("allow_private_networks", problem))?;

        if let Some(url) = &raw.url {
            Target::parse(url)
                .and_then(|url| url.check_address(&address_policy))
                .map_err(|problem| invalid("url", problem))?;
        }

        let secret = match (raw.secret, raw.secret_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "secret_file",
                    "give either `secret` or `secret_file`, not both",
                ));
            }
            (Some(secret), None) => secret.0.into_bytes(),
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

        let timeout =
            rules::timeout(raw.timeout_ms).map_err(|problem| invalid("timeout_ms", problem))?;

        let allowed_hosts = rules::allowed_hosts(raw.allowed_hosts)
            .map_err(|problem| invalid("allowed_hosts", problem))?;

        Ok(WebhookConfig {
            url: raw.url,
            secret,
            timeout,
            allowed_hosts,
            address_policy,
        })
    }

    /// Where a delivery to `recipient` goes, or why it cannot go anywhere.
    pub fn destination(&self, recipient: &str) -> Result<String, String> {
        rules::check_recipient(recipient, MAX_RECIPIENT_BYTES)?;
        if !recipient.contains("://") {
            // An opaque device id: the receiver behind the default URL knows what it means.
            return self.url.clone().ok_or_else(|| {
                "the recipient is a device id, and this channel has no default `url` to send it to"
                    .to_owned()
            });
        }
        let url = Target::parse(recipient)?;
        if let Some(patterns) = &self.allowed_hosts
            && !patterns.iter().any(|pattern| url.matches(pattern))
        {
            return Err(format!(
                "host {} is not in this channel's allowed_hosts",
                url.host_port()
            ));
        }
        url.check_address(&self.address_policy)?;
        Ok(recipient.to_owned())
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
            (
                json!({"secret": SECRET, "url": "http://127.0.0.1:9/hook"}),
                "`url`: 127.0.0.1 is a loopback address",
            ),
            (
                json!({"secret": SECRET, "url": "http://[::ffff:10.0.0.1]/"}),
                "carries 10.0.0.1",
            ),
            (
                json!({"secret": SECRET, "url": "http://2130706433/"}),
                "allow_private_networks",
            ),
            (
                json!({"secret": SECRET, "url": "http://169.254.169.254/",
                       "allow_private_networks": ["169.254.0.0/16"]}),
                "cloud metadata",
            ),
            (
                json!({"secret": SECRET, "allow_private_networks": ["10.0.0.1/8"]}),
                "`allow_private_networks`: \"10.0.0.1/8\" has host bits set",
            ),
            (
                json!({"secret": SECRET, "allow_private_networks": ["localhost"]}),
                "`allow_private_networks`",
            ),
            (
                json!({"secret": SECRET, "allow_private_networks": "10.0.0.0/8"}),
                "invalid type",
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
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        std::fs::write(&file, "secret-from-a-file-0123456789\n").unwrap();
        for (config, secret) in [
            (json!({"secret": SECRET}), SECRET),
            (
                json!({"secret_file": file}),
                "secret-from-a-file-0123456789",
            ),
        ] {
            let config = WebhookConfig::from_json(config).unwrap();
            let shown = format!("{config:?} {config:#?}");
            assert!(
                !shown.contains(secret) && shown.contains("<redacted>"),
                "{shown}"
            );
            // Not as bytes either.
            let bytes = format!("{:?}", secret.as_bytes());
            assert!(!shown.contains(&bytes[1..bytes.len() - 1]), "{shown}");
        }
    }

    #[test]
    fn allowed_networks_admit_private_destinations() {
        let config = WebhookConfig::from_json(json!({
            "secret": SECRET,
            "url": "http://127.0.0.1:9/hook",
            "allow_private_networks": ["127.0.0.1/32", " 10.0.0.0/8 ", "fd00::/8"],
        }))
        .unwrap();
        assert_eq!(config.address_policy.allowed().len(), 3);
        for recipient in [
            "http://10.1.2.3/",
            "http://[fd00::5]:8443/",
            "http://[::ffff:127.0.0.1]/",
            "http://127.0.0.1:8080/",
        ] {
            assert_eq!(config.destination(recipient).as_deref(), Ok(recipient));
        }
        for recipient in ["http://127.0.0.2/", "http://192.168.0.1/", "http://[::1]/"] {
            let reason = config.destination(recipient).unwrap_err();
            assert!(reason.contains("allow_private_networks"), "{reason}");
        }
        let shown = format!("{config:?}");
        assert!(shown.contains("10.0.0.0/8"), "{shown}");
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
            // The address policy: hosts written as addresses are refused before anything is sent.
            (
                &open,
                "http://127.0.0.1:8080/",
                Err("127.0.0.1 is a loopback address"),
            ),
            (&open, "http://0.0.0.0/", Err("unspecified")),
            (&open, "http://[::]/", Err("unspecified")),
            (&open, "http://[::1]/", Err("loopback")),
            (
                &open,
                "http://[::ffff:127.0.0.1]/",
                Err("carries 127.0.0.1"),
            ),
            (&open, "http://2130706433/", Err("127.0.0.1 is a loopback")),
            (&open, "http://127.1/", Err("127.0.0.1 is a loopback")),
            (&open, "http://0x7f.0.0.1/", Err("loopback")),
            (&open, "http://10.0.0.7/", Err("private")),
            (&open, "http://192.168.1.1/", Err("private")),
            (&open, "http://[fd12::1]/", Err("unique local")),
            (&open, "http://100.64.0.1/", Err("carrier-grade NAT")),
            (
                &open,
                "http://169.254.169.254/latest/meta-data",
                Err("cloud metadata"),
            ),
            (&open, "http://100.100.100.200/", Err("cloud metadata")),
            (&open, "http://[fd00:ec2::254]/", Err("cloud metadata")),
            (&open, "http://[64:ff9b::7f00:1]/", Err("carries 127.0.0.1")),
            (&open, "http://224.0.0.1/", Err("multicast")),
            (&open, "http://255.255.255.255/", Err("broadcast")),
            (&open, "http://192.0.2.1/", Err("documentation")),
            (&open, "http://198.18.0.1/", Err("benchmarking")),
            (
                &open,
                "https://93.184.215.14/",
                Ok("https://93.184.215.14/"),
            ),
            (
                &open,
                "https://[2606:4700::1111]/",
                Ok("https://[2606:4700::1111]/"),
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
