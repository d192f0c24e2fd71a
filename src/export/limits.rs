//! The export layer's limits, on top of the multipart decoder's.

use crate::multipart::Limits;

/// Export-level limits, on top of the multipart decoder's [`Limits`].
///
/// | setting | default |
/// |---|---|
/// | [`max_result_bytes`](Self::max_result_bytes): the result JSON (the multipart `result` part, or the JSON export without its files) | 1 MiB |
/// | [`max_files`](Self::max_files): files in one export | 64 |
/// | [`max_json_depth`](Self::max_json_depth): nesting of the JSON export | 64 |
/// | [`multipart`](Self::multipart): the multipart decoder's limits | [`Limits::default`] |
///
/// A real export has one result of a few KiB and at most eleven files. A multipart export is read
/// up to `max_files + 2` parts, whatever `max_parts` the multipart limits allow: the result, the
/// files, and the headers of one more, reported as a file over `max_files`. Each setter has a getter of the same
/// name with `get_` before it.
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
    /// Sets the multipart decoder's limits.
    pub fn multipart(mut self, limits: Limits) -> Self {
        self.multipart = limits;
        self
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
