//! UTC calendar dates for scheduled deletions: today's date, adding days, and the PKCS#11 `CK_DATE` and
//! RFC 3339 renderings, without a date library (three conversions do not justify one).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as `2026-03-01T12:34:56Z`.
pub fn now_rfc3339() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    let date = CivilDate::from_days(seconds / 86_400);
    let second_of_day = seconds % 86_400;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        date.year,
        date.month,
        date.day,
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// A proleptic Gregorian date, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CivilDate {
    /// Four-digit year.
    pub year: u32,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
}

impl CivilDate {
    /// Today, UTC. A clock before 1970 reads as 1970-01-01.
    pub fn today() -> CivilDate {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0);
        CivilDate::from_days(seconds / 86_400)
    }

    /// The date `days` after this one.
    pub fn plus_days(self, days: u32) -> CivilDate {
        CivilDate::from_days(self.to_days() + u64::from(days))
    }

    /// `YYYYMMDD` as PKCS#11 stores it in a `CK_DATE` (ASCII digits).
    pub fn to_ck_parts(self) -> (String, String, String) {
        (
            format!("{:04}", self.year),
            format!("{:02}", self.month),
            format!("{:02}", self.day),
        )
    }

    /// Parses a `CK_DATE`'s ASCII fields; `None` for an empty or malformed date.
    pub fn from_ck_parts(year: &[u8], month: &[u8], day: &[u8]) -> Option<CivilDate> {
        let number = |bytes: &[u8]| -> Option<u32> {
            if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(bytes).ok()?.parse().ok()
        };
        let date = CivilDate {
            year: number(year)?,
            month: number(month)?,
            day: number(day)?,
        };
        ((1..=12).contains(&date.month) && (1..=31).contains(&date.day) && date.year >= 1970)
            .then_some(date)
    }

    /// `2026-03-01T00:00:00Z`: the start of the day.
    pub fn rfc3339(self) -> String {
        format!(
            "{:04}-{:02}-{:02}T00:00:00Z",
            self.year, self.month, self.day
        )
    }

    /// Howard Hinnant's `civil_from_days`, for day counts since 1970-01-01.
    fn from_days(days: u64) -> CivilDate {
        let z = days + 719_468;
        let era = z / 146_097;
        let day_of_era = z % 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_index = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_index + 2) / 5 + 1;
        let month = if month_index < 10 {
            month_index + 3
        } else {
            month_index - 9
        };
        let year = year_of_era + era * 400 + u64::from(month <= 2);
        CivilDate {
            year: year as u32,
            month: month as u32,
            day: day as u32,
        }
    }

    /// Howard Hinnant's `days_from_civil`, the inverse of [`CivilDate::from_days`].
    fn to_days(self) -> u64 {
        let year = u64::from(self.year) - u64::from(self.month <= 2);
        let era = year / 400;
        let year_of_era = year - era * 400;
        let month = u64::from(self.month);
        let shifted_month = if month > 2 { month - 3 } else { month + 9 };
        let day_of_year = (153 * shifted_month + 2) / 5 + u64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_arithmetic() {
        let date = |year, month, day| CivilDate { year, month, day };
        // Checked with `date -u -d '1970-01-01 + N days' +%F`.
        let table = [
            (0, date(1970, 1, 1)),
            (11_016, date(2000, 2, 29)),
            (19_782, date(2024, 2, 29)),
            (20_512, date(2026, 2, 28)),
            (47_541, date(2100, 3, 1)),
        ];
        for (days, expected) in table {
            assert_eq!(CivilDate::from_days(days), expected, "{days}");
            assert_eq!(expected.to_days(), days, "{expected:?}");
        }
        assert_eq!(date(2026, 2, 28).plus_days(1), date(2026, 3, 1));
        assert_eq!(date(2024, 12, 31).plus_days(30), date(2025, 1, 30));
        assert_eq!(date(2026, 3, 1).rfc3339(), "2026-03-01T00:00:00Z");
    }

    #[test]
    fn ck_dates() {
        let date = CivilDate::from_ck_parts(b"2026", b"03", b"01").unwrap();
        assert_eq!(
            date.to_ck_parts(),
            ("2026".into(), "03".into(), "01".into())
        );
        assert_eq!(
            CivilDate::from_ck_parts(b"\0\0\0\0", b"\0\0", b"\0\0"),
            None
        );
        assert_eq!(CivilDate::from_ck_parts(b"    ", b"  ", b"  "), None);
        assert_eq!(CivilDate::from_ck_parts(b"2026", b"13", b"01"), None);
    }
}
