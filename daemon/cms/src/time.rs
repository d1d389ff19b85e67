//! Time helpers shared by the formats: RFC 3339 rendering, the UTCTime/GeneralizedTime choice of X.509 and CMS
//! `signing-time`, certificate validity times as Unix seconds, and proleptic Gregorian calendar arithmetic
//! (for parsers of GeneralizedTime variants such as RFC 3161's `genTime`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::{
    ErrorKind,
    asn1::{GeneralizedTime, UtcTime},
};
use x509_cert::time::Time;

/// An X.509 `Time` (validity bounds) as Unix seconds, saturating at `i64::MAX`.
#[must_use]
pub fn unix_seconds(time: &Time) -> i64 {
    i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// RFC 3339 rendering of a Unix time in whole seconds.
#[must_use]
pub fn rfc3339(unix_seconds: i64) -> String {
    let (year, month, day) = civil_from_days(unix_seconds.div_euclid(86_400));
    let second_of_day = unix_seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// A CMS `signing-time` or X.509 validity time: UTCTime through 2049, GeneralizedTime from 2050
/// (RFC 5652 §11.3, RFC 5280 §4.1.2.5), whole seconds.
///
/// # Errors
/// A time before 1970 or after 9999.
pub fn x509_time(time: SystemTime) -> der::Result<Time> {
    let since_epoch = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| ErrorKind::DateTime)?;
    let whole = Duration::from_secs(since_epoch.as_secs());
    match UtcTime::from_unix_duration(whole) {
        Ok(utc) => Ok(Time::UtcTime(utc)),
        Err(_) => Ok(Time::GeneralTime(GeneralizedTime::from_unix_duration(
            whole,
        )?)),
    }
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Days in `month` (1 to 12) of the proleptic Gregorian `year`.
#[must_use]
pub fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
#[must_use]
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month, day) of a day count since 1970-01-01.
#[must_use]
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 59, 365, 11_016, 19_844, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn renders_rfc3339_and_chooses_the_x509_time_type() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        let before_2050 = UNIX_EPOCH + Duration::from_secs(2_524_607_999);
        assert!(matches!(x509_time(before_2050), Ok(Time::UtcTime(_))));
        let from_2050 = UNIX_EPOCH + Duration::from_secs(2_524_608_000);
        assert!(matches!(x509_time(from_2050), Ok(Time::GeneralTime(_))));
        assert_eq!(unix_seconds(&x509_time(from_2050).unwrap()), 2_524_608_000);
    }
}
