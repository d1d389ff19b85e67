//! `/auth/*`: registration, login, token refresh, logout, password change and the caller's profile, as the
//! Sigil API documents them. Parse, call `app::accounts::AccountService`, render.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::{Caller, Json, OptionalJson, SignedIn};
use crate::error::{ApiError, ApiResult};
use crate::ids::TenantId;
use crate::secret::Secret;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    name: String,
    email: String,
    #[schema(value_type = String)]
    password: Secret<String>,
}

/// POST /auth/register → 200 `{token, userId, email}`.
pub async fn register(
    State(state): State<AppState>,
    Json(request): Json<RegisterRequest>,
) -> ApiResult<Json<Value>> {
    let done = state
        .accounts
        .register(&request.name, &request.email, request.password)
        .await?;
    Ok(Json(
        json!({ "token": done.token, "userId": done.user.uid, "email": done.user.email }),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    #[schema(value_type = String)]
    password: Secret<String>,
}

/// POST /auth/login → 200 `{token, userId, email, tenantId}`.
pub async fn login(
    State(state): State<AppState>,
    Json(request): Json<LoginRequest>,
) -> ApiResult<Json<Value>> {
    let done = state
        .accounts
        .login(&request.email, request.password)
        .await?;
    Ok(Json(
        json!({ "token": done.token, "userId": done.user.uid, "email": done.user.email,
                    "tenantId": done.tenant }),
    ))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshRequest {
    tenant_id: Option<String>,
}

/// POST /auth/refresh → 200 `{token}` with the latest tenant context. An optional body `{"tenantId"}` switches to
/// another tenant the user belongs to.
pub async fn refresh(
    State(state): State<AppState>,
    SignedIn { user, session }: SignedIn,
    OptionalJson(request): OptionalJson<RefreshRequest>,
) -> ApiResult<Json<Value>> {
    let token = state
        .accounts
        .refresh(&user, &session, request.tenant_id.map(TenantId::new))
        .await?;
    Ok(Json(json!({ "token": token })))
}

/// POST /auth/logout → 204; the presented session ends, and with it every token of that session.
pub async fn logout(
    State(state): State<AppState>,
    SignedIn { user, session }: SignedIn,
) -> ApiResult<StatusCode> {
    state.accounts.logout(&user, &session).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    #[schema(value_type = String)]
    current_password: Secret<String>,
    #[schema(value_type = String)]
    new_password: Secret<String>,
}

/// POST /auth/password `{currentPassword, newPassword}` → 200 `{token}`: the password changes, every session of
/// the user ends (this one included), and the caller continues in a new session.
pub async fn change_password(
    State(state): State<AppState>,
    SignedIn { user, session: _ }: SignedIn,
    Json(request): Json<ChangePasswordRequest>,
) -> ApiResult<Json<Value>> {
    let token = state
        .accounts
        .change_password(&user, request.current_password, request.new_password)
        .await?;
    Ok(Json(json!({ "token": token })))
}

/// GET /auth/me → the caller's profile.
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let Caller::Session { user, tenant, .. } = caller else {
        return Err(ApiError::forbidden(
            "this endpoint needs a signed-in user, not an API key",
        ));
    };
    let profile = state.accounts.profile(&user, tenant).await?;
    let (tenant_id, role) = match profile.tenant {
        Some((id, role)) => (Some(id), Some(role.as_str())),
        None => (None, None),
    };
    let user = profile.user;
    Ok(Json(json!({
        "userId": user.uid,
        "email": user.email,
        "name": user.name,
        "tenantId": tenant_id,
        "role": role,
        "isAdmin": user.is_admin,
        "createdAt": user.created_at,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_debug_never_shows_passwords() {
        let register: RegisterRequest = serde_json::from_str(
            r#"{"name": "Ann", "email": "ann@example.org", "password": "pw-register-1"}"#,
        )
        .unwrap();
        let login: LoginRequest =
            serde_json::from_str(r#"{"email": "ann@example.org", "password": "pw-login-1"}"#)
                .unwrap();
        let change: ChangePasswordRequest = serde_json::from_str(
            r#"{"currentPassword": "pw-current-1", "newPassword": "pw-new-1"}"#,
        )
        .unwrap();
        let shown = format!("{register:?} {login:?} {change:?}");
        for secret in ["pw-register-1", "pw-login-1", "pw-current-1", "pw-new-1"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("ann@example.org"), "{shown}");
    }
}
