//! `sigil-push-webpush`: a Sigil push channel plugin for **Web Push** (browsers' push services) and
//! **UnifiedPush** (whose endpoints are Web Push endpoints): each notification is encrypted for the
//! subscription (RFC 8291, [`ece`]), signed for the push service with VAPID (RFC 8292, [`vapid`]) and posted
//! to the subscription's endpoint (RFC 8030).
//!
//! **Architecture Invariant:** the payload leaves this plugin only encrypted to the subscription's key; the
//! channel connects only to endpoints its rules admit ([`config`]) on addresses the [`address_policy`] admits
//! after resolution ([`guard`]), follows no redirects, and keeps no state between deliveries besides the
//! connection pool and the VAPID key.
//!
//! A delivery is:
//!
//! ```text
//! POST <endpoint>
//! TTL: <ttl_seconds>
//! Urgency: <urgency>                   when configured
//! Topic: <topic>                      the payload's `topic` (1 to 32 base64url characters), else derived
//!                                      from the idempotency key
//! Content-Type: application/octet-stream
//! Content-Encoding: aes128gcm
//! Authorization: vapid t=<JWT>, k=<VAPID public key>
//!
//! salt(16) ‖ rs(4) ‖ idlen(1) ‖ keyid(65) ‖ AES-128-GCM(payload JSON ‖ 0x02)
//! ```
//!
//! The plaintext is the payload JSON (compact), at most 3993 bytes; a larger payload is `failed`.
//!
//! Web Push has no idempotency key, and sigild retries a delivery whose answer it did not get. So that a
//! retry does not stack a second copy on the device, the `Topic` is by default the first 32 characters of the
//! base64url SHA-256 of the idempotency key: a push service replaces a still-undelivered message with a newer
//! one of the same topic (RFC 8030 §5.4). A copy already delivered is not recalled. A payload `topic` replaces
//! the default, to let one notification supersede another (e.g. "approval-42" updated).
//!
//! Recipients are push subscriptions as `PushSubscription.toJSON()` gives them (and UnifiedPush apps build
//! them), as a JSON string; other fields (`expirationTime`) are ignored:
//!
//! ```json
//! {"endpoint": "https://push.example/send/abc", "keys": {"p256dh": "<65-byte point, base64url>", "auth": "<16 bytes, base64url>"}}
//! ```
//!
//! The endpoint must be `https://`; `http://` is accepted only for a host written as an address inside
//! `allow_private_networks` (a UnifiedPush distributor on the LAN).
//!
//! Config (JSON, from the instance's `config` table):
//!
//! | key | type | default | |
//! | --- | --- | --- | --- |
//! | `vapid_private_key_file` | path | none | a VAPID P-256 private key of the plugin's own: PEM (PKCS#8 or SEC1) or the raw 32 bytes in base64url. Without it (the default), every delivery carries the host's credential (`SendRequest::vapid`: sigild signs it with a key in its KMS, `[approvals] vapid_subject`), and a delivery without one is `failed` |
//! | `vapid_subject` | string | with the key file | the JWT's `sub` for the plugin's own key: `mailto:ops@example.org` or an `https://` URL |
//! | `ttl_seconds` | integer | 86400 | `TTL`: how long the push service keeps an undelivered message (0 to 28 days) |
//! | `urgency` | string | none | `Urgency`: `very-low`, `low`, `normal` or `high` |
//! | `timeout_ms` | integer | 10000 | bound of one delivery when the request has no `timeout_ms` hint |
//! | `allowed_hosts` | array of string | any | hosts endpoints may name: `host`, `host:port`, `*.domain` |
//! | `allow_private_networks` | array of CIDR | none | non-public networks deliveries may reach, e.g. `["10.0.0.0/8"]` |
//! | `unifiedpush_discovery` | boolean | false | accept a new subscription only when its endpoint passes UnifiedPush discovery: a `GET` of the endpoint (same address rules, no redirects, the delivery timeout) answers 200 with `{"unifiedpush": {"version": 1}}`. For channels that serve UnifiedPush distributors only (browser push services do not answer it) |
//!
//! The health report shows the plugin's own VAPID public key, if it has one: it is then the
//! `applicationServerKey` a web app passes to `PushManager.subscribe()`; with the host's credentials, sigild
//! publishes its key as `vapid_public_key` in `GET /info`. A host credential is used only when its JWT's
//! `aud` is the subscription's endpoint origin.
//!
//! **Where deliveries may connect**: as push-webhook. Every endpoint must resolve to public unicast addresses
//! only unless `allow_private_networks` covers them (see `sigil_netpolicy`); a host written as an address is
//! checked when the recipient is validated, every host again on the addresses its lookup returned, and the
//! connection goes only to those. Redirects are never followed; proxy environment variables are ignored.
//!
//! Outcomes: a 2xx answer (201 Created, as RFC 8030 answers, 202, ...) is `delivered`. 404 and 410 are
//! `failed` with a detail saying that the subscription is gone (the device unsubscribed or expired: remove
//! it); 400, 413, 401/403 (VAPID refused) and any other 3xx/4xx are `failed` too. 408, 425, 429 and 5xx are
//! transient errors (`BACKEND`/`http_status`), as are no connection (`BACKEND`/`network`) and no answer in
//! time (`TIMEOUT`): sigild retries them.

use std::time::{SystemTime, UNIX_EPOCH};

use sigil_plugin_api::serde_json::{self, Value};
use sigil_plugin_api::{
    HealthReport, PluginError, PushChannel, SendRequest, SendResponse, ValidateRecipientRequest,
    ValidateRecipientResponse, export_push_channel,
};

/// The SSRF address policy, from the shared crate.
pub use sigil_netpolicy as address_policy;
pub mod config;
pub mod ece;
/// Connecting only to checked addresses: the resolver lives in the shared crate (feature `ureq`).
pub use sigil_netpolicy::guard;
use sigil_push_common::delivery;
pub mod vapid;

pub use config::{Subscription, WebPushConfig};

/// Longest RFC 8030 `Topic`: 32 characters of the base64url alphabet.
const MAX_TOPIC_CHARS: usize = 32;

/// One configured Web Push channel.
pub struct WebPushChannel {
    config: WebPushConfig,
    agent: ureq::Agent,
}

impl WebPushChannel {
    /// The checked configuration.
    pub fn config(&self) -> &WebPushConfig {
        &self.config
    }
}

/// The push service as logs show it: its origin, never the endpoint path (the path is the subscription's
/// capability: whoever has it can push to the device).
fn describe_target(subscription: &Subscription) -> String {
    format!("push service {}", subscription.audience)
}

/// The payload's `topic`, when it is a valid RFC 8030 `Topic`.
fn topic(payload: &serde_json::Map<String, Value>) -> Option<&str> {
    payload
        .get("topic")
        .and_then(Value::as_str)
        .filter(|topic| {
            !topic.is_empty()
                && topic.len() <= MAX_TOPIC_CHARS
                && topic
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The default `Topic` of a delivery: the same for every retry of one notification, and revealing nothing
/// of the key.
fn idempotency_topic(key: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(key.as_bytes());
    let mut topic = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    topic.truncate(MAX_TOPIC_CHARS);
    topic
}

fn unix_now() -> u64 {
    // A clock before 1970 gives a JWT that expired long ago: the push service refuses it visibly (401/403).
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

impl WebPushChannel {
    /// UnifiedPush discovery: the endpoint answers a `GET` with `{"unifiedpush": {"version": 1}}`.
    fn discover(&self, endpoint: &str) -> Result<(), String> {
        let response = self
            .agent
            .get(endpoint)
            .config()
            .timeout_global(Some(self.config.timeout))
            .build()
            .call()
            .map_err(|error| format!("UnifiedPush discovery of the endpoint failed: {error}"))?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(format!(
                "the endpoint is not a UnifiedPush endpoint: discovery answered {}",
                delivery::status_text(status)
            ));
        }
        let body = response
            .into_body()
            .with_config()
            .limit(4096)
            .read_to_string()
            .map_err(|error| format!("UnifiedPush discovery: unreadable answer ({error})"))?;
        let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        match answer["unifiedpush"]["version"].as_u64() {
            Some(1) => Ok(()),
            _ => Err(
                "the endpoint is not a UnifiedPush endpoint: discovery did not answer {\"unifiedpush\": {\"version\": 1}}"
                    .to_owned(),
            ),
        }
    }
}

impl PushChannel for WebPushChannel {
    fn create(config: Value) -> Result<Self, PluginError> {
        let config = WebPushConfig::from_json(config)?;
        // Statuses classified here, no redirects (they would go to a host no rule has checked), no proxy,
        // and connections only to the addresses the guarded resolver checked: see `delivery::agent`.
        let agent = delivery::agent(
            concat!("sigil-push-webpush/", env!("CARGO_PKG_VERSION")),
            config.address_policy.clone(),
        );
        Ok(WebPushChannel { config, agent })
    }

    /// Healthy when the config is valid, which `create` established. Nothing is sent: there is no push
    /// service to ping, and a probe would reach a real device.
    fn health(&self) -> Result<HealthReport, PluginError> {
        let hosts = match &self.config.allowed_hosts {
            Some(hosts) => format!("{} allowed host pattern(s)", hosts.len()),
            None => "any push service".to_owned(),
        };
        let vapid = match &self.config.vapid {
            Some(key) => format!(
                "VAPID public key (applicationServerKey) {}",
                key.public_key_b64()
            ),
            None => "VAPID credentials from the host (its KMS)".to_owned(),
        };
        Ok(HealthReport {
            detail: Some(format!("config valid; {vapid}; {hosts}; not probed")),
        })
    }

    fn validate_recipient(
        &self,
        request: ValidateRecipientRequest,
    ) -> Result<ValidateRecipientResponse, PluginError> {
        let checked = self.config.subscription(&request.recipient);
        match checked {
            Ok(subscription) if self.config.unifiedpush_discovery => {
                Ok(delivery::validity(self.discover(&subscription.endpoint)))
            }
            checked => Ok(delivery::validity(checked)),
        }
    }

    fn send(&self, request: SendRequest) -> Result<SendResponse, PluginError> {
        let key = &request.idempotency_key;
        // The rules are checked again at send time: allowed_hosts may have been narrowed since.
        let subscription = match self.config.subscription(&request.recipient) {
            Ok(subscription) => subscription,
            Err(reason) => return Ok(delivery::refused_recipient(key, reason)),
        };
        let plaintext = serde_json::to_vec(&request.payload).map_err(|error| {
            PluginError::internal(format!("cannot encode the message: {error}"))
        })?;
        let body = match ece::encrypt(&subscription.keys, &plaintext) {
            Ok(body) => body,
            // The same payload would be too large on every retry.
            Err(error @ ece::EceError::TooLarge(_)) => {
                return Ok(delivery::failed(key, format!("payload refused: {error}")));
            }
            Err(error) => return Err(PluginError::internal(error.to_string())),
        };
        let authorization = match (&request.vapid, &self.config.vapid, &self.config.subject) {
            (Some(host), _, _)
                if vapid::audience_of(&host.token) == Some(subscription.audience.clone()) =>
            {
                format!("vapid t={}, k={}", host.token, host.public_key)
            }
            (_, Some(own), Some(subject)) => own.authorization(
                &subscription.audience,
                subject,
                unix_now() + vapid::JWT_LIFETIME_SECS,
            ),
            (Some(_), _, _) => {
                return Ok(delivery::failed(
                    key,
                    "the host's VAPID credential is for another push service".to_owned(),
                ));
            }
            _ => {
                return Ok(delivery::failed(
                    key,
                    "no VAPID credential: set [approvals] vapid_subject in sigild, or vapid_private_key_file here"
                        .to_owned(),
                ));
            }
        };

        let timeout = delivery::deadline(request.timeout_ms, self.config.timeout);
        let target = describe_target(&subscription);
        let mut post = self
            .agent
            .post(&subscription.endpoint)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("TTL", self.config.ttl_seconds.to_string())
            .header("Content-Type", "application/octet-stream")
            .header("Content-Encoding", "aes128gcm")
            .header("Authorization", authorization);
        if let Some(urgency) = self.config.urgency {
            post = post.header("Urgency", urgency);
        }
        let topic = match topic(&request.payload) {
            Some(topic) => topic.to_owned(),
            None => idempotency_topic(key),
        };
        post = post.header("Topic", topic);
        let response = match post.send(&body[..]) {
            Ok(response) => response,
            // A refused address is `failed` like any other refused recipient; the rest is transient.
            Err(error) => return delivery::send_failure(error, key, &target, timeout),
        };
        // The body is not read: the status is the push service's whole answer.
        let status = response.status().as_u16();
        delivery::answer(status, key, &target, |status, text| {
            let why = match status {
                404 | 410 => {
                    "the subscription is gone (unsubscribed or expired): remove it from the device"
                }
                413 => "the encrypted message is too large for this push service",
                401 | 403 => {
                    "the push service refused the VAPID authorization (the subscription may belong to another application server key)"
                }
                300..=399 => "redirects are not followed",
                _ => "the push service refused the message",
            };
            format!("HTTP {text} from {target}: {why}")
        })
    }
}

export_push_channel!(
    WebPushChannel,
    name = "push-webpush",
    version = env!("CARGO_PKG_VERSION")
);

#[cfg(test)]
mod tests {
    use sigil_push_common::delivery::is_transient;

    use sigil_plugin_api::serde_json::json;

    use super::*;

    #[test]
    fn transient_statuses() {
        for status in [408, 425, 429, 500, 502, 503] {
            assert!(is_transient(status), "{status}");
        }
        for status in [301, 400, 401, 403, 404, 410, 413] {
            assert!(!is_transient(status), "{status}");
        }
    }

    #[test]
    fn topics_are_checked() {
        let topic_of = |value: Value| {
            let Value::Object(payload) = json!({"topic": value}) else {
                unreachable!()
            };
            topic(&payload).map(str::to_owned)
        };
        assert_eq!(
            topic_of(json!("approval-42_x")).as_deref(),
            Some("approval-42_x")
        );
        assert_eq!(topic_of(json!("a".repeat(33))), None);
        assert_eq!(topic_of(json!("a b")), None);
        assert_eq!(topic_of(json!("")), None);
        assert_eq!(topic_of(json!(7)), None);
        let derived = idempotency_topic("notif-1");
        assert_eq!(derived.len(), MAX_TOPIC_CHARS);
        assert_eq!(derived, idempotency_topic("notif-1"));
        assert_ne!(derived, idempotency_topic("notif-2"));
    }
}
