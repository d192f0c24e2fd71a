//! The delimiter search: where in a buffer the next `delimiter := CRLF dash-boundary` (or its
//! bare-LF form) is, and what follows it on its line.

use memchr::memmem::Finder;

use super::boundary::Boundary;
use super::decoder::MAX_TRANSPORT_PADDING;
use super::headers::LineEnding;

/// Which of the two delimiter lines was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DelimiterKind {
    /// `delimiter transport-padding CRLF`, ended by this line ending: a body part follows.
    Part(LineEnding),
    /// `close-delimiter := delimiter "--"`: the last body part ended.
    Close,
}

/// A whole delimiter line in a buffer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Delimiter {
    /// Its length: from the line ending before `--boundary` to the end of its own line ending
    /// (or of the `--` of a close delimiter).
    pub(super) len: usize,
    pub(super) kind: DelimiterKind,
}

/// What a scan of a buffer for the next delimiter found.
#[derive(Debug, Clone, Copy)]
pub(super) enum Found {
    /// A whole delimiter, starting at `start`.
    Delimiter { start: usize, delimiter: Delimiter },
    /// Bytes from `start` to the end of the buffer may begin a delimiter: more input decides.
    Partial { start: usize },
    /// No delimiter starts in the buffer.
    None,
}

impl Found {
    /// How many bytes of a buffer of `len` bytes the scan looked at: up to the end of the
    /// delimiter it found, or all of them.
    pub(super) fn scanned(&self, len: usize) -> usize {
        match *self {
            Found::Delimiter { start, delimiter } => start + delimiter.len,
            Found::Partial { .. } | Found::None => len,
        }
    }
}

/// What follows `--boundary` on a candidate delimiter line.
enum Tail {
    /// The rest of a delimiter line, `len` bytes long.
    Delimiter { len: usize, kind: DelimiterKind },
    /// Not a delimiter: the search goes on `resume` bytes after `--boundary`.
    NotDelimiter { resume: usize },
    /// Too few bytes to tell.
    Incomplete,
}

/// `close-delimiter := delimiter "--"`; `delimiter transport-padding CRLF`. With the body's
/// line ending known, only that one ends a delimiter line.
fn match_tail(after: &[u8], line_ending: Option<LineEnding>) -> Tail {
    match after {
        [] | [b'-'] => return Tail::Incomplete,
        [b'-', b'-', ..] => {
            return Tail::Delimiter {
                len: 2,
                kind: DelimiterKind::Close,
            }
        }
        [b'-', ..] => return Tail::NotDelimiter { resume: 0 },
        _ => {}
    }
    let limit = after.len().min(MAX_TRANSPORT_PADDING + 1);
    let pad = after[..limit]
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    if pad > MAX_TRANSPORT_PADDING {
        return Tail::NotDelimiter { resume: pad };
    }
    let crlf_ok = line_ending != Some(LineEnding::Lf);
    let lf_ok = line_ending != Some(LineEnding::Crlf);
    match &after[pad..] {
        [] => Tail::Incomplete,
        [b'\r'] if crlf_ok => Tail::Incomplete,
        [b'\r', b'\n', ..] if crlf_ok => Tail::Delimiter {
            len: pad + 2,
            kind: DelimiterKind::Part(LineEnding::Crlf),
        },
        [b'\n', ..] if lf_ok => Tail::Delimiter {
            len: pad + 1,
            kind: DelimiterKind::Part(LineEnding::Lf),
        },
        _ => Tail::NotDelimiter { resume: pad },
    }
}

/// The delimiter searcher: `line-ending "--" boundary`.
///
/// Until the first delimiter line fixes the body's line ending, it looks for `\n--boundary`
/// with `memchr` on its first byte: the preamble is usually empty, so building a `memmem`
/// searcher for it would cost more than it saves. The `memmem` searcher for the body's own line
/// ending is built once, when that line ending is known.
///
/// Either search is linear: the needle's first byte (`\r` or `\n`) occurs nowhere else in it,
/// so a partial match at one candidate never overlaps the next candidate.
#[derive(Debug)]
pub(super) struct Searcher {
    /// `\r\n--boundary`; the LF needle is the same without its first byte.
    crlf_needle: Box<[u8]>,
    /// Where the needle in use starts in `crlf_needle`: 1 for `\n--boundary`, 0 for CRLF.
    needle_start: usize,
    /// The body's line ending, once the first delimiter line fixed it.
    line_ending: Option<LineEnding>,
    /// The `memmem` searcher for the body's line ending, once it is known.
    finder: Option<Finder<'static>>,
}

impl Searcher {
    /// A searcher for `\n--boundary`, before the body's line ending is known.
    pub(super) fn new(boundary: &Boundary) -> Self {
        let mut needle = Vec::with_capacity(boundary.as_bytes().len() + 4);
        needle.extend_from_slice(b"\r\n--");
        needle.extend_from_slice(boundary.as_bytes());
        Searcher {
            crlf_needle: needle.into_boxed_slice(),
            needle_start: 1,
            line_ending: None,
            finder: None,
        }
    }

    /// Switches to the body's line ending, building its `memmem` searcher.
    pub(super) fn set_line_ending(&mut self, line_ending: LineEnding) {
        self.needle_start = match line_ending {
            LineEnding::Crlf => 0,
            LineEnding::Lf => 1,
        };
        self.line_ending = Some(line_ending);
        self.finder = Some(Finder::new(self.needle()).into_owned());
    }

    /// The body's line ending, once known.
    pub(super) fn line_ending(&self) -> Option<LineEnding> {
        self.line_ending
    }

    /// `line-ending "--" boundary`, with the body's line ending (`\n` before it is known).
    pub(super) fn needle(&self) -> &[u8] {
        &self.crlf_needle[self.needle_start..]
    }

    /// The line ending the needle starts with.
    pub(super) fn needle_line_ending(&self) -> &[u8] {
        &self.crlf_needle[self.needle_start..2]
    }

    /// The first whole needle in `haystack`.
    fn find(&self, haystack: &[u8]) -> Option<usize> {
        if let Some(finder) = &self.finder {
            return finder.find(haystack);
        }
        let needle = self.needle();
        let mut from = 0;
        while let Some(i) = memchr::memchr(needle[0], &haystack[from..]) {
            let start = from + i;
            if haystack[start..].starts_with(needle) {
                return Some(start);
            }
            from = start + 1;
        }
        None
    }

    /// Finds the first delimiter in `buf`, skipping look-alikes that are body data.
    pub(super) fn scan(&self, buf: &[u8]) -> Found {
        let needle = self.needle();
        let mut from = 0;
        while let Some(i) = self.find(&buf[from..]) {
            let start = from + i;
            let after = start + needle.len();
            match match_tail(&buf[after..], self.line_ending) {
                Tail::Delimiter { len, kind } => {
                    return Found::Delimiter {
                        start,
                        delimiter: Delimiter {
                            len: needle.len() + len,
                            kind,
                        },
                    }
                }
                Tail::NotDelimiter { resume } => from = after + resume,
                Tail::Incomplete => return Found::Partial { start },
            }
        }
        // No whole needle: a proper prefix of it may end the buffer. Such a prefix holds the
        // needle's first byte only at its start, so only the last occurrence can begin one.
        let tail_from = buf.len().saturating_sub(needle.len() - 1).max(from);
        match memchr::memrchr(needle[0], &buf[tail_from..]) {
            Some(i) if needle.starts_with(&buf[tail_from + i..]) => Found::Partial {
                start: tail_from + i,
            },
            _ => Found::None,
        }
    }
}
