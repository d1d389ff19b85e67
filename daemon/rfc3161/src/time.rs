//! The TSTInfo `genTime`: a GeneralizedTime that may carry fractional seconds, which the `der` crate's own
//! type refuses, with its RFC 3339 rendering. Calendar arithmetic and the other time helpers are sigil-cms's.

use core::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::{DecodeValue, EncodeValue, ErrorKind, FixedTag, Header, Length, Reader, Tag, Writer};
use sigil_cms::time::{civil_from_days, days_from_civil, days_in_month, rfc3339};

/// A `genTime` as received or issued: `YYYYMMDDhhmmss[.f+]Z`.
///
/// Parsing is liberal where RFC 3161 is silent or TSAs stray: a comma as the decimal mark and trailing
/// zeros in the fraction are accepted. Local times (no `Z`) and offsets are refused: RFC 3161 requires UTC.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct GenTime {
    raw: String,
    unix_seconds: i64,
    nanos: u32,
    fraction: String,
}

impl GenTime {
    /// Parses the text of a GeneralizedTime.
    ///
    /// # Errors
    /// [`TimeError`] naming what is wrong with the text.
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        let bytes = text.as_bytes();
        if !text.is_ascii() || bytes.len() < 14 {
            return Err(TimeError::Syntax);
        }
        if bytes.last() != Some(&b'Z') {
            return Err(TimeError::NotUtc);
        }
        if bytes.len() < 15 {
            return Err(TimeError::Syntax);
        }
        let number = |range: core::ops::Range<usize>| -> Result<u32, TimeError> {
            let digits = &text[range];
            if digits.bytes().all(|b| b.is_ascii_digit()) {
                digits.parse().map_err(|_| TimeError::Syntax)
            } else {
                Err(TimeError::Syntax)
            }
        };
        let year = number(0..4)?;
        let month = number(4..6)?;
        let day = number(6..8)?;
        let hour = number(8..10)?;
        let minute = number(10..12)?;
        let second = number(12..14)?;
        let rest = &text[14..text.len() - 1];
        let fraction = match rest.as_bytes().first() {
            None => "",
            Some(b'.' | b',')
                if rest.len() > 1 && rest[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                &rest[1..]
            }
            Some(_) => return Err(TimeError::Syntax),
        };
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(TimeError::OutOfRange);
        }
        // A leap second is folded into the next second: Unix time has no representation for it.
        let days = days_from_civil(i64::from(year), month, day);
        let unix_seconds =
            days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
        let fraction = fraction.trim_end_matches('0');
        let mut nanos_text: String = fraction.chars().take(9).collect();
        while nanos_text.len() < 9 {
            nanos_text.push('0');
        }
        let nanos = nanos_text.parse().map_err(|_| TimeError::Syntax)?;
        Ok(Self {
            raw: text.to_owned(),
            unix_seconds,
            nanos,
            fraction: fraction.to_owned(),
        })
    }

    /// A time for issuance, with `fraction_digits` (0 to 6) digits of fractional seconds, trailing zeros
    /// dropped as DER requires.
    ///
    /// # Errors
    /// [`TimeError::OutOfRange`] before 1970 or after 9999.
    pub fn from_system_time(time: SystemTime, fraction_digits: u8) -> Result<Self, TimeError> {
        let since_epoch = time
            .duration_since(UNIX_EPOCH)
            .map_err(|_| TimeError::OutOfRange)?;
        let seconds = i64::try_from(since_epoch.as_secs()).map_err(|_| TimeError::OutOfRange)?;
        let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
        if year > 9999 {
            return Err(TimeError::OutOfRange);
        }
        let second_of_day = seconds.rem_euclid(86_400);
        let digits = usize::from(fraction_digits.min(6));
        let micros = since_epoch.subsec_micros();
        let mut fraction = format!("{micros:06}");
        fraction.truncate(digits);
        let fraction = fraction.trim_end_matches('0');
        let raw = format!(
            "{year:04}{month:02}{day:02}{:02}{:02}{:02}{}{fraction}Z",
            second_of_day / 3600,
            second_of_day / 60 % 60,
            second_of_day % 60,
            if fraction.is_empty() { "" } else { "." },
        );
        Self::parse(&raw)
    }

    /// The GeneralizedTime text exactly as encoded.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Seconds since the Unix epoch (fraction dropped).
    #[must_use]
    pub fn unix_seconds(&self) -> i64 {
        self.unix_seconds
    }

    /// The fractional second in nanoseconds (digits past the ninth are dropped).
    #[must_use]
    pub fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// RFC 3339 in UTC, e.g. `2024-05-01T12:00:00Z` or `2024-05-01T12:00:00.25Z`, keeping every
    /// fractional digit received.
    #[must_use]
    pub fn to_rfc3339(&self) -> String {
        let mut text = rfc3339(self.unix_seconds);
        if !self.fraction.is_empty() {
            text.pop();
            text.push('.');
            text.push_str(&self.fraction);
            text.push('Z');
        }
        text
    }

    /// The time as a [`SystemTime`].
    #[must_use]
    pub fn to_system_time(&self) -> SystemTime {
        let base = u64::try_from(self.unix_seconds).unwrap_or_default();
        UNIX_EPOCH + Duration::new(base, self.nanos)
    }
}

impl fmt::Debug for GenTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GenTime({})", self.raw)
    }
}

impl fmt::Display for GenTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> DecodeValue<'a> for GenTime {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let bytes = reader.read_slice(header.length())?;
        let text = core::str::from_utf8(bytes).map_err(|_| Tag::GeneralizedTime.value_error())?;
        Self::parse(text).map_err(|_| der::Error::from(ErrorKind::DateTime))
    }
}

impl EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.raw.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.raw.as_bytes())
    }
}

/// Why a `genTime` is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Not of the form `YYYYMMDDhhmmss[.f+]Z`.
    #[error("not a GeneralizedTime of the form YYYYMMDDhhmmss[.fff]Z")]
    Syntax,
    /// No `Z`: a local time or an offset, which RFC 3161 does not allow.
    #[error("genTime is not in UTC (no trailing Z)")]
    NotUtc,
    /// A field is out of range (month 13, 31 February, before 1970 ...).
    #[error("date or time field out of range")]
    OutOfRange,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_tsas_send() {
        let table: &[(&str, i64, u32, &str)] = &[
            ("19700101000000Z", 0, 0, "1970-01-01T00:00:00Z"),
            ("20240229235959Z", 1_709_251_199, 0, "2024-02-29T23:59:59Z"),
            (
                "20240501120000.5Z",
                1_714_564_800,
                500_000_000,
                "2024-05-01T12:00:00.5Z",
            ),
            (
                "20240501120000,250Z",
                1_714_564_800,
                250_000_000,
                "2024-05-01T12:00:00.25Z",
            ),
            (
                "20991231235959.123456789123Z",
                4_102_444_799,
                123_456_789,
                "2099-12-31T23:59:59.123456789123Z",
            ),
        ];
        for (text, unix, nanos, rfc) in table {
            let time = GenTime::parse(text).unwrap();
            assert_eq!(time.unix_seconds(), *unix, "{text}");
            assert_eq!(time.subsec_nanos(), *nanos, "{text}");
            assert_eq!(time.to_rfc3339(), *rfc, "{text}");
        }
    }

    #[test]
    fn refuses_malformed_times() {
        let table: &[(&str, TimeError)] = &[
            ("", TimeError::Syntax),
            ("20240501120000", TimeError::NotUtc),
            ("20240501120000+0100", TimeError::NotUtc),
            ("2024050112000aZ", TimeError::Syntax),
            ("20240230120000Z", TimeError::OutOfRange),
            ("20241301120000Z", TimeError::OutOfRange),
            ("20240501120000.Z", TimeError::Syntax),
        ];
        for (text, error) in table {
            assert_eq!(GenTime::parse(text).unwrap_err(), *error, "{text}");
        }
    }

    #[test]
    fn issues_with_requested_precision() {
        let time = UNIX_EPOCH + Duration::new(1_714_564_800, 120_000_000);
        assert_eq!(
            GenTime::from_system_time(time, 0).unwrap().as_str(),
            "20240501120000Z"
        );
        assert_eq!(
            GenTime::from_system_time(time, 3).unwrap().as_str(),
            "20240501120000.12Z"
        );
        let whole = UNIX_EPOCH + Duration::from_secs(1_714_564_800);
        assert_eq!(
            GenTime::from_system_time(whole, 3).unwrap().as_str(),
            "20240501120000Z"
        );
    }
}
