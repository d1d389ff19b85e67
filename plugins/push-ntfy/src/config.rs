//! The channel's configuration and its recipient rules: which ntfy URL a notification is published to, and
//! whether the access token goes with it. Topics and topic URLs come from devices, not from the operator, so
//! they are checked here (syntax, `allowed_hosts`, hosts written as addresses) before any request goes out;
//! hosts written as names are checked on their resolved addresses at connection time ([`crate::guard`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sigil_plugin_api::PluginError;
use sigil_plugin_api::serde_json::{self, Value};

use sigil_push_common::rules::{self, Target};

use crate::address_policy::AddressPolicy;

/// How a refusal by the address policy ends: what the operator can do about it.
pub use sigil_push_common::rules::ALLOW_HINT;
/// Default bound of one publish when the request carries no `timeout_ms` hint.
pub use sigil_push_common::rules::DEFAULT_TIMEOUT_MS;
/// Longest accepted recipient (a topic URL).
const MAX_RECIPIENT_BYTES: usize = 2048;
/// Longest topic name. ntfy itself accepts 64 characters of `[-_A-Za-z0-9]`.
pub const MAX_TOPIC_CHARS: usize = 64;

/// The config as it arrives. Unknown keys are refused so that a typo is an error, not a silent default.
/// No `Debug`: it may hold the inline token.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// The ntfy server (`https://ntfy.example` or `https://host/prefix`); bare topics are published there.
    server: Option<String>,
    /// Access token, inline. Prefer `token_file`.
    token: Option<String>,
    /// File holding the access token (one trailing newline is ignored), e.g. a systemd credential.
    token_file: Option<PathBuf>,
    /// Bound of one publish in milliseconds, when the request has no hint.
    timeout_ms: Option<u64>,
    /// Hosts that recipient topic URLs may name: `host`, `host:port`, `*.domain`. Unset: any host.
    allowed_hosts: Option<Vec<String>>,
    /// Networks (CIDRs) that publishes may reach although they are not public. Default: none.
    allow_private_networks: Option<Vec<String>>,
    /// Title used when the payload has no `title` string.
    title: Option<String>,
}

/// A checked configuration.
#[derive(Clone)]
pub struct NtfyConfig {
    /// The server URL without a trailing `/`.
    pub server: String,
    /// The access token, sent only to `server`. A secret: never logged or displayed.
    pub token: Option<String>,
    /// Default bound of one publish.
    pub timeout: Duration,
    /// Lowercased host patterns, when restricted.
    pub allowed_hosts: Option<Vec<String>>,
    /// Which addresses publishes may connect to.
    pub address_policy: AddressPolicy,
    /// Default title.
    pub title: Option<String>,
    server_target: Target,
}

impl fmt::Debug for NtfyConfig {
    // Hand-written so that the token never reaches a log line through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NtfyConfig")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allow_private_networks", &self.address_policy.allowed())
            .field("title", &self.title)
            .finish()
    }
}

/// Where one notification goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `POST` target.
    pub url: String,
    /// Whether the configured token may go with it: only to the configured server.
    pub with_token: bool,
}

fn invalid(field: &str, problem: impl fmt::Display) -> PluginError {
    PluginError::invalid_input(format!("push-ntfy config `{field}`: {problem}"))
}

/// Whether `topic` is an ntfy topic name: 1 to 64 characters of `[A-Za-z0-9_-]`.
pub fn is_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= MAX_TOPIC_CHARS
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl NtfyConfig {
    /// Checks a config object and reads the token file, if any.
    pub fn from_json(config: Value) -> Result<Self, PluginError> {
        let raw: RawConfig = serde_json::from_value(config)
            .map_err(|error| PluginError::invalid_input(format!("push-ntfy config: {error}")))?;

        let address_policy = rules::address_policy(raw.allow_private_networks)
            .map_err(|problem| invalid("allow_private_networks", problem))?;

        let server = raw
            .server
            .ok_or_else(|| invalid("server", "is required (for example \"https://ntfy.sh\")"))?;
        let server = server.trim().trim_end_matches('/').to_owned();
        // The operator's server may be plain http (a server on the LAN); its address is still checked.
        let server_target = Target::parse(&server)
            .and_then(|target| {
                if target.has_query {
                    return Err("must not have a query or fragment".to_owned());
                }
                target.check_address(&address_policy)?;
                Ok(target)
            })
            .map_err(|problem| invalid("server", problem))?;

        let token = match (raw.token, raw.token_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "token_file",
                    "give either `token` or `token_file`, not both",
                ));
            }
            (Some(token), None) => Some(("token", token)),
            (None, Some(path)) => Some(("token_file", read_token_file(&path)?)),
            (None, None) => None,
        };
        if let Some((field, token)) = &token
            && (token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()))
        {
            // It goes into a header: anything else could not be sent, or could split the request.
            return Err(invalid(field, "must be non-empty visible ASCII"));
        }
        let token = token.map(|(_, token)| token);

        let timeout =
            rules::timeout(raw.timeout_ms).map_err(|problem| invalid("timeout_ms", problem))?;

        let allowed_hosts = rules::allowed_hosts(raw.allowed_hosts)
            .map_err(|problem| invalid("allowed_hosts", problem))?;

        if let Some(title) = &raw.title
            && title.chars().any(char::is_control)
        {
            return Err(invalid("title", "must not contain control characters"));
        }

        Ok(NtfyConfig {
            server,
            token,
            timeout,
            allowed_hosts,
            address_policy,
            title: raw.title,
            server_target,
        })
    }

    /// Where a notification to `recipient` goes, or why it cannot go anywhere.
    pub fn destination(&self, recipient: &str) -> Result<Destination, String> {
        rules::check_recipient(recipient, MAX_RECIPIENT_BYTES)?;
        if !recipient.contains("://") {
            if !is_topic(recipient) {
                return Err(format!(
                    "a topic is 1 to {MAX_TOPIC_CHARS} characters of A-Z, a-z, 0-9, `_` and `-`"
                ));
            }
            return Ok(Destination {
                url: format!("{}/{recipient}", self.server),
                with_token: true,
            });
        }

        // A full topic URL, e.g. a UnifiedPush endpoint on the device's own ntfy server.
        let target = Target::parse(recipient)?;
        if target.has_query {
            return Err("a topic URL must not have a query or fragment".to_owned());
        }
        let topic = target.path.rsplit('/').next().unwrap_or_default();
        if !is_topic(topic) {
            return Err(format!(
                "the URL's last path segment must be a topic (1 to {MAX_TOPIC_CHARS} characters of A-Z, a-z, 0-9, `_` and `-`)"
            ));
        }
        let on_server = target.same_origin(&self.server_target)
            && target.path == format!("{}/{topic}", self.server_target.path);
        // The operator's own server is never restricted by `allowed_hosts`, which is about device URLs.
        if !on_server
            && let Some(patterns) = &self.allowed_hosts
            && !patterns.iter().any(|pattern| target.matches(pattern))
        {
            return Err(format!(
                "host {} is not in this channel's allowed_hosts",
                target.host_port()
            ));
        }
        if target.scheme == "http" && !on_server {
            // Cleartext only to a network the operator opened explicitly.
            if !target.in_allowed_network(&self.address_policy) {
                return Err(
                    "an http:// topic URL must name an address inside `allow_private_networks`; use https://"
                        .to_owned(),
                );
            }
        }
        target.check_address(&self.address_policy)?;
        Ok(Destination {
            url: recipient.to_owned(),
            with_token: on_server,
        })
    }
}

/// Reads a token file. The path appears in errors, the contents never.
fn read_token_file(path: &Path) -> Result<String, PluginError> {
    let bytes = std::fs::read(path).map_err(|error| {
        invalid(
            "token_file",
            format!("cannot read {}: {error}", path.display()),
        )
    })?;
    let mut token = String::from_utf8(bytes)
        .map_err(|_| invalid("token_file", format!("{} is not UTF-8", path.display())))?;
    // `echo token > file` and systemd-creds leave one trailing newline that is not part of the token.
    if token.ends_with('\n') {
        token.pop();
        if token.ends_with('\r') {
            token.pop();
        }
    }
    Ok(token)
}
