//! The export layer's limits, on top of the multipart decoder's.

use crate::multipart::Limits;

/// Export-level limits, on top of the multipart decoder's [`Limits`].
///
/// | setting | default | multipart | JSON | PDF |
/// |---|---|---|---|---|
/// | [`max_body_bytes`](Self::max_body_bytes) | unlimited | bytes of the body as fed | same | same |
/// | [`max_file_bytes`](Self::max_file_bytes) | unlimited | payload bytes of one part, the `result` part included | decoded bytes of one embedded file | bytes of the document |
/// | [`max_result_bytes`](Self::max_result_bytes) | 1 MiB | the `result` part | the document without its files | — |
/// | [`max_files`](Self::max_files) | 64 | file parts | embedded files | — |
/// | [`max_json_depth`](Self::max_json_depth) | 64 | — | nesting of the document | — |
/// | [`multipart`](Self::multipart) | [`Limits::default`] | all of them | body and file bytes | body and file bytes |
///
/// `max_body_bytes` and `max_file_bytes` are the multipart limits
/// [`Limits::max_body_bytes`] and [`Limits::max_part_bytes`] under export names: setting one
/// sets the other, and both hold for every format. Body bytes are all the bytes fed, a leading
/// byte-order mark or whitespace included; no byte past the limit is looked at, and a body is
/// over the limit when the decoder needs a byte after it: a JSON or PDF body up to its last
/// byte, a multipart body up to its close delimiter (the epilogue after it is not read). A file
/// over `max_file_bytes` is handed out up to the limit (a JSON file once it is announced, after
/// its first 16 bytes), then the error comes, never its
/// [`FileEnd`](super::ExportEvent::FileEnd). A multipart `result` part is bounded by both
/// `max_file_bytes` and `max_result_bytes`.
///
/// Going over a limit is an [`ErrorKind::LimitExceeded`](crate::ErrorKind::LimitExceeded) error
/// naming it ([`Error::limit`](crate::Error::limit)), at an offset that does not depend on how
/// the body was cut into chunks:
///
/// - body bytes: the limit itself, the offset of the first byte not read;
/// - file bytes: multipart, the body offset of the first payload byte over the limit; JSON, the
///   body offset of the first base64 character of the quad that decodes to the first byte over
///   the limit (for a character written as an escape, `\/`, the escape's last byte); PDF, the
///   body offset of the first byte over the limit.
///
/// A real export has one result of a few KiB and at most eleven files. A multipart export is read
/// up to `max_files + 2` parts, whatever `max_parts` the multipart limits allow: the result, the
/// files, and the headers of one more, reported as a file over `max_files`. Each setter has a
/// getter of the same name with `get_` before it.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::ExportLimits;
///
/// let limits = ExportLimits::default().max_body_bytes(64 << 20).max_file_bytes(16 << 20);
/// assert_eq!(limits.get_multipart().get_max_part_bytes(), 16 << 20);
/// assert_eq!(limits.get_max_body_bytes(), 64 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportLimits {
    pub(super) max_result_bytes: usize,
    pub(super) max_files: usize,
    pub(super) max_json_depth: usize,
    pub(super) multipart: Limits,
}

impl Default for ExportLimits {
    fn default() -> Self {
        ExportLimits {
            max_result_bytes: 1 << 20,
            max_files: 64,
            max_json_depth: 64,
            multipart: Limits::default(),
        }
    }
}

impl ExportLimits {
    /// Sets the maximum number of bytes in the body, in every format: the multipart
    /// [`Limits::max_body_bytes`].
    pub fn max_body_bytes(mut self, n: u64) -> Self {
        self.multipart = self.multipart.max_body_bytes(n);
        self
    }
    /// Sets the maximum number of bytes in one file: a multipart part's payload, a JSON
    /// export's decoded file, the PDF document. It is the multipart [`Limits::max_part_bytes`].
    pub fn max_file_bytes(mut self, n: u64) -> Self {
        self.multipart = self.multipart.max_part_bytes(n);
        self
    }
    /// Sets the maximum size of the result JSON.
    pub fn max_result_bytes(mut self, n: usize) -> Self {
        self.max_result_bytes = n;
        self
    }
    /// Sets the maximum number of files in one export.
    pub fn max_files(mut self, n: usize) -> Self {
        self.max_files = n;
        self
    }
    /// Sets the maximum nesting depth of the JSON export.
    pub fn max_json_depth(mut self, n: usize) -> Self {
        self.max_json_depth = n;
        self
    }
    /// Sets the multipart decoder's limits; their body and part bytes hold for every format.
    /// It replaces what [`max_body_bytes`](Self::max_body_bytes) and
    /// [`max_file_bytes`](Self::max_file_bytes) set before it.
    pub fn multipart(mut self, limits: Limits) -> Self {
        self.multipart = limits;
        self
    }

    /// The maximum number of bytes in the body.
    pub fn get_max_body_bytes(&self) -> u64 {
        self.multipart.get_max_body_bytes()
    }
    /// The maximum number of bytes in one file.
    pub fn get_max_file_bytes(&self) -> u64 {
        self.multipart.get_max_part_bytes()
    }
    /// The maximum size of the result JSON.
    pub fn get_max_result_bytes(&self) -> usize {
        self.max_result_bytes
    }
    /// The maximum number of files in one export.
    pub fn get_max_files(&self) -> usize {
        self.max_files
    }
    /// The maximum nesting depth of the JSON export.
    pub fn get_max_json_depth(&self) -> usize {
        self.max_json_depth
    }
    /// The multipart decoder's limits, as set.
    pub fn get_multipart(&self) -> &Limits {
        &self.multipart
    }

    /// The limits the multipart decoder of an export enforces: the multipart limits, with room
    /// for the result part, the files, and one part more to be reported as over `max_files`.
    pub(super) fn multipart_decoder_limits(&self) -> Limits {
        let parts = self
            .multipart
            .get_max_parts()
            .min(self.max_files.saturating_add(2));
        self.multipart.max_parts(parts)
    }
}
