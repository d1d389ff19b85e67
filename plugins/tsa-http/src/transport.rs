//! One blocking HTTP POST with a deadline, and the mapping of every way it can fail onto the plugin-api error
//! classes (`network`, `timeout`, `parse`, `unknown`); sigild's circuit breakers count failures by class, so
//! the mapping is the point of this module.

use std::io;
use std::time::Duration;

use sigil_plugin_api::PluginError;

/// What the server answered, whatever its status.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, if any and if it is visible ASCII.
    pub content_type: Option<String>,
    /// The body, at most the limit passed to [`Transport::post`]. Empty for non-2xx answers, whose bodies are
    /// not read: they are not passed on, and an error page can be large.
    pub body: Vec<u8>,
}

/// A connection-pooling HTTP(S) client for one plugin instance. Cheap to share between threads.
pub struct Transport {
    agent: ureq::Agent,
}

impl Transport {
    /// Builds the client; `proxy` was validated by the config.
    pub fn new(proxy: Option<&str>, user_agent: &str) -> Result<Self, PluginError> {
        let proxy = proxy
            .map(ureq::Proxy::new)
            .transpose()
            .map_err(|error| PluginError::invalid_input(format!("proxy: {error}")))?;
        let config = ureq::Agent::config_builder()
            // Every status is classified here, not turned into an opaque error by the client.
            .http_status_as_error(false)
            // A redirect is reported as an HTTP status rather than followed: the endpoint is configured
            // explicitly, and following it would re-send the body (and credentials) somewhere else.
            .max_redirects(0)
            // `None` also stops ureq from reading proxy environment variables.
            .proxy(proxy)
            .user_agent(user_agent)
            .build();
        Ok(Transport {
            agent: ureq::Agent::new_with_config(config),
        })
    }

    /// POSTs `body` to `url` with `headers`, bounding the whole exchange (DNS, connect, TLS, send, receive) by
    /// `timeout` and the response body by `limit` bytes. `target` names the server in error messages.
    pub fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
        limit: u64,
        target: &str,
    ) -> Result<Reply, PluginError> {
        let mut request = self
            .agent
            .post(url)
            .config()
            .timeout_global(Some(timeout))
            .build();
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request
            .send(body)
            .map_err(|error| classify(error, target, timeout))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(ureq::http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = if (200..300).contains(&status) {
            response
                .body_mut()
                .with_config()
                .limit(limit)
                .read_to_vec()
                .map_err(|error| classify(error, target, timeout))?
        } else {
            Vec::new()
        };
        Ok(Reply {
            status,
            content_type,
            body,
        })
    }
}

/// `"503 Service Unavailable"`, or just the number for a code without a standard reason.
pub fn status_text(status: u16) -> String {
    match ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|code| code.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

/// Maps a client error onto an error class.
pub fn classify(error: ureq::Error, target: &str, timeout: Duration) -> PluginError {
    use ureq::Error;
    let millis = timeout.as_millis();
    match error {
        Error::Timeout(phase) => PluginError::timeout(format!(
            "{target} did not answer within {millis} ms (timed out in phase: {phase})"
        )),
        Error::Io(error) => classify_io(&error, target, millis),
        Error::HostNotFound => PluginError::network(format!("{target}: host name not found (DNS)")),
        Error::ConnectionFailed => PluginError::network(format!("{target}: connection failed")),
        Error::ConnectProxyFailed(reason) => {
            PluginError::network(format!("{target}: the proxy refused to connect: {reason}"))
        }
        error @ (Error::Tls(_) | Error::Rustls(_) | Error::Pem(_) | Error::TlsRequired) => {
            PluginError::network(format!("{target}: TLS failed: {error}"))
        }
        Error::BodyExceedsLimit(limit) => PluginError::parse(format!(
            "{target} answered with a body larger than {limit} bytes"
        )),
        error @ (Error::Protocol(_) | Error::LargeResponseHeader(..)) => {
            PluginError::parse(format!("{target} did not answer valid HTTP: {error}"))
        }
        Error::StatusCode(status) => {
            PluginError::http_status(status, format!("{target} answered {}", status_text(status)))
        }
        error => PluginError::backend(format!("{target}: {error}")),
    }
}

/// I/O errors during an exchange mean the server was not (or no longer) reachable, except a read or write
/// deadline, which is a timeout.
fn classify_io(error: &io::Error, target: &str, millis: u128) -> PluginError {
    match error.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => PluginError::timeout(format!(
            "{target} did not answer within {millis} ms ({error})"
        )),
        io::ErrorKind::ConnectionRefused => {
            PluginError::network(format!("{target}: connection refused"))
        }
        _ => PluginError::network(format!("{target}: {error}")),
    }
}
