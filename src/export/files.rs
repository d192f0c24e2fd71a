//! What a file of an export is: its kind, name and content type.

use std::borrow::Cow;
use std::fmt;

use super::DocumentSlot;
use crate::multipart::PartHeaders;

/// The kind of a file in an export, named after the part (or JSON field) that carries it.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::{DocumentSlot, FileKind};
///
/// let kind = FileKind::from_part_name("croppedFrontImage2");
/// assert_eq!(kind, FileKind::CroppedFrontImage(DocumentSlot::Second));
/// assert_eq!(kind.part_name(), "croppedFrontImage2");
/// assert_eq!(FileKind::from_part_name("selfieVideo"), FileKind::Other("selfieVideo".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `livenessFaceImage`: the face from the liveness check.
    LivenessFaceImage,
    /// `croppedFrontImage`, `croppedFrontImage2`, `croppedFrontImage3`: a document's front.
    CroppedFrontImage(DocumentSlot),
    /// `croppedBackImage`, `croppedBackImage2`, `croppedBackImage3`: a document's back.
    CroppedBackImage(DocumentSlot),
    /// `faceImage`, `faceImage2`, `faceImage3`: the face cropped from a document.
    FaceImage(DocumentSlot),
    /// `addressProofDocument`: the proof of address, a PDF.
    AddressProofDocument,
    /// The report of the PDF export.
    Report,
    /// A part this crate does not know, with its name (kept, never dropped).
    Other(String),
}

const SLOTS: [DocumentSlot; 3] = [
    DocumentSlot::First,
    DocumentSlot::Second,
    DocumentSlot::Third,
];

impl FileKind {
    /// The kind of a multipart part from its `name`.
    pub fn from_part_name(name: &str) -> FileKind {
        let (stem, slot) = match name.as_bytes().last() {
            Some(b'2') => (&name[..name.len() - 1], DocumentSlot::Second),
            Some(b'3') => (&name[..name.len() - 1], DocumentSlot::Third),
            _ => (name, DocumentSlot::First),
        };
        match stem {
            "croppedFrontImage" => FileKind::CroppedFrontImage(slot),
            "croppedBackImage" => FileKind::CroppedBackImage(slot),
            "faceImage" => FileKind::FaceImage(slot),
            _ => match name {
                "livenessFaceImage" => FileKind::LivenessFaceImage,
                "addressProofDocument" => FileKind::AddressProofDocument,
                _ => FileKind::Other(name.to_owned()),
            },
        }
    }

    /// The kind of a JSON export field: `field` inside `documentData{,2,3}` (`parent`) or at the
    /// top level (`parent` is `None`). `None` when the field holds no file.
    pub fn from_json_path(parent: Option<&str>, field: &str) -> Option<FileKind> {
        match parent {
            None => match field {
                "livenessFaceImage" => Some(FileKind::LivenessFaceImage),
                "addressProofDocument" => Some(FileKind::AddressProofDocument),
                _ => None,
            },
            Some(parent) => {
                let slot = SLOTS
                    .into_iter()
                    .find(|s| parent.strip_prefix("documentData") == Some(s.suffix()))?;
                match field {
                    "croppedFrontImage" => Some(FileKind::CroppedFrontImage(slot)),
                    "croppedBackImage" => Some(FileKind::CroppedBackImage(slot)),
                    "faceImage" => Some(FileKind::FaceImage(slot)),
                    _ => None,
                }
            }
        }
    }

    /// The name of the multipart part that carries this kind of file.
    pub fn part_name(&self) -> Cow<'_, str> {
        match self {
            FileKind::LivenessFaceImage => "livenessFaceImage".into(),
            FileKind::CroppedFrontImage(s) => format!("croppedFrontImage{}", s.suffix()).into(),
            FileKind::CroppedBackImage(s) => format!("croppedBackImage{}", s.suffix()).into(),
            FileKind::FaceImage(s) => format!("faceImage{}", s.suffix()).into(),
            FileKind::AddressProofDocument => "addressProofDocument".into(),
            FileKind::Report => "result".into(),
            FileKind::Other(name) => name.as_str().into(),
        }
    }

    /// Which document the file belongs to, for document images.
    pub fn document(&self) -> Option<DocumentSlot> {
        match self {
            FileKind::CroppedFrontImage(s)
            | FileKind::CroppedBackImage(s)
            | FileKind::FaceImage(s) => Some(*s),
            _ => None,
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.part_name())
    }
}

/// A file of an export, as announced before its bytes: kind, names and content type.
// Kept to the kind and two pointers, so that the event announcing a file carries it without an
// allocation of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub(crate) kind: FileKind,
    /// A multipart file's part headers: its name, file name and content type come from them.
    pub(crate) headers: Option<Box<PartHeaders>>,
    /// A JSON or PDF export's file name and content type.
    pub(crate) given: Option<Box<GivenNames>>,
}

/// The file name and content type of a file that has no part headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GivenNames {
    filename: Option<String>,
    content_type: Option<String>,
}

impl FileInfo {
    pub(crate) fn new(
        kind: FileKind,
        filename: Option<String>,
        content_type: Option<String>,
    ) -> Self {
        let given = (filename.is_some() || content_type.is_some()).then(|| {
            Box::new(GivenNames {
                filename,
                content_type,
            })
        });
        FileInfo {
            kind,
            headers: None,
            given,
        }
    }

    pub(crate) fn from_part(headers: Box<PartHeaders>) -> Self {
        FileInfo {
            kind: FileKind::from_part_name(headers.name().unwrap_or("")),
            headers: Some(headers),
            given: None,
        }
    }

    /// The file's kind.
    pub fn kind(&self) -> &FileKind {
        &self.kind
    }

    /// The part name (multipart) or field name (JSON) the file came under.
    pub fn name(&self) -> Cow<'_, str> {
        match &self.headers {
            Some(h) => h.name().unwrap_or("").into(),
            None => self.kind.part_name(),
        }
    }

    /// The file name the export gave, as sent: chosen by whoever made the export, so never a
    /// path as it is (it can be `../../.bashrc`); make it safe with
    /// `save::safe_file_name` first, or save through `save::OutputDir`. The JSON and PDF exports
    /// give none.
    pub fn filename(&self) -> Option<&str> {
        match (&self.headers, &self.given) {
            (Some(h), _) => h.filename(),
            (None, Some(given)) => given.filename.as_deref(),
            (None, None) => None,
        }
    }

    /// The content type the export gave, or for JSON files without one, the one guessed from the
    /// first bytes (JPEG, PNG, PDF).
    pub fn content_type(&self) -> Option<&str> {
        match (&self.headers, &self.given) {
            (Some(h), _) => h.content_type(),
            (None, Some(given)) => given.content_type.as_deref(),
            (None, None) => None,
        }
    }

    /// The multipart part's headers (multipart exports only).
    pub fn headers(&self) -> Option<&PartHeaders> {
        self.headers.as_deref()
    }

    /// The file name the multipart export uses for this file: its part name and an extension
    /// from its content type, such as `croppedFrontImage2.jpeg` or `addressProofDocument.pdf`.
    ///
    /// For display: the part name is chosen by whoever made the export and may hold `/`, `..`
    /// or control characters. Before it touches a file system, make it safe with
    /// `save::safe_file_name`, or let `save::OutputDir` and `save::file_name` name the file.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::{blocking::Export, ExportItem};
    ///
    /// let body = br#"{"id":"v1","addressProofDocument":{"contentType":"application/pdf","content":"JVBERi0="}}"#;
    /// let mut export = Export::new(&body[..], None)?;
    /// while let Some(item) = export.next_item()? {
    ///     if let ExportItem::File(file) = item {
    ///         assert_eq!(file.info().canonical_filename(), "addressProofDocument.pdf");
    ///     }
    /// }
    /// # Ok::<(), authenteq_export::Error>(())
    /// ```
    pub fn canonical_filename(&self) -> String {
        let name = self.name();
        match self.content_type().and_then(extension_for) {
            Some(ext) => format!("{name}.{ext}"),
            None => name.into_owned(),
        }
    }
}

/// The file extension the API uses for a content type.
pub fn extension_for(content_type: &str) -> Option<&'static str> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    Some(match essence.as_str() {
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/heic" => "heic",
        "application/pdf" => "pdf",
        "application/json" => "json",
        _ => return None,
    })
}

/// The content type the API gives a file with this extension (the inverse of
/// [`extension_for`]), matched case-insensitively; `None` for an extension it does not use.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::content_type_for;
///
/// assert_eq!(content_type_for("JPG"), Some("image/jpeg"));
/// assert_eq!(content_type_for("pdf"), Some("application/pdf"));
/// assert_eq!(content_type_for("tiff"), None);
/// ```
pub fn content_type_for(extension: &str) -> Option<&'static str> {
    Some(match extension.to_ascii_lowercase().as_str() {
        "jpeg" | "jpg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "pdf" => "application/pdf",
        "json" => "application/json",
        _ => return None,
    })
}

/// Guesses a content type from a file's first bytes: JPEG, PNG, WebP, PDF.
pub fn sniff_content_type(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else if head.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else {
        None
    }
}
