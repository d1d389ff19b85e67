//! `sigil-push-webhook`: a Sigil push channel plugin that delivers each notification as an HTTP POST
//! (a webhook), signed with HMAC-SHA256 so the receiver can tell it came from this sigild and is fresh.
//!
//! **Architecture Invariant:** the channel decides where a delivery may go ([`config`]), connects only to
//! addresses the [`address_policy`] admits, checked after resolution ([`guard`]), and signs it
//! ([`signature`]); it keeps no state between deliveries besides the connection pool, so retries with the same
//! idempotency key are the receiver's to deduplicate (`X-Sigil-Delivery`).
//!
//! A delivery is `POST <url>` with these headers and a JSON body:
//!
//! ```text
//! Content-Type: application/json
//! X-Sigil-Delivery: <idempotency key>            stable across retries of one notification
//! X-Sigil-Timestamp: <unix seconds>              when this attempt was signed
//! X-Sigil-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
//!
//! {"idempotency_key": "<key>", "payload": {...}, "recipient": "<device id or URL>"}
//! ```
//!
//! The key is in the body as well as the header because only the body is signed. Receivers should compare
//! signatures in constant time and refuse timestamps more than a few minutes off.
//!
//! Recipients are either an `http(s)://` URL of the device's own receiver (checked against `allowed_hosts`)
//! or an opaque device id, delivered to the configured `url`.
//!
//! Config (JSON, from the instance's `config` table):
//!
//! | key | type | default | |
//! | --- | --- | --- | --- |
//! | `url` | string | none | destination for opaque device ids (`http://` or `https://`) |
//! | `secret` / `secret_file` | string / path | required | the HMAC key (at least 16 bytes), inline or from a file |
//! | `timeout_ms` | integer | 10000 | bound of one delivery when the request has no `timeout_ms` hint |
//! | `allowed_hosts` | array of string | any | hosts recipient URLs may name: `host`, `host:port`, `*.domain` |
//! | `allow_private_networks` | array of CIDR | none | non-public networks deliveries may reach, e.g. `["10.0.0.0/8"]` |
//!
//! **Where deliveries may connect** ([`address_policy`], [`guard`]): every destination, the default `url`
//! included, must resolve to public unicast addresses only. Loopback, private (RFC 1918, RFC 4193),
//! link-local, carrier-grade NAT, unspecified, multicast, broadcast, documentation, benchmarking and reserved
//! addresses, cloud metadata endpoints, and IPv6 forms carrying such IPv4 addresses (mapped, compatible,
//! NAT64 `64:ff9b::/96`, 6to4) are refused unless `allow_private_networks` covers them (metadata endpoints
//! only by an entry naming exactly that address). A host written as an address is checked when the config is
//! read (`url`) or the recipient validated; every host is checked again on the addresses its lookup
//! returned, and the connection goes only to those checked addresses: one lookup, no second resolution.
//! One refused address refuses the host. Redirects are never followed. Proxy environment variables are
//! ignored.
//!
//! Outcomes: a 2xx answer is `delivered` (detail: the status). A 3xx or 4xx answer, other than 408, 425 and
//! 429, is `failed` (permanent: the receiver refused this delivery, a retry would be refused too; a 3xx says
//! that redirects are not followed), as is a recipient the rules refuse, including a host whose address the
//! address policy refuses. Everything transient is an error that sigild retries with the same key:
//! 408/425/429/5xx (`BACKEND`/`http_status`), no connection (`BACKEND`/`network`), no answer in time
//! (`TIMEOUT`).

use std::time::{SystemTime, UNIX_EPOCH};

use sigil_plugin_api::serde_json::{self, Value};
use sigil_plugin_api::{
    HealthReport, PluginError, PushChannel, SendRequest, SendResponse, ValidateRecipientRequest,
    ValidateRecipientResponse, export_push_channel,
};

/// The SSRF address policy, re-exported from the shared crate so paths inside this plugin stay short.
pub use sigil_netpolicy as address_policy;
pub mod config;
/// Connecting only to checked addresses: the resolver lives in the shared crate (feature `ureq`).
pub use sigil_netpolicy::guard;
use sigil_push_common::delivery;
pub mod signature;

pub use config::WebhookConfig;

/// Longest accepted idempotency key: it travels in a header.
const MAX_IDEMPOTENCY_KEY_BYTES: usize = 256;

/// One configured webhook channel.
pub struct WebhookPush {
    config: WebhookConfig,
    agent: ureq::Agent,
}

impl WebhookPush {
    /// The checked configuration.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }
}

/// `https://hooks.example:8443/x?y` becomes `webhook hooks.example:8443`: enough to find the receiver in a
/// log, without paths or query strings that may carry tokens.
fn describe_target(url: &str) -> String {
    let authority = url.parse::<ureq::http::Uri>().ok().and_then(|uri| {
        uri.authority()
            .map(|authority| authority.as_str().to_owned())
    });
    format!("webhook {}", authority.as_deref().unwrap_or("?"))
}

impl PushChannel for WebhookPush {
    fn create(config: Value) -> Result<Self, PluginError> {
        let config = WebhookConfig::from_json(config)?;
        // Statuses classified here, no redirects (they would go to a host no rule has checked), no proxy,
        // and connections only to the addresses the guarded resolver checked: see `delivery::agent`.
        let agent = delivery::agent(
            concat!("sigil-push-webhook/", env!("CARGO_PKG_VERSION")),
            config.address_policy.clone(),
        );
        Ok(WebhookPush { config, agent })
    }

    /// Healthy when the config is valid, which `create` established. No request goes out: a webhook receiver
    /// has no standard ping, and a probe delivery would reach real receivers as a notification.
    fn health(&self) -> Result<HealthReport, PluginError> {
        let default = match &self.config.url {
            Some(url) => describe_target(url),
            None => "no default url (recipients must be URLs)".to_owned(),
        };
        let hosts = match &self.config.allowed_hosts {
            Some(hosts) => format!("{} allowed host pattern(s)", hosts.len()),
            None => "any host".to_owned(),
        };
        let networks = match self.config.address_policy.allowed().len() {
            0 => "public addresses only".to_owned(),
            n => format!("public addresses and {n} allowed private network(s)"),
        };
        Ok(HealthReport {
            detail: Some(format!(
                "config valid; {default}; {hosts}; {networks}; not probed"
            )),
        })
    }

    fn validate_recipient(
        &self,
        request: ValidateRecipientRequest,
    ) -> Result<ValidateRecipientResponse, PluginError> {
        Ok(delivery::validity(
            self.config.destination(&request.recipient),
        ))
    }

    fn send(&self, request: SendRequest) -> Result<SendResponse, PluginError> {
        let key = &request.idempotency_key;
        // It goes into a header: visible ASCII only, or the request could not be sent (or could be split).
        if key.is_empty()
            || key.len() > MAX_IDEMPOTENCY_KEY_BYTES
            || !key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(PluginError::invalid_input(format!(
                "`idempotency_key` must be 1 to {MAX_IDEMPOTENCY_KEY_BYTES} visible ASCII characters"
            )));
        }
        // The rules are checked again at send time: allowed_hosts may have been narrowed since the recipient
        // was registered.
        let url = match self.config.destination(&request.recipient) {
            Ok(url) => url,
            Err(reason) => return Ok(delivery::refused_recipient(key, reason)),
        };
        let body = serde_json::to_vec(&serde_json::json!({
            "idempotency_key": key,
            "recipient": request.recipient,
            "payload": request.payload,
        }))
        .map_err(|error| PluginError::internal(format!("cannot encode the delivery: {error}")))?;
        // A clock before 1970 is not a state to deliver from; 0 makes the receiver refuse it visibly.
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let signature = signature::sign(&self.config.secret, timestamp, &body);

        let timeout = delivery::deadline(request.timeout_ms, self.config.timeout);
        let target = describe_target(&url);
        let sent = self
            .agent
            .post(&url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("Content-Type", "application/json")
            .header("X-Sigil-Delivery", key.as_str())
            .header("X-Sigil-Timestamp", timestamp.to_string())
            .header("X-Sigil-Signature", signature)
            .send(&body[..]);
        let response = match sent {
            Ok(response) => response,
            // A refused address is `failed` like any other refused recipient; the rest is transient.
            Err(error) => return delivery::send_failure(error, key, &target, timeout),
        };
        // The body is not read: the status is the receiver's whole answer, and a slow or large body must not
        // turn a delivered notification into a time-out.
        let status = response.status().as_u16();
        delivery::answer(status, key, &target, |status, text| {
            let mut detail = format!("HTTP {text}: {target} refused the delivery");
            if (300..400).contains(&status) {
                detail.push_str(" (redirects are not followed; configure the final URL)");
            }
            detail
        })
    }
}

export_push_channel!(
    WebhookPush,
    name = "push-webhook",
    version = env!("CARGO_PKG_VERSION")
);

#[cfg(test)]
mod tests {
    use sigil_push_common::delivery::is_transient;

    use super::*;

    #[test]
    fn transient_statuses() {
        for status in [408, 425, 429, 500, 502, 503, 504] {
            assert!(is_transient(status), "{status}");
        }
        for status in [301, 400, 401, 403, 404, 410, 413, 422] {
            assert!(!is_transient(status), "{status}");
        }
    }

    #[test]
    fn targets_hide_paths_and_queries() {
        assert_eq!(
            describe_target("https://hooks.example:8443/in?token=abc"),
            "webhook hooks.example:8443"
        );
        assert_eq!(describe_target("::"), "webhook ?");
    }
}
