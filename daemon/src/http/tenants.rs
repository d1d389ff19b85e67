//! Tenants (the seeds' organisations), their members, and their API keys: parse, call
//! `app::tenants::TenantService`, render. Another tenant's objects answer 404, as if they did not exist.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::{Json, PagingParams, Query, SessionUser, TenantCaller};
use crate::error::{ApiError, ApiResult};
use crate::ids::{ApiKeyId, TenantId, UserId};
use crate::store::{ApiKey, Member};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/tenants", get(list_tenants).post(create_tenant))
        .route(
            "/api/tenants/{id}/members",
            get(list_members).post(add_member),
        )
        .route("/api/tenants/{id}/members/{user_id}", delete(remove_member))
        .route("/api/api-keys", get(list_api_keys).post(create_api_key))
        .route("/api/api-keys/{id}", delete(revoke_api_key))
}

/// Ids are UUIDs; anything else cannot name an object, so it is a 404 without a store round trip.
pub(super) fn checked_id<'a>(id: &'a str, what: &str) -> ApiResult<&'a str> {
    uuid::Uuid::parse_str(id)
        .map(|_| id)
        .map_err(|_| ApiError::not_found(what))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    name: String,
}

/// POST /api/tenants → 201 `{id, name, role: "owner"}`.
async fn create_tenant(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    Json(request): Json<CreateTenant>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let tenant = state.tenancy.create(&user, &request.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": tenant.uid, "name": tenant.name, "role": "owner" })),
    ))
}

/// GET /api/tenants → the caller's tenants with their role in each.
async fn list_tenants(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    Query(paging): Query<PagingParams>,
) -> ApiResult<Json<Value>> {
    let paging = paging.resolve()?;
    let (tenants, total) = state.tenancy.tenants_of(&user, paging.window()).await?;
    let items: Vec<Value> = tenants
        .into_iter()
        .map(|m| json!({ "id": m.tenant.uid, "name": m.tenant.name, "role": m.role, "createdAt": m.tenant.created_at }))
        .collect();
    Ok(Json(paging.envelope(items, total)))
}

/// A tenant id from the path; anything but a UUID is a 404 without a store round trip.
fn path_tenant(id: &str) -> ApiResult<TenantId> {
    checked_id(id, "tenant").map(TenantId::new)
}

fn member_json(member: Member) -> Value {
    json!({ "userId": member.user_id, "email": member.email, "name": member.name, "role": member.role,
            "createdAt": member.created_at })
}

/// GET /api/tenants/{id}/members (any member).
async fn list_members(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    Path(tenant): Path<String>,
    Query(paging): Query<PagingParams>,
) -> ApiResult<Json<Value>> {
    let paging = paging.resolve()?;
    let (members, total) = state
        .tenancy
        .members(path_tenant(&tenant)?, &user, paging.window())
        .await?;
    Ok(Json(paging.envelope(
        members.into_iter().map(member_json).collect(),
        total,
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    email: String,
    role: String,
}

/// POST /api/tenants/{id}/members `{email, role}` (owner) → 201 with the member.
async fn add_member(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    Path(tenant): Path<String>,
    Json(request): Json<AddMember>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let member = state
        .tenancy
        .add_member(path_tenant(&tenant)?, &user, &request.email, &request.role)
        .await?;
    Ok((StatusCode::CREATED, Json(member_json(member))))
}

/// DELETE /api/tenants/{id}/members/{userId} (owner; a member may remove themselves) → 204.
async fn remove_member(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    Path((tenant, member)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let member = UserId::new(checked_id(&member, "member")?);
    state
        .tenancy
        .remove_member(path_tenant(&tenant)?, &user, member)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn api_key_json(key: &ApiKey) -> Value {
    json!({ "id": key.uid, "name": key.name, "environment": key.environment, "prefix": key.prefix,
            "createdAt": key.created_at, "lastUsedAt": key.last_used_at })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    name: String,
    environment: Option<String>,
}

/// POST /api/api-keys `{name, environment}` (owner) → 201 with the full key, shown this once.
async fn create_api_key(
    State(state): State<AppState>,
    caller: TenantCaller,
    Json(request): Json<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let owner = caller.require_owner()?.clone();
    let created = state
        .tenancy
        .create_api_key(
            &caller.scope(),
            &owner,
            &request.name,
            request.environment.as_deref(),
        )
        .await?;
    let mut body = api_key_json(&created.key);
    body["key"] = Value::String(created.secret);
    Ok((StatusCode::CREATED, Json(body)))
}

/// GET /api/api-keys → the tenant's keys, never their secrets.
async fn list_api_keys(
    State(state): State<AppState>,
    caller: TenantCaller,
    Query(paging): Query<PagingParams>,
) -> ApiResult<Json<Value>> {
    let paging = paging.resolve()?;
    let (keys, total) = state
        .tenancy
        .api_keys(&caller.scope(), paging.window())
        .await?;
    Ok(Json(
        paging.envelope(keys.iter().map(api_key_json).collect(), total),
    ))
}

/// DELETE /api/api-keys/{id} (owner) → 204; the key stops working at once.
async fn revoke_api_key(
    State(state): State<AppState>,
    caller: TenantCaller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_owner()?;
    let id = ApiKeyId::new(checked_id(&id, "API key")?);
    state.tenancy.revoke_api_key(&caller.scope(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
