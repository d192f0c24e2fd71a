//! The verification result, and the slots of its (up to) three documents.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, MapAccess};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::codes::Platform;
use super::dates::{ser_timestamp, timestamp};
use super::de::{deserialize_object, fields, visit_members, InPlace, OptionInPlace, ReadMembers};
use super::document::DocumentData;
use super::fast;
use super::file::EmbeddedFile;
use super::redact::{extra_keys, shown};

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
/// # Ok::<(), authenteq_export::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
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
    /// # Ok::<(), authenteq_export::Error>(())
    /// ```
    ///
    /// The error is an [`ErrorKind::Json`](crate::ErrorKind::Json) error, as the export
    /// decoder gives for a result part that does not fit; its `source()` is serde_json's,
    /// which names the field and the line and column.
    pub fn from_json(json: &[u8]) -> crate::Result<Self> {
        // (Filled in place: the struct is large, and every move is a copy.)
        let mut result = VerificationResult::default();
        result.read_json(json).map_err(|e| {
            crate::Error::with_source(
                crate::ErrorKind::Json,
                "the result does not fit the model",
                e,
            )
        })?;
        Ok(result)
    }

    /// As [`from_json`](Self::from_json), built in place on the heap, where the export
    /// decoder's event carries it.
    pub(crate) fn from_json_boxed(json: &[u8]) -> Result<Box<Self>, serde_json::Error> {
        let mut result = Box::<VerificationResult>::default();
        result.read_json(json)?;
        Ok(result)
    }

    /// Reads `json` into `self`, a default result, with the outcome `from_json` documents.
    fn read_json(&mut self, json: &[u8]) -> Result<(), serde_json::Error> {
        // One UTF-8 check of the whole input is much cheaper than serde_json's check of every
        // string (keys included) one by one; `from_str` then skips the latter. Input that is not
        // UTF-8 goes through `from_slice`, for its exact error and position.
        let Ok(text) = std::str::from_utf8(json) else {
            *self = serde_json::from_slice(json)?;
            return Ok(());
        };
        if !self.fill_from_json(text) {
            *self = serde_json::from_str(text)?;
        }
        Ok(())
    }

    /// Reads the common case without serde_json's bookkeeping (see `fast`) into a default
    /// result. `false` means anything else, or an error: the caller asks serde_json then.
    fn fill_from_json(&mut self, text: &str) -> bool {
        let mut reader = fast::Reader::new(text);
        let read = reader.deserialize_map(InPlace(self));
        read.is_ok() && reader.end().is_ok()
    }

    /// Writes the result back as compact JSON, in the API's field names.
    ///
    /// Known fields come first, in the API's order, then the unknown ones.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a verification result always serializes to JSON")
    }

    /// The result without its personal data: what a log, a CI job or a summary on a terminal
    /// may show.
    ///
    /// Kept: the id, platform, start and end times, `nfcVerified`, and of each document its
    /// type, issuing country, jurisdiction, nationality, dates of issue and expiry and licence
    /// classes (with their dates). Dropped: names, sex, date of birth, document numbers,
    /// addresses, licence notes, every embedded image or document, and every field this crate
    /// does not know (it cannot tell whether one is personal). Costs one clone of what is kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::VerificationResult;
    ///
    /// let json = br#"{"id":"v1","documentData":{"documentType":"PP","surname":"DOE","dateOfBirth":"1964-12-30"},"note":"x"}"#;
    /// let shown = VerificationResult::from_json(json)?.without_personal_data();
    /// let text = String::from_utf8(shown.to_json()).unwrap();
    /// assert_eq!(text, r#"{"id":"v1","documentData":{"documentType":"PP"}}"#);
    /// # Ok::<(), authenteq_export::Error>(())
    /// ```
    pub fn without_personal_data(&self) -> VerificationResult {
        VerificationResult {
            id: self.id.clone(),
            platform: self.platform.clone(),
            start_time: self.start_time,
            end_time: self.end_time,
            liveness_face_image: None,
            document_data: self
                .document_data
                .as_ref()
                .map(DocumentData::without_personal_data),
            document_data2: self
                .document_data2
                .as_ref()
                .map(DocumentData::without_personal_data),
            document_data3: self
                .document_data3
                .as_ref()
                .map(DocumentData::without_personal_data),
            nfc_verified: self.nfc_verified,
            address_proof_document: None,
            extra: Map::new(),
        }
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
    /// # Ok::<(), authenteq_export::Error>(())
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
        deserialize_object(deserializer)
    }
}

impl ReadMembers for VerificationResult {
    const EXPECTING: &'static str = "struct VerificationResult";

    fn read_members<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        let out = self;
        let mut id = None;
        visit_members(map, &mut out.extra, |map, field| {
            match field {
                ResultField::Id => id = Some(map.next_value()?),
                ResultField::Platform => out.platform = map.next_value()?,
                ResultField::StartTime => {
                    out.start_time = map.next_value_seed(timestamp("startTime"))?
                }
                ResultField::EndTime => out.end_time = map.next_value_seed(timestamp("endTime"))?,
                ResultField::LivenessFaceImage => out.liveness_face_image = map.next_value()?,
                ResultField::DocumentData => {
                    map.next_value_seed(OptionInPlace(&mut out.document_data))?
                }
                ResultField::DocumentData2 => {
                    map.next_value_seed(OptionInPlace(&mut out.document_data2))?
                }
                ResultField::DocumentData3 => {
                    map.next_value_seed(OptionInPlace(&mut out.document_data3))?
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
