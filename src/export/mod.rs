//! The Authenteq export layer: the typed verification result, the three export formats and the
//! API's error bodies.
//!
//! [`Export`] (async) and [`blocking::Export`] read any of the three export formats and
//! yield the same items: the typed [`VerificationResult`] and the files, each with its
//! [`FileKind`], content type and lazily pulled bytes. A JSON export's base64 files are decoded
//! while they are read, so memory does not grow with their size. An API error body becomes an
//! [`ErrorKind::Api`](crate::ErrorKind::Api) error carrying the typed [`ApiError`].

mod api_error;
mod base64_content;
pub mod blocking;
mod decoder;
mod encode;
#[cfg(feature = "tokio-io")]
mod encode_stream;
mod endpoint;
mod files;
mod format;
mod id;
mod json;
mod limits;
mod macros;
mod model;
mod response;
mod stream;

pub use api_error::{ApiError, ApiErrorCode};
pub use decoder::{ExportDecoder, ExportEvent};
pub use encode::{json_export, write_multipart_export, OutgoingFile};
#[cfg(feature = "tokio-io")]
pub use encode_stream::{base64_len, ExportBody, StreamedFile};
pub use endpoint::Endpoint;
pub use files::{content_type_for, extension_for, sniff_content_type, FileInfo, FileKind};
pub use format::{ExportFormat, DETECT_BYTES};
pub use id::VerificationId;
pub use limits::ExportLimits;
pub use model::{
    DocumentData, DocumentSlot, DocumentType, EmbeddedFile, EmbeddedFileForm, LicenseClassDetail,
    Platform, Sex, VerificationResult,
};
pub use stream::{Export, ExportFile, ExportItem};

impl crate::Error {
    /// The error body of the API, for [`ErrorKind::Api`](crate::ErrorKind::Api).
    pub fn api_error(&self) -> Option<&ApiError> {
        self.value().and_then(|v| v.downcast_ref::<ApiError>())
    }
}
