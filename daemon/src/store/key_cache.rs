//! The in-memory cache of verified API keys, for the embedded engine only.

use super::api_keys::ApiKey;

/// API keys by hash, so that a request with a key does not cost a query. Only for the embedded engine: this
/// process is then the only writer of the store (`sigild admin` needs the daemon stopped), so revoking a key here
/// removes it here and revocation stays immediate. With a remote store other nodes could revoke a key unseen,
/// so every request asks the store.
///
/// Revocation is final: a fill takes a [`FillTicket`] (the revocation epoch) *before* it reads the store, and
/// the entry is kept only if no revocation happened since. A read that saw the key just before it was deleted
/// therefore cannot put it back after the revocation dropped it.
#[derive(Default)]
pub(super) struct ApiKeyCache {
    inner: std::sync::Mutex<KeyCacheInner>,
}

#[derive(Default)]
struct KeyCacheInner {
    keys: std::collections::HashMap<String, ApiKey>,
    /// Bumped by every revocation, under the same lock as the map.
    revocations: u64,
}

/// The revocation epoch a cache fill started in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FillTicket(u64);

/// Keys cached at most; beyond that the cache starts over.
const API_KEY_CACHE_LIMIT: usize = 10_000;

impl ApiKeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, KeyCacheInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn get(&self, hash: &str) -> Option<ApiKey> {
        self.lock().keys.get(hash).cloned()
    }

    /// Taken before the store is read for a fill.
    pub(super) fn ticket(&self) -> FillTicket {
        FillTicket(self.lock().revocations)
    }

    /// Caches a key read from the store, unless a revocation happened since `ticket` was taken (the read may
    /// predate it). Returns whether the key was cached.
    pub(super) fn put(&self, ticket: FillTicket, key: &ApiKey) -> bool {
        let mut inner = self.lock();
        if inner.revocations != ticket.0 {
            return false;
        }
        if inner.keys.len() >= API_KEY_CACHE_LIMIT {
            inner.keys.clear();
        }
        inner.keys.insert(key.hash.clone(), key.clone());
        true
    }

    /// Drops every entry of this key (by id) and invalidates fills in progress. Call after the delete committed.
    pub(super) fn forget(&self, uid: &str) {
        let mut inner = self.lock();
        inner.revocations += 1;
        inner.keys.retain(|_, key| key.uid != uid);
    }

    pub(super) fn touched(&self, uid: &str, at: &str) {
        let mut inner = self.lock();
        for key in inner.keys.values_mut().filter(|key| key.uid == uid) {
            key.last_used_at = Some(at.to_string());
        }
    }
}
