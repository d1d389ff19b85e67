//! `sigil-tsa-http`: a Sigil TSA backend plugin that carries RFC 3161 time-stamp requests to a time-stamping
//! authority over HTTP or HTTPS (RFC 3161 §3.4: a POST of the DER `TimeStampReq` as
//! `application/timestamp-query`, answered by the DER `TimeStampResp` as `application/timestamp-reply`).
//!
//! **Architecture Invariant:** the plugin carries bytes and classifies failures; it never decodes or verifies
//! the token (sigild does, against the request it built). Its only check of an answer is the shape check in
//! [`reply`], which tells a TimeStampResp from an error page served with status 200.
//!
//! Config (JSON, from the instance's `config` table):
//!
//! | key | type | default | |
//! | --- | --- | --- | --- |
//! | `url` | string | required | `http://` or `https://` endpoint, without credentials |
//! | `timeout_ms` | integer | 10000 | bound of one exchange when the request has no `timeout_ms` hint |
//! | `username` | string | none | HTTP basic auth user |
//! | `password` / `password_file` | string / path | none | basic auth password, inline or from a file |
//! | `hash` | string | `"sha256"` | preferred imprint hash (`sha256`, `sha384`, `sha512`), for `describe` |
//! | `slug` | string | the host | short stable id, `[a-z0-9._-]` |
//! | `name` | string | the host | display name |
//! | `qualified` | bool | false | issues eIDAS qualified time stamps |
//! | `policy_oid` | string | none | TSA policy OID, dotted |
//! | `proxy` | string | none | HTTP proxy URL; proxy environment variables are not read |

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sigil_plugin_api::serde_json::Value;
use sigil_plugin_api::{
    HealthReport, PluginError, TimestampRequest, TimestampResponse, TsaBackend, TsaDescribeRequest,
    TsaDescription, export_tsa_backend,
};

pub mod config;
pub mod reply;
mod transport;

pub use config::TsaHttpConfig;

/// Largest accepted TimeStampResp. Real tokens are a few KiB (a certificate chain included); an answer near
/// this size is not one, and reading it unbounded would let a broken TSA exhaust the daemon's memory.
pub const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

/// The media type RFC 3161 §3.4 prescribes for answers.
const TIMESTAMP_REPLY: &str = "application/timestamp-reply";
/// The name some older TSAs use for the same thing; accepted as equivalent.
const TIMESTAMP_RESPONSE_LEGACY: &str = "application/timestamp-response";

/// One configured TSA endpoint.
pub struct TsaHttp {
    config: TsaHttpConfig,
    transport: transport::Transport,
    /// Successful answers whose content type was wrong: accepted, but worth an operator's look, so health
    /// reports the count (a plugin has no other channel to sigild's logs than stderr).
    wrong_content_type: AtomicU64,
}

impl TsaHttp {
    /// The checked configuration.
    pub fn config(&self) -> &TsaHttpConfig {
        &self.config
    }

    /// The exchange's deadline: the host's hint when it gives one, else the configured timeout. A hint of 0
    /// would make every request fail at once, so it reads as "no hint".
    fn deadline(&self, hint_ms: Option<u64>) -> Duration {
        match hint_ms {
            Some(ms) if ms > 0 => Duration::from_millis(ms),
            _ => self.config.timeout,
        }
    }

    fn warn(&self, message: &str) {
        eprintln!("sigil-tsa-http[{}]: warning: {message}", self.config.slug);
    }
}

/// Whether a `Content-Type` value names the time-stamp reply type, ignoring case and parameters.
fn is_timestamp_reply(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|value| {
        let essence = value.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case(TIMESTAMP_REPLY)
            || essence.eq_ignore_ascii_case(TIMESTAMP_RESPONSE_LEGACY)
    })
}

impl TsaBackend for TsaHttp {
    fn create(config: Value) -> Result<Self, PluginError> {
        let config = TsaHttpConfig::from_json(config)?;
        let user_agent = concat!("sigil-tsa-http/", env!("CARGO_PKG_VERSION"));
        let transport = transport::Transport::new(config.proxy.as_deref(), user_agent)?;
        let plugin = TsaHttp {
            config,
            transport,
            wrong_content_type: AtomicU64::new(0),
        };
        if plugin.config.authorization.is_some() && !plugin.config.https {
            // Not refused: many TSAs only speak http, and on a LAN that may be acceptable. But it is the
            // operator's call to make knowingly.
            plugin.warn("basic auth credentials are sent over plain http");
        }
        Ok(plugin)
    }

    /// Healthy when the config is valid, which `create` already established; no request goes out. A TSA has
    /// no side-effect-free ping: a probe would be a real time-stamp request (billed or rate-limited by
    /// commercial TSAs) sent from every instance at every health interval, and on an offline box it would
    /// only repeat what sigild already learns from real requests, whose failures it counts by class.
    fn health(&self) -> Result<HealthReport, PluginError> {
        let mut detail = format!(
            "config valid; endpoint {}; not probed (health sends no time-stamp request)",
            self.config.url
        );
        let wrong = self.wrong_content_type.load(Ordering::Relaxed);
        if wrong > 0 {
            detail.push_str(&format!(
                "; {wrong} answer(s) had a content type other than {TIMESTAMP_REPLY}"
            ));
        }
        Ok(HealthReport {
            detail: Some(detail),
        })
    }

    fn describe(&self, _request: TsaDescribeRequest) -> Result<TsaDescription, PluginError> {
        Ok(TsaDescription {
            slug: self.config.slug.clone(),
            name: self.config.name.clone(),
            hash_algorithms: vec![self.config.hash.clone()],
            qualified: self.config.qualified,
            policy_oid: self.config.policy_oid.clone(),
        })
    }

    fn timestamp(&self, request: TimestampRequest) -> Result<TimestampResponse, PluginError> {
        if request.request_der.is_empty() {
            return Err(PluginError::invalid_input("`request_der` is empty"));
        }
        let timeout = self.deadline(request.timeout_ms);
        let target = format!("TSA {}", self.config.host);
        let mut headers = vec![
            ("Content-Type", "application/timestamp-query"),
            ("Accept", TIMESTAMP_REPLY),
        ];
        if let Some(authorization) = &self.config.authorization {
            headers.push(("Authorization", authorization));
        }
        let reply = self.transport.post(
            &self.config.url,
            &headers,
            &request.request_der,
            timeout,
            MAX_RESPONSE_BYTES,
            &target,
        )?;
        if !(200..300).contains(&reply.status) {
            return Err(PluginError::http_status(
                reply.status,
                format!("{target} answered {}", transport::status_text(reply.status)),
            ));
        }
        let content_type = reply.content_type.as_deref();
        if let Err(problem) = reply::check_timestamp_resp_shape(&reply.body) {
            return Err(PluginError::parse(format!(
                "{target} answered {} with {} bytes of {} that are not a DER TimeStampResp: {problem}",
                reply.status,
                reply.body.len(),
                content_type.unwrap_or("no content type"),
            )));
        }
        if !is_timestamp_reply(content_type) {
            // The body has the right shape, and sigild verifies it anyway; refusing it over a header would
            // only turn a working TSA into a failing one. Warn once per instance, count always.
            if self.wrong_content_type.fetch_add(1, Ordering::Relaxed) == 0 {
                self.warn(&format!(
                    "{target} answered with content type {:?} instead of {TIMESTAMP_REPLY}; accepted because \
                     the body is a TimeStampResp (further occurrences are counted in health)",
                    content_type.unwrap_or("")
                ));
            }
        }
        Ok(TimestampResponse {
            response_der: reply.body.into(),
        })
    }
}

export_tsa_backend!(
    TsaHttp,
    name = "tsa-http",
    version = env!("CARGO_PKG_VERSION")
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_matching() {
        for (value, expected) in [
            (Some("application/timestamp-reply"), true),
            (Some("Application/Timestamp-Reply; charset=binary"), true),
            (Some("application/timestamp-response"), true),
            (Some("application/octet-stream"), false),
            (Some("text/html"), false),
            (None, false),
        ] {
            assert_eq!(is_timestamp_reply(value), expected, "{value:?}");
        }
    }
}
