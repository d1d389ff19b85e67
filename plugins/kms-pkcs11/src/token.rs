//! One token: finding its slot by label, a small pool of logged-in read/write sessions, and the mapping of
//! PKCS#11 return values to plugin statuses.
//!
//! Threading: a cryptoki `Session` is `Send` but not `Sync`, so a session serves one call at a time; calls
//! take one from the idle pool (or open a new one), use it alone, and put it back. The module was initialised
//! with OS locking, so sessions on different threads run in parallel (SoftHSM2 is thread-safe that way).
//!
//! Login: PKCS#11 logs in the *application*, not a session: every session of the process shares one login,
//! which ends when its last session closes. So each call checks its session's state and logs in when it is
//! public, treating `CKR_USER_ALREADY_LOGGED_IN` (another thread, or the other plugin copy during a hot
//! reload, got there first) as success. The plugin never calls `C_Logout`: it would log out every other user
//! of the module in the process.

use std::sync::{Mutex, PoisonError};

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error, RvError};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use sigil_plugin_api::PluginError;

/// Idle sessions kept open between calls. More run at once when calls overlap; the surplus is closed after
/// use. Also, while one idle session stays open the login persists, so steady traffic logs in once.
const MAX_IDLE_SESSIONS: usize = 4;

/// Maps a cryptoki error to a plugin error, with `context` saying what was being done.
pub fn pkcs11_error(context: &str, error: Error) -> PluginError {
    let message = format!("{context}: {error}");
    match &error {
        Error::Pkcs11(rv, _) => match rv {
            RvError::PinIncorrect
            | RvError::PinInvalid
            | RvError::PinLenRange
            | RvError::PinExpired
            | RvError::PinLocked
            | RvError::UserPinNotInitialized
            | RvError::UserNotLoggedIn
            | RvError::KeyFunctionNotPermitted
            | RvError::ActionProhibited => PluginError::permission_denied(message),
            RvError::MechanismInvalid
            | RvError::MechanismParamInvalid
            | RvError::FunctionNotSupported
            | RvError::CurveNotSupported
            | RvError::KeySizeRange
            | RvError::DomainParamsInvalid => PluginError::unsupported(message),
            RvError::TokenNotPresent
            | RvError::TokenNotRecognized
            | RvError::DeviceRemoved
            | RvError::SlotIdInvalid => PluginError::network(message),
            _ => PluginError::backend(message),
        },
        _ => PluginError::backend(message),
    }
}

/// The configured token of one plugin instance.
pub struct Token {
    pkcs11: Pkcs11,
    label: String,
    /// The slot the token must be in, when the config pins one.
    required_slot: Option<u64>,
    /// Wiped on drop (`AuthPin` is a `secrecy::SecretString`).
    pin: AuthPin,
    idle: Mutex<Vec<Session>>,
}

impl Token {
    /// Finds the token and logs in once, so a wrong PIN or a missing token fails `create`.
    pub fn open(
        pkcs11: Pkcs11,
        label: String,
        required_slot: Option<u64>,
        pin: AuthPin,
    ) -> Result<Token, PluginError> {
        let token = Token {
            pkcs11,
            label,
            required_slot,
            pin,
            idle: Mutex::new(Vec::new()),
        };
        token.with_session(|_| Ok(()))?;
        Ok(token)
    }

    /// The token label (the `token=` of key URIs).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The slot currently holding the token. Looked up by label each time a session is opened, because slot
    /// ids are not stable (SoftHSM renumbers on `--init-token`, readers move).
    pub fn find_slot(&self) -> Result<Slot, PluginError> {
        let slots = self
            .pkcs11
            .get_slots_with_token()
            .map_err(|error| pkcs11_error("C_GetSlotList", error))?;
        let mut found = None;
        for slot in slots {
            let Ok(info) = self.pkcs11.get_token_info(slot) else {
                continue;
            };
            if info.label() != self.label {
                continue;
            }
            if found.is_some() {
                return Err(PluginError::backend(format!(
                    "two tokens are labelled {:?}; set `slot` in the config to choose one",
                    self.label
                )));
            }
            found = Some(slot);
        }
        let slot = found.ok_or_else(|| {
            PluginError::network(format!("no token labelled {:?} is present", self.label))
        })?;
        if let Some(required) = self.required_slot
            && slot.id() != required
        {
            return Err(PluginError::network(format!(
                "token {:?} is in slot {}, not in the configured slot {required}",
                self.label,
                slot.id()
            )));
        }
        Ok(slot)
    }

    /// Whether the token's mechanism list has `mechanism`.
    pub fn supports(
        &self,
        mechanism: cryptoki::mechanism::MechanismType,
    ) -> Result<bool, PluginError> {
        let slot = self.find_slot()?;
        let mechanisms = self
            .pkcs11
            .get_mechanism_list(slot)
            .map_err(|error| pkcs11_error("C_GetMechanismList", error))?;
        Ok(mechanisms.contains(&mechanism))
    }

    /// Runs `operation` on a logged-in read/write session. The session goes back to the pool afterwards if it
    /// is still open and logged in, whatever the operation returned; a broken one (token removed, session
    /// closed under us) is dropped, and the next call opens a fresh one.
    pub fn with_session<T>(
        &self,
        operation: impl FnOnce(&Session) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let session = match pooled {
            Some(session) => session,
            None => {
                let slot = self.find_slot()?;
                self.pkcs11
                    .open_rw_session(slot)
                    .map_err(|error| pkcs11_error("C_OpenSession", error))?
            }
        };
        let result = self
            .ensure_logged_in(&session)
            .and_then(|()| operation(&session));
        let reusable = matches!(
            session.get_session_info().map(|info| info.session_state()),
            Ok(SessionState::RwUser)
        );
        if reusable {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE_SESSIONS {
                idle.push(session);
            }
        }
        result
    }

    fn ensure_logged_in(&self, session: &Session) -> Result<(), PluginError> {
        let state = session
            .get_session_info()
            .map_err(|error| pkcs11_error("C_GetSessionInfo", error))?
            .session_state();
        if matches!(state, SessionState::RwUser | SessionState::RoUser) {
            return Ok(());
        }
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(error) => Err(pkcs11_error(
                &format!("logging in to token {:?}", self.label),
                error,
            )),
        }
    }
}
