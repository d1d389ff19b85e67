//! The one place where failures become HTTP: every error kind maps to one status and one stable `code`, and every
//! error body has the shape `{"error", "code", "details"}` of the Sigilum API.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A failure the API reports to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The kind decides status and code.
    pub kind: ErrorKind,
    /// Human-readable message.
    pub message: String,
    /// Structured context (which field, why, retry hints).
    pub details: Value,
    /// A surface's own, more specific code (e.g. Sigilum's `SIGNATURE_EXPIRED`) in place of the kind's; the
    /// status still comes from the kind.
    pub code: Option<&'static str>,
    /// A machine-readable reason beside the code, top-level in the body (the signing-request refusals:
    /// `nonce_replay`, `origin_not_https`, ...).
    pub reason: Option<&'static str>,
}

/// Matchable error kinds, each with one status and one code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400 `INVALID_REQUEST`: malformed JSON or invalid parameters.
    InvalidRequest,
    /// 401 `UNAUTHORIZED`: missing, malformed, expired or revoked credentials.
    Unauthorized,
    /// 402 `QUOTA_EXCEEDED`: a monthly quota is used up.
    PaymentRequired,
    /// 403 `FORBIDDEN`: authenticated but not allowed.
    Forbidden,
    /// 404 `NOT_FOUND`: does not exist, or not visible to the caller.
    NotFound,
    /// 405 `METHOD_NOT_ALLOWED`.
    MethodNotAllowed,
    /// 409 `CONFLICT`: already exists or state conflict.
    Conflict,
    /// 410 `GONE`: it existed, and is over (an expired challenge).
    Gone,
    /// 413 `PAYLOAD_TOO_LARGE`.
    PayloadTooLarge,
    /// 415 `UNSUPPORTED_MEDIA_TYPE`.
    UnsupportedMediaType,
    /// 414 `URI_TOO_LONG`.
    UriTooLong,
    /// 431 `HEADERS_TOO_LARGE`: too many or too large request headers.
    HeadersTooLarge,
    /// 429 `RATE_LIMITED`.
    RateLimited {
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// 500 `INTERNAL`: our fault; details are logged, not returned.
    Internal,
    /// 502 `BAD_GATEWAY`: an upstream (plugin, TSA) failed.
    BadGateway,
    /// 503 `SERVICE_UNAVAILABLE`: temporary (store down, timeout, shutting down).
    Unavailable,
}

impl ErrorKind {
    /// The HTTP status for this kind.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::PaymentRequired => StatusCode::PAYMENT_REQUIRED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Gone => StatusCode::GONE,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::UriTooLong => StatusCode::URI_TOO_LONG,
            ErrorKind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorKind::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::BadGateway => StatusCode::BAD_GATEWAY,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "INVALID_REQUEST",
            ErrorKind::Unauthorized => "UNAUTHORIZED",
            ErrorKind::PaymentRequired => "QUOTA_EXCEEDED",
            ErrorKind::Forbidden => "FORBIDDEN",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorKind::Conflict => "CONFLICT",
            ErrorKind::Gone => "GONE",
            ErrorKind::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorKind::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorKind::UriTooLong => "URI_TOO_LONG",
            ErrorKind::HeadersTooLarge => "HEADERS_TOO_LARGE",
            ErrorKind::RateLimited { .. } => "RATE_LIMITED",
            ErrorKind::Internal => "INTERNAL",
            ErrorKind::BadGateway => "BAD_GATEWAY",
            ErrorKind::Unavailable => "SERVICE_UNAVAILABLE",
        }
    }
}

impl ApiError {
    /// An error with empty details.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            details: json!({}),
            code: None,
            reason: None,
        }
    }

    /// Adds the machine-readable `reason`.
    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// Replaces the kind's code with a more specific one that the API reference documents.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// The code the client sees.
    pub fn code(&self) -> &'static str {
        self.code.unwrap_or(self.kind.code())
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// 400 naming the offending field and why.
    pub fn invalid_field(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::new(
            ErrorKind::InvalidRequest,
            format!("invalid `{field}`: {reason}"),
        )
        .with_details(json!({ "field": field, "reason": reason }))
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    /// 404 for a kind of thing, e.g. `not_found("tenant")`.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorKind::NotFound, format!("{what} not found"))
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// 429 with the seconds a retry must wait (also sent as `Retry-After`).
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(
            ErrorKind::RateLimited { retry_after_secs },
            "rate limit exceeded",
        )
        .with_details(json!({ "retryAfterSeconds": retry_after_secs }))
    }

    /// 500: the cause goes to the log with the request id, the client gets a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            ErrorKind::Internal,
            "internal error; see the daemon log for this request id",
        )
    }

    /// 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body =
            json!({ "error": self.message, "code": self.code(), "details": self.details });
        if let Some(reason) = self.reason {
            body["reason"] = json!(reason);
        }
        body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code(), self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.kind.status(), axum::Json(self.body())).into_response();
        if let ErrorKind::RateLimited { retry_after_secs } = self.kind {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match error {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(message) => ApiError::conflict(message),
            // The store's wording names tables and indexes: log it, tell the client only what happened.
            StoreError::Duplicate(message) => {
                tracing::info!(error = %message, "store refused a duplicate");
                ApiError::conflict("already exists")
            }
            // The store's own words stay in the log (under the request id); clients learn only what happened.
            StoreError::Unavailable(message) => {
                tracing::error!(error = %message, "store unavailable");
                ApiError::unavailable("the store is unavailable; retry later")
            }
            other => ApiError::internal(other),
        }
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn store_wording_never_reaches_clients() {
        let cases = [
            (
                StoreError::Duplicate(
                    "Database index `user_email` already contains 'a@b.c'".into(),
                ),
                409,
            ),
            (
                StoreError::Query("Parse error: unexpected token in table `membership`".into()),
                500,
            ),
            (
                StoreError::Unavailable("connecting to ws://db.internal:8000: refused".into()),
                503,
            ),
            (
                StoreError::Decode("missing field `uid`: {\"x\":1}".into()),
                500,
            ),
        ];
        for (error, status) in cases {
            let api = ApiError::from(error.clone());
            assert_eq!(api.kind.status().as_u16(), status, "{error:?}");
            let body = api.body().to_string();
            for internal in ["user_email", "membership", "db.internal", "uid", "a@b.c"] {
                assert!(!body.contains(internal), "{error:?} leaked into {body}");
            }
        }
    }

    #[test]
    fn every_error_code_is_in_the_api_reference() {
        let reference = include_str!("../../docs/API.md");
        let kinds = [
            ErrorKind::InvalidRequest,
            ErrorKind::Unauthorized,
            ErrorKind::PaymentRequired,
            ErrorKind::Forbidden,
            ErrorKind::NotFound,
            ErrorKind::MethodNotAllowed,
            ErrorKind::Conflict,
            ErrorKind::Gone,
            ErrorKind::PayloadTooLarge,
            ErrorKind::UnsupportedMediaType,
            ErrorKind::UriTooLong,
            ErrorKind::HeadersTooLarge,
            ErrorKind::RateLimited {
                retry_after_secs: 1,
            },
            ErrorKind::Internal,
            ErrorKind::BadGateway,
            ErrorKind::Unavailable,
        ];
        for kind in kinds {
            let row = format!("| {} | `{}` |", kind.status().as_u16(), kind.code());
            assert!(
                reference.contains(&row),
                "docs/API.md's error table lacks `{row}`"
            );
        }
    }
}
