//! The channel's configuration and its recipient rules. A recipient is a push subscription, which comes from a
//! browser or a UnifiedPush distributor on the device, not from the operator: its endpoint is checked here
//! (scheme, `allowed_hosts`, hosts written as addresses) before anything is sent, and hosts written as names
//! are checked on their resolved addresses at connection time ([`crate::guard`]).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use p256::PublicKey;
use serde::Deserialize;
use sigil_plugin_api::PluginError;
use sigil_plugin_api::serde_json::{self, Value};

use sigil_push_common::rules::{self, Target, UrlError};

use crate::address_policy::AddressPolicy;
use crate::ece::UaKeys;
use crate::vapid::{VapidKey, decode_b64url};

/// Default bound of one delivery when the request carries no `timeout_ms` hint.
pub use sigil_push_common::rules::DEFAULT_TIMEOUT_MS;
/// Default `TTL`: how long the push service keeps an undelivered message. An approval prompt older than a day
/// is of little use.
pub const DEFAULT_TTL_SECONDS: u64 = 86_400;
/// Longest `TTL` accepted: 28 days, the most push services keep a message.
const MAX_TTL_SECONDS: u64 = 28 * 86_400;
/// How a refusal by the address policy ends: what the operator can do about it.
pub use sigil_push_common::rules::ALLOW_HINT;
/// Longest accepted recipient (the subscription JSON).
const MAX_RECIPIENT_BYTES: usize = 4096;
/// The RFC 8030 §5.3 urgencies.
const URGENCIES: [&str; 4] = ["very-low", "low", "normal", "high"];

/// The config as it arrives. Unknown keys are refused so that a typo is an error, not a silent default.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// The VAPID private key: PEM (PKCS#8 or SEC1) or the raw 32 bytes in base64url.
    vapid_private_key_file: Option<PathBuf>,
    /// The VAPID `sub` claim: `mailto:` or `https:` contact of the operator.
    vapid_subject: Option<String>,
    /// RFC 8030 `TTL` in seconds.
    ttl_seconds: Option<u64>,
    /// RFC 8030 `Urgency`: very-low, low, normal or high.
    urgency: Option<String>,
    /// Bound of one delivery in milliseconds, when the request has no hint.
    timeout_ms: Option<u64>,
    /// Hosts that subscription endpoints may name: `host`, `host:port`, `*.domain`. Unset: any host.
    allowed_hosts: Option<Vec<String>>,
    /// Networks (CIDRs) that deliveries may reach although they are not public. Default: none.
    allow_private_networks: Option<Vec<String>>,
    /// Check each new subscription's endpoint with UnifiedPush discovery (`GET` answers
    /// `{"unifiedpush":{"version":1}}`). Default: off (browser push services do not answer it).
    unifiedpush_discovery: Option<bool>,
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct WebPushConfig {
    /// The VAPID key of its own (its `Debug` shows only the public half); none when the host provides each
    /// delivery's credential from its KMS.
    pub vapid: Option<VapidKey>,
    /// The VAPID `sub` claim of its own key's JWTs.
    pub subject: Option<String>,
    /// `TTL` in seconds.
    pub ttl_seconds: u64,
    /// `Urgency`, when configured.
    pub urgency: Option<&'static str>,
    /// Default bound of one delivery.
    pub timeout: Duration,
    /// Lowercased host patterns, when restricted.
    pub allowed_hosts: Option<Vec<String>>,
    /// Which addresses deliveries may connect to.
    pub address_policy: AddressPolicy,
    /// Whether a recipient is accepted only when its endpoint passes UnifiedPush discovery.
    pub unifiedpush_discovery: bool,
}

/// A checked push subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// The push resource to `POST` to.
    pub endpoint: String,
    /// The VAPID audience: the endpoint's origin.
    pub audience: String,
    /// The keys to encrypt to.
    pub keys: UaKeys,
}

fn invalid(field: &str, problem: impl fmt::Display) -> PluginError {
    PluginError::invalid_input(format!("push-webpush config `{field}`: {problem}"))
}

impl WebPushConfig {
    /// Checks a config object and reads the VAPID key file.
    pub fn from_json(config: Value) -> Result<Self, PluginError> {
        let raw: RawConfig = serde_json::from_value(config)
            .map_err(|error| PluginError::invalid_input(format!("push-webpush config: {error}")))?;

        let address_policy = rules::address_policy(raw.allow_private_networks)
            .map_err(|problem| invalid("allow_private_networks", problem))?;

        // Without a key file, each delivery's VAPID credential comes from the host (sigild signs it with a
        // key in its KMS: `[approvals] vapid_subject`).
        let vapid = raw
            .vapid_private_key_file
            .map(|path| {
                VapidKey::from_file(&path)
                    .map_err(|problem| invalid("vapid_private_key_file", problem))
            })
            .transpose()?;
        let subject = match (&vapid, raw.vapid_subject) {
            (Some(_), None) => {
                return Err(invalid(
                    "vapid_subject",
                    "is required with vapid_private_key_file (`mailto:ops@example.org` or an https URL)",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "vapid_private_key_file",
                    "is required with vapid_subject (or leave both out: the host's VAPID credential is used)",
                ));
            }
            (_, subject) => subject,
        };
        if let Some(subject) = &subject {
            let contact = subject
                .strip_prefix("mailto:")
                .or_else(|| subject.strip_prefix("https://"));
            if contact.is_none_or(str::is_empty)
                || subject
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '"' || c == '\\')
            {
                return Err(invalid(
                    "vapid_subject",
                    format!("{subject:?} is not a `mailto:` or `https://` contact"),
                ));
            }
        }

        let ttl_seconds = raw.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
        if ttl_seconds > MAX_TTL_SECONDS {
            return Err(invalid(
                "ttl_seconds",
                format!("{ttl_seconds} is outside 0..={MAX_TTL_SECONDS}"),
            ));
        }

        let urgency = raw
            .urgency
            .map(|urgency| {
                URGENCIES
                    .into_iter()
                    .find(|known| *known == urgency)
                    .ok_or_else(|| {
                        invalid(
                            "urgency",
                            format!("{urgency:?} is not one of {URGENCIES:?}"),
                        )
                    })
            })
            .transpose()?;

        let timeout =
            rules::timeout(raw.timeout_ms).map_err(|problem| invalid("timeout_ms", problem))?;

        let allowed_hosts = rules::allowed_hosts(raw.allowed_hosts)
            .map_err(|problem| invalid("allowed_hosts", problem))?;

        Ok(WebPushConfig {
            vapid,
            subject,
            ttl_seconds,
            urgency,
            timeout,
            allowed_hosts,
            address_policy,
            unifiedpush_discovery: raw.unifiedpush_discovery.unwrap_or(false),
        })
    }

    /// Reads and checks a subscription, or says why it cannot be delivered to.
    pub fn subscription(&self, recipient: &str) -> Result<Subscription, String> {
        if recipient.trim().is_empty() {
            return Err("the recipient is empty".to_owned());
        }
        if recipient.len() > MAX_RECIPIENT_BYTES {
            return Err(format!(
                "the recipient is longer than {MAX_RECIPIENT_BYTES} bytes"
            ));
        }
        let value: Value = serde_json::from_str(recipient).map_err(|_| {
            "the recipient is not a push subscription: expected JSON {\"endpoint\", \"keys\": {\"p256dh\", \"auth\"}}"
                .to_owned()
        })?;
        let text = |value: Option<&Value>, name: &str| -> Result<String, String> {
            match value {
                Some(Value::String(text)) => Ok(text.clone()),
                Some(_) => Err(format!("the subscription's `{name}` is not a string")),
                None => Err(format!("the subscription has no `{name}`")),
            }
        };
        let endpoint = text(value.get("endpoint"), "endpoint")?;
        let keys = value.get("keys");
        let p256dh = text(keys.and_then(|keys| keys.get("p256dh")), "keys.p256dh")?;
        let auth = text(keys.and_then(|keys| keys.get("auth")), "keys.auth")?;

        let public = decode_b64url(&p256dh)
            .filter(|bytes| bytes.len() == 65 && bytes[0] == 0x04)
            .and_then(|bytes| PublicKey::from_sec1_bytes(&bytes).ok())
            .ok_or_else(|| {
                "`keys.p256dh` is not a base64url uncompressed P-256 public key (65 bytes)"
                    .to_owned()
            })?;
        let auth: [u8; 16] = decode_b64url(&auth)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| "`keys.auth` is not 16 bytes of base64url".to_owned())?;

        let audience = self.check_endpoint(&endpoint)?;
        Ok(Subscription {
            endpoint,
            audience,
            keys: UaKeys { public, auth },
        })
    }

    /// Checks an endpoint URL and returns its origin (the VAPID audience).
    fn check_endpoint(&self, endpoint: &str) -> Result<String, String> {
        if endpoint
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err("the endpoint contains spaces or control characters".to_owned());
        }
        let refused = |error: UrlError| match error {
            UrlError::NotAUrl(error) => format!("the endpoint is not a URL ({error})"),
            UrlError::Scheme(_) => "the endpoint is not an https:// URL".to_owned(),
            UrlError::Credentials => "the endpoint must not contain credentials".to_owned(),
            // A fragment is named before an empty host, as it always was.
            UrlError::EmptyHost if endpoint.contains('#') => {
                "the endpoint must not have a fragment".to_owned()
            }
            UrlError::NoAuthority | UrlError::EmptyHost => "the endpoint has no host".to_owned(),
        };
        let target = Target::try_parse(endpoint).map_err(refused)?;
        if endpoint.contains('#') {
            return Err("the endpoint must not have a fragment".to_owned());
        }
        if let Some(patterns) = &self.allowed_hosts
            && !patterns.iter().any(|pattern| target.matches(pattern))
        {
            return Err(format!(
                "endpoint host {} is not in this channel's allowed_hosts",
                target.host_port()
            ));
        }
        if target.scheme == "http" && !target.in_allowed_network(&self.address_policy) {
            return Err(
                "the endpoint is not https://; http:// is accepted only for an address inside `allow_private_networks`"
                    .to_owned(),
            );
        }
        target.check_address(&self.address_policy)?;
        Ok(target.origin())
    }
}
