//! Webhook endpoints and deliveries in the Sigilum JSON shape, as plain functions a route handler calls after it
//! has established the owner (e.g. that the service in the path belongs to the caller). No routes are mounted
//! here: each surface mounts these under its own paths (Sigilum: `/v1/services/{id}/webhooks`).
//!
//! Shapes: an endpoint is `{id, url, events, active, created_at}`; a delivery is `{id, event_id, event, state,
//! attempts, next_attempt_at, last_status, created_at, attempt_log:[{at, status, error, duration_ms}]}`. Secrets
//! and auth header values are never rendered.

use serde_json::{Value, json};

use super::AppState;
use crate::app::webhooks::{DeliveryView, EndpointView, NewEndpointInput, Surface, WebhookError};
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::ids::TenantScope;
use crate::secret::Secret;

impl From<WebhookError> for ApiError {
    fn from(error: WebhookError) -> Self {
        match error {
            WebhookError::Validation { field, message } => validation(field, &message),
            WebhookError::InvalidUrl(message) => {
                ApiError::new(ErrorKind::InvalidRequest, message).with_code("INVALID_WEBHOOK_URL")
            }
            WebhookError::LimitReached => {
                ApiError::new(ErrorKind::InvalidRequest, error.to_string())
                    .with_code("WEBHOOK_LIMIT_REACHED")
            }
            WebhookError::NotFound(what) => ApiError::not_found(what),
            WebhookError::Store(error) => error.into(),
        }
    }
}

/// 400 `VALIDATION_ERROR` with `details: [{field, message}]`.
fn validation(field: &str, message: &str) -> ApiError {
    ApiError::new(
        ErrorKind::InvalidRequest,
        format!("invalid `{field}`: {message}"),
    )
    .with_code("VALIDATION_ERROR")
    .with_details(json!([{ "field": field, "message": message }]))
}

/// An endpoint: `{id, url, events, active, created_at}`.
pub fn endpoint_json(view: &EndpointView) -> Value {
    json!({
        "id": view.id,
        "url": view.url,
        "events": view.events,
        "active": view.active,
        "created_at": view.created_at,
    })
}

/// A delivery with its attempt log.
pub fn delivery_json(view: &DeliveryView) -> Value {
    json!({
        "id": view.id,
        "event_id": view.event_id,
        "event": view.event,
        "state": view.state,
        "attempts": view.attempts,
        "next_attempt_at": view.next_attempt_at,
        "last_status": view.last_status,
        "created_at": view.created_at,
        "attempt_log": view.attempt_log.iter().map(|attempt| json!({
            "at": attempt.at,
            "status": attempt.status,
            "error": attempt.error,
            "duration_ms": attempt.duration_ms,
        })).collect::<Vec<_>>(),
    })
}

/// Reads `{url, events?, secret, auth_header?, auth_value?}`, naming the field that is wrong.
pub fn parse_endpoint_input(body: &Value) -> ApiResult<NewEndpointInput> {
    let object = body
        .as_object()
        .ok_or_else(|| validation("body", "must be a JSON object"))?;
    let string = |field: &'static str, required: bool| -> ApiResult<Option<String>> {
        match object.get(field) {
            None | Some(Value::Null) if !required => Ok(None),
            None | Some(Value::Null) => Err(validation(field, "is required")),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(validation(field, "must be a string")),
        }
    };
    let url = string("url", true)?.unwrap_or_default();
    let secret = string("secret", true)?.unwrap_or_default();
    let events = match object.get("events") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| validation("events", "must be an array of strings"))
            })
            .collect::<ApiResult<Vec<String>>>()?,
        Some(_) => return Err(validation("events", "must be an array of strings")),
    };
    Ok(NewEndpointInput {
        url,
        events,
        secret: Secret::new(secret),
        auth_header: string("auth_header", false)?,
        auth_value: string("auth_value", false)?.map(Secret::new),
    })
}

/// `POST .../webhooks`: registers an endpoint for `owner`; answers the endpoint (the caller sends 201).
pub async fn create_endpoint(
    state: &AppState,
    scope: &TenantScope,
    owner: &str,
    surface: Surface,
    body: &Value,
    allowed_events: &[&str],
) -> ApiResult<Value> {
    let input = parse_endpoint_input(body)?;
    let view = state
        .webhooks
        .create_endpoint(scope, owner, surface, input, allowed_events)
        .await?;
    Ok(endpoint_json(&view))
}

/// `GET .../webhooks`: `{webhooks: [...]}`, the owner's active endpoints.
pub async fn list_endpoints(
    state: &AppState,
    scope: &TenantScope,
    owner: &str,
) -> ApiResult<Value> {
    let views = state.webhooks.list_endpoints(scope, owner).await?;
    Ok(json!({ "webhooks": views.iter().map(endpoint_json).collect::<Vec<_>>() }))
}

/// `DELETE .../webhooks/{whId}`: `{id, deleted: true}`; 404 when the owner has no such active endpoint.
pub async fn delete_endpoint(
    state: &AppState,
    scope: &TenantScope,
    owner: &str,
    endpoint_id: &str,
) -> ApiResult<Value> {
    state
        .webhooks
        .delete_endpoint(scope, owner, endpoint_id)
        .await?;
    Ok(json!({ "id": endpoint_id, "deleted": true }))
}

/// `GET .../webhooks/{whId}/deliveries`: `{deliveries: [...], pagination: {total, limit, offset, has_more}}`,
/// newest first.
pub async fn list_deliveries(
    state: &AppState,
    scope: &TenantScope,
    owner: &str,
    endpoint_id: &str,
    limit: u64,
    offset: u64,
) -> ApiResult<Value> {
    let limit = limit.clamp(1, 100);
    let (views, total) = state
        .webhooks
        .deliveries(scope, owner, endpoint_id, limit, offset)
        .await?;
    Ok(json!({
        "deliveries": views.iter().map(delivery_json).collect::<Vec<_>>(),
        "pagination": { "total": total, "limit": limit, "offset": offset,
                        "has_more": offset + (views.len() as u64) < total },
    }))
}

/// `POST .../webhooks/{whId}/deliveries/{deliveryId}/redeliver`: queues the delivery now; answers it.
pub async fn redeliver(
    state: &AppState,
    scope: &TenantScope,
    owner: &str,
    endpoint_id: &str,
    delivery_id: &str,
) -> ApiResult<Value> {
    let view = state
        .webhooks
        .redeliver(scope, owner, endpoint_id, delivery_id)
        .await?;
    Ok(delivery_json(&view))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::webhooks::AttemptView;

    #[test]
    fn errors_carry_the_sigilum_codes() {
        let cases = [
            (
                WebhookError::Validation {
                    field: "secret",
                    message: "must be at least 16 bytes".into(),
                },
                "VALIDATION_ERROR",
            ),
            (
                WebhookError::InvalidUrl("url: must start with http:// or https://".into()),
                "INVALID_WEBHOOK_URL",
            ),
            (WebhookError::LimitReached, "WEBHOOK_LIMIT_REACHED"),
        ];
        for (error, code) in cases {
            let api: ApiError = error.into();
            assert_eq!(api.kind.status().as_u16(), 400);
            assert_eq!(api.code(), code);
        }
        let api: ApiError = WebhookError::Validation {
            field: "events",
            message: "unknown".into(),
        }
        .into();
        assert_eq!(
            api.details,
            json!([{ "field": "events", "message": "unknown" }])
        );
        let api: ApiError = WebhookError::NotFound("webhook").into();
        assert_eq!(api.kind.status().as_u16(), 404);
        assert_eq!(api.code(), "NOT_FOUND");
    }

    #[test]
    fn input_parsing_names_the_field_and_views_have_the_sigilum_shape() {
        let missing = parse_endpoint_input(&json!({ "url": "https://example.org/h" })).unwrap_err();
        assert_eq!(missing.code(), "VALIDATION_ERROR");
        assert_eq!(missing.details[0]["field"], "secret");
        let wrong =
            parse_endpoint_input(&json!({ "url": "https://x", "secret": "s", "events": "a" }))
                .unwrap_err();
        assert_eq!(wrong.details[0]["field"], "events");
        let input = parse_endpoint_input(&json!({
            "url": "https://example.org/h", "secret": "0123456789abcdef",
            "auth_header": "Authorization", "auth_value": "Bearer t"
        }))
        .unwrap();
        assert!(!format!("{input:?}").contains("0123456789abcdef"));
        assert!(!format!("{input:?}").contains("Bearer t"));

        let endpoint = EndpointView {
            id: "wh_0123456789abcdef".into(),
            url: "https://example.org/h".into(),
            events: vec!["request.approved".into()],
            active: true,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            surface: "sigilum".into(),
            auth_header: Some("Authorization".into()),
        };
        let rendered = endpoint_json(&endpoint);
        let mut keys: Vec<&str> = rendered
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort();
        assert_eq!(keys, ["active", "created_at", "events", "id", "url"]);

        let delivery = DeliveryView {
            id: "dlv_1".into(),
            event_id: "evt_1".into(),
            event: "request.approved".into(),
            state: "delivered".into(),
            attempts: 1,
            next_attempt_at: None,
            last_status: Some(200),
            last_error: None,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            attempt_log: vec![AttemptView {
                at: "2026-01-01T00:00:00.000Z".into(),
                status: Some(200),
                error: None,
                duration_ms: 3,
            }],
        };
        let rendered = delivery_json(&delivery);
        assert_eq!(rendered["attempt_log"][0]["status"], 200);
        assert_eq!(rendered["event_id"], "evt_1");
        assert!(rendered["next_attempt_at"].is_null());
    }
}
