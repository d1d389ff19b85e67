//! Monthly stamp quotas, counted in the store: one `stamp_quota` record per tenant and month (UTC). A stamp
//! reserves its place with one transaction that increments the counter and refuses past the limit, so a restart,
//! a `kill -9` or a second node sharing the store neither resets nor multiplies the count. A reservation whose
//! stamp fails (or whose request is cancelled) is given back; one whose daemon dies before the stamp is stored
//! stays counted, which errs on the side of the limit.

use serde_json::json;

use super::{Result, Store, StoreError};
use crate::ids::{TenantId, TenantScope};

/// Why a reservation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaRefusal {
    /// The monthly stamp limit is reached.
    Stamps(u64),
    /// The monthly qualified-stamp limit is reached.
    Qualified(u64),
}

/// The limits that apply (0 = unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimits {
    /// Stamps per month.
    pub stamps: u64,
    /// Qualified stamps per month.
    pub qualified: u64,
}

impl QuotaLimits {
    /// Whether a stamp of this kind must be counted at all.
    pub fn applies_to(&self, qualified: bool) -> bool {
        self.stamps > 0 || (qualified && self.qualified > 0)
    }
}

/// One tenant's quota counter for one calendar month (UTC); its record key is `<tenant>:<YYYY-MM>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaPeriod {
    tenant: TenantId,
    month: String,
}

impl QuotaPeriod {
    /// The tenant's counter for the month that holds `at`.
    pub fn of(scope: &TenantScope, at: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            tenant: scope.tenant().clone(),
            month: at.format("%Y-%m").to_string(),
        }
    }

    fn key(&self) -> String {
        format!("{}:{}", self.tenant, self.month)
    }
}

impl Store {
    /// Reserves one stamp (and one qualified stamp when `qualified`) of the tenant's month. The counter is created
    /// from the stamps already stored that month the first time it is needed, and recounted once when the stamp
    /// limit starts to apply, so limits configured mid-month see the month's earlier stamps.
    ///
    /// # Errors
    /// `Ok(Err(refusal))` when a limit is reached (nothing is counted); a store error otherwise.
    pub async fn reserve_stamp(
        &self,
        period: &QuotaPeriod,
        qualified: bool,
        limits: QuotaLimits,
    ) -> Result<std::result::Result<(), QuotaRefusal>> {
        let since = format!("{}-01T00:00:00Z", period.month);
        let sql = "BEGIN TRANSACTION;
            LET $id = type::record('stamp_quota', $key);
            LET $row = (SELECT counts_all FROM ONLY $id);
            IF $row = NONE OR ($stamp_limit > 0 AND !$row.counts_all) {
                LET $all = (SELECT count() FROM stamp WHERE tenant = $tenant AND created_at >= <datetime> $since
                            GROUP ALL)[0].count ?? 0;
                LET $q = (SELECT count() FROM stamp WHERE tenant = $tenant AND created_at >= <datetime> $since
                          AND qualified = true GROUP ALL)[0].count ?? 0;
                UPSERT $id CONTENT { tenant: $tenant, month: $month, stamps: $all, qualified: $q,
                                     counts_all: $stamp_limit > 0 };
            };
            LET $after = (UPDATE ONLY $id SET stamps += 1, qualified += $add_qualified RETURN AFTER);
            IF $stamp_limit > 0 AND $after.stamps > $stamp_limit { THROW 'sigil-quota:stamps' };
            IF $add_qualified > 0 AND $qualified_limit > 0 AND $after.qualified > $qualified_limit {
                THROW 'sigil-quota:qualified'
            };
            COMMIT TRANSACTION;";
        let vars = json!({
            "key": period.key(), "tenant": period.tenant, "month": period.month, "since": since,
            "stamp_limit": limits.stamps, "qualified_limit": limits.qualified,
            "add_qualified": i64::from(qualified),
        });
        match self.run(sql, vars).await {
            Ok(_) => Ok(Ok(())),
            Err(StoreError::Query(message)) if message.contains("sigil-quota:stamps") => {
                Ok(Err(QuotaRefusal::Stamps(limits.stamps)))
            }
            Err(StoreError::Query(message)) if message.contains("sigil-quota:qualified") => {
                Ok(Err(QuotaRefusal::Qualified(limits.qualified)))
            }
            Err(other) => Err(other),
        }
    }

    /// Gives a reservation back.
    pub async fn release_stamp(&self, period: &QuotaPeriod, qualified: bool) -> Result<()> {
        let sql = "UPDATE type::record('stamp_quota', $key) SET stamps = math::max([stamps - 1, 0]), \
                   qualified = math::max([qualified - $q, 0]);";
        self.run(
            sql,
            json!({ "key": period.key(), "q": i64::from(qualified) }),
        )
        .await
        .map(|_| ())
    }

    /// The counter's values (stamps, qualified), for tests and diagnostics.
    pub async fn quota_usage(&self, period: &QuotaPeriod) -> Result<Option<(u64, u64)>> {
        #[derive(serde::Deserialize)]
        struct Row {
            stamps: u64,
            qualified: u64,
        }
        let row: Option<Row> = self
            .first(
                "SELECT stamps, qualified FROM type::record('stamp_quota', $key);",
                json!({ "key": period.key() }),
            )
            .await?;
        Ok(row.map(|r| (r.stamps, r.qualified)))
    }
}
