//! The typed verification result: what the Authenteq API returns for one identity verification.
//!
//! The types here follow the API's JSON exactly (camelCase field names, `YYYY-MM-DD` dates,
//! RFC 3339 timestamps, base64 file contents) and are built to round-trip it:
//!
//! - every field is optional except the verification `id`;
//! - every object keeps the members it does not know in an `extra` map and writes them back;
//! - the code-like values ([`DocumentType`], [`Sex`], [`Platform`]) never fail on a value they do
//!   not know: it is kept as `Other(String)` and written back verbatim;
//! - an [`EmbeddedFile`] remembers whether it came as an object or as a bare base64 string.
//!
//! What a round trip does not keep byte for byte: the order of unknown members (they are written
//! after the known ones), members whose value is `null` (read as `None`, then left out), timestamps
//! with a non-`Z` offset (normalized to UTC), base64 that was unpadded or wrapped (written back
//! padded on one line) and a licence class's `note` (written back as `notes`).
//!
//! `Debug` output leaves out personal data (names, document numbers, birth dates, sex, addresses,
//! licence restriction notes and file contents), so a result can be logged with `{:?}`.

use std::borrow::Cow;
use std::fmt;

use base64::alphabet;
use base64::display::Base64Display;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{DecodeError, Engine as _};
use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};
use indexmap::IndexMap;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::macros::lenient_enum;

lenient_enum! {
    /// The kind of identity document (`documentType`).
    ///
    /// A value this crate does not know is kept as [`DocumentType::Other`] and written back
    /// verbatim; parsing never fails on it. Values are matched exactly (case-sensitive).
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::DocumentType;
    ///
    /// let known: DocumentType = serde_json::from_str(r#""DL""#)?;
    /// assert_eq!(known, DocumentType::DrivingLicense);
    ///
    /// let unknown: DocumentType = serde_json::from_str(r#""RP""#)?;
    /// assert_eq!(unknown, DocumentType::Other("RP".into()));
    /// assert_eq!(serde_json::to_string(&unknown)?, r#""RP""#);
    ///
    /// assert_eq!(DocumentType::from("PP"), DocumentType::Passport);
    /// assert_eq!(DocumentType::NationalId.as_str(), "NID");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub enum DocumentType expecting "a document type string such as \"PP\"" {
        /// A passport, `"PP"`.
        Passport = "PP",
        /// A driving licence, `"DL"`.
        DrivingLicense = "DL",
        /// A national identity card, `"NID"`.
        NationalId = "NID";
        /// Any other value, kept exactly as written.
        Other(String),
    }
}

lenient_enum! {
    /// The holder's sex as printed on the document (`sex`).
    ///
    /// A value this crate does not know is kept as [`Sex::Other`] and written back verbatim.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::Sex;
    ///
    /// assert_eq!("F".parse::<Sex>(), Ok(Sex::Female));
    /// assert_eq!(Sex::from("<"), Sex::Other("<".into()));
    /// assert_eq!(Sex::Unspecified.as_str(), "X");
    /// ```
    pub enum Sex expecting "a sex string such as \"F\"" {
        /// Male, `"M"`.
        Male = "M",
        /// Female, `"F"`.
        Female = "F",
        /// Unspecified, `"X"`.
        Unspecified = "X";
        /// Any other value, kept exactly as written.
        Other(String),
    }
}

lenient_enum! {
    /// The platform the verification was made on (`platform`).
    ///
    /// A value this crate does not know is kept as [`Platform::Other`] and written back verbatim.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::Platform;
    ///
    /// assert_eq!(Platform::from("IOS"), Platform::Ios);
    /// assert_eq!(Platform::from("KIOSK").as_str(), "KIOSK");
    /// assert!(!Platform::from("KIOSK").is_known());
    /// ```
    pub enum Platform expecting "a platform string such as \"WEB\"" {
        /// The web flow, `"WEB"`.
        Web = "WEB",
        /// The iOS SDK, `"IOS"`.
        Ios = "IOS",
        /// The Android SDK, `"ANDROID"`.
        Android = "ANDROID";
        /// Any other value, kept exactly as written.
        Other(String),
    }
}

// ---------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------

/// How a date or timestamp member is parsed and reported: its wire name (errors name the field)
/// and whether an invalid value may be repeated in the message (not for personal data such as
/// the date of birth).
trait TextField: Copy {
    type Output;

    fn parse<E: de::Error>(self, text: &str) -> Result<Self::Output, E>;
}

/// A `YYYY-MM-DD` date member.
#[derive(Clone, Copy)]
struct DateField {
    field: &'static str,
    show_value: bool,
}

/// An RFC 3339 timestamp member, converted to UTC.
#[derive(Clone, Copy)]
struct TimestampField {
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
struct OptionalText<F>(F);

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
fn date(field: &'static str) -> OptionalText<DateField> {
    OptionalText(DateField {
        field,
        show_value: true,
    })
}

/// A timestamp member whose invalid value may appear in the error.
fn timestamp(field: &'static str) -> OptionalText<TimestampField> {
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

fn ser_date<S: Serializer>(date: &Option<NaiveDate>, serializer: S) -> Result<S::Ok, S::Error> {
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

fn ser_timestamp<S: Serializer>(
    time: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        None => serializer.serialize_none(),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading objects
// ---------------------------------------------------------------------------------------------

/// The known members of one object type.
trait Field: Copy + Sized {
    /// The member with this wire name (or alias).
    fn from_name(name: &str) -> Option<Self>;
    /// The wire name, as written back and as named in a duplicate-field error.
    fn name(self) -> &'static str;
    /// A distinct bit per member, to catch duplicates.
    fn bit(self) -> u32;
}

/// Defines an object's known members: an enum, with lookup by wire name (and aliases).
macro_rules! fields {
    ($name:ident { $( $variant:ident = $wire:literal $(| $alias:literal)* ),+ $(,)? }) => {
        #[derive(Clone, Copy)]
        enum $name {
            $( $variant, )+
        }

        impl Field for $name {
            #[inline]
            fn from_name(name: &str) -> Option<Self> {
                match name {
                    $( $wire $(| $alias)* => Some($name::$variant), )+
                    _ => None,
                }
            }

            fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $wire, )+
                }
            }

            #[inline]
            fn bit(self) -> u32 {
                1 << (self as u32)
            }
        }
    };
}

/// A member name: a known member, or the name of an unknown one (allocated only then; a known
/// name is matched where the deserializer has it, borrowed from the input when it can).
enum Key<F> {
    Known(F),
    Unknown(String),
}

/// Reads a [`Key`].
struct KeySeed<F>(std::marker::PhantomData<F>);

impl<F> KeySeed<F> {
    fn new() -> Self {
        KeySeed(std::marker::PhantomData)
    }
}

impl<'de, F: Field> DeserializeSeed<'de> for KeySeed<F> {
    type Value = Key<F>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key<F>, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<F: Field> Visitor<'_> for KeySeed<F> {
    type Value = Key<F>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Key<F>, E> {
        Ok(match F::from_name(name) {
            Some(field) => Key::Known(field),
            None => Key::Unknown(name.to_owned()),
        })
    }

    fn visit_string<E: de::Error>(self, name: String) -> Result<Key<F>, E> {
        Ok(match F::from_name(&name) {
            Some(field) => Key::Known(field),
            None => Key::Unknown(name),
        })
    }
}

/// Walks an object's members: each known member once (a second one is a duplicate-field
/// error, as with serde's derive), each unknown one into `extra` (a repeated unknown name keeps
/// its first place and its last value, as `Map` does).
fn visit_members<'de, A, F>(
    map: &mut A,
    extra: &mut Map<String, Value>,
    mut known: impl FnMut(&mut A, F) -> Result<(), A::Error>,
) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    F: Field,
{
    let mut seen = 0u32;
    while let Some(key) = map.next_key_seed(KeySeed::<F>::new())? {
        match key {
            Key::Known(field) => {
                if seen & field.bit() != 0 {
                    return Err(de::Error::duplicate_field(field.name()));
                }
                seen |= field.bit();
                known(map, field)?;
            }
            Key::Unknown(name) => {
                let value = map.next_value()?;
                extra.insert(name, value);
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Debug helpers
// ---------------------------------------------------------------------------------------------

/// Stands in for a personal value in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The keys of an `extra` map, without their values.
struct Keys<'a>(&'a Map<String, Value>);

impl fmt::Debug for Keys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// Adds a field when it is present.
fn shown<T: fmt::Debug>(d: &mut fmt::DebugStruct<'_, '_>, name: &str, value: &Option<T>) {
    if let Some(value) = value {
        d.field(name, value);
    }
}

/// Adds `<redacted>` for a field when it is present.
fn redacted<T>(d: &mut fmt::DebugStruct<'_, '_>, name: &str, value: &Option<T>) {
    if value.is_some() {
        d.field(name, &Redacted);
    }
}

/// Adds the keys of a non-empty `extra` map as `extra_keys`.
fn extra_keys(d: &mut fmt::DebugStruct<'_, '_>, extra: &Map<String, Value>) {
    if !extra.is_empty() {
        d.field("extra_keys", &Keys(extra));
    }
}

// ---------------------------------------------------------------------------------------------
// VerificationResult
// ---------------------------------------------------------------------------------------------

/// The result of one identity verification, as the API's JSON export writes it.
///
/// Only `id` is required; every other field is `None` when the API left it out. Members this
/// crate does not know are kept in [`extra`](Self::extra) and written back, so parsing and
/// serializing an export loses nothing.
///
/// What a round trip normalizes rather than keeps byte for byte: unknown members are written
/// after the known ones; a member whose value is `null` reads as `None` and is left out;
/// timestamps with another offset than `Z` are converted to UTC; base64 that was unpadded or
/// wrapped is written padded on one line; a licence class's `note` is written as `notes`.
///
/// In the multi-document flow the API adds `documentData2` and `documentData3`;
/// [`documents`](Self::documents) walks whichever are present.
///
/// `Debug` shows the verification's shape but none of its personal data.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::{DocumentSlot, DocumentType, Platform, VerificationResult};
///
/// let json = br#"{
///     "id": "8c3f6a2e",
///     "platform": "WEB",
///     "startTime": "2020-04-10T11:44:40Z",
///     "documentData": { "documentType": "PP", "surname": "DOE", "dateOfBirth": "1964-12-30" },
///     "newField": [1, 2]
/// }"#;
/// let result = VerificationResult::from_json(json)?;
/// assert_eq!(result.platform, Some(Platform::Web));
/// assert_eq!(result.extra["newField"], serde_json::json!([1, 2]));
///
/// let (slot, document) = result.documents().next().unwrap();
/// assert_eq!(slot, DocumentSlot::First);
/// assert_eq!(document.document_type, Some(DocumentType::Passport));
///
/// // Personal data stays out of logs.
/// let logged = format!("{result:?}");
/// assert!(logged.contains("8c3f6a2e") && !logged.contains("DOE") && !logged.contains("1964"));
///
/// // Nothing is lost on the way back.
/// let again = VerificationResult::from_json(&result.to_json())?;
/// assert_eq!(again, result);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationResult {
    /// The verification's id (`id`), the only required field.
    pub id: String,
    /// Where the verification was made (`platform`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// When the user started the verification (`startTime`, RFC 3339 such as
    /// `2020-04-10T11:44:40Z`; other offsets are converted to UTC).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_timestamp"
    )]
    pub start_time: Option<DateTime<Utc>>,
    /// When the verification finished (`endTime`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_timestamp"
    )]
    pub end_time: Option<DateTime<Utc>>,
    /// The face captured during the liveness check (`livenessFaceImage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_face_image: Option<EmbeddedFile>,
    /// The first (or only) document read (`documentData`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_data: Option<DocumentData>,
    /// The second document, in the multi-document flow only (`documentData2`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_data2: Option<DocumentData>,
    /// The third document, in the multi-document flow only (`documentData3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_data3: Option<DocumentData>,
    /// Whether the document's NFC chip was read and verified (`nfcVerified`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nfc_verified: Option<bool>,
    /// A proof-of-address document, usually a PDF (`addressProofDocument`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_proof_document: Option<EmbeddedFile>,
    /// Every member this crate does not know, kept as written and written back after the known
    /// ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl VerificationResult {
    /// Parses a verification result from the API's JSON.
    ///
    /// # Errors
    ///
    /// Fails when the input is not JSON, is not an object, has no string `id`, or a known field
    /// has the wrong type or an invalid value (an impossible date, bad base64). Unknown fields and
    /// unknown enum values are never errors.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::VerificationResult;
    ///
    /// assert_eq!(VerificationResult::from_json(br#"{"id":"x"}"#)?.id, "x");
    /// assert!(VerificationResult::from_json(br#"{"platform":"WEB"}"#).is_err());
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn from_json(json: &[u8]) -> Result<Self, serde_json::Error> {
        // One UTF-8 check of the whole input is much cheaper than serde_json's check of every
        // string (keys included) one by one; `from_str` then skips the latter. Input that is not
        // UTF-8 goes through `from_slice`, for its exact error and position.
        let Ok(text) = std::str::from_utf8(json) else {
            return serde_json::from_slice(json);
        };
        // (Filled in place: the struct is large, and every move is a copy.)
        let mut result = VerificationResult::default();
        if result.fill_from_json(text) {
            return Ok(result);
        }
        serde_json::from_str(text)
    }

    /// As [`from_json`](Self::from_json), built in place on the heap, where the export
    /// decoder's event carries it.
    pub(crate) fn from_json_boxed(json: &[u8]) -> Result<Box<Self>, serde_json::Error> {
        let Ok(text) = std::str::from_utf8(json) else {
            return serde_json::from_slice(json).map(Box::new);
        };
        let mut result = Box::<VerificationResult>::default();
        if result.fill_from_json(text) {
            return Ok(result);
        }
        serde_json::from_str(text).map(Box::new)
    }

    /// Reads the common case without serde_json's bookkeeping (see `fast`) into a default
    /// result. `false` means anything else, or an error: the caller asks serde_json then.
    fn fill_from_json(&mut self, text: &str) -> bool {
        let mut reader = fast::Reader::new(text);
        let read = reader.deserialize_map(VerificationResultVisitor(self));
        read.is_ok() && reader.end().is_ok()
    }

    /// Writes the result back as compact JSON, in the API's field names.
    ///
    /// Known fields come first, in the API's order, then the unknown ones.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a verification result always serializes to JSON")
    }

    /// The documents present, in slot order, each with the slot it was read from.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::{DocumentSlot, VerificationResult};
    ///
    /// let result = VerificationResult::from_json(br#"{"id":"x","documentData3":{}}"#)?;
    /// let slots: Vec<_> = result.documents().map(|(slot, _)| slot).collect();
    /// assert_eq!(slots, [DocumentSlot::Third]);
    /// assert_eq!(slots[0].suffix(), "3");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn documents(&self) -> impl Iterator<Item = (DocumentSlot, &DocumentData)> + '_ {
        DocumentSlot::ALL
            .into_iter()
            .filter_map(move |slot| self.document(slot).map(|data| (slot, data)))
    }

    /// The document in one slot, if present.
    pub fn document(&self, slot: DocumentSlot) -> Option<&DocumentData> {
        match slot {
            DocumentSlot::First => self.document_data.as_ref(),
            DocumentSlot::Second => self.document_data2.as_ref(),
            DocumentSlot::Third => self.document_data3.as_ref(),
        }
    }

    /// The field holding one slot's document, to read, set or clear it.
    pub fn document_mut(&mut self, slot: DocumentSlot) -> &mut Option<DocumentData> {
        match slot {
            DocumentSlot::First => &mut self.document_data,
            DocumentSlot::Second => &mut self.document_data2,
            DocumentSlot::Third => &mut self.document_data3,
        }
    }
}

impl fmt::Debug for VerificationResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("VerificationResult");
        d.field("id", &self.id);
        shown(&mut d, "platform", &self.platform);
        shown(&mut d, "start_time", &self.start_time);
        shown(&mut d, "end_time", &self.end_time);
        shown(&mut d, "liveness_face_image", &self.liveness_face_image);
        shown(&mut d, "document_data", &self.document_data);
        shown(&mut d, "document_data2", &self.document_data2);
        shown(&mut d, "document_data3", &self.document_data3);
        shown(&mut d, "nfc_verified", &self.nfc_verified);
        shown(
            &mut d,
            "address_proof_document",
            &self.address_proof_document,
        );
        extra_keys(&mut d, &self.extra);
        d.finish()
    }
}

fields!(ResultField {
    Id = "id",
    Platform = "platform",
    StartTime = "startTime",
    EndTime = "endTime",
    LivenessFaceImage = "livenessFaceImage",
    DocumentData = "documentData",
    DocumentData2 = "documentData2",
    DocumentData3 = "documentData3",
    NfcVerified = "nfcVerified",
    AddressProofDocument = "addressProofDocument",
});

impl<'de> Deserialize<'de> for VerificationResult {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut out = VerificationResult::default();
        deserializer.deserialize_map(VerificationResultVisitor(&mut out))?;
        Ok(out)
    }
}

/// Reads the members into the result in place (the documents too), which saves copying these
/// large structs from one return value to the next.
struct VerificationResultVisitor<'a>(&'a mut VerificationResult);

impl<'de> Visitor<'de> for VerificationResultVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct VerificationResult")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let out = self.0;
        let mut id = None;
        visit_members(&mut map, &mut out.extra, |map, field| {
            match field {
                ResultField::Id => id = Some(map.next_value()?),
                ResultField::Platform => out.platform = map.next_value()?,
                ResultField::StartTime => {
                    out.start_time = map.next_value_seed(timestamp("startTime"))?
                }
                ResultField::EndTime => out.end_time = map.next_value_seed(timestamp("endTime"))?,
                ResultField::LivenessFaceImage => out.liveness_face_image = map.next_value()?,
                ResultField::DocumentData => {
                    map.next_value_seed(DocumentInPlace(&mut out.document_data))?
                }
                ResultField::DocumentData2 => {
                    map.next_value_seed(DocumentInPlace(&mut out.document_data2))?
                }
                ResultField::DocumentData3 => {
                    map.next_value_seed(DocumentInPlace(&mut out.document_data3))?
                }
                ResultField::NfcVerified => out.nfc_verified = map.next_value()?,
                ResultField::AddressProofDocument => {
                    out.address_proof_document = map.next_value()?
                }
            }
            Ok(())
        })?;
        out.id = id.ok_or_else(|| de::Error::missing_field("id"))?;
        Ok(())
    }
}

/// Which of the (up to) three documents of a verification: the API names the first one's fields
/// without a suffix and the others with `2` and `3` (`documentData`, `documentData2`,
/// `croppedFrontImage3`, ...).
///
/// # Examples
///
/// ```
/// use authenteq_export::export::DocumentSlot;
///
/// let names: Vec<String> = DocumentSlot::ALL
///     .iter()
///     .map(|slot| format!("croppedFrontImage{}", slot.suffix()))
///     .collect();
/// assert_eq!(names, ["croppedFrontImage", "croppedFrontImage2", "croppedFrontImage3"]);
/// assert_eq!(DocumentSlot::Second.number(), 2);
/// assert_eq!(DocumentSlot::from_number(3), Some(DocumentSlot::Third));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocumentSlot {
    /// `documentData`: the first, or only, document.
    First,
    /// `documentData2`.
    Second,
    /// `documentData3`.
    Third,
}

impl DocumentSlot {
    /// The three slots, in order.
    pub const ALL: [DocumentSlot; 3] = [
        DocumentSlot::First,
        DocumentSlot::Second,
        DocumentSlot::Third,
    ];

    /// 1, 2 or 3.
    pub fn number(self) -> u8 {
        match self {
            DocumentSlot::First => 1,
            DocumentSlot::Second => 2,
            DocumentSlot::Third => 3,
        }
    }

    /// The slot with this number (1, 2 or 3).
    pub fn from_number(number: u8) -> Option<Self> {
        match number {
            1 => Some(DocumentSlot::First),
            2 => Some(DocumentSlot::Second),
            3 => Some(DocumentSlot::Third),
            _ => None,
        }
    }

    /// What the API appends to this slot's field and part names: `""`, `"2"` or `"3"`.
    pub fn suffix(self) -> &'static str {
        match self {
            DocumentSlot::First => "",
            DocumentSlot::Second => "2",
            DocumentSlot::Third => "3",
        }
    }

    /// The slot's field in the result: `"documentData"`, `"documentData2"` or `"documentData3"`.
    pub fn field_name(self) -> &'static str {
        match self {
            DocumentSlot::First => "documentData",
            DocumentSlot::Second => "documentData2",
            DocumentSlot::Third => "documentData3",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DocumentData
// ---------------------------------------------------------------------------------------------

/// What was read from one identity document (`documentData`, `documentData2`, `documentData3`).
///
/// Every field is optional. Countries are ISO 3166-1 alpha-3 codes (`"DEU"`), kept as strings.
/// Empty strings, which the API writes for absent name prefixes and suffixes, are kept as
/// `Some("")`.
///
/// `Debug` shows `<redacted>` for names, the document number, date of birth, sex and address, and
/// only the size and type of images.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::{DocumentData, DocumentType, Sex};
/// use chrono::NaiveDate;
///
/// let document: DocumentData = serde_json::from_str(r#"{
///     "documentType": "DL",
///     "issuingCountry": "DEU",
///     "surname": "Doe",
///     "sex": "F",
///     "dateOfExpiry": "2031-05-04",
///     "licenseClassDetails": { "B": { "from": "1983-03-14" }, "AM": {} }
/// }"#)?;
/// assert_eq!(document.document_type, Some(DocumentType::DrivingLicense));
/// assert_eq!(document.sex, Some(Sex::Female));
/// assert_eq!(document.date_of_expiry, NaiveDate::from_ymd_opt(2031, 5, 4));
/// let classes: Vec<&str> = document.license_class_details.as_ref().unwrap().keys().map(|k| k.as_str()).collect();
/// assert_eq!(classes, ["B", "AM"]); // the API's order
/// assert!(!format!("{document:?}").contains("Doe"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentData {
    /// The kind of document (`documentType`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_type: Option<DocumentType>,
    /// The document number (`documentNumber`). Personal data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_number: Option<String>,
    /// The issuing country, ISO 3166-1 alpha-3 (`issuingCountry`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuing_country: Option<String>,
    /// The issuing jurisdiction within the country, such as a state (`jurisdiction`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
    /// The holder's nationality, ISO 3166-1 alpha-3 (`nationality`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nationality: Option<String>,
    /// The full name as printed (`surnameAndGivenNames`). Personal data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surname_and_given_names: Option<String>,
    /// The surname (`surname`). Personal data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    /// The given names (`givenNames`). Personal data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_names: Option<String>,
    /// Name suffixes such as `JR` (`nameSuffixes`), often `""`. Personal data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_suffixes: Option<String>,
    /// Name prefixes such as `DR` (`namePrefixes`), often `""`. Personal data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_prefixes: Option<String>,
    /// The holder's sex as printed (`sex`). Personal data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// Date of birth, `YYYY-MM-DD` (`dateOfBirth`). Personal data: an invalid value is not
    /// repeated in the error message.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_date")]
    pub date_of_birth: Option<NaiveDate>,
    /// Date of expiry, `YYYY-MM-DD` (`dateOfExpiry`).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_date")]
    pub date_of_expiry: Option<NaiveDate>,
    /// Date of issue, `YYYY-MM-DD` (`dateOfIssue`).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_date")]
    pub date_of_issue: Option<NaiveDate>,
    /// The holder's address as printed (`address`). Personal data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// A driving licence's classes as printed, such as `"B, BE, AM"` (`licenseClass`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_class: Option<String>,
    /// Per-class validity and notes of a driving licence, keyed by class, in the API's order
    /// (`licenseClassDetails`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_class_details: Option<IndexMap<String, LicenseClassDetail>>,
    /// The document's front, cropped (`croppedFrontImage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cropped_front_image: Option<EmbeddedFile>,
    /// The document's back, cropped (`croppedBackImage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cropped_back_image: Option<EmbeddedFile>,
    /// The portrait on the document (`faceImage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_image: Option<EmbeddedFile>,
    /// Every member this crate does not know, kept as written and written back after the known
    /// ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl fmt::Debug for DocumentData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("DocumentData");
        shown(&mut d, "document_type", &self.document_type);
        redacted(&mut d, "document_number", &self.document_number);
        shown(&mut d, "issuing_country", &self.issuing_country);
        shown(&mut d, "jurisdiction", &self.jurisdiction);
        shown(&mut d, "nationality", &self.nationality);
        redacted(
            &mut d,
            "surname_and_given_names",
            &self.surname_and_given_names,
        );
        redacted(&mut d, "surname", &self.surname);
        redacted(&mut d, "given_names", &self.given_names);
        redacted(&mut d, "name_suffixes", &self.name_suffixes);
        redacted(&mut d, "name_prefixes", &self.name_prefixes);
        redacted(&mut d, "sex", &self.sex);
        redacted(&mut d, "date_of_birth", &self.date_of_birth);
        shown(&mut d, "date_of_expiry", &self.date_of_expiry);
        shown(&mut d, "date_of_issue", &self.date_of_issue);
        redacted(&mut d, "address", &self.address);
        shown(&mut d, "license_class", &self.license_class);
        shown(&mut d, "license_class_details", &self.license_class_details);
        shown(&mut d, "cropped_front_image", &self.cropped_front_image);
        shown(&mut d, "cropped_back_image", &self.cropped_back_image);
        shown(&mut d, "face_image", &self.face_image);
        extra_keys(&mut d, &self.extra);
        d.finish()
    }
}

fields!(DocumentField {
    DocumentType = "documentType",
    DocumentNumber = "documentNumber",
    IssuingCountry = "issuingCountry",
    Jurisdiction = "jurisdiction",
    Nationality = "nationality",
    SurnameAndGivenNames = "surnameAndGivenNames",
    Surname = "surname",
    GivenNames = "givenNames",
    NameSuffixes = "nameSuffixes",
    NamePrefixes = "namePrefixes",
    Sex = "sex",
    DateOfBirth = "dateOfBirth",
    DateOfExpiry = "dateOfExpiry",
    DateOfIssue = "dateOfIssue",
    Address = "address",
    LicenseClass = "licenseClass",
    LicenseClassDetails = "licenseClassDetails",
    CroppedFrontImage = "croppedFrontImage",
    CroppedBackImage = "croppedBackImage",
    FaceImage = "faceImage",
});

impl<'de> Deserialize<'de> for DocumentData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut out = DocumentData::default();
        deserializer.deserialize_map(DocumentDataVisitor(&mut out))?;
        Ok(out)
    }
}

/// Reads an optional document (`null` is `None`) straight into its slot.
struct DocumentInPlace<'a>(&'a mut Option<DocumentData>);

impl<'de> DeserializeSeed<'de> for DocumentInPlace<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for DocumentInPlace<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("option")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        *self.0 = None;
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.visit_none()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let document = self.0.insert(DocumentData::default());
        deserializer.deserialize_map(DocumentDataVisitor(document))
    }
}

/// Reads the members into a document in place.
struct DocumentDataVisitor<'a>(&'a mut DocumentData);

impl<'de> Visitor<'de> for DocumentDataVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct DocumentData")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use DocumentField as F;

        let out = self.0;
        visit_members(&mut map, &mut out.extra, |map, field| {
            match field {
                F::DocumentType => out.document_type = map.next_value()?,
                F::DocumentNumber => out.document_number = map.next_value()?,
                F::IssuingCountry => out.issuing_country = map.next_value()?,
                F::Jurisdiction => out.jurisdiction = map.next_value()?,
                F::Nationality => out.nationality = map.next_value()?,
                F::SurnameAndGivenNames => out.surname_and_given_names = map.next_value()?,
                F::Surname => out.surname = map.next_value()?,
                F::GivenNames => out.given_names = map.next_value()?,
                F::NameSuffixes => out.name_suffixes = map.next_value()?,
                F::NamePrefixes => out.name_prefixes = map.next_value()?,
                F::Sex => out.sex = map.next_value()?,
                F::DateOfBirth => {
                    // Personal data: an invalid value stays out of the message.
                    let field = DateField {
                        field: "dateOfBirth",
                        show_value: false,
                    };
                    out.date_of_birth = map.next_value_seed(OptionalText(field))?;
                }
                F::DateOfExpiry => {
                    out.date_of_expiry = map.next_value_seed(date("dateOfExpiry"))?
                }
                F::DateOfIssue => out.date_of_issue = map.next_value_seed(date("dateOfIssue"))?,
                F::Address => out.address = map.next_value()?,
                F::LicenseClass => out.license_class = map.next_value()?,
                F::LicenseClassDetails => out.license_class_details = map.next_value()?,
                F::CroppedFrontImage => out.cropped_front_image = map.next_value()?,
                F::CroppedBackImage => out.cropped_back_image = map.next_value()?,
                F::FaceImage => out.face_image = map.next_value()?,
            }
            Ok(())
        })?;
        Ok(())
    }
}

/// The validity of one driving-licence class (a value of `licenseClassDetails`).
///
/// The API writes the notes as `notes`; one related endpoint writes `note`. Both are read into
/// [`notes`](Self::notes), which is always written back as `notes`. (An object with both is
/// rejected as having a duplicate field.)
///
/// `Debug` shows the dates but not the notes: they are restriction codes (such as `01.06`, vision
/// correction), which can reveal health data.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::LicenseClassDetail;
///
/// let detail: LicenseClassDetail = serde_json::from_str(r#"{"from":"1983-03-14","note":"79.06"}"#)?;
/// assert_eq!(detail.notes.as_deref(), Some("79.06"));
/// assert_eq!(serde_json::to_string(&detail)?, r#"{"from":"1983-03-14","notes":"79.06"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Default, Serialize)]
pub struct LicenseClassDetail {
    /// First valid day, `YYYY-MM-DD` (`from`).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_date")]
    pub from: Option<NaiveDate>,
    /// Last valid day, `YYYY-MM-DD` (`to`).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_date")]
    pub to: Option<NaiveDate>,
    /// Restriction codes and remarks (`notes`, or `note` from one endpoint; written as `notes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Every member this crate does not know, kept as written and written back after the known
    /// ones.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl fmt::Debug for LicenseClassDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("LicenseClassDetail");
        shown(&mut d, "from", &self.from);
        shown(&mut d, "to", &self.to);
        redacted(&mut d, "notes", &self.notes);
        extra_keys(&mut d, &self.extra);
        d.finish()
    }
}

fields!(LicenseClassField {
    From = "from",
    To = "to",
    Notes = "notes" | "note",
});

impl<'de> Deserialize<'de> for LicenseClassDetail {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(LicenseClassDetailVisitor)
    }
}

struct LicenseClassDetailVisitor;

impl<'de> Visitor<'de> for LicenseClassDetailVisitor {
    type Value = LicenseClassDetail;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct LicenseClassDetail")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LicenseClassDetail, A::Error> {
        let mut out = LicenseClassDetail::default();
        visit_members(&mut map, &mut out.extra, |map, field| {
            match field {
                LicenseClassField::From => out.from = map.next_value_seed(date("from"))?,
                LicenseClassField::To => out.to = map.next_value_seed(date("to"))?,
                LicenseClassField::Notes => out.notes = map.next_value()?,
            }
            Ok(())
        })?;
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// EmbeddedFile
// ---------------------------------------------------------------------------------------------

/// How an [`EmbeddedFile`] is written in the JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EmbeddedFileForm {
    /// `{ "contentType": "image/jpeg", "content": "<base64>" }`, the API's usual form.
    #[default]
    Object,
    /// A bare base64 string, as some endpoints write it.
    Bare,
}

/// An image or PDF embedded in the JSON export.
///
/// The API usually writes `{ "contentType": "image/jpeg", "content": "<base64>" }`; some endpoints
/// write only the base64 string. Both are read, [`form`](Self::form) remembers which it was, and
/// serializing writes the same form back. (A file read bare but given a content type or extra
/// members is written as an object, so that nothing is lost.)
///
/// The content is standard base64 (`+/`); it may be padded or not, and may be wrapped with
/// whitespace or line breaks MIME-style. It is always written back padded, on one line. Invalid
/// base64 is an error that says what is wrong and where, for example
/// `invalid base64 in embedded file: invalid character '-' at offset 12 of the text`.
///
/// `Debug` shows only the size and content type, such as `<2048 bytes image/jpeg>`.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::{EmbeddedFile, EmbeddedFileForm};
///
/// let object: EmbeddedFile = serde_json::from_str(r#"{"contentType":"image/jpeg","content":"/9j/2Q=="}"#)?;
/// assert_eq!(object.content, [0xff, 0xd8, 0xff, 0xd9]);
/// assert_eq!(object.content_type.as_deref(), Some("image/jpeg"));
/// assert_eq!(format!("{object:?}"), "<4 bytes image/jpeg>");
///
/// let bare: EmbeddedFile = serde_json::from_str(r#""/9j/2Q""#)?; // unpadded
/// assert_eq!(bare.content, object.content);
/// assert_eq!(bare.form, EmbeddedFileForm::Bare);
/// assert_eq!(serde_json::to_string(&bare)?, r#""/9j/2Q==""#);
///
/// let err = serde_json::from_str::<EmbeddedFile>(r#""/9j-2Q==""#).unwrap_err();
/// assert!(err.to_string().starts_with("invalid base64 in embedded file: invalid character '-' at offset 3"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct EmbeddedFile {
    /// The MIME type (`contentType`), such as `image/jpeg` or `application/pdf`; `None` for the
    /// bare form.
    pub content_type: Option<String>,
    /// The file's bytes, decoded from base64 (`content`).
    pub content: Vec<u8>,
    /// Members of the object this crate does not know, written back after the known ones.
    pub extra: Map<String, Value>,
    /// Whether it was (and will be) written as an object or as a bare string.
    pub form: EmbeddedFileForm,
}

impl EmbeddedFile {
    /// A file in the object form with a content type.
    pub fn new(content_type: impl Into<String>, content: impl Into<Vec<u8>>) -> Self {
        EmbeddedFile {
            content_type: Some(content_type.into()),
            content: content.into(),
            extra: Map::new(),
            form: EmbeddedFileForm::Object,
        }
    }

    /// A file written as a bare base64 string, without a content type.
    pub fn bare(content: impl Into<Vec<u8>>) -> Self {
        EmbeddedFile {
            content: content.into(),
            form: EmbeddedFileForm::Bare,
            ..EmbeddedFile::default()
        }
    }
}

impl fmt::Debug for EmbeddedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.content.len();
        write!(f, "<{n} {}", if n == 1 { "byte" } else { "bytes" })?;
        if let Some(content_type) = &self.content_type {
            write!(f, " {content_type}")?;
        }
        if !self.extra.is_empty() {
            write!(f, " extra_keys={:?}", Keys(&self.extra))?;
        }
        f.write_str(">")
    }
}

/// Standard base64, padded or not, no trailing bits.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A base64 decoding failure, with offsets into the text as written (whitespace included).
enum Base64Error {
    /// A character that is neither in the alphabet, nor `=`, nor whitespace.
    Character(usize, char),
    /// A structural problem the decoder found.
    Decode(DecodeError),
}

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid base64 in embedded file: ")?;
        match *self {
            Base64Error::Character(offset, c) => {
                write!(f, "invalid character {c:?} at offset {offset} of the text")
            }
            Base64Error::Decode(DecodeError::InvalidByte(offset, b'=')) => {
                write!(
                    f,
                    "padding '=' before the end, at offset {offset} of the text"
                )
            }
            Base64Error::Decode(DecodeError::InvalidByte(offset, byte)) => write!(
                f,
                "invalid character {:?} at offset {offset} of the text",
                char::from(byte)
            ),
            Base64Error::Decode(DecodeError::InvalidLength(symbols)) => write!(
                f,
                "{symbols} base64 characters cannot encode whole bytes (truncated input?)"
            ),
            Base64Error::Decode(DecodeError::InvalidLastSymbol(offset, byte)) => write!(
                f,
                "last character {:?} (offset {offset} of the text) has bits set past the end of \
                 the data (truncated or corrupted input?)",
                char::from(byte)
            ),
            Base64Error::Decode(DecodeError::InvalidPadding) => f.write_str("invalid padding"),
        }
    }
}

/// Decodes standard base64, padded or not, ignoring ASCII whitespace anywhere.
fn decode_base64(text: &str) -> Result<Vec<u8>, Base64Error> {
    // Report the first foreign character ourselves, as a character (not as one byte of its UTF-8
    // encoding), and before the decoder's structural checks.
    let is_base64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    if let Some(offset) = text
        .bytes()
        .position(|b| !is_base64(b) && !b.is_ascii_whitespace())
    {
        let c = text[offset..]
            .chars()
            .next()
            .unwrap_or(char::REPLACEMENT_CHARACTER);
        return Err(Base64Error::Character(offset, c));
    }
    let bytes = text.as_bytes();
    if !bytes.iter().any(u8::is_ascii_whitespace) {
        return LENIENT_BASE64.decode(bytes).map_err(Base64Error::Decode);
    }
    let compact: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    LENIENT_BASE64.decode(&compact).map_err(|e| {
        // Point offsets at the text as written, whitespace included.
        let original = |offset: usize| {
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| !b.is_ascii_whitespace())
                .nth(offset)
                .map_or(bytes.len(), |(i, _)| i)
        };
        Base64Error::Decode(match e {
            DecodeError::InvalidByte(offset, byte) => {
                DecodeError::InvalidByte(original(offset), byte)
            }
            DecodeError::InvalidLastSymbol(offset, byte) => {
                DecodeError::InvalidLastSymbol(original(offset), byte)
            }
            other => other,
        })
    })
}

/// The `content` member: a base64 string, decoded.
struct Base64Content(Vec<u8>);

impl<'de> Deserialize<'de> for Base64Content {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;

        impl Visitor<'_> for ContentVisitor {
            type Value = Base64Content;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Base64Content, E> {
                decode_base64(value).map(Base64Content).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(ContentVisitor)
    }
}

/// The `content` member on the way out: padded standard base64, encoded while writing.
struct Base64Str<'a>(&'a [u8]);

impl Serialize for Base64Str<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Base64Display::new(self.0, &STANDARD))
    }
}

const CONTENT_TYPE: &str = "contentType";
const CONTENT: &str = "content";

fields!(FileField {
    ContentType = "contentType",
    Content = "content",
});

impl Serialize for EmbeddedFile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.form == EmbeddedFileForm::Bare
            && self.content_type.is_none()
            && self.extra.is_empty()
        {
            return Base64Str(&self.content).serialize(serializer);
        }
        let extra = self
            .extra
            .iter()
            .filter(|(key, _)| *key != CONTENT_TYPE && *key != CONTENT);
        let len = usize::from(self.content_type.is_some()) + 1 + extra.clone().count();
        let mut map = serializer.serialize_map(Some(len))?;
        if let Some(content_type) = &self.content_type {
            map.serialize_entry(CONTENT_TYPE, content_type)?;
        }
        map.serialize_entry(CONTENT, &Base64Str(&self.content))?;
        for (key, value) in extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for EmbeddedFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EmbeddedFileVisitor)
    }
}

struct EmbeddedFileVisitor;

impl<'de> Visitor<'de> for EmbeddedFileVisitor {
    type Value = EmbeddedFile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an embedded file: a {\"contentType\", \"content\"} object or a base64 string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<EmbeddedFile, E> {
        let content = decode_base64(value).map_err(E::custom)?;
        Ok(EmbeddedFile::bare(content))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EmbeddedFile, A::Error> {
        let mut content_type: Option<String> = None;
        let mut content: Option<Vec<u8>> = None;
        let mut extra = Map::new();
        visit_members(&mut map, &mut extra, |map, field| {
            match field {
                FileField::ContentType => content_type = map.next_value()?,
                FileField::Content => content = Some(map.next_value::<Base64Content>()?.0),
            }
            Ok(())
        })?;
        Ok(EmbeddedFile {
            content_type,
            content: content.ok_or_else(|| de::Error::missing_field(CONTENT))?,
            extra,
            form: EmbeddedFileForm::Object,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Fast path for `VerificationResult::from_json`
// ---------------------------------------------------------------------------------------------

/// A lean JSON reader for the common case, feeding the same `Deserialize` impls as serde_json.
///
/// It reads a strict subset of JSON (strings without escapes or control characters, and numbers
/// only as whole tokens that serde_json itself parses) and makes the same visitor calls that
/// `serde_json::Deserializer` makes for that input. It never reports an error of its own:
/// anything it does not read, and every error (syntax, types, invalid dates, bad base64,
/// duplicate or missing fields, nesting too deep), is a [`Bail`](fast::Bail), after which the
/// caller parses the input again with serde_json, which gives the result or the exact error with
/// its position. So for any input, the outcome is serde_json's.
mod fast {
    use std::fmt;

    use serde::de::value::BorrowedStrDeserializer;
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde::forward_to_deserialize_any;

    /// The fast path gives up; the caller reparses with serde_json.
    #[derive(Debug)]
    pub(super) struct Bail;

    impl fmt::Display for Bail {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("not read by the fast path")
        }
    }

    impl std::error::Error for Bail {}

    impl de::Error for Bail {
        /// The message is dropped unformatted: serde_json will produce it.
        fn custom<T: fmt::Display>(_: T) -> Self {
            Bail
        }
    }

    /// `0x0101_0101_0101_0101`: one in every byte.
    const ONES: u64 = u64::MAX / 255;
    /// The high bit of every byte.
    const HIGHS: u64 = ONES << 7;

    /// The eight bytes at `at`, little-endian, if there are eight.
    #[inline]
    fn word(bytes: &[u8], at: usize) -> Option<u64> {
        let chunk = bytes.get(at..at + 8)?;
        Some(u64::from_le_bytes(chunk.try_into().ok()?))
    }

    /// The high bit set in the lowest byte of `chunk` equal to `b` (higher bytes may be
    /// flagged wrongly after a real match, so only the lowest flag is meaningful).
    #[inline]
    fn bytes_equal(chunk: u64, b: u8) -> u64 {
        let x = chunk ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGHS
    }

    /// The high bit set in the lowest byte of `chunk` below `limit` (at most 0x80), as above.
    #[inline]
    fn bytes_below(chunk: u64, limit: u8) -> u64 {
        chunk.wrapping_sub(ONES * u64::from(limit)) & !chunk & HIGHS
    }

    /// serde_json's nesting limit, counted the same way (giving up at the same depth or
    /// earlier is enough: serde_json then reports it).
    const MAX_DEPTH: u8 = 128;

    pub(super) struct Reader<'de> {
        text: &'de str,
        pos: usize,
        remaining_depth: u8,
    }

    impl<'de> Reader<'de> {
        pub(super) fn new(text: &'de str) -> Self {
            Reader {
                text,
                pos: 0,
                remaining_depth: MAX_DEPTH,
            }
        }

        /// After the value: only whitespace may follow.
        pub(super) fn end(&mut self) -> Result<(), Bail> {
            match self.peek() {
                None => Ok(()),
                Some(_) => Err(Bail),
            }
        }

        /// The next byte that is not JSON whitespace, not consumed.
        #[inline]
        fn peek(&mut self) -> Option<u8> {
            let bytes = self.text.as_bytes();
            loop {
                let b = *bytes.get(self.pos)?;
                if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                    return Some(b);
                }
                self.pos += 1;
                // Indentation: skip spaces eight at a time.
                while let Some(chunk) = word(bytes, self.pos) {
                    let other = chunk ^ (ONES * u64::from(b' '));
                    if other != 0 {
                        self.pos += other.trailing_zeros() as usize / 8;
                        break;
                    }
                    self.pos += 8;
                }
            }
        }

        /// A string at `pos` (on its opening quote) without escapes or control characters,
        /// borrowed from the input.
        #[inline]
        fn string(&mut self) -> Result<&'de str, Bail> {
            let bytes = self.text.as_bytes();
            let start = self.pos + 1;
            let mut end = start;
            // Eight bytes at a time, to the first quote, backslash or control character.
            while end + 8 <= bytes.len() {
                let chunk = u64::from_le_bytes(bytes[end..end + 8].try_into().expect("8 bytes"));
                let stops =
                    bytes_equal(chunk, b'"') | bytes_equal(chunk, b'\\') | bytes_below(chunk, 0x20);
                if stops != 0 {
                    end += stops.trailing_zeros() as usize / 8;
                    break;
                }
                end += 8;
            }
            while end < bytes.len() && !matches!(bytes[end], b'"' | b'\\' | 0..=0x1f) {
                end += 1;
            }
            // A quote ends the string; a backslash, control character or the end of the
            // input is left to serde_json.
            if bytes.get(end) != Some(&b'"') {
                return Err(Bail);
            }
            self.pos = end + 1;
            // Both ends are at ASCII quotes, so on character boundaries.
            self.text.get(start..end).ok_or(Bail)
        }

        /// `true`, `false` or `null` at `pos`.
        fn literal(&mut self, word: &str) -> Result<(), Bail> {
            if self.text.as_bytes()[self.pos..].starts_with(word.as_bytes()) {
                self.pos += word.len();
                Ok(())
            } else {
                Err(Bail)
            }
        }

        /// A number at `pos`: the whole run of number characters, parsed by serde_json itself
        /// (an invalid token is an error there, so also here), then visited as serde_json
        /// visits it.
        fn number<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Bail> {
            let rest = &self.text.as_bytes()[self.pos..];
            let len = rest
                .iter()
                .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                .unwrap_or(rest.len());
            let token = self.text.get(self.pos..self.pos + len).ok_or(Bail)?;
            self.pos += len;
            let number: serde_json::Number = serde_json::from_str(token).map_err(|_| Bail)?;
            if let Some(n) = number.as_u64() {
                visitor.visit_u64(n)
            } else if let Some(n) = number.as_i64() {
                visitor.visit_i64(n)
            } else {
                visitor.visit_f64(number.as_f64().ok_or(Bail)?)
            }
        }

        fn enter(&mut self) -> Result<(), Bail> {
            self.remaining_depth -= 1;
            if self.remaining_depth == 0 {
                return Err(Bail);
            }
            self.pos += 1;
            Ok(())
        }

        /// An object at `pos` (on `{`).
        fn map<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Bail> {
            self.enter()?;
            let value = visitor.visit_map(Members {
                reader: self,
                first: true,
            })?;
            self.remaining_depth += 1;
            self.close(b'}')?;
            Ok(value)
        }

        /// An array at `pos` (on `[`).
        fn seq<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Bail> {
            self.enter()?;
            let value = visitor.visit_seq(Elements {
                reader: self,
                first: true,
            })?;
            self.remaining_depth += 1;
            self.close(b']')?;
            Ok(value)
        }

        fn close(&mut self, bracket: u8) -> Result<(), Bail> {
            if self.peek() != Some(bracket) {
                return Err(Bail);
            }
            self.pos += 1;
            Ok(())
        }

        /// Before the next member or element: `Some(peeked byte)` if there is one, after
        /// checking and consuming the comma (none before the first).
        #[inline]
        fn next_item(&mut self, first: &mut bool, close: u8) -> Result<Option<u8>, Bail> {
            let peek = self.peek().ok_or(Bail)?;
            if peek == close {
                return Ok(None);
            }
            if *first {
                *first = false;
                return Ok(Some(peek));
            }
            if peek != b',' {
                return Err(Bail);
            }
            self.pos += 1;
            match self.peek() {
                Some(b) if b != close => Ok(Some(b)),
                _ => Err(Bail),
            }
        }
    }

    impl<'de> Deserializer<'de> for &mut Reader<'de> {
        type Error = Bail;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
            match self.peek().ok_or(Bail)? {
                b'"' => visitor.visit_borrowed_str(self.string()?),
                b'{' => self.map(visitor),
                b'[' => self.seq(visitor),
                b't' => {
                    self.literal("true")?;
                    visitor.visit_bool(true)
                }
                b'f' => {
                    self.literal("false")?;
                    visitor.visit_bool(false)
                }
                b'n' => {
                    self.literal("null")?;
                    visitor.visit_unit()
                }
                b'-' | b'0'..=b'9' => self.number(visitor),
                _ => Err(Bail),
            }
        }

        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
            if self.peek() == Some(b'n') {
                self.literal("null")?;
                visitor.visit_none()
            } else {
                visitor.visit_some(self)
            }
        }

        fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
            match self.peek() {
                Some(b'{') => self.map(visitor),
                _ => Err(Bail),
            }
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            _fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Bail> {
            self.deserialize_map(visitor)
        }

        fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
            match self.peek() {
                Some(b'[') => self.seq(visitor),
                _ => Err(Bail),
            }
        }

        // For these, serde_json makes the same visitor call as `deserialize_any` whenever the
        // visitor accepts the value; when it does not, both are errors.
        forward_to_deserialize_any! {
            bool char str string unit identifier ignored_any
        }

        // Not used by the model: left to serde_json.
        fn deserialize_i8<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_i16<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_i32<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_i64<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_u8<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_u16<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_u32<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_u64<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_f32<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_f64<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_bytes<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_byte_buf<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_unit_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            _: V,
        ) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            _: V,
        ) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_tuple_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            _: usize,
            _: V,
        ) -> Result<V::Value, Bail> {
            Err(Bail)
        }
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _: &'static str,
            _: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Bail> {
            Err(Bail)
        }
    }

    struct Members<'a, 'de> {
        reader: &'a mut Reader<'de>,
        first: bool,
    }

    impl<'de> MapAccess<'de> for Members<'_, 'de> {
        type Error = Bail;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, Bail> {
            match self.reader.next_item(&mut self.first, b'}')? {
                None => Ok(None),
                Some(b'"') => {
                    let key = self.reader.string()?;
                    seed.deserialize(BorrowedStrDeserializer::new(key))
                        .map(Some)
                }
                Some(_) => Err(Bail),
            }
        }

        fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Bail> {
            if self.reader.peek() != Some(b':') {
                return Err(Bail);
            }
            self.reader.pos += 1;
            seed.deserialize(&mut *self.reader)
        }
    }

    struct Elements<'a, 'de> {
        reader: &'a mut Reader<'de>,
        first: bool,
    }

    impl<'de> SeqAccess<'de> for Elements<'_, 'de> {
        type Error = Bail;

        fn next_element_seed<T: DeserializeSeed<'de>>(
            &mut self,
            seed: T,
        ) -> Result<Option<T::Value>, Bail> {
            match self.reader.next_item(&mut self.first, b']')? {
                None => Ok(None),
                Some(_) => seed.deserialize(&mut *self.reader).map(Some),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    /// The fast reader's outcome for `text`, or `None` when it gives up.
    fn fast_read<T: Deserialize<'static>>(text: &'static str) -> Option<T> {
        let mut reader = fast::Reader::new(text);
        let value = T::deserialize(&mut reader).ok()?;
        reader.end().ok()?;
        Some(value)
    }

    fn leak(text: String) -> &'static str {
        Box::leak(text.into_boxed_str())
    }

    /// When the fast reader reads a value, serde_json reads the same; it gives up on escapes,
    /// control characters, and anything invalid.
    #[test]
    fn fast_reader_reads_what_serde_json_reads() {
        let table = [
            r#"{"a":[1,-2,3.5,2E-3,18446744073709551616,-9223372036854775809,-0,true,false,null,"x",{}]}"#,
            r#"[1e400]"#,
            " \t\r\n{ \"a\" : [ ] , \"b\" : { } } \n",
            r#"{"a":1,"a":2,"b":3}"#,
            r#""\u00e9""#,
            r#""a\"b""#,
            "\"tab\there\"",
            r#"{"a":1,}"#,
            r#"[1,]"#,
            r#"[,1]"#,
            r#"{"a" 1}"#,
            r#"{"a":1 "b":2}"#,
            r#"{1:2}"#,
            r#"[01]"#,
            r#"[1.]"#,
            r#"[-]"#,
            r#"[1x]"#,
            r#"[tru]"#,
            r#"[nulll]"#,
            r#"{"a":1}x"#,
            r#"{"a":1"#,
            "",
            "\u{a0}1",
        ];
        let mut read = 0;
        for text in table {
            let serde = serde_json::from_str::<Value>(text);
            if let Some(value) = fast_read::<Value>(text) {
                read += 1;
                assert_eq!(value, serde.unwrap(), "{text}");
            }
        }
        assert_eq!(read, 3);
    }

    #[test]
    fn fast_reader_nesting_limit_is_serde_json_s() {
        for depth in [126, 127, 128, 129] {
            let text = leak(format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
            let serde = serde_json::from_str::<Value>(text);
            assert_eq!(serde.is_ok(), depth < 128, "{depth}");
            match fast_read::<Value>(text) {
                Some(value) => assert_eq!(value, serde.unwrap()),
                None => assert!(serde.is_err(), "{depth}"),
            }
        }
    }

    fn json_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|n| n.to_string()),
            "[-+.eE0-9]{1,6}",
            "\"([a-zA-Z0-9 é/]|\\\\[\"/nu]|\t){0,12}\"",
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            let key = "\"([a-z]{0,3}|id|documentData|sex|dateOfBirth|from|note|notes|content)\"";
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((key, inner), 0..6).prop_map(|members| {
                    let members: Vec<String> = members
                        .into_iter()
                        .map(|(k, v)| format!("{k} : {v}"))
                        .collect();
                    format!("{{ {} }}", members.join(",\n  "))
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn fast_reader_agrees_with_serde_json(text in json_text(), cut in 0usize..4) {
            // Sometimes cut short, to be invalid.
            let text = if cut == 0 && text.len() > 1 {
                let mut half = text.len() / 2;
                while !text.is_char_boundary(half) {
                    half -= 1;
                }
                text[..half].to_owned()
            } else {
                text
            };
            let Ok(text) = std::str::from_utf8(text.as_bytes()) else { return Ok(()) };
            let text = leak(text.to_owned());
            let serde = serde_json::from_str::<Value>(text);
            if let Some(value) = fast_read::<Value>(text) {
                prop_assert_eq!(value, serde.unwrap());
            }
            let document = serde_json::from_str::<DocumentData>(text);
            if let Some(value) = fast_read::<DocumentData>(text) {
                prop_assert_eq!(value, document.unwrap());
            }
        }
    }
}
