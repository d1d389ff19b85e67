//! Accounts: registration, sign-in, sessions, password changes and the caller's profile. Every token names a
//! stored session (see `store::Session`): ending the session ends its tokens.
//!
//! Errors are [`ApiError`]s built from their domain kind (`ErrorKind`); the HTTP layer renders them.

use std::sync::Arc;

use crate::actors::Runtime;
use crate::credentials::{PasswordHasherConfig, SessionKeys, now_secs};
use crate::error::{ApiError, ApiResult};
use crate::ids::{SessionId, TenantId, UserId};
use crate::secret::Secret;
use crate::store::{Role, Session, Store, User};

/// Longest accepted password; argon2 accepts more, but megabyte passwords are a denial-of-service vector.
pub const MAX_PASSWORD: usize = 1024;
/// Shortest accepted password.
const MIN_PASSWORD: usize = 8;
/// Longest display name.
const MAX_NAME: usize = 200;

/// A new account and its first session token.
pub struct SignedUp {
    /// The account.
    pub user: User,
    /// A session token.
    pub token: String,
    /// The tenant the session is scoped to (sign-in only).
    pub tenant: Option<TenantId>,
}

/// What `GET /auth/me` shows.
pub struct Profile {
    /// The account.
    pub user: User,
    /// The session's tenant and the caller's role in it.
    pub tenant: Option<(TenantId, Role)>,
}

/// The account use cases.
#[derive(Clone)]
pub struct AccountService {
    runtime: Arc<Runtime>,
    sessions: SessionKeys,
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

fn dummy_hash(hasher: &PasswordHasherConfig) -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hasher.hash("sigil-dummy-password").unwrap_or_default())
        .clone()
}

impl AccountService {
    /// A service over the runtime and the session signing keys.
    pub fn new(runtime: Arc<Runtime>, sessions: SessionKeys) -> Self {
        Self { runtime, sessions }
    }

    fn store(&self) -> &Store {
        &self.runtime.store
    }

    fn hasher(&self) -> PasswordHasherConfig {
        let config = self.runtime.settings().1;
        PasswordHasherConfig::new(config.auth.argon2_memory_kib, config.auth.argon2_iterations)
    }

    /// Creates an account (when self-registration is allowed) and signs it in.
    pub async fn register(
        &self,
        name: &str,
        email: &str,
        password: Secret<String>,
    ) -> ApiResult<SignedUp> {
        if !self.runtime.settings().1.auth.allow_registration {
            return Err(ApiError::forbidden(
                "self-registration is disabled on this instance",
            ));
        }
        let email = crate::text::normalize_email(email)?;
        let name = crate::text::checked_text("name", name, MAX_NAME)?;
        check_new_password("password", password.expose())?;
        // Fail fast on a taken email before spending a password hash on it; the unique index still decides races.
        if self.store().user_by_email(&email).await?.is_some() {
            return Err(ApiError::conflict(format!(
                "an account for {email} already exists"
            )));
        }
        let hasher = self.hasher();
        let hash = tokio::task::spawn_blocking(move || hasher.hash(password.expose()))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        let user = self.store().create_user(&email, &name, &hash).await?;
        tracing::info!(user = %user.uid, "account registered");
        let token = self.start_session(&user.uid, None).await?;
        Ok(SignedUp {
            user,
            token,
            tenant: None,
        })
    }

    /// Signs in with email and password. Unknown accounts cost the same password check as known ones.
    pub async fn login(&self, email: &str, password: Secret<String>) -> ApiResult<SignedUp> {
        let invalid = || ApiError::unauthorized("invalid email or password");
        if password.expose().len() > MAX_PASSWORD {
            return Err(invalid());
        }
        // The same normal form as at registration; an address that could not have registered has no account.
        let user = match crate::text::normalize_email(email) {
            Ok(email) => self.store().user_by_email(&email).await?,
            Err(_) => None,
        };
        let hasher = self.hasher();
        // Verify against a dummy hash when the user does not exist, so response time does not reveal accounts.
        let stored = user
            .as_ref()
            .map_or_else(|| dummy_hash(&hasher), |u| u.password_hash.clone());
        let matches =
            tokio::task::spawn_blocking(move || hasher.verify(password.expose(), &stored))
                .await
                .map_err(ApiError::internal)?;
        let Some(user) = user.filter(|_| matches) else {
            tracing::info!("login refused");
            return Err(invalid());
        };
        let tenant = self.current_tenant(&user).await?;
        let token = self.start_session(&user.uid, tenant.as_ref()).await?;
        Ok(SignedUp {
            user,
            token,
            tenant,
        })
    }

    /// A fresh token of the same session with the latest tenant context; `switch_to` moves the session to
    /// another tenant the user belongs to.
    pub async fn refresh(
        &self,
        user: &UserId,
        session: &Session,
        switch_to: Option<TenantId>,
    ) -> ApiResult<String> {
        let store = self.store();
        let user = store
            .user_by_id(user)
            .await?
            .ok_or_else(|| ApiError::unauthorized("account no longer exists"))?;
        let tenant = match switch_to {
            Some(requested) => {
                if store.role_of(&requested, &user.uid).await?.is_none() {
                    return Err(ApiError::not_found("tenant"));
                }
                store.set_current_tenant(&user.uid, &requested).await?;
                Some(requested)
            }
            None => self.current_tenant(&user).await?,
        };
        self.issue(&user.uid, tenant.as_ref(), &session.sid, session.started_at)
    }

    /// Ends the session (and every token of it).
    pub async fn logout(&self, user: &UserId, session: &Session) -> ApiResult<()> {
        self.store().end_session(&session.sid).await?;
        tracing::info!(user = %user, "signed out");
        Ok(())
    }

    /// Changes the password: every session of the user ends, and the caller continues in a new one whose token
    /// is returned.
    pub async fn change_password(
        &self,
        user: &UserId,
        current: Secret<String>,
        new: Secret<String>,
    ) -> ApiResult<String> {
        check_new_password("newPassword", new.expose())?;
        let store = self.store();
        let account = store
            .user_by_id(user)
            .await?
            .ok_or_else(|| ApiError::unauthorized("account no longer exists"))?;
        let hasher = self.hasher();
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
                .with_details(serde_json::json!({ "field": "currentPassword" })));
        };
        let now = now_secs();
        let sid = store.change_password(user, &hash, now).await?;
        tracing::info!(user = %user, "password changed; every other session ended");
        let tenant = self.current_tenant(&account).await?;
        self.issue(user, tenant.as_ref(), &sid, now)
    }

    /// The signed-in user's profile.
    pub async fn profile(
        &self,
        user: &UserId,
        tenant: Option<(TenantId, Role)>,
    ) -> ApiResult<Profile> {
        let user = self
            .store()
            .user_by_id(user)
            .await?
            .ok_or_else(|| ApiError::unauthorized("account gone"))?;
        Ok(Profile { user, tenant })
    }

    /// The user's current tenant if they are still a member of it.
    async fn current_tenant(&self, user: &User) -> ApiResult<Option<TenantId>> {
        let Some(tenant) = &user.current_tenant else {
            return Ok(None);
        };
        Ok(self
            .store()
            .role_of(tenant, &user.uid)
            .await?
            .map(|_| tenant.clone()))
    }

    /// Starts a new session for the user and returns its first token.
    async fn start_session(&self, user: &UserId, tenant: Option<&TenantId>) -> ApiResult<String> {
        let now = now_secs();
        let max = self.runtime.settings().1.auth.max_session.as_secs();
        let sid = self
            .store()
            .start_session(user, now, now.saturating_sub(max))
            .await?;
        self.issue(user, tenant, &sid, now)
    }

    /// A token of session `sid` (started at `started_at`), never valid past the session's absolute end.
    fn issue(
        &self,
        user: &UserId,
        tenant: Option<&TenantId>,
        sid: &SessionId,
        started_at: u64,
    ) -> ApiResult<String> {
        let config = self.runtime.settings().1;
        let not_after = started_at.saturating_add(config.auth.max_session.as_secs());
        self.sessions
            .issue(
                user,
                tenant.map(|t| t.as_str()),
                sid,
                config.auth.jwt_ttl.as_secs(),
                not_after,
            )
            .map_err(ApiError::internal)
    }
}
