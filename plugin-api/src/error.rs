//! The error a plugin reports: a status code that crosses the boundary as the hook's return value, plus an
//! error message (JSON) in the out buffer with a human message and, for backend failures, an error class.

use serde::{Deserialize, Serialize};

use crate::abi::{SigilStatus, Status};

/// How a backend failure happened, for the host's failure accounting (circuit breakers, provider health).
///
/// Serialized as a snake_case string. A class this version does not know reads as [`ErrorClass::Unknown`], so
/// later minors may add classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Connection refused or reset, DNS failure, TLS failure: the backend was not reached.
    Network,
    /// The backend was reached but did not answer in time.
    Timeout,
    /// The backend answered with an HTTP error status (see `http_status`).
    HttpStatus,
    /// The backend answered, but the answer could not be parsed (not DER, not the expected content type).
    Parse,
    /// Anything else, including classes newer than this version of the crate.
    #[serde(other)]
    Unknown,
}

impl ErrorClass {
    /// The stable wire name (`"http_status"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Network => "network",
            ErrorClass::Timeout => "timeout",
            ErrorClass::HttpStatus => "http_status",
            ErrorClass::Parse => "parse",
            ErrorClass::Unknown => "unknown",
        }
    }
}

impl core::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error message schema: what a hook puts in its out buffer when it returns a status other than OK.
///
/// ```json
/// {"message": "TSA answered 503", "class": "http_status", "http_status": 503}
/// ```
/// Every field is optional on the wire; unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMessage {
    /// What went wrong, for logs. Never contains secrets.
    #[serde(default)]
    pub message: String,
    /// How a backend failure happened; absent when not a backend failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<ErrorClass>,
    /// The HTTP status the backend answered, with class `http_status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
}

/// A failed plugin operation, on either side of the boundary: plugins return it from trait methods, and the
/// host gets it back from [`crate::HostInstance`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct PluginError {
    /// The status code that crosses the boundary. Never [`Status::Ok`] in practice: the export shims turn an
    /// error carrying `Ok` into [`Status::Internal`].
    pub status: Status,
    /// What went wrong, for logs.
    pub message: String,
    /// How a backend failure happened.
    pub class: Option<ErrorClass>,
    /// The HTTP status the backend answered, with class [`ErrorClass::HttpStatus`].
    pub http_status: Option<u16>,
}

impl PluginError {
    /// An error with a status and message and no class.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        PluginError {
            status,
            message: message.into(),
            class: None,
            http_status: None,
        }
    }

    /// [`Status::InvalidInput`]: malformed config or request.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(Status::InvalidInput, message)
    }

    /// [`Status::Unsupported`]: an op, algorithm or option this plugin does not implement.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(Status::Unsupported, message)
    }

    /// [`Status::NotFound`]: a key or recipient that does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Status::NotFound, message)
    }

    /// [`Status::PermissionDenied`]: the backend refused for lack of rights.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(Status::PermissionDenied, message)
    }

    /// [`Status::Internal`]: any other failure inside the plugin.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Status::Internal, message)
    }

    /// [`Status::Backend`] with class [`ErrorClass::Network`]: the backend was not reached.
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(Status::Backend, message).with_class(ErrorClass::Network)
    }

    /// [`Status::Timeout`] with class [`ErrorClass::Timeout`].
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(Status::Timeout, message).with_class(ErrorClass::Timeout)
    }

    /// [`Status::Backend`] with class [`ErrorClass::HttpStatus`] and the status the backend answered.
    pub fn http_status(code: u16, message: impl Into<String>) -> Self {
        let mut error = Self::new(Status::Backend, message).with_class(ErrorClass::HttpStatus);
        error.http_status = Some(code);
        error
    }

    /// [`Status::Backend`] with class [`ErrorClass::Parse`]: the backend's answer could not be parsed.
    pub fn parse(message: impl Into<String>) -> Self {
        Self::new(Status::Backend, message).with_class(ErrorClass::Parse)
    }

    /// [`Status::Backend`] with class [`ErrorClass::Unknown`].
    pub fn backend(message: impl Into<String>) -> Self {
        Self::new(Status::Backend, message).with_class(ErrorClass::Unknown)
    }

    /// Sets the error class.
    pub fn with_class(mut self, class: ErrorClass) -> Self {
        self.class = Some(class);
        self
    }

    /// The status as it crosses the boundary; `Ok` is never reported for an error.
    pub fn raw_status(&self) -> SigilStatus {
        match self.status {
            Status::Ok => Status::Internal.as_raw(),
            status => status.as_raw(),
        }
    }

    /// The error message (JSON) that goes in the hook's out buffer.
    pub fn to_message_bytes(&self) -> Vec<u8> {
        let message = ErrorMessage {
            message: self.message.clone(),
            class: self.class,
            http_status: self.http_status,
        };
        // Serializing a struct of strings and integers into a Vec cannot fail.
        serde_json::to_vec(&message).unwrap_or_default()
    }

    /// Rebuilds the error from a hook's raw status and out buffer (host side). A status this version does not
    /// know becomes [`Status::Internal`]; a buffer that is not an error message becomes the message text.
    pub fn from_wire(raw_status: SigilStatus, message_bytes: &[u8]) -> Self {
        let status = Status::from_raw_lossy(raw_status);
        let message = if message_bytes.is_empty() {
            ErrorMessage::default()
        } else {
            serde_json::from_slice::<ErrorMessage>(message_bytes).unwrap_or_else(|_| ErrorMessage {
                message: String::from_utf8_lossy(message_bytes).into_owned(),
                ..ErrorMessage::default()
            })
        };
        let mut text = message.message;
        if Status::from_raw(raw_status).is_none() {
            text = format!("unknown status code {raw_status}: {text}");
        }
        if text.is_empty() {
            text = format!("plugin returned status {status} without a message");
        }
        PluginError {
            status,
            message: text,
            class: message.class,
            http_status: message.http_status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_round_trip() {
        let error = PluginError::http_status(503, "TSA answered 503");
        let bytes = error.to_message_bytes();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"message":"TSA answered 503","class":"http_status","http_status":503}"#
        );
        assert_eq!(PluginError::from_wire(error.raw_status(), &bytes), error);
    }

    #[test]
    fn from_wire_is_lenient() {
        // Unknown class and unknown fields are tolerated.
        let error = PluginError::from_wire(4, br#"{"message":"x","class":"quantum","extra":1}"#);
        assert_eq!(error.status, Status::Backend);
        assert_eq!(error.class, Some(ErrorClass::Unknown));
        // Plain text from a careless C plugin becomes the message.
        let error = PluginError::from_wire(7, b"out of memory");
        assert_eq!(error.message, "out of memory");
        // Unknown status codes read as internal and say so.
        let error = PluginError::from_wire(4242, b"");
        assert_eq!(error.status, Status::Internal);
        assert!(error.message.contains("4242"), "{}", error.message);
    }

    #[test]
    fn ok_is_never_reported_for_an_error() {
        assert_eq!(
            PluginError::new(Status::Ok, "confused").raw_status(),
            Status::Internal.as_raw()
        );
    }
}
