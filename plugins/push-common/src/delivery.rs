//! Posting a notification and reading the answer, the same way in every push channel: the HTTP client
//! ([`agent`]), the deadline of one delivery ([`deadline`]), and the mapping of what comes back onto
//! outcomes ([`answer`], [`send_failure`]).
//!
//! Outcomes: a 2xx answer is `delivered`; 408, 425, 429 and 5xx are transient errors
//! (`BACKEND`/`http_status`) that sigild retries; any other status is `failed`, with a detail the channel
//! words. A client error is a transient error ([`classify`]), except an address the policy refuses, which is
//! `failed` like any other refused recipient.

use std::io;
use std::time::Duration;

use sigil_netpolicy::{AddressPolicy, guard};
use sigil_plugin_api::{DeliveryOutcome, PluginError, SendResponse, ValidateRecipientResponse};

use crate::rules::ALLOW_HINT;

/// The client a channel posts with: every status is returned to be classified here (not turned into an
/// opaque error), redirects are never followed (they would send the delivery to a host no rule has
/// checked), proxy environment variables are ignored (the config alone decides where deliveries go), and
/// the connector dials only the addresses the guarded resolver returns, which `policy` has checked.
pub fn agent(user_agent: &str, policy: AddressPolicy) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .user_agent(user_agent)
        .build();
    ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::default(),
        guard::GuardedResolver::new(policy),
    )
}

/// A delivery's deadline: the host's hint when it gives one (0 reads as none), else the configured one.
pub fn deadline(hint_ms: Option<u64>, configured: Duration) -> Duration {
    match hint_ms {
        Some(ms) if ms > 0 => Duration::from_millis(ms),
        _ => configured,
    }
}

/// A `failed` outcome: permanent, sigild does not retry it.
pub fn failed(delivery_id: &str, detail: String) -> SendResponse {
    SendResponse {
        delivery_id: delivery_id.to_owned(),
        outcome: DeliveryOutcome::Failed,
        detail: Some(detail),
    }
}

/// The `failed` outcome of a recipient the channel's rules refuse (checked again at send time, as
/// `allowed_hosts` may have been narrowed since the recipient was registered).
pub fn refused_recipient(delivery_id: &str, reason: String) -> SendResponse {
    failed(delivery_id, format!("recipient refused: {reason}"))
}

/// The answer to `validate_recipient`: valid, or not with the rules' reason.
pub fn validity<T>(checked: Result<T, String>) -> ValidateRecipientResponse {
    match checked {
        Ok(_) => ValidateRecipientResponse {
            valid: true,
            reason: None,
        },
        Err(reason) => ValidateRecipientResponse {
            valid: false,
            reason: Some(reason),
        },
    }
}

/// Whether an error status is worth retrying: overload, rate limits and server-side failures pass, a refusal
/// of this request does not.
pub fn is_transient(status: u16) -> bool {
    matches!(status, 408 | 425 | 429) || status >= 500
}

/// `404 Not Found`, or the bare number for a status without a canonical reason.
pub fn status_text(status: u16) -> String {
    match ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

/// Maps a client error onto an error class; everything here is transient, so all are errors, not outcomes.
/// `target` names the receiver in the message (never its path), `timeout` is the deadline that applied.
pub fn classify(error: ureq::Error, target: &str, timeout: Duration) -> PluginError {
    use ureq::Error;
    let millis = timeout.as_millis();
    match error {
        Error::Timeout(phase) => PluginError::timeout(format!(
            "{target} did not answer within {millis} ms (timed out in phase: {phase})"
        )),
        Error::Io(error)
            if matches!(
                error.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) =>
        {
            PluginError::timeout(format!(
                "{target} did not answer within {millis} ms ({error})"
            ))
        }
        Error::Io(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
            PluginError::network(format!("{target}: connection refused"))
        }
        Error::Io(error) => PluginError::network(format!("{target}: {error}")),
        Error::HostNotFound => PluginError::network(format!("{target}: host name not found (DNS)")),
        Error::ConnectionFailed => PluginError::network(format!("{target}: connection failed")),
        error @ (Error::Tls(_) | Error::Rustls(_) | Error::Pem(_) | Error::TlsRequired) => {
            PluginError::network(format!("{target}: TLS failed: {error}"))
        }
        error @ (Error::Protocol(_) | Error::LargeResponseHeader(..)) => {
            PluginError::parse(format!("{target} did not answer valid HTTP: {error}"))
        }
        error => PluginError::backend(format!("{target}: {error}")),
    }
}

/// What a request that got no answer means: `failed` when the address policy refused the destination
/// (permanent like any other refused recipient: the same address would be refused on a retry), else the
/// transient error [`classify`] gives.
pub fn send_failure(
    error: ureq::Error,
    delivery_id: &str,
    target: &str,
    timeout: Duration,
) -> Result<SendResponse, PluginError> {
    if let Some(refused) = guard::refusal(&error) {
        return Ok(failed(
            delivery_id,
            format!("recipient refused: {target}: {refused}; {ALLOW_HINT}"),
        ));
    }
    Err(classify(error, target, timeout))
}

/// What an answer's `status` means: 2xx is `delivered` (detail `HTTP <status text>`), a transient status an
/// `http_status` error, anything else `failed` with the detail `refused` words from the status and its text.
pub fn answer(
    status: u16,
    delivery_id: &str,
    target: &str,
    refused: impl FnOnce(u16, &str) -> String,
) -> Result<SendResponse, PluginError> {
    let text = status_text(status);
    if (200..300).contains(&status) {
        return Ok(SendResponse {
            delivery_id: delivery_id.to_owned(),
            outcome: DeliveryOutcome::Delivered,
            detail: Some(format!("HTTP {text}")),
        });
    }
    if is_transient(status) {
        return Err(PluginError::http_status(
            status,
            format!("{target} answered {text}"),
        ));
    }
    Ok(failed(delivery_id, refused(status, &text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_statuses() {
        for status in [408, 425, 429, 500, 502, 503, 504, 507] {
            assert!(is_transient(status), "{status}");
        }
        for status in [301, 400, 401, 403, 404, 410, 413, 422] {
            assert!(!is_transient(status), "{status}");
        }
    }

    #[test]
    fn statuses_become_outcomes() {
        let refused = |status: u16, text: &str| format!("{status}/{text}");
        let delivered = answer(201, "k", "t", refused).unwrap();
        assert_eq!(delivered.outcome, DeliveryOutcome::Delivered);
        assert_eq!(delivered.detail.as_deref(), Some("HTTP 201 Created"));
        let failed = answer(410, "k", "t", refused).unwrap();
        assert_eq!(failed.outcome, DeliveryOutcome::Failed);
        assert_eq!(failed.detail.as_deref(), Some("410/410 Gone"));
        let error = answer(503, "k", "t", refused).unwrap_err();
        assert_eq!(error.message, "t answered 503 Service Unavailable");
        assert_eq!(status_text(599), "599");
        assert_eq!(
            deadline(Some(0), Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        assert_eq!(
            deadline(Some(5), Duration::from_secs(3)),
            Duration::from_millis(5)
        );
    }
}
