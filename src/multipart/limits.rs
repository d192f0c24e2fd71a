//! Limits: how much the decoder accepts before it refuses a body.

/// Limits enforced by the [`Decoder`](super::Decoder) as bytes arrive, counted across chunks.
///
/// Going over a limit is an [`ErrorKind::LimitExceeded`](crate::ErrorKind::LimitExceeded) error
/// naming it ([`Error::limit`](crate::Error::limit)), never a silent truncation. Every setter takes
/// and returns `self`, so limits read as one expression; each has a getter of the same name with
/// `get_` before it, as `std::process::Command` has:
///
/// ```
/// use authenteq_export::multipart::Limits;
///
/// let limits = Limits::default().max_parts(16).max_part_bytes(64 << 20);
/// assert_eq!(limits.get_max_parts(), 16);
/// ```
///
/// | setting | default | counts |
/// |---|---|---|
/// | [`max_header_bytes`](Self::max_header_bytes) | 8 KiB | bytes of one part's header block, line endings included, blank line excluded |
/// | [`max_headers`](Self::max_headers) | 32 | header lines of one part (folded lines count once) |
/// | [`max_parts`](Self::max_parts) | 1000 | parts in one body |
/// | [`max_part_bytes`](Self::max_part_bytes) | unlimited | payload bytes of one part |
/// | [`max_body_bytes`](Self::max_body_bytes) | unlimited | bytes of the whole body, as fed |
/// | [`max_preamble_bytes`](Self::max_preamble_bytes) | 16 KiB | bytes before the first delimiter |
///
/// Part and body sizes are unlimited by default because the decoder streams: its memory does not
/// grow with them. Set them when the parts are collected in memory or written to a disk with a
/// quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    header_bytes: usize,
    headers: usize,
    parts: usize,
    part_bytes: u64,
    body_bytes: u64,
    preamble_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_bytes: 8 * 1024,
            headers: 32,
            parts: 1000,
            part_bytes: u64::MAX,
            body_bytes: u64::MAX,
            preamble_bytes: 16 * 1024,
        }
    }
}

impl Limits {
    /// Limits that never trigger (header bytes stay bounded by `usize::MAX`); for trusted input
    /// and tests.
    pub fn unlimited() -> Self {
        Limits {
            header_bytes: usize::MAX / 4,
            headers: usize::MAX,
            parts: usize::MAX,
            part_bytes: u64::MAX,
            body_bytes: u64::MAX,
            preamble_bytes: u64::MAX,
        }
    }

    /// Sets the maximum size of one part's header block.
    pub fn max_header_bytes(mut self, n: usize) -> Self {
        self.header_bytes = n;
        self
    }
    /// Sets the maximum number of header lines in one part.
    pub fn max_headers(mut self, n: usize) -> Self {
        self.headers = n;
        self
    }
    /// Sets the maximum number of parts in one body.
    pub fn max_parts(mut self, n: usize) -> Self {
        self.parts = n;
        self
    }
    /// Sets the maximum number of payload bytes in one part.
    pub fn max_part_bytes(mut self, n: u64) -> Self {
        self.part_bytes = n;
        self
    }
    /// Sets the maximum number of bytes in the whole body.
    pub fn max_body_bytes(mut self, n: u64) -> Self {
        self.body_bytes = n;
        self
    }
    /// Sets the maximum number of bytes before the first delimiter.
    pub fn max_preamble_bytes(mut self, n: u64) -> Self {
        self.preamble_bytes = n;
        self
    }

    /// The maximum size of one part's header block.
    pub fn get_max_header_bytes(&self) -> usize {
        self.header_bytes
    }
    /// The maximum number of header lines in one part.
    pub fn get_max_headers(&self) -> usize {
        self.headers
    }
    /// The maximum number of parts in one body.
    pub fn get_max_parts(&self) -> usize {
        self.parts
    }
    /// The maximum number of payload bytes in one part.
    pub fn get_max_part_bytes(&self) -> u64 {
        self.part_bytes
    }
    /// The maximum number of bytes in the whole body.
    pub fn get_max_body_bytes(&self) -> u64 {
        self.body_bytes
    }
    /// The maximum number of bytes before the first delimiter.
    pub fn get_max_preamble_bytes(&self) -> u64 {
        self.preamble_bytes
    }
}
