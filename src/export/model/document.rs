//! What was read from one identity document, with its driving-licence classes.

use std::fmt;

use chrono::NaiveDate;
use indexmap::IndexMap;
use serde::de::{Deserializer, MapAccess};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::codes::{DocumentType, Sex};
use super::dates::{date, personal_date, ser_date};
use super::de::{deserialize_object, fields, visit_members, ReadMembers};
use super::file::EmbeddedFile;
use super::redact::{extra_keys, redacted, shown};

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
#[non_exhaustive]
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

impl DocumentData {
    /// The document without its personal data: its type, issuing country, jurisdiction,
    /// nationality, dates of issue and expiry and licence classes (their dates, not their
    /// notes). Names, sex, date of birth, number, address, images and unknown fields are
    /// dropped. See [`VerificationResult::without_personal_data`](crate::export::VerificationResult::without_personal_data).
    pub fn without_personal_data(&self) -> DocumentData {
        DocumentData {
            document_type: self.document_type.clone(),
            issuing_country: self.issuing_country.clone(),
            jurisdiction: self.jurisdiction.clone(),
            nationality: self.nationality.clone(),
            date_of_expiry: self.date_of_expiry,
            date_of_issue: self.date_of_issue,
            license_class: self.license_class.clone(),
            license_class_details: self.license_class_details.as_ref().map(|classes| {
                classes
                    .iter()
                    .map(|(class, detail)| {
                        let kept = LicenseClassDetail {
                            from: detail.from,
                            to: detail.to,
                            ..LicenseClassDetail::default()
                        };
                        (class.clone(), kept)
                    })
                    .collect()
            }),
            ..DocumentData::default()
        }
    }
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
        deserialize_object(deserializer)
    }
}

impl ReadMembers for DocumentData {
    const EXPECTING: &'static str = "struct DocumentData";

    fn read_members<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        use DocumentField as F;

        let out = self;
        visit_members(map, &mut out.extra, |map, field| {
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
                    out.date_of_birth = map.next_value_seed(personal_date("dateOfBirth"))?
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
        })
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
#[non_exhaustive]
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
        deserialize_object(deserializer)
    }
}

impl ReadMembers for LicenseClassDetail {
    const EXPECTING: &'static str = "struct LicenseClassDetail";

    fn read_members<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        let out = self;
        visit_members(map, &mut out.extra, |map, field| {
            match field {
                LicenseClassField::From => out.from = map.next_value_seed(date("from"))?,
                LicenseClassField::To => out.to = map.next_value_seed(date("to"))?,
                LicenseClassField::Notes => out.notes = map.next_value()?,
            }
            Ok(())
        })
    }
}
