//! Files embedded in the JSON as base64: an object with a content type, or a bare string.

use std::fmt;

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::de::{fields, visit_members};
use super::redact::Keys;
use crate::export::base64_content::decode_text;

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
/// whitespace or line breaks MIME-style. Bits set past the last byte are ignored (`/9j/2R==` reads
/// as `/9j/2Q==`), as in the streaming [`blocking::Export`](crate::export::blocking::Export). It is always
/// written back padded, on one line. Invalid base64 is an error that says what is wrong and where,
/// for example
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
#[non_exhaustive]
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
                decode_text(value).map(Base64Content).map_err(E::custom)
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
        let content = decode_text(value).map_err(E::custom)?;
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
