//! `sigil-push-ntfy`: a Sigil push channel plugin that publishes each notification to an
//! [ntfy](https://docs.ntfy.sh) topic, which the device's ntfy app (or a UnifiedPush distributor) subscribes to.
//!
//! **Architecture Invariant:** the channel decides where a publish may go ([`config`]) and connects only to
//! addresses the [`address_policy`] admits, checked after resolution ([`guard`]); the access token goes only
//! to the configured `server`. It keeps no state between publishes besides the connection pool.
//!
//! A delivery is ntfy's plain publish form, `POST <server>/<topic>` with the payload as the message body:
//!
//! ```text
//! Content-Type: application/json
//! Authorization: Bearer <token>        only with a `token`, and only to `server`
//! Title: <title>                       the payload's `title` string, else the config's `title`, else none
//! Priority: <1..5>                     the payload's `priority`, when it is an integer from 1 to 5
//!
//! {"title": "Approve signing?", "request": 42}
//! ```
//!
//! The body is the payload JSON as it is, so the device gets exactly what sigild sent (ntfy shows it as the
//! message text; an app or UnifiedPush client parses it). We chose this form over ntfy's JSON publish form
//! (`POST <server>/` with `{"topic", "message", ...}`) because it also works for a full topic URL whose
//! server is not ours, and because a UnifiedPush endpoint is exactly such a URL that expects the raw message.
//! A title that is not printable ASCII is sent as an RFC 2047 encoded-word (`=?UTF-8?B?...?=`), which ntfy
//! decodes. ntfy turns a body over its message limit (4096 bytes by default) into an attachment.
//!
//! Recipients:
//!
//! - a **topic**, 1 to 64 characters of `[A-Za-z0-9_-]`: published to `<server>/<topic>` (with the token);
//! - a **topic URL**, `https://host[:port]/[path/]<topic>` (the device's own ntfy server, or a UnifiedPush
//!   endpoint of the ntfy distributor), checked against `allowed_hosts`; the token goes with it only when it
//!   is on `server`. `http://` is accepted only for a host written as an address inside
//!   `allow_private_networks` (or on `server` itself).
//!
//! Config (JSON, from the instance's `config` table):
//!
//! | key | type | default | |
//! | --- | --- | --- | --- |
//! | `server` | string | required | the ntfy server, `https://ntfy.example` or with a path prefix; `http://` allowed |
//! | `token` / `token_file` | string / path | none | access token sent as `Authorization: Bearer`, inline or from a file |
//! | `title` | string | none | title when the payload has no `title` string |
//! | `timeout_ms` | integer | 10000 | bound of one publish when the request has no `timeout_ms` hint |
//! | `allowed_hosts` | array of string | any | hosts topic URLs may name: `host`, `host:port`, `*.domain` |
//! | `allow_private_networks` | array of CIDR | none | non-public networks publishes may reach, e.g. `["10.0.0.0/8"]` |
//!
//! **Where publishes may connect**: as push-webhook. Every destination, `server` included, must resolve to
//! public unicast addresses only unless `allow_private_networks` covers them (see `sigil_netpolicy` for the
//! ranges); a host written as an address is checked when the config is read or the recipient validated,
//! every host again on the addresses its lookup returned, and the connection goes only to those. Redirects
//! are never followed; proxy environment variables are ignored.
//!
//! Outcomes: a 2xx answer is `delivered`. 408, 425, 429 and 5xx are transient errors (`BACKEND`/`http_status`),
//! as are no connection (`BACKEND`/`network`) and no answer in time (`TIMEOUT`): sigild retries them. Any
//! other answer (3xx, 4xx: unknown topic, refused token, message too large) is `failed`, as is a recipient the
//! rules or the address policy refuse.

use base64::Engine as _;
use sigil_plugin_api::serde_json::{self, Value};
use sigil_plugin_api::{
    HealthReport, PluginError, PushChannel, SendRequest, SendResponse, ValidateRecipientRequest,
    ValidateRecipientResponse, export_push_channel,
};

/// The SSRF address policy, from the shared crate.
pub use sigil_netpolicy as address_policy;
pub mod config;
/// Connecting only to checked addresses: the resolver lives in the shared crate (feature `ureq`).
pub use sigil_netpolicy::guard;
use sigil_push_common::delivery;

pub use config::NtfyConfig;

/// One configured ntfy channel.
pub struct NtfyPush {
    config: NtfyConfig,
    agent: ureq::Agent,
}

impl NtfyPush {
    /// The checked configuration.
    pub fn config(&self) -> &NtfyConfig {
        &self.config
    }
}

/// `https://ntfy.example:8443/alerts-7` becomes `ntfy ntfy.example:8443`: the server, without the topic (a
/// topic name is the only secret protecting an unauthenticated ntfy topic).
fn describe_target(url: &str) -> String {
    let authority = url.parse::<ureq::http::Uri>().ok().and_then(|uri| {
        uri.authority()
            .map(|authority| authority.as_str().to_owned())
    });
    format!("ntfy {}", authority.as_deref().unwrap_or("?"))
}

/// A header value for a title: as it is when printable ASCII, else an RFC 2047 encoded-word.
pub fn header_title(title: &str) -> String {
    if title.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        title.to_owned()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(title)
        )
    }
}

impl PushChannel for NtfyPush {
    fn create(config: Value) -> Result<Self, PluginError> {
        let config = NtfyConfig::from_json(config)?;
        // Statuses classified here, no redirects (they would go to a host no rule has checked), no proxy,
        // and connections only to the addresses the guarded resolver checked: see `delivery::agent`.
        let agent = delivery::agent(
            concat!("sigil-push-ntfy/", env!("CARGO_PKG_VERSION")),
            config.address_policy.clone(),
        );
        Ok(NtfyPush { config, agent })
    }

    /// Healthy when the config is valid, which `create` established. Nothing is published: a probe message
    /// would reach real devices.
    fn health(&self) -> Result<HealthReport, PluginError> {
        let auth = if self.config.token.is_some() {
            "with a token"
        } else {
            "anonymous"
        };
        let hosts = match &self.config.allowed_hosts {
            Some(hosts) => format!("{} allowed host pattern(s) for topic URLs", hosts.len()),
            None => "topic URLs on any host".to_owned(),
        };
        Ok(HealthReport {
            detail: Some(format!(
                "config valid; {}, {auth}; {hosts}; not probed",
                describe_target(&self.config.server)
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
        // The rules are checked again at send time: allowed_hosts may have been narrowed since.
        let destination = match self.config.destination(&request.recipient) {
            Ok(destination) => destination,
            Err(reason) => return Ok(delivery::refused_recipient(key, reason)),
        };
        let body = serde_json::to_vec(&request.payload).map_err(|error| {
            PluginError::internal(format!("cannot encode the message: {error}"))
        })?;
        let title = match request.payload.get("title") {
            Some(Value::String(title)) => Some(title.as_str()),
            _ => self.config.title.as_deref(),
        }
        .map(|title| title.replace(|c: char| c.is_control(), " "))
        .filter(|title| !title.trim().is_empty());
        let priority = request
            .payload
            .get("priority")
            .and_then(Value::as_u64)
            .filter(|priority| (1..=5).contains(priority));

        let timeout = delivery::deadline(request.timeout_ms, self.config.timeout);
        let target = describe_target(&destination.url);
        let mut publish = self
            .agent
            .post(&destination.url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("Content-Type", "application/json");
        if destination.with_token
            && let Some(token) = &self.config.token
        {
            publish = publish.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(title) = title {
            publish = publish.header("Title", header_title(&title));
        }
        if let Some(priority) = priority {
            publish = publish.header("Priority", priority.to_string());
        }
        let response = match publish.send(&body[..]) {
            Ok(response) => response,
            // A refused address is `failed` like any other refused recipient; the rest is transient.
            Err(error) => return delivery::send_failure(error, key, &target, timeout),
        };
        // The body (ntfy's message JSON) is not read: the status is the whole answer, and a slow body must not
        // turn a published message into a time-out that sigild would retry as a duplicate.
        let status = response.status().as_u16();
        delivery::answer(status, key, &target, |status, text| {
            let mut detail = format!("HTTP {text}: {target} refused the message");
            match status {
                300..=399 => {
                    detail.push_str(" (redirects are not followed; configure the final URL)")
                }
                401 | 403 if destination.with_token => {
                    detail.push_str(" (check the channel's `token` and the topic's access rights)");
                }
                401 | 403 => {
                    detail.push_str(" (the topic is protected; the token is sent only to `server`)")
                }
                413 => detail.push_str(" (the message is too large for this server)"),
                _ => {}
            }
            detail
        })
    }
}

export_push_channel!(
    NtfyPush,
    name = "push-ntfy",
    version = env!("CARGO_PKG_VERSION")
);

#[cfg(test)]
mod tests {
    use sigil_push_common::delivery::is_transient;

    use super::*;

    #[test]
    fn transient_statuses() {
        for status in [408, 425, 429, 500, 502, 503, 507] {
            assert!(is_transient(status), "{status}");
        }
        for status in [301, 400, 401, 403, 404, 413] {
            assert!(!is_transient(status), "{status}");
        }
    }

    #[test]
    fn targets_hide_topics() {
        assert_eq!(
            describe_target("https://ntfy.example:8443/secret-topic"),
            "ntfy ntfy.example:8443"
        );
    }

    #[test]
    fn titles_outside_ascii_are_encoded_words() {
        assert_eq!(header_title("Approve signing?"), "Approve signing?");
        assert_eq!(
            header_title("Signatur prüfen"),
            "=?UTF-8?B?U2lnbmF0dXIgcHLDvGZlbg==?="
        );
    }
}
