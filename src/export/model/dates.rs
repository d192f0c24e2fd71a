//! Dates and timestamps: read fast in the API's usual forms, by chrono otherwise, and written
//! back as chrono writes them. Errors name the field and, unless it is personal data, the value.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};
use serde::de::{self, DeserializeSeed, Deserializer, Visitor};
use serde::Serializer;

/// How a date or timestamp member is parsed and reported: its wire name (errors name the field)
/// and whether an invalid value may be repeated in the message (not for personal data such as
/// the date of birth).
pub(super) trait TextField: Copy {
    type Output;

    fn parse<E: de::Error>(self, text: &str) -> Result<Self::Output, E>;
}

/// A `YYYY-MM-DD` date member.
#[derive(Clone, Copy)]
pub(super) struct DateField {
    field: &'static str,
    show_value: bool,
}

/// An RFC 3339 timestamp member, converted to UTC.
#[derive(Clone, Copy)]
pub(super) struct TimestampField {
    field: &'static str,
    show_value: bool,
}

impl TextField for DateField {
    type Output = NaiveDate;

    fn parse<E: de::Error>(self, text: &str) -> Result<NaiveDate, E> {
        if let Some(date) = fast_date(text.as_bytes()) {
            return Ok(date);
        }
        // Every other form, and every error, is chrono's.
        NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| {
            let (value, field) = (Shown(self.show_value, text), self.field);
            E::custom(format_args!(
                "invalid date{value} in {field}: {e} (expected YYYY-MM-DD)"
            ))
        })
    }
}

impl TextField for TimestampField {
    type Output = DateTime<Utc>;

    fn parse<E: de::Error>(self, text: &str) -> Result<DateTime<Utc>, E> {
        if let Some(time) = fast_utc_timestamp(text.as_bytes()) {
            return Ok(time);
        }
        // Offsets, fractions, leap seconds, lowercase separators and every error are chrono's.
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                let (value, field) = (Shown(self.show_value, text), self.field);
                E::custom(format_args!(
                    "invalid timestamp{value} in {field}: {e} (expected RFC 3339, like \
                     2020-04-10T11:44:40Z)"
                ))
            })
    }
}

/// The date in the first ten bytes, when they are exactly `DDDD-DD-DD` and a valid date;
/// `None` sends the caller to chrono's parser.
#[inline]
fn fast_ymd(bytes: &[u8]) -> Option<NaiveDate> {
    let b: &[u8; 10] = bytes.get(..10)?.try_into().ok()?;
    let digit = |i: usize| u32::from(b[i].wrapping_sub(b'0'));
    let d = [
        digit(0),
        digit(1),
        digit(2),
        digit(3),
        digit(5),
        digit(6),
        digit(8),
        digit(9),
    ];
    if b[4] != b'-' || b[7] != b'-' || d.iter().any(|&x| x > 9) {
        return None;
    }
    let year = d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3];
    NaiveDate::from_ymd_opt(year as i32, d[4] * 10 + d[5], d[6] * 10 + d[7])
}

/// The value of the two ASCII digits at `at`, if they are digits.
#[inline]
fn two_digits(bytes: &[u8], at: usize) -> Option<u32> {
    let (tens, ones) = (
        bytes[at].wrapping_sub(b'0'),
        bytes[at + 1].wrapping_sub(b'0'),
    );
    (tens < 10 && ones < 10).then(|| u32::from(tens) * 10 + u32::from(ones))
}

/// `YYYY-MM-DD`, exactly ten bytes, valid. Anything else (including impossible dates, for the
/// error) goes to chrono, which reads this shape to the same date.
fn fast_date(bytes: &[u8]) -> Option<NaiveDate> {
    if bytes.len() != 10 {
        return None;
    }
    fast_ymd(bytes)
}

/// `YYYY-MM-DDTHH:MM:SSZ`, exactly twenty bytes, valid, no leap second. Anything else goes to
/// chrono, which reads this shape to the same instant.
fn fast_utc_timestamp(bytes: &[u8]) -> Option<DateTime<Utc>> {
    if bytes.len() != 20
        || bytes[10] != b'T'
        || bytes[13] != b':'
        || bytes[16] != b':'
        || bytes[19] != b'Z'
    {
        return None;
    }
    let date = fast_ymd(bytes)?;
    let (hour, minute, second) = (
        two_digits(bytes, 11)?,
        two_digits(bytes, 14)?,
        two_digits(bytes, 17)?,
    );
    // `and_hms_opt` rejects 60 seconds, which chrono reads as a leap second.
    Some(date.and_hms_opt(hour, minute, second)?.and_utc())
}

/// Reads an optional date or timestamp member: `null` is `None`, a string is parsed, anything
/// else is an "expected a string" error (as for `Option<String>`). The text is borrowed from the
/// input when the deserializer can.
#[derive(Clone, Copy)]
pub(super) struct OptionalText<F>(F);

impl<'de, F: TextField> DeserializeSeed<'de> for OptionalText<F> {
    type Value = Option<F::Output>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, F: TextField> Visitor<'de> for OptionalText<F> {
    type Value = Option<F::Output>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("option")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        // Parsed after the string is read, not inside the string visitor: serde_json then gives
        // an invalid value the position it always has (after the enclosing object).
        let text = deserializer.deserialize_str(TextVisitor)?;
        self.0.parse(&text).map(Some)
    }
}

/// The string of an [`OptionalText`], borrowed from the input when the deserializer can.
struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(value))
    }
}

/// A date member whose invalid value may appear in the error.
pub(super) fn date(field: &'static str) -> OptionalText<DateField> {
    OptionalText(DateField {
        field,
        show_value: true,
    })
}

/// A date member holding personal data, such as the date of birth: an invalid value stays out
/// of the error.
pub(super) fn personal_date(field: &'static str) -> OptionalText<DateField> {
    OptionalText(DateField {
        field,
        show_value: false,
    })
}

/// A timestamp member whose invalid value may appear in the error.
pub(super) fn timestamp(field: &'static str) -> OptionalText<TimestampField> {
    OptionalText(TimestampField {
        field,
        show_value: true,
    })
}

/// ` "value"` when the flag is set, nothing otherwise.
struct Shown<'a>(bool, &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 {
            write!(f, " {:?}", self.1)
        } else {
            Ok(())
        }
    }
}

pub(super) fn ser_date<S: Serializer>(
    date: &Option<NaiveDate>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let Some(date) = date else {
        return serializer.serialize_none();
    };
    let (year, month, day) = (date.year(), date.month(), date.day());
    if !(0..=9999).contains(&year) {
        // chrono writes a sign and more digits for these.
        return serializer.collect_str(&date.format("%Y-%m-%d"));
    }
    let year = year as u32;
    let mut text = *b"0000-00-00";
    for (at, value) in [(0, year / 100), (2, year % 100), (5, month), (8, day)] {
        text[at] = b'0' + (value / 10) as u8;
        text[at + 1] = b'0' + (value % 10) as u8;
    }
    serializer.serialize_str(std::str::from_utf8(&text).expect("ASCII digits and dashes"))
}

pub(super) fn ser_timestamp<S: Serializer>(
    time: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::LicenseClassDetail;

    fn chrono_date(text: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
    }

    fn chrono_timestamp(text: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Whatever the fast path accepts, chrono reads to the same date.
    #[test]
    fn fast_date_agrees_with_chrono() {
        let mut accepted = 0;
        for year in [
            "0000", "0001", "1964", "2000", "2020", "2021", "2100", "9999", "20x0",
        ] {
            for month in 0..=13 {
                for day in 0..=32 {
                    let text = format!("{year}-{month:02}-{day:02}");
                    let fast = fast_date(text.as_bytes());
                    if let Some(date) = fast {
                        accepted += 1;
                        assert_eq!(Some(date), chrono_date(&text), "{text}");
                    } else {
                        // Only impossible dates and non-digits get here in this shape.
                        assert_eq!(chrono_date(&text), None, "{text}");
                    }
                }
            }
        }
        assert!(accepted > 2000);
        for text in [
            "2020-4-10",
            "2020-04-1",
            " 2020-04-10",
            "2020-04-10 ",
            "+2020-04-10",
            "2020/04/10",
            "20200410",
            "",
        ] {
            assert_eq!(fast_date(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn fast_timestamp_agrees_with_chrono() {
        let mut accepted = 0;
        for date in [
            "0000-01-01",
            "2020-02-29",
            "2021-02-29",
            "2020-04-10",
            "9999-12-31",
        ] {
            for hour in [0, 9, 23, 24, 99] {
                for minute in [0, 44, 59, 60] {
                    for second in [0, 40, 59, 60, 61] {
                        let text = format!("{date}T{hour:02}:{minute:02}:{second:02}Z");
                        if let Some(time) = fast_utc_timestamp(text.as_bytes()) {
                            accepted += 1;
                            assert_eq!(Some(time), chrono_timestamp(&text), "{text}");
                        }
                    }
                }
            }
        }
        assert!(accepted > 100);
        // Left to chrono: other separators, offsets, fractions, leap seconds.
        for text in [
            "2020-04-10t11:44:40Z",
            "2020-04-10 11:44:40Z",
            "2020-04-10T11:44:40z",
            "2020-04-10T11:44:40+00:00",
            "2020-04-10T11:44:40.5Z",
            "2016-12-31T23:59:60Z",
            "2020-04-10T11:44:40",
        ] {
            assert_eq!(fast_utc_timestamp(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn dates_are_written_as_chrono_writes_them() {
        for (y, m, d) in [
            (0, 1, 1),
            (1, 2, 3),
            (1964, 12, 30),
            (9999, 12, 31),
            (-1, 1, 1),
            (10000, 1, 1),
        ] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let written = serde_json::to_value(LicenseClassDetail {
                from: Some(date),
                ..Default::default()
            })
            .unwrap();
            assert_eq!(written["from"], date.format("%Y-%m-%d").to_string());
        }
    }
}
