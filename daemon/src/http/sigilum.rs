//! What every route of the Sigilum surface (`/v1/*`, `/health`) shares, in the contract's shapes rather than the
//! seeds': validation failures as 400 `VALIDATION_ERROR` with `details: [{field, message}]`, malformed JSON as
//! 400 `INVALID_JSON`, and `limit`/`offset` pagination answered as `{limit, offset, total, has_more}`.
//!
//! [`FieldError`] and [`validation_error`] hold no axum type, so the application services of this surface
//! (`app::directory`, the claims engine) build their validation failures with them too.

use axum::extract::{FromRequest, Request};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::extract::has_media_type;
use crate::error::{ApiError, ErrorKind};
use crate::store::Window;

/// The code of a request that parsed but broke a rule.
pub const VALIDATION_ERROR: &str = "VALIDATION_ERROR";
/// The code of a body that is not JSON.
pub const INVALID_JSON: &str = "INVALID_JSON";

/// One broken rule: the field (a dotted path for nested fields, e.g. `webhook.secret`) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field.
    pub field: String,
    /// Why it is refused.
    pub message: String,
}

impl FieldError {
    /// A broken rule of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// 400 `VALIDATION_ERROR` with `details: [{field, message}, ...]`; the message names the first field.
pub fn validation_error(errors: Vec<FieldError>) -> ApiError {
    let message = match errors.first() {
        Some(first) => format!("invalid `{}`: {}", first.field, first.message),
        None => "invalid request".to_string(),
    };
    let details = serde_json::to_value(&errors).unwrap_or_else(|_| json!([]));
    ApiError::new(ErrorKind::InvalidRequest, message)
        .with_code(VALIDATION_ERROR)
        .with_details(details)
}

/// 400 `VALIDATION_ERROR` for one field.
pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
    validation_error(vec![FieldError::new(field, message)])
}

/// 400 `INVALID_JSON`.
pub fn invalid_json(reason: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorKind::InvalidRequest, "request body is not valid JSON")
        .with_code(INVALID_JSON)
        .with_details(json!({ "reason": reason.to_string() }))
}

/// A JSON body of a Sigilum route: 415 without `Content-Type: application/json`, 413 over the body limit, 400
/// `INVALID_JSON` when it does not parse, 400 `VALIDATION_ERROR` naming the field when a field is missing,
/// mistyped or unknown.
pub struct SigilumJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for SigilumJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !has_media_type(request.headers(), "application/json") {
            return Err(ApiError::new(
                ErrorKind::UnsupportedMediaType,
                "expected `Content-Type: application/json`",
            ));
        }
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(ErrorKind::PayloadTooLarge, "request body too large")
                } else {
                    ApiError::new(ErrorKind::InvalidRequest, rejection.body_text())
                }
            })?;
        parse_body(&body).map(SigilumJson)
    }
}

/// A [`SigilumJson`] body that may be left out: an empty body (with or without a content type) is
/// `T::default()`.
pub struct OptionalSigilumJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalSigilumJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = has_media_type(request.headers(), "application/json");
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(ErrorKind::PayloadTooLarge, "request body too large")
                } else {
                    ApiError::new(ErrorKind::InvalidRequest, rejection.body_text())
                }
            })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalSigilumJson(T::default()));
        }
        if !is_json {
            return Err(ApiError::new(
                ErrorKind::UnsupportedMediaType,
                "expected `Content-Type: application/json`",
            ));
        }
        parse_body(&body).map(OptionalSigilumJson)
    }
}

/// Parses a body in two steps, so that syntax (`INVALID_JSON`) and shape (`VALIDATION_ERROR`) answer differently.
fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(invalid_json)?;
    serde_path_to_error::deserialize::<_, T>(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        // A missing field is reported at its parent, with its name in backticks (an unknown one at itself).
        let missing = message.starts_with("missing field");
        let field = match (path.as_str(), backticked(&message)) {
            (".", Some(name)) if missing => name.to_string(),
            (".", _) => "body".to_string(),
            (parent, Some(name)) if missing => format!("{parent}.{name}"),
            (path, _) => path.to_string(),
        };
        invalid_field(field, message)
    })
}

/// The first `name` in a serde message such as "missing field `name`".
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// The raw `limit` and `offset` query parameters of a Sigilum list.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageParams {
    limit: Option<String>,
    offset: Option<String>,
}

/// A validated page of a Sigilum list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Items to return.
    pub limit: u64,
    /// Items to skip.
    pub offset: u64,
}

impl PageParams {
    /// Parameters as given (for tests and callers that read them elsewhere).
    pub fn new(limit: Option<&str>, offset: Option<&str>) -> Self {
        Self {
            limit: limit.map(str::to_string),
            offset: offset.map(str::to_string),
        }
    }

    /// Validates against the route's `default` and `max` limit (1..=max); the offset defaults to 0. A bad value is
    /// 400 `VALIDATION_ERROR` naming it.
    pub fn resolve(&self, default: u64, max: u64) -> Result<Page, ApiError> {
        let mut errors = Vec::new();
        let limit = match self.limit.as_deref().map(str::parse::<u64>) {
            None => default,
            Some(Ok(limit)) if (1..=max).contains(&limit) => limit,
            Some(_) => {
                errors.push(FieldError::new(
                    "limit",
                    format!("must be an integer from 1 to {max}"),
                ));
                default
            }
        };
        let offset = match self.offset.as_deref().map(str::parse::<u64>) {
            None => 0,
            Some(Ok(offset)) if offset <= i64::MAX as u64 / 2 => offset,
            Some(_) => {
                errors.push(FieldError::new("offset", "must be a non-negative integer"));
                0
            }
        };
        if errors.is_empty() {
            Ok(Page { limit, offset })
        } else {
            Err(validation_error(errors))
        }
    }
}

impl Page {
    /// The store window.
    pub fn window(self) -> Window {
        Window {
            offset: self.offset,
            limit: self.limit,
        }
    }

    /// `{limit, offset, total, has_more}`.
    pub fn pagination(self, total: u64) -> Value {
        json!({ "limit": self.limit, "offset": self.offset, "total": total,
                "has_more": self.offset.saturating_add(self.limit) < total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(limit, offset)`, or the fields named.
    type Expected = Result<(u64, u64), &'static [&'static str]>;

    #[test]
    fn pages_table() {
        let cases: &[(Option<&str>, Option<&str>, Expected)] = &[
            (None, None, Ok((50, 0))),
            (Some("1"), Some("0"), Ok((1, 0))),
            (Some("200"), Some("7"), Ok((200, 7))),
            (Some("0"), None, Err(&["limit"])),
            (Some("201"), None, Err(&["limit"])),
            (Some("ten"), None, Err(&["limit"])),
            (Some("-1"), None, Err(&["limit"])),
            (None, Some("-5"), Err(&["offset"])),
            (None, Some("1.5"), Err(&["offset"])),
            (Some(""), Some("x"), Err(&["limit", "offset"])),
        ];
        for (limit, offset, expected) in cases {
            let got = PageParams::new(*limit, *offset).resolve(50, 200);
            match (got, expected) {
                (Ok(page), Ok((limit, offset))) => {
                    assert_eq!((page.limit, page.offset), (*limit, *offset))
                }
                (Err(error), Err(fields)) => {
                    assert_eq!(error.code(), VALIDATION_ERROR);
                    let named: Vec<&str> = error
                        .details
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| e["field"].as_str().unwrap())
                        .collect();
                    assert_eq!(&named, fields, "{limit:?} {offset:?}");
                }
                (got, want) => panic!("{limit:?} {offset:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn pagination_says_whether_more_follow() {
        let page = Page {
            limit: 2,
            offset: 0,
        };
        assert_eq!(
            page.pagination(3),
            json!({ "limit": 2, "offset": 0, "total": 3, "has_more": true })
        );
        let last = Page {
            limit: 2,
            offset: 2,
        };
        assert_eq!(last.pagination(3)["has_more"], false);
        assert_eq!(last.window().offset, 2);
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        url: String,
    }

    #[test]
    fn bodies_answer_invalid_json_or_name_the_field() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("{", INVALID_JSON, None),
            ("not json", INVALID_JSON, None),
            ("{} trailing", INVALID_JSON, None),
            ("{}", VALIDATION_ERROR, Some("name")),
            (r#"{"name": 5}"#, VALIDATION_ERROR, Some("name")),
            (
                r#"{"name": "a", "extra": 1}"#,
                VALIDATION_ERROR,
                Some("extra"),
            ),
            (
                r#"{"name": "a", "inner": {}}"#,
                VALIDATION_ERROR,
                Some("inner.url"),
            ),
            (
                r#"{"name": "a", "inner": {"url": 1}}"#,
                VALIDATION_ERROR,
                Some("inner.url"),
            ),
            (
                r#"{"name": "a", "inner": {"url": "u", "x": 1}}"#,
                VALIDATION_ERROR,
                Some("inner.x"),
            ),
            ("[]", VALIDATION_ERROR, Some("body")),
        ];
        for (body, code, field) in cases {
            let error = parse_body::<Body>(body.as_bytes()).unwrap_err();
            assert_eq!(error.code(), *code, "{body}");
            assert_eq!(error.kind.status().as_u16(), 400, "{body}");
            if let Some(field) = field {
                assert_eq!(
                    error.details[0]["field"], *field,
                    "{body}: {:?}",
                    error.details
                );
                assert!(error.details[0]["message"].is_string(), "{body}");
            }
        }
        assert!(parse_body::<Body>(br#"{"name": "a"}"#).is_ok());
    }

    #[test]
    fn validation_errors_have_the_contract_shape() {
        let error = validation_error(vec![
            FieldError::new("slug", "too short"),
            FieldError::new("name", "empty"),
        ]);
        assert_eq!(
            error.body()["details"],
            json!([{ "field": "slug", "message": "too short" }, { "field": "name", "message": "empty" }])
        );
        assert_eq!(error.body()["code"], "VALIDATION_ERROR");
    }
}
