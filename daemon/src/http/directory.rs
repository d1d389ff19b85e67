//! The agent directory routes of the Sigilum surface (namespaces, services, service keys) and its public
//! `GET /health`: parse, call `app::directory::DirectoryService`, render in the contract's shapes. Writes need a
//! signed-in owner of the session's tenant; reads any member. Another tenant's services answer 404, as if they
//! did not exist.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::{Json, Query, TenantCaller};
use super::sigilum::{OptionalSigilumJson, PageParams, SigilumJson};
use super::tenants::checked_id;
use crate::app::directory::{ServiceInput, ServicePatchRequest, ServiceRequest};
use crate::app::webhooks::{NewEndpointInput, Surface};
use crate::error::ApiResult;
use crate::ids::{ServiceId, ServiceKeyId};
use crate::store::{Namespace, Service, ServiceKey};

/// Default page of `GET /v1/namespaces`.
const NAMESPACES_PAGE: u64 = 50;
/// Largest page of `GET /v1/namespaces`.
const NAMESPACES_MAX_PAGE: u64 = 200;

/// The routes that need credentials.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/namespaces",
            get(list_namespaces).post(create_namespace),
        )
        .route("/v1/services", get(list_services).post(create_service))
        .route(
            "/v1/services/{id}",
            get(get_service)
                .patch(update_service)
                .delete(delete_service),
        )
        .route("/v1/services/{id}/keys", get(list_keys).post(create_key))
        .route("/v1/services/{id}/keys/{key_id}", delete(revoke_key))
        .route(
            "/v1/services/{id}/keys/{key_id}/mark-gateway",
            post(mark_gateway),
        )
        .route(
            "/v1/services/{id}/webhooks",
            get(list_webhooks).post(create_webhook),
        )
        .route("/v1/services/{id}/webhooks/{wh_id}", delete(delete_webhook))
        .route(
            "/v1/services/{id}/webhooks/{wh_id}/deliveries",
            get(list_deliveries),
        )
        .route(
            "/v1/services/{id}/webhooks/{wh_id}/deliveries/{delivery_id}/redeliver",
            post(redeliver),
        )
}

/// The public routes.
pub fn public_routes() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// GET /health → 200 `{status: "ok", timestamp}` (no auth; liveness only, see `/readyz` for readiness).
async fn health() -> Json<Value> {
    Json(json!({
        "status": "ok",
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }))
}

fn namespace_json(namespace: &Namespace) -> Value {
    json!({ "did": format!("did:sigilum:{}", namespace.name), "namespace": namespace.name,
            "owner": namespace.created_by, "created_at": namespace.created_at, "active": true })
}

fn service_json(service: &Service) -> Value {
    json!({ "id": service.uid, "name": service.name, "slug": service.slug, "domain": service.domain,
            "description": service.description, "created_at": service.created_at,
            "registration_tx_hash": Value::Null })
}

fn key_json(key: &ServiceKey) -> Value {
    json!({ "id": key.uid, "name": key.name, "key_prefix": key.key_prefix, "gateway": key.gateway,
            "created_at": key.created_at, "revoked_at": key.revoked_at, "active": key.revoked_at.is_none() })
}

fn service_id(id: &str) -> ApiResult<ServiceId> {
    checked_id(id, "service").map(ServiceId::new)
}

fn key_id(id: &str) -> ApiResult<ServiceKeyId> {
    checked_id(id, "service key").map(ServiceKeyId::new)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateNamespace {
    namespace: String,
}

/// POST /v1/namespaces `{namespace}` (owner) → 201 `{did, namespace, owner, created_at, active}`.
async fn create_namespace(
    State(state): State<AppState>,
    caller: TenantCaller,
    SigilumJson(request): SigilumJson<CreateNamespace>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let user = caller.require_owner()?.clone();
    let namespace = state
        .directory
        .create_namespace(&caller.scope(), &user, &request.namespace)
        .await?;
    Ok((StatusCode::CREATED, Json(namespace_json(&namespace))))
}

/// GET /v1/namespaces?limit&offset → the tenant's namespaces, `{namespaces, pagination}`.
async fn list_namespaces(
    State(state): State<AppState>,
    caller: TenantCaller,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Value>> {
    let page = page.resolve(NAMESPACES_PAGE, NAMESPACES_MAX_PAGE)?;
    let (namespaces, total) = state
        .directory
        .list_namespaces(&caller.scope(), page.window())
        .await?;
    let items: Vec<Value> = namespaces.iter().map(namespace_json).collect();
    Ok(Json(
        json!({ "namespaces": items, "pagination": page.pagination(total) }),
    ))
}

/// POST /v1/services (owner) → 201 with the service.
async fn create_service(
    State(state): State<AppState>,
    caller: TenantCaller,
    SigilumJson(request): SigilumJson<ServiceRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require_owner()?;
    let input = ServiceInput::parse(request)?;
    let created = state
        .directory
        .create_service(&caller.scope(), input)
        .await?;
    let mut body = service_json(&created.service);
    if let Some(webhook) = created.webhook {
        let scope = caller.scope();
        let input = NewEndpointInput {
            url: webhook.url,
            events: Vec::new(),
            secret: webhook.secret,
            auth_header: webhook.auth.as_ref().map(|(name, _)| name.clone()),
            auth_value: webhook.auth.map(|(_, value)| value),
        };
        let registered = state
            .webhooks
            .create_endpoint(
                &scope,
                &webhook_owner(&created.service.uid),
                Surface::Sigilum,
                input,
                crate::app::claims::EVENTS,
            )
            .await;
        match registered {
            Ok(view) => body["webhook"] = super::webhooks::endpoint_json(&view),
            Err(error) => {
                // The service and its webhook are one request: without the webhook, no service either.
                if let Err(undo) = state
                    .directory
                    .delete_service(&scope, &created.service.uid)
                    .await
                {
                    tracing::warn!(error = %undo, "could not remove a service whose webhook was refused");
                }
                return Err(error.into());
            }
        }
    }
    Ok((StatusCode::CREATED, Json(body)))
}

/// GET /v1/services → `{services}`.
async fn list_services(
    State(state): State<AppState>,
    caller: TenantCaller,
) -> ApiResult<Json<Value>> {
    let services = state.directory.list_services(&caller.scope()).await?;
    let items: Vec<Value> = services.iter().map(service_json).collect();
    Ok(Json(json!({ "services": items })))
}

/// GET /v1/services/{id}.
async fn get_service(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let service = state
        .directory
        .service(&caller.scope(), &service_id(&id)?)
        .await?;
    Ok(Json(service_json(&service)))
}

/// PATCH /v1/services/{id} `{name?, domain?, description?}` (owner) → the service.
async fn update_service(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
    SigilumJson(request): SigilumJson<ServicePatchRequest>,
) -> ApiResult<Json<Value>> {
    caller.require_owner()?;
    let id = service_id(&id)?;
    let patch = request.parse()?;
    let service = state
        .directory
        .update_service(&caller.scope(), &id, patch)
        .await?;
    Ok(Json(service_json(&service)))
}

/// DELETE /v1/services/{id} (owner) → 200 `{id, deleted: true}`; its keys stop working at once.
async fn delete_service(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require_owner()?;
    let id = service_id(&id)?;
    state.directory.delete_service(&caller.scope(), &id).await?;
    Ok(Json(json!({ "id": id, "deleted": true })))
}

#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateKey {
    #[serde(default)]
    name: Option<String>,
}

/// POST /v1/services/{id}/keys `{name?}` (owner) → 201 `{id, name, key, key_prefix, message}`: the key is in
/// this answer only.
async fn create_key(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
    OptionalSigilumJson(request): OptionalSigilumJson<CreateKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require_owner()?;
    let id = service_id(&id)?;
    let created = state
        .directory
        .create_key(&caller.scope(), &id, request.name.as_deref())
        .await?;
    let mut body = key_json(&created.key);
    body["key"] = Value::String(created.secret.into_inner());
    body["message"] = json!("Store this key now: it is shown only once and cannot be recovered.");
    Ok((StatusCode::CREATED, Json(body)))
}

/// GET /v1/services/{id}/keys → `{keys}` (never the keys themselves).
async fn list_keys(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let keys = state
        .directory
        .list_keys(&caller.scope(), &service_id(&id)?)
        .await?;
    let items: Vec<Value> = keys.iter().map(key_json).collect();
    Ok(Json(json!({ "keys": items })))
}

/// DELETE /v1/services/{id}/keys/{keyId} (owner) → 200 `{id, revoked: true, revoked_at}`.
async fn revoke_key(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require_owner()?;
    let (id, key) = (service_id(&id)?, key_id(&key)?);
    let revoked = state
        .directory
        .revoke_key(&caller.scope(), &id, &key)
        .await?;
    Ok(Json(
        json!({ "id": revoked.uid, "revoked": true, "revoked_at": revoked.revoked_at }),
    ))
}

/// POST /v1/services/{id}/keys/{keyId}/mark-gateway (owner) → 200 with the key.
async fn mark_gateway(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require_owner()?;
    let (id, key) = (service_id(&id)?, key_id(&key)?);
    let key = state
        .directory
        .mark_gateway(&caller.scope(), &id, &key)
        .await?;
    Ok(Json(key_json(&key)))
}

/// Whose endpoints a service's webhooks are in the outbox.
fn webhook_owner(service: &ServiceId) -> String {
    format!("service:{service}")
}

/// The caller's service (404 for another tenant's) and its webhook owner key.
async fn owned_service(state: &AppState, caller: &TenantCaller, id: &str) -> ApiResult<String> {
    let id = service_id(id)?;
    let service = state.directory.service(&caller.scope(), &id).await?;
    Ok(webhook_owner(&service.uid))
}

/// POST /v1/services/{id}/webhooks `{url, events, secret, auth_header?, auth_value?}` (owner) → 201.
async fn create_webhook(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
    SigilumJson(body): SigilumJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require_owner()?;
    let owner = owned_service(&state, &caller, &id).await?;
    let endpoint = super::webhooks::create_endpoint(
        &state,
        &caller.scope(),
        &owner,
        Surface::Sigilum,
        &body,
        crate::app::claims::EVENTS,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(endpoint)))
}

/// GET /v1/services/{id}/webhooks → `{webhooks}`.
async fn list_webhooks(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let owner = owned_service(&state, &caller, &id).await?;
    Ok(Json(
        super::webhooks::list_endpoints(&state, &caller.scope(), &owner).await?,
    ))
}

/// DELETE /v1/services/{id}/webhooks/{wh_id} (owner).
async fn delete_webhook(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path((id, wh_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require_owner()?;
    let owner = owned_service(&state, &caller, &id).await?;
    Ok(Json(
        super::webhooks::delete_endpoint(&state, &caller.scope(), &owner, &wh_id).await?,
    ))
}

/// GET /v1/services/{id}/webhooks/{wh_id}/deliveries?limit&offset → deliveries with their attempts.
async fn list_deliveries(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path((id, wh_id)): Path<(String, String)>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<Value>> {
    let page = page.resolve(50, 100)?;
    let owner = owned_service(&state, &caller, &id).await?;
    Ok(Json(
        super::webhooks::list_deliveries(
            &state,
            &caller.scope(),
            &owner,
            &wh_id,
            page.limit,
            page.offset,
        )
        .await?,
    ))
}

/// POST /v1/services/{id}/webhooks/{wh_id}/deliveries/{delivery_id}/redeliver (owner) → the delivery.
async fn redeliver(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path((id, wh_id, delivery_id)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    caller.require_owner()?;
    let owner = owned_service(&state, &caller, &id).await?;
    Ok(Json(
        super::webhooks::redeliver(&state, &caller.scope(), &owner, &wh_id, &delivery_id).await?,
    ))
}
