//! `[webhooks]`: the outbox dispatcher that delivers webhook events: where deliveries may connect, how long one
//! may take, how many run at once and how often the outbox is polled.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// `[webhooks]`. Applies on reload (the dispatcher reads it before each round), except `max_concurrent`, read at
/// start.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Private networks (CIDRs) deliveries may connect to besides public addresses, e.g. `10.1.2.0/24` for a
    /// receiver on the LAN, or `127.0.0.0/8` for a test receiver. Empty: public addresses only. Cloud metadata
    /// addresses need an entry naming exactly them. Checked after DNS resolution, on the address connected to.
    pub allow_private_networks: Vec<String>,
    /// Deadline of one delivery attempt (connect, send, answer).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Deliveries in flight at once on this node.
    pub max_concurrent: usize,
    /// How often the outbox is polled for new events and due retries (new events also wake it at once).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_private_networks: Vec::new(),
            timeout: Duration::from_secs(10),
            max_concurrent: 8,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// Public addresses plus the private networks `cidrs` names. Entries are validated at load time; an invalid one
/// (impossible after validation) is skipped rather than widening anything. Shared by every outbound policy.
pub(super) fn address_policy_of(cidrs: &[String]) -> sigil_netpolicy::AddressPolicy {
    let allowed = cidrs
        .iter()
        .filter_map(|cidr| cidr.parse::<sigil_netpolicy::Cidr>().ok())
        .collect();
    sigil_netpolicy::AddressPolicy::with_allowed(allowed)
}

impl WebhooksConfig {
    /// The address policy deliveries obey. Entries are validated at load time; an invalid one (impossible after
    /// validation) is skipped rather than widening anything.
    pub fn address_policy(&self) -> sigil_netpolicy::AddressPolicy {
        address_policy_of(&self.allow_private_networks)
    }

    /// Checks what types alone cannot.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_string(),
            })
        };
        for cidr in &self.allow_private_networks {
            cidr.parse::<sigil_netpolicy::Cidr>()
                .map_err(|reason| ConfigError::Invalid {
                    key: "webhooks.allow_private_networks",
                    reason,
                })?;
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(300) {
            return invalid("webhooks.timeout", "must be between 1ms and 5 minutes");
        }
        if self.max_concurrent == 0 || self.max_concurrent > 1024 {
            return invalid("webhooks.max_concurrent", "must be between 1 and 1024");
        }
        if self.poll_interval < Duration::from_millis(10) {
            return invalid("webhooks.poll_interval", "must be at least 10ms");
        }
        Ok(())
    }
}
