//! `/auth/*`: registration, login, token refresh, logout, password change and the caller's profile, as the
//! Sigil API documents them. Every token names a stored session (see `store::Session`): ending the session ends
//! its tokens.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::{Caller, Json, OptionalJson, SignedIn};
use crate::credentials::now_secs;
use crate::error::{ApiError, ApiResult};
use crate::ids::{SessionId, TenantId, UserId};
use crate::secret::Secret;
use crate::store::User;
/// Longest accepted password; argon2 accepts more, but megabyte passwords are a denial-of-service vector.
const MAX_PASSWORD: usize = 1024;
/// Shortest accepted password.
const MIN_PASSWORD: usize = 8;
/// Longest display name.
const MAX_NAME: usize = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    name: String,
    email: String,
    password: Secret<String>,
}

/// Normalises and checks an email address (see [`crate::text::normalize_email`]).
pub fn normalize_email(email: &str) -> ApiResult<String> {
    crate::text::normalize_email(email)
}

/// Checks a new password's length.
fn check_new_password(field: &str, password: &str) -> ApiResult<()> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(ApiError::invalid_field(
            field,
            format!("must be at least {MIN_PASSWORD} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD {
        return Err(ApiError::invalid_field(
            field,
            format!("must be at most {MAX_PASSWORD} bytes"),
        ));
    }
    Ok(())
}

/// POST /auth/register → 200 `{token, userId, email}`.
pub async fn register(
    State(state): State<AppState>,
    Json(request): Json<RegisterRequest>,
) -> ApiResult<Json<Value>> {
    let config = state.config();
    if !config.auth.allow_registration {
        return Err(ApiError::forbidden(
            "self-registration is disabled on this instance",
        ));
    }
    let email = normalize_email(&request.email)?;
    let name = crate::text::checked_text("name", &request.name, MAX_NAME)?;
    check_new_password("password", request.password.expose())?;
    // Fail fast on a taken email before spending a password hash on it; the unique index still decides races.
    if state.runtime.store.user_by_email(&email).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "an account for {email} already exists"
        )));
    }
    let hasher = state.hasher();
    let password = request.password;
    let hash = tokio::task::spawn_blocking(move || hasher.hash(password.expose()))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let user = state
        .runtime
        .store
        .create_user(&email, &name, &hash)
        .await?;
    tracing::info!(user = %user.uid, "account registered");
    let token = start_session(&state, &user.uid, None).await?;
    Ok(Json(
        json!({ "token": token, "userId": user.uid, "email": user.email }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    password: Secret<String>,
}

/// POST /auth/login → 200 `{token, userId, email, tenantId}`.
pub async fn login(
    State(state): State<AppState>,
    Json(request): Json<LoginRequest>,
) -> ApiResult<Json<Value>> {
    let invalid = || ApiError::unauthorized("invalid email or password");
    if request.password.expose().len() > MAX_PASSWORD {
        return Err(invalid());
    }
    // The same normal form as at registration; an address that could not have registered has no account.
    let user = match normalize_email(&request.email) {
        Ok(email) => state.runtime.store.user_by_email(&email).await?,
        Err(_) => None,
    };
    let hasher = state.hasher();
    // Verify against a dummy hash when the user does not exist, so response time does not reveal accounts.
    let stored = user
        .as_ref()
        .map_or_else(|| dummy_hash(&hasher), |u| u.password_hash.clone());
    let password = request.password;
    let matches = tokio::task::spawn_blocking(move || hasher.verify(password.expose(), &stored))
        .await
        .map_err(ApiError::internal)?;
    let Some(user) = user.filter(|_| matches) else {
        tracing::info!("login refused");
        return Err(invalid());
    };
    let tenant = current_tenant(&state, &user).await?;
    let token = start_session(&state, &user.uid, tenant.as_ref()).await?;
    Ok(Json(
        json!({ "token": token, "userId": user.uid, "email": user.email, "tenantId": tenant }),
    ))
}

fn dummy_hash(hasher: &crate::credentials::PasswordHasherConfig) -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hasher.hash("sigil-dummy-password").unwrap_or_default())
        .clone()
}

/// The user's current tenant if they are still a member of it.
async fn current_tenant(state: &AppState, user: &User) -> ApiResult<Option<TenantId>> {
    let Some(tenant) = &user.current_tenant else {
        return Ok(None);
    };
    Ok(state
        .runtime
        .store
        .role_of(tenant, &user.uid)
        .await?
        .map(|_| tenant.clone()))
}

/// Starts a new session for the user and returns its first token.
async fn start_session(
    state: &AppState,
    user: &UserId,
    tenant: Option<&TenantId>,
) -> ApiResult<String> {
    let now = now_secs();
    let max = state.config().auth.max_session.as_secs();
    let sid = state
        .runtime
        .store
        .start_session(user, now, now.saturating_sub(max))
        .await?;
    issue(state, user, tenant, &sid, now)
}

/// A token of session `sid` (started at `started_at`), never valid past the session's absolute end.
fn issue(
    state: &AppState,
    user: &UserId,
    tenant: Option<&TenantId>,
    sid: &SessionId,
    started_at: u64,
) -> ApiResult<String> {
    let config = state.config();
    let not_after = started_at.saturating_add(config.auth.max_session.as_secs());
    state
        .sessions
        .issue(
            user,
            tenant.map(|t| t.as_str()),
            sid,
            config.auth.jwt_ttl.as_secs(),
            not_after,
        )
        .map_err(ApiError::internal)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshRequest {
    tenant_id: Option<String>,
}

/// POST /auth/refresh → 200 `{token}` with the latest tenant context. An optional body `{"tenantId"}` switches to
/// another tenant the user belongs to.
pub async fn refresh(
    State(state): State<AppState>,
    SignedIn {
        user: user_id,
        session,
    }: SignedIn,
    OptionalJson(request): OptionalJson<RefreshRequest>,
) -> ApiResult<Json<Value>> {
    let store = &state.runtime.store;
    let user = store
        .user_by_id(&user_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("account no longer exists"))?;
    let tenant = match request.tenant_id.map(TenantId::new) {
        Some(requested) => {
            if store.role_of(&requested, &user.uid).await?.is_none() {
                return Err(ApiError::not_found("tenant"));
            }
            store.set_current_tenant(&user.uid, &requested).await?;
            Some(requested)
        }
        None => current_tenant(&state, &user).await?,
    };
    let token = issue(
        &state,
        &user.uid,
        tenant.as_ref(),
        &session.sid,
        session.started_at,
    )?;
    Ok(Json(json!({ "token": token })))
}

/// POST /auth/logout → 204; the presented session ends, and with it every token of that session.
pub async fn logout(
    State(state): State<AppState>,
    SignedIn { user, session }: SignedIn,
) -> ApiResult<StatusCode> {
    state.runtime.store.end_session(&session.sid).await?;
    tracing::info!(user = %user, "signed out");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    current_password: Secret<String>,
    new_password: Secret<String>,
}

/// POST /auth/password `{currentPassword, newPassword}` → 200 `{token}`: the password changes, every session of
/// the user ends (this one included), and the caller continues in a new session.
pub async fn change_password(
    State(state): State<AppState>,
    SignedIn { user, session: _ }: SignedIn,
    Json(request): Json<ChangePasswordRequest>,
) -> ApiResult<Json<Value>> {
    check_new_password("newPassword", request.new_password.expose())?;
    let store = &state.runtime.store;
    let account = store
        .user_by_id(&user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("account no longer exists"))?;
    let hasher = state.hasher();
    let (current, new) = (request.current_password, request.new_password);
    let stored = account.password_hash.clone();
    let hashed = tokio::task::spawn_blocking(move || {
        if current.expose().len() > MAX_PASSWORD || !hasher.verify(current.expose(), &stored) {
            return Ok(None);
        }
        hasher.hash(new.expose()).map(Some)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let Some(hash) = hashed else {
        tracing::info!(user = %user, "password change refused: wrong current password");
        return Err(ApiError::unauthorized("current password is wrong")
            .with_details(json!({ "field": "currentPassword" })));
    };
    let now = now_secs();
    let sid = store.change_password(&user, &hash, now).await?;
    tracing::info!(user = %user, "password changed; every other session ended");
    let tenant = current_tenant(&state, &account).await?;
    Ok(Json(
        json!({ "token": issue(&state, &user, tenant.as_ref(), &sid, now)? }),
    ))
}

/// GET /auth/me → the caller's profile.
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let Caller::Session { user, tenant, .. } = caller else {
        return Err(ApiError::forbidden(
            "this endpoint needs a signed-in user, not an API key",
        ));
    };
    let user = state
        .runtime
        .store
        .user_by_id(&user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("account gone"))?;
    let (tenant_id, role) = match tenant {
        Some((id, role)) => (Some(id), Some(role.as_str())),
        None => (None, None),
    };
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
