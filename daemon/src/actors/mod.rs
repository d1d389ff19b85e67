//! Supervised actix actors and the runtime state they share. Actors run on a small pool of arbiters inside the
//! daemon's actix `System`; HTTP handlers reach them through `Addr`s, which are `Send`.

pub mod approval;
pub mod registry;
pub mod tenant;

use std::sync::{Arc, RwLock};

use crate::config::Config;
use crate::store::Store;

/// Why an actor could not answer.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ActorError {
    /// The handler panicked; the actor was restarted and the request is lost.
    #[error("the actor handling this request failed and was restarted")]
    Panicked,
    /// The actor's mailbox was closed (it stopped or was restarted while the message waited).
    #[error("the actor handling this request is unavailable")]
    Unavailable,
    /// The store failed.
    #[error("store error: {0}")]
    Store(String),
}

impl From<actix::MailboxError> for ActorError {
    fn from(_: actix::MailboxError) -> Self {
        ActorError::Unavailable
    }
}

/// State every actor may read: the store and the current settings. Settings change on SIGHUP; the generation
/// lets actors notice and rebuild what they derived from them.
pub struct Runtime {
    /// The store.
    pub store: Store,
    settings: RwLock<(u64, Arc<Config>)>,
}

impl Runtime {
    /// A runtime over an open store with the initial config.
    pub fn new(store: Store, config: Config) -> Self {
        Self {
            store,
            settings: RwLock::new((0, Arc::new(config))),
        }
    }

    /// The current settings and their generation.
    pub fn settings(&self) -> (u64, Arc<Config>) {
        let guard = self
            .settings
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (guard.0, guard.1.clone())
    }

    /// Replaces the settings (after a successful reload).
    pub fn replace_settings(&self, config: Config) {
        let mut guard = self
            .settings
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = (guard.0 + 1, Arc::new(config));
    }
}
