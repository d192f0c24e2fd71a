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

mod codes;
mod dates;
mod de;
mod document;
mod fast;
mod file;
mod redact;
mod result;

pub use codes::{DocumentType, Platform, Sex};
pub use document::{DocumentData, LicenseClassDetail};
pub use file::{EmbeddedFile, EmbeddedFileForm};
pub use result::{DocumentSlot, VerificationResult};
