//! `[approvals]`: the approval engine (expiry, which node holds live requests' timers) and the checks of signed
//! agent requests (the public URL they are signed for, their freshness window, replay memory).

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// `[approvals]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalsConfig {
    /// How long a pending agent authorization request waits for a decision before it expires (a namespace
    /// policy can turn expiry off). Applies to requests submitted after a change.
    #[serde(with = "humantime_serde")]
    pub pending_expiry: Duration,
    /// This node's name in the store's leases. Nodes sharing a remote store need distinct names. Default: a
    /// name generated at first start and kept in the data directory (`node-id`), so that a restarted node takes
    /// its own live requests back at once.
    pub node_id: Option<String>,
    /// How long a node's claim on its live requests lasts without renewal; another node takes them over
    /// after that. Renewed every third of it.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// The base URL clients use to reach this daemon (`scheme://host[:port]`, no path), e.g.
    /// `https://sigil.example.org`. Signed agent requests cover `@target-uri`, which is rebuilt from this and the
    /// request's path and query, never from the client's `Host` header. Default: `http://` + the address the
    /// listener is bound to.
    /// DID documents use it for service endpoints too.
    pub public_base_url: Option<String>,
    /// Oldest `created` of a signed request that is still accepted.
    #[serde(with = "humantime_serde")]
    pub signature_max_age: Duration,
    /// How far in the future a signed request's `created` may be (clock skew between agent and daemon).
    #[serde(with = "humantime_serde")]
    pub signature_clock_skew: Duration,
    /// How long a signed request's nonce is remembered (replays within it are refused with 409). Must be at
    /// least `signature_max_age + signature_clock_skew`, or a replay could outlive the memory of its nonce.
    #[serde(with = "humantime_serde")]
    pub nonce_ttl: Duration,
    /// The operator's contact for Web Push (`mailto:ops@example.org` or an `https://` URL): when set, sigild
    /// keeps a VAPID key (RFC 8292) in the KMS (`[seal] kms`, label `sigil-vapid`), signs every Web Push
    /// delivery's credential with it and publishes its public half as `vapid_public_key` in `GET /info`. Read at
    /// start.
    pub vapid_subject: Option<String>,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        Self {
            pending_expiry: Duration::from_secs(24 * 3600),
            node_id: None,
            lease: Duration::from_secs(30),
            public_base_url: None,
            signature_max_age: Duration::from_secs(300),
            signature_clock_skew: Duration::from_secs(5),
            nonce_ttl: Duration::from_secs(600),
            vapid_subject: None,
        }
    }
}

impl ApprovalsConfig {
    /// Checks what types alone cannot.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_string(),
            })
        };
        if self.pending_expiry < Duration::from_secs(1) {
            return invalid("approvals.pending_expiry", "must be at least 1s");
        }
        if self.lease < Duration::from_secs(3) {
            return invalid("approvals.lease", "must be at least 3s");
        }
        if let Some(node) = &self.node_id
            && (node.is_empty()
                || node.len() > 64
                || !node
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return invalid(
                "approvals.node_id",
                "must be 1-64 letters, digits, '-' or '_'",
            );
        }
        if let Some(url) = &self.public_base_url
            && public_base(url).is_none()
        {
            return invalid(
                "approvals.public_base_url",
                "must be http:// or https:// with a host and no path, query or fragment",
            );
        }
        if let Some(subject) = &self.vapid_subject {
            let contact = subject
                .strip_prefix("mailto:")
                .or_else(|| subject.strip_prefix("https://"));
            if contact.is_none_or(str::is_empty)
                || subject
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '"' || c == '\\')
            {
                return invalid(
                    "approvals.vapid_subject",
                    "must be a mailto: or https:// contact",
                );
            }
        }
        if self.nonce_ttl < self.signature_max_age + self.signature_clock_skew {
            return invalid(
                "approvals.nonce_ttl",
                "must be at least signature_max_age + signature_clock_skew",
            );
        }
        Ok(())
    }
}

/// The base URL without a trailing slash, if it is a usable `scheme://authority`.
pub fn public_base(url: &str) -> Option<&str> {
    let url = url.strip_suffix('/').unwrap_or(url);
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let clean = !rest.is_empty()
        && !rest.contains(['/', '?', '#', ' ', '@'])
        && rest.bytes().all(|b| b.is_ascii_graphic());
    clean.then_some(url)
}
