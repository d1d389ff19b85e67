//! Accounts: users and their sessions (a session JWT names a stored session, which must still exist).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Result, Store, StoreError, decode_rows};
use crate::ids::{SessionId, TenantId, UserId};

/// A user account. `Debug` leaves out the password hash.
#[derive(Clone, Deserialize)]
pub struct User {
    /// Stable id (UUID).
    pub uid: UserId,
    /// Lower-cased email, unique.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Instance administrator (operator).
    pub is_admin: bool,
    /// The tenant a refreshed session is scoped to.
    pub current_tenant: Option<TenantId>,
    /// RFC 3339.
    pub created_at: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("uid", &self.uid)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("password_hash", &format_args!("<redacted>"))
            .field("is_admin", &self.is_admin)
            .field("current_tenant", &self.current_tenant)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A signed-in session: a session JWT names it, and works only while it exists.
#[derive(Debug, Clone, Deserialize)]
pub struct Session {
    /// Session id (UUID), the JWT's `sid`.
    pub sid: SessionId,
    /// The user.
    pub user: UserId,
    /// Login time (Unix seconds); the session's absolute lifetime counts from here.
    pub started_at: u64,
}

impl Store {
    /// Creates a user. A taken email is a conflict.
    pub async fn create_user(&self, email: &str, name: &str, password_hash: &str) -> Result<User> {
        let uid = UserId::random();
        let sql = "CREATE user CONTENT { uid: $uid, email: $email, name: $name, password_hash: $hash, \
                   is_admin: false, current_tenant: NONE, created_at: time::now() } RETURN AFTER;";
        let vars = json!({ "uid": uid, "email": email, "name": name, "hash": password_hash });
        match self.first::<User>(sql, vars).await {
            Err(StoreError::Duplicate(_)) => Err(StoreError::Conflict(format!(
                "an account for {email} already exists"
            ))),
            other => other?.ok_or(StoreError::Decode("CREATE user returned nothing".into())),
        }
    }

    /// Finds a user by (lower-cased) email.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        self.first(
            "SELECT * FROM user WHERE email = $email LIMIT 1;",
            json!({ "email": email }),
        )
        .await
    }

    /// Finds a user by id.
    pub async fn user_by_id(&self, uid: &UserId) -> Result<Option<User>> {
        self.first(
            "SELECT * FROM user WHERE uid = $uid LIMIT 1;",
            json!({ "uid": uid }),
        )
        .await
    }

    /// Grants or withdraws instance administration.
    pub async fn set_admin(&self, email: &str, is_admin: bool) -> Result<User> {
        let sql = "UPDATE user SET is_admin = $admin WHERE email = $email RETURN AFTER;";
        self.first(sql, json!({ "email": email, "admin": is_admin }))
            .await?
            .ok_or(StoreError::NotFound("user"))
    }

    /// Scopes the user's next refreshed session to a tenant.
    pub async fn set_current_tenant(&self, user: &UserId, tenant: &TenantId) -> Result<()> {
        let sql = "UPDATE user SET current_tenant = $tenant WHERE uid = $uid;";
        self.run(sql, json!({ "uid": user, "tenant": tenant }))
            .await
            .map(|_| ())
    }

    /// Starts a session for the user (at login or registration); returns its id. Sessions of this user whose
    /// absolute lifetime ended before `expired_before` (Unix seconds) are cleared on the way.
    pub async fn start_session(
        &self,
        user: &UserId,
        now: u64,
        expired_before: u64,
    ) -> Result<SessionId> {
        let sid = SessionId::random();
        let sql = "DELETE session WHERE user = $user AND started_at < $cutoff;\
                   CREATE session CONTENT { sid: $sid, user: $user, started_at: $now };";
        self.run(
            sql,
            json!({ "sid": sid, "user": user, "now": now, "cutoff": expired_before }),
        )
        .await?;
        Ok(sid)
    }

    /// The live session with this id, if it exists and its user still does.
    pub async fn session(&self, sid: &str) -> Result<Option<Session>> {
        // One round trip: the session, and its user if that still exists (a deleted account's sessions die).
        let sql = "SELECT * FROM session WHERE sid = $sid LIMIT 1;\
                   SELECT uid FROM user WHERE uid = (SELECT VALUE user FROM session WHERE sid = $sid LIMIT 1)[0] LIMIT 1;";
        let mut results = self.run(sql, json!({ "sid": sid })).await?;
        let users = decode_rows::<Value>(results.pop().unwrap_or(Value::Null))?;
        let sessions = decode_rows::<Session>(results.pop().unwrap_or(Value::Null))?;
        Ok(sessions.into_iter().next().filter(|_| !users.is_empty()))
    }

    /// Ends one session (logout). Ending a session that is already gone is not an error.
    pub async fn end_session(&self, sid: &str) -> Result<()> {
        self.run("DELETE session WHERE sid = $sid;", json!({ "sid": sid }))
            .await
            .map(|_| ())
    }

    /// Replaces the user's password hash and ends every session of the user in one transaction, then starts a
    /// new session (for the caller who changed it); returns its id.
    pub async fn change_password(
        &self,
        user: &UserId,
        password_hash: &str,
        now: u64,
    ) -> Result<SessionId> {
        let sid = SessionId::random();
        let sql = "BEGIN TRANSACTION;\
                   LET $changed = (UPDATE user SET password_hash = $hash WHERE uid = $user RETURN AFTER);\
                   IF array::len($changed) = 0 { THROW 'sigil:not_found' };\
                   DELETE session WHERE user = $user;\
                   CREATE session CONTENT { sid: $sid, user: $user, started_at: $now };\
                   COMMIT TRANSACTION;";
        match self
            .run(
                sql,
                json!({ "user": user, "hash": password_hash, "sid": sid, "now": now }),
            )
            .await
        {
            Ok(_) => Ok(sid),
            Err(StoreError::Query(message)) if message.contains("sigil:not_found") => {
                Err(StoreError::NotFound("user"))
            }
            Err(other) => Err(other),
        }
    }
}
