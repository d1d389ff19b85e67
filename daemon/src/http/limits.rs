//! Admission: every rate limit of the API in one shared set of keyed limiters, checked on the request's own task.
//!
//! The limiters are concurrent (governor's keyed state is a sharded map of atomics), so admitting a request is
//! a few atomic operations, not a message to an actor. They are rebuilt when a reload changes the config
//! generation (new limits start with full buckets) and swept periodically, so their state stays bounded however
//! many addresses, keys or users pass by.

use std::num::NonZeroU32;
use std::sync::RwLock;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::Config;
use crate::error::ApiError;

/// Which budget a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Per client IP, for requests without (valid) credentials.
    Anonymous,
    /// Per user, for sessions before a tenant is chosen.
    Session,
    /// Per client IP, on the public verification routes.
    Verification,
    /// Per API key (`[limits] api_key_per_minute`).
    ApiKey,
    /// Per user within a tenant, for tenant sessions (`[limits] session_per_minute`).
    TenantSession,
}

/// Builds a keyed per-minute limiter.
fn per_minute_limiter(per_minute: u32) -> DefaultKeyedRateLimiter<String> {
    let rate = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    governor::RateLimiter::keyed(Quota::per_minute(rate))
}

/// Seconds to wait, rounded up, from a governor refusal.
fn retry_after_secs(not_until: &governor::NotUntil<governor::clock::QuantaInstant>) -> u64 {
    not_until
        .wait_time_from(DefaultClock::default().now())
        .as_secs_f64()
        .ceil()
        .max(1.0) as u64
}

/// The limiters of one config generation.
pub(super) struct LimiterSet {
    generation: u64,
    anonymous: DefaultKeyedRateLimiter<String>,
    session: DefaultKeyedRateLimiter<String>,
    verification: DefaultKeyedRateLimiter<String>,
    api_key: DefaultKeyedRateLimiter<String>,
    tenant_session: DefaultKeyedRateLimiter<String>,
    /// `[server] trusted_proxies`, parsed once per config generation rather than per request.
    pub(super) trusted_proxies: Vec<sigil_netpolicy::Cidr>,
}

impl LimiterSet {
    fn new(generation: u64, config: &Config) -> Self {
        let limits = &config.limits;
        Self {
            generation,
            // Validation refused unparsable entries when the config was loaded.
            trusted_proxies: config
                .server
                .trusted_proxies
                .iter()
                .filter_map(|cidr| cidr.parse().ok())
                .collect(),
            anonymous: per_minute_limiter(limits.unauthenticated_per_minute),
            session: per_minute_limiter(limits.session_per_minute),
            verification: per_minute_limiter(limits.verification_per_minute),
            api_key: per_minute_limiter(limits.api_key_per_minute),
            tenant_session: per_minute_limiter(limits.session_per_minute),
        }
    }

    fn all(&self) -> [&DefaultKeyedRateLimiter<String>; 5] {
        [
            &self.anonymous,
            &self.session,
            &self.verification,
            &self.api_key,
            &self.tenant_session,
        ]
    }

    /// Counts one request against `limit` for `key`.
    pub(super) fn check(&self, limit: Limit, key: String) -> Result<(), ApiError> {
        let limiter = match limit {
            Limit::Anonymous => &self.anonymous,
            Limit::Session => &self.session,
            Limit::Verification => &self.verification,
            Limit::ApiKey => &self.api_key,
            Limit::TenantSession => &self.tenant_session,
        };
        limiter
            .check_key(&key)
            .map_err(|not_until| ApiError::rate_limited(retry_after_secs(&not_until)))
    }
}

/// The limiters of the current config generation.
pub struct Limiters(RwLock<LimiterSet>);

impl Limiters {
    /// Limiters for the config of `generation`.
    pub fn new(generation: u64, config: &Config) -> Self {
        Self(RwLock::new(LimiterSet::new(generation, config)))
    }

    /// Runs `f` on the limiters of `generation`, rebuilding them first after a reload.
    pub(super) fn with<R>(
        &self,
        (generation, config): (u64, std::sync::Arc<Config>),
        f: impl FnOnce(&LimiterSet) -> R,
    ) -> R {
        {
            let current = self.0.read().unwrap_or_else(|p| p.into_inner());
            if current.generation == generation {
                return f(&current);
            }
        }
        let mut current = self.0.write().unwrap_or_else(|p| p.into_inner());
        if current.generation != generation {
            *current = LimiterSet::new(generation, &config);
        }
        f(&current)
    }

    /// Forgets buckets that are full again (their clients have not been seen for a window). Called periodically.
    pub fn sweep(&self) {
        let current = self.0.read().unwrap_or_else(|p| p.into_inner());
        for limiter in current.all() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// How many buckets are held (for metrics and tests).
    pub fn buckets(&self) -> usize {
        let current = self.0.read().unwrap_or_else(|p| p.into_inner());
        current.all().iter().map(|limiter| limiter.len()).sum()
    }
}
