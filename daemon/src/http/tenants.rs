//! Tenants (the seeds' organisations), their members, and their API keys. Every read and write here is scoped to
//! a tenant the caller belongs to; another tenant's objects answer 404, as if they did not exist.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::{Json, PagingParams, Query, SessionUser, TenantCaller};
use crate::actors::tenant::InvalidateRoles;
use crate::credentials;
use crate::error::{ApiError, ApiResult};
use crate::ids::{ApiKeyId, KeyEnvironment, TenantId, TenantScope, UserId};
use crate::store::{ApiKey, Member, Role};

/// Longest tenant or key name.
const MAX_NAME: usize = 200;

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

fn checked_name(field: &str, name: &str) -> ApiResult<String> {
    crate::text::checked_text(field, name, MAX_NAME)
}

/// Ids are UUIDs; anything else cannot name an object, so it is a 404 without a store round trip.
pub(super) fn checked_id<'a>(id: &'a str, what: &str) -> ApiResult<&'a str> {
    uuid::Uuid::parse_str(id)
        .map(|_| id)
        .map_err(|_| ApiError::not_found(what))
}

#[derive(Deserialize)]
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
    let name = checked_name("name", &request.name)?;
    let tenant = state.runtime.store.create_tenant(&user, &name).await?;
    tracing::info!(tenant = %tenant.uid, user = %user, "tenant created");
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
    let (tenants, total) = state
        .runtime
        .store
        .tenants_of(&user, paging.window())
        .await?;
    let items: Vec<Value> = tenants
        .into_iter()
        .map(|m| json!({ "id": m.tenant.uid, "name": m.tenant.name, "role": m.role, "createdAt": m.tenant.created_at }))
        .collect();
    Ok(Json(paging.envelope(items, total)))
}

/// The caller's role in the tenant named in the path, and the scope that membership grants; 404 when they are
/// not a member (no existence leak).
async fn member_of(
    state: &AppState,
    tenant: &str,
    user: &UserId,
) -> ApiResult<(TenantScope, Role)> {
    let tenant = TenantId::new(checked_id(tenant, "tenant")?);
    let role = state
        .runtime
        .store
        .role_of(&tenant, user)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok((TenantScope::authenticated(tenant), role))
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
    let (scope, _) = member_of(&state, &tenant, &user).await?;
    let (members, total) = state.runtime.store.members(&scope, paging.window()).await?;
    Ok(Json(paging.envelope(
        members.into_iter().map(member_json).collect(),
        total,
    )))
}

#[derive(Deserialize)]
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
    let (scope, role) = member_of(&state, &tenant, &user).await?;
    if role != Role::Owner {
        return Err(ApiError::forbidden("only owners may add members"));
    }
    let role = Role::parse(&request.role)
        .ok_or_else(|| ApiError::invalid_field("role", "must be `owner` or `member`"))?;
    let email = super::accounts::normalize_email(&request.email)?;
    let store = &state.runtime.store;
    let invitee = store.user_by_email(&email).await?.ok_or_else(|| {
        ApiError::not_found("user")
            .with_details(json!({ "field": "email", "reason": "no account with this email" }))
    })?;
    let member = store.add_member(&scope, &invitee, role).await?;
    invalidate_roles(&state, &tenant).await;
    tracing::info!(tenant = %tenant, member = %member.user_id, role = role.as_str(), "member added");
    Ok((StatusCode::CREATED, Json(member_json(member))))
}

/// DELETE /api/tenants/{id}/members/{userId} (owner; a member may remove themselves) → 204.
async fn remove_member(
    State(state): State<AppState>,
    SessionUser(user): SessionUser,
    Path((tenant, member)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (scope, role) = member_of(&state, &tenant, &user).await?;
    if role != Role::Owner && user != member.as_str() {
        return Err(ApiError::forbidden("only owners may remove other members"));
    }
    let member = UserId::new(checked_id(&member, "member")?);
    state.runtime.store.remove_member(&scope, &member).await?;
    invalidate_roles(&state, &tenant).await;
    tracing::info!(tenant = %tenant, member = %member, "member removed");
    Ok(StatusCode::NO_CONTENT)
}

async fn invalidate_roles(state: &AppState, tenant: &str) {
    if let Ok(actor) = state.tenant_actor(tenant).await {
        // Best effort: the cache also expires on its own after `tenants.cache_ttl`.
        let _ = actor.send(InvalidateRoles).await;
    }
}

fn api_key_json(key: &ApiKey) -> Value {
    json!({ "id": key.uid, "name": key.name, "environment": key.environment, "prefix": key.prefix,
            "createdAt": key.created_at, "lastUsedAt": key.last_used_at })
}

#[derive(Deserialize)]
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
    let name = checked_name("name", &request.name)?;
    let environment = match request.environment.as_deref() {
        None => KeyEnvironment::Live,
        Some(text) => KeyEnvironment::parse(text)
            .ok_or_else(|| ApiError::invalid_field("environment", "must be `live` or `test`"))?,
    };
    let generated = credentials::generate_api_key(environment.as_str());
    let key = state
        .runtime
        .store
        .create_api_key(
            &caller.scope(),
            &name,
            environment,
            &generated.prefix,
            &generated.hash,
            &owner,
        )
        .await?;
    tracing::info!(tenant = %caller.tenant, key = %key.uid, "API key created");
    let mut body = api_key_json(&key);
    body["key"] = Value::String(generated.secret);
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
        .runtime
        .store
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
    state
        .runtime
        .store
        .revoke_api_key(&caller.scope(), &id)
        .await?;
    tracing::info!(tenant = %caller.tenant, key = %id, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}
