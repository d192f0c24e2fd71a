//! The sans-I/O core: a push decoder fed `Bytes` chunks that answers with [`Event`]s.
//!
//! It does no I/O and knows nothing of async: the async and blocking front-ends, the export
//! layer, the fuzz targets and the property tests all drive this one state machine.

use bytes::{Buf, Bytes};
use memchr::memmem::Finder;

use super::boundary::Boundary;
use super::headers::{LineEnding, PartHeaders};
use super::limits::Limits;
use crate::error::{Error, ErrorKind, Limit, PartRef, Result};

/// Longest run of transport padding (spaces and tabs) accepted after `--boundary` on a delimiter
/// line. A longer run means the line is not a delimiter (its bytes stay body data), which keeps the
/// bytes held back across a chunk boundary small and bounded.
pub const MAX_TRANSPORT_PADDING: usize = 256;

/// What the decoder found in the bytes it was fed.
///
/// A body yields `PartStart`, then any number of `Data`, then `PartEnd`, for each part, then one
/// `End`. `Data` is never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A part begins; its header block was read whole and parsed. (Boxed, so that the far more
    /// frequent `Data` events stay small as they pass through the layers.)
    PartStart(Box<PartHeaders>),
    /// The next bytes of the current part's payload: a slice of an input chunk (zero-copy), or,
    /// only for the few bytes of a possible delimiter that straddled two chunks, a small copy.
    Data(Bytes),
    /// The current part ended: its closing delimiter was read.
    PartEnd,
    /// The close delimiter was read: the body is complete. Anything after it (the epilogue) is
    /// ignored. Every later call returns `End` again.
    End,
}

#[derive(Debug)]
enum State {
    /// `preamble := discard-text`, then `dash-boundary transport-padding CRLF`: looking for the
    /// first delimiter line. Bytes before it are dropped (counted against the preamble limit).
    Preamble,
    /// A delimiter line was read: `delimiter transport-padding CRLF body-part` follows. The part
    /// limit is checked here, after the previous part's end was reported.
    NextPart,
    /// `MIME-part-headers` up to the blank line: `*(field CRLF) CRLF`.
    Headers,
    /// `[CRLF *OCTET]` up to the next `delimiter := CRLF dash-boundary`.
    Body,
    /// `close-delimiter transport-padding [CRLF epilogue]`: the body is complete.
    Done,
    /// A previous call failed; every later call returns this error again.
    Failed(Error),
}

/// What a scan of a buffer for the next delimiter found.
#[derive(Debug, Clone, Copy)]
enum Found {
    /// A whole delimiter (or close delimiter) at `start..end`, including the line ending or `--`.
    Delimiter {
        start: usize,
        end: usize,
        close: bool,
        line_ending: Option<LineEnding>,
    },
    /// Bytes from `start` to the end of the buffer may begin a delimiter: more input decides.
    Partial { start: usize },
    /// No delimiter starts in the buffer.
    None,
}

impl Found {
    /// How many bytes of a buffer of `len` bytes the scan looked at: up to the end of the
    /// delimiter it found, or all of them.
    fn scanned(&self, len: usize) -> usize {
        match *self {
            Found::Delimiter { end, .. } => end,
            Found::Partial { .. } | Found::None => len,
        }
    }
}

/// What follows `--boundary` on a candidate delimiter line.
enum Tail {
    Delimiter {
        len: usize,
        close: bool,
        line_ending: Option<LineEnding>,
    },
    NotDelimiter {
        resume: usize,
    },
    Incomplete,
}

/// `close-delimiter := delimiter "--"`; `delimiter transport-padding CRLF`.
fn match_tail(after: &[u8], line_ending: Option<LineEnding>) -> Tail {
    match after {
        [] | [b'-'] => return Tail::Incomplete,
        [b'-', b'-', ..] => {
            return Tail::Delimiter {
                len: 2,
                close: true,
                line_ending: None,
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
            close: false,
            line_ending: Some(LineEnding::Crlf),
        },
        [b'\n', ..] if lf_ok => Tail::Delimiter {
            len: pad + 1,
            close: false,
            line_ending: Some(LineEnding::Lf),
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
struct Searcher {
    /// `\r\n--boundary`; the LF needle is the same without its first byte.
    crlf_needle: Box<[u8]>,
    /// Where the needle in use starts in `crlf_needle`: 1 for `\n--boundary`, 0 for CRLF.
    needle_start: usize,
    /// The `memmem` searcher for the body's line ending, once it is known.
    finder: Option<Finder<'static>>,
}

impl Searcher {
    /// A searcher for `\n--boundary`, before the body's line ending is known.
    fn new(boundary: &Boundary) -> Self {
        let mut needle = Vec::with_capacity(boundary.as_bytes().len() + 4);
        needle.extend_from_slice(b"\r\n--");
        needle.extend_from_slice(boundary.as_bytes());
        Searcher {
            crlf_needle: needle.into_boxed_slice(),
            needle_start: 1,
            finder: None,
        }
    }

    /// Switches to the body's line ending, building its `memmem` searcher.
    fn set_line_ending(&mut self, line_ending: LineEnding) {
        self.needle_start = match line_ending {
            LineEnding::Crlf => 0,
            LineEnding::Lf => 1,
        };
        self.finder = Some(Finder::new(self.needle()).into_owned());
    }

    fn needle(&self) -> &[u8] {
        &self.crlf_needle[self.needle_start..]
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
    fn scan(&self, buf: &[u8], line_ending: Option<LineEnding>) -> Found {
        let needle = self.needle();
        let mut from = 0;
        while let Some(i) = self.find(&buf[from..]) {
            let start = from + i;
            let after = start + needle.len();
            match match_tail(&buf[after..], line_ending) {
                Tail::Delimiter {
                    len,
                    close,
                    line_ending,
                } => {
                    return Found::Delimiter {
                        start,
                        end: after + len,
                        close,
                        line_ending,
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

/// A push decoder for one `multipart/*` body (RFC 2046), with no I/O.
///
/// Feed it chunks with [`feed`](Self::feed) and pull [`Event`]s with
/// [`next_event`](Self::next_event), which answers `Ok(None)` when it needs more input. Call
/// [`finish`](Self::finish) at the end of input: only then does an unfinished body become an
/// [`ErrorKind::UnexpectedEnd`] error. Feeding only after `next_event` returned `Ok(None)` keeps
/// memory bounded by one chunk plus the header limit: that is what the front-ends do.
///
/// # What it accepts
///
/// CRLF bodies and bare-LF bodies (the line ending is taken from the first delimiter line); a
/// preamble and an epilogue (both dropped); transport padding after a delimiter; a part made of
/// headers only (`--b` right after the blank line, as Go accepts); zero-length parts; header names
/// in any case; folded header lines. `CRLF--boundary` followed by anything but padding and a line
/// ending, or `--`, is body data and no byte of it is dropped.
///
/// # Cost
///
/// The delimiter searcher (`memchr::memmem`) is built once per body. Per chunk, the decoder does
/// one search and yields one `Data` slice without allocating; only a possible delimiter that
/// straddles two chunks is looked at again, copying at most a few hundred bytes.
///
/// # Examples
///
/// ```
/// use authenteq_export::multipart::{Boundary, Decoder, Event};
/// use bytes::Bytes;
///
/// let mut decoder = Decoder::new(Boundary::new("b").unwrap());
/// decoder.feed(Bytes::from_static(b"--b\r\nContent-Disposition: form-data; name=\"result\"\r\n\r\n{}\r\n--b--\r\n"));
/// decoder.finish();
/// let mut events = Vec::new();
/// loop {
///     match decoder.next_event().unwrap() {
///         Some(Event::End) => break,
///         Some(event) => events.push(event),
///         None => unreachable!("finish() was called"),
///     }
/// }
/// assert!(matches!(&events[0], Event::PartStart(h) if h.name() == Some("result")));
/// assert_eq!(events[1], Event::Data(Bytes::from_static(b"{}")));
/// assert_eq!(events[2], Event::PartEnd);
/// ```
#[derive(Debug)]
pub struct Decoder {
    boundary: Boundary,
    limits: Limits,
    state: State,
    /// Searcher for the delimiter, with the body's line ending once it is known (`\n--b` before).
    searcher: Searcher,
    line_ending: Option<LineEnding>,
    /// Unconsumed bytes of the current chunk.
    input: Bytes,
    /// Bytes before `input` that may begin a delimiter, held back until more input decides.
    held: Bytes,
    /// How many leading bytes of `held` are not in the body: the line ending assumed before the
    /// first delimiter and before each part's payload (where `--b` may follow directly).
    held_virtual: usize,
    /// Body offset of `input[0]`.
    consumed: u64,
    /// Bytes fed so far.
    fed: u64,
    /// Bytes looked at so far, counted again each time they are looked at again.
    examined: u64,
    finished: bool,
    /// The body went over `max_body_bytes`: input was cut at the limit.
    over_body_limit: bool,
    /// The delimiter at the start of `input`, found by the scan that handed out the payload
    /// before it.
    delimiter_ahead: Option<Found>,
    /// Scratch space for looking across a chunk boundary; reused.
    scratch: Vec<u8>,
    /// The header block being read, after the line ending of its delimiter line, when it
    /// straddles chunks (else it is parsed where it is, and this stays empty); reused.
    header_buf: Vec<u8>,
    /// Body offset of the first header byte of the current part.
    header_start: u64,
    /// Parts started so far.
    parts: usize,
    /// Payload bytes of the current part so far.
    part_bytes: u64,
    /// Preamble bytes dropped so far.
    preamble_bytes: u64,
    /// The last preamble byte was a CR: with a CRLF body, it belongs to the first delimiter.
    preamble_ends_in_cr: bool,
    /// The current part's name, for error messages.
    /// Reused: no allocation per part once it is long enough.
    part_name: Option<String>,
}

impl Decoder {
    /// A decoder for a body with `boundary`, with the default [`Limits`].
    pub fn new(boundary: Boundary) -> Self {
        Self::with_limits(boundary, Limits::default())
    }

    /// A decoder for a body with `boundary` and the given limits.
    pub fn with_limits(boundary: Boundary, limits: Limits) -> Self {
        let searcher = Searcher::new(&boundary);
        // Sized for the longest held candidate plus the look-ahead: it never grows.
        let scratch_len = 2 * (boundary.as_bytes().len() + 4 + MAX_TRANSPORT_PADDING + 2);
        Decoder {
            boundary,
            limits,
            state: State::Preamble,
            searcher,
            line_ending: None,
            input: Bytes::new(),
            held: Bytes::from_static(b"\n"),
            held_virtual: 1,
            consumed: 0,
            fed: 0,
            examined: 0,
            finished: false,
            over_body_limit: false,
            delimiter_ahead: None,
            scratch: Vec::with_capacity(scratch_len),
            header_buf: Vec::new(),
            header_start: 0,
            parts: 0,
            part_bytes: 0,
            preamble_bytes: 0,
            preamble_ends_in_cr: false,
            part_name: None,
        }
    }

    /// The boundary this decoder looks for.
    pub fn boundary(&self) -> &Boundary {
        &self.boundary
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The body's line ending, once the first delimiter line was read.
    pub fn line_ending(&self) -> Option<LineEnding> {
        self.line_ending
    }

    /// Bytes fed so far (the body offset of the end of input).
    pub fn bytes_fed(&self) -> u64 {
        self.fed
    }

    /// Bytes the decoder has looked at so far, each counted again every time it is looked at
    /// again (the start of a chunk re-read with a possible delimiter held back from the one
    /// before, a header block parsed after it was searched).
    ///
    /// The delimiter search itself is linear (`memchr::memmem` in the body; in the preamble,
    /// `memchr` on the needle's first byte, each candidate compared over at most the needle's
    /// length), so this stays within a small constant factor of [`bytes_fed`](Self::bytes_fed)
    /// for any input: the tests of hostile bodies use it to check that no input makes the work
    /// grow faster than the input.
    pub fn bytes_examined(&self) -> u64 {
        self.examined
    }

    /// Parts started so far: the 1-based number of the current part.
    pub fn parts_started(&self) -> usize {
        self.parts
    }

    /// Whether the close delimiter was read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Gives the decoder the next chunk of the body.
    ///
    /// Call it when [`next_event`](Self::next_event) returned `Ok(None)`. Fed earlier, the chunk
    /// is appended to the unconsumed rest of the previous one, which costs a copy. Empty chunks
    /// are ignored, and so is everything fed after the close delimiter (the epilogue) or after
    /// [`finish`](Self::finish).
    ///
    /// `O(1)` when the decoder had consumed the previous chunk.
    #[inline]
    pub fn feed(&mut self, chunk: Bytes) {
        if chunk.is_empty()
            || self.finished
            || self.over_body_limit
            || matches!(self.state, State::Done | State::Failed(_))
        {
            return;
        }
        if self.input.is_empty()
            && chunk.len() as u64 <= self.limits.get_max_body_bytes() - self.fed
        {
            self.fed += chunk.len() as u64;
            self.input = chunk;
            return;
        }
        self.feed_rest(chunk);
    }

    /// `feed` when the chunk goes over the body limit or input is left.
    #[cold]
    fn feed_rest(&mut self, mut chunk: Bytes) {
        let room = self.limits.get_max_body_bytes() - self.fed;
        if chunk.len() as u64 > room {
            // Never look past the limit: the error comes when the decoder needs the byte after it.
            chunk.truncate(room as usize);
            self.over_body_limit = true;
        }
        self.fed += chunk.len() as u64;
        if self.input.is_empty() {
            self.input = chunk;
        } else {
            let mut joined = Vec::with_capacity(self.input.len() + chunk.len());
            joined.extend_from_slice(&self.input);
            joined.extend_from_slice(&chunk);
            self.input = Bytes::from(joined);
        }
    }

    /// Marks the end of input. From now on, a body that is not complete yields an
    /// [`ErrorKind::UnexpectedEnd`] error instead of `Ok(None)`.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Whether [`finish`](Self::finish) was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The part being read, for errors about it: its 1-based number and, once its headers were
    /// read, its name. `None` before the first part.
    pub fn current_part(&self) -> Option<PartRef> {
        (self.parts > 0 && !matches!(self.state, State::Preamble)).then(|| PartRef {
            number: self.parts,
            name: self.part_name.clone().filter(|n| !n.is_empty()),
        })
    }

    /// Stops the body with `err`, as it is: every later [`next_event`](Self::next_event) returns
    /// it again. A layer on top of the decoder (an export's rules about its parts, a byte source
    /// that failed) uses it to end the body with its own error; [`current_part`](Self::current_part)
    /// and [`position`](Self::position) tell where.
    ///
    /// Returns `err`, for `return Err(decoder.stop(err))`.
    pub fn stop(&mut self, err: Error) -> Error {
        self.state = State::Failed(err.clone());
        err
    }

    /// Body offset up to which events were produced: the end of the last delimiter, header
    /// block or payload handed out. Unlike [`bytes_fed`](Self::bytes_fed), it does not depend on
    /// how the body was cut into chunks.
    pub fn position(&self) -> u64 {
        let real_held = (self.held.len() - self.held_virtual) as u64;
        self.consumed - real_held
    }

    fn fail(&mut self, err: Error) -> Error {
        let err = err.in_part(self.current_part());
        self.stop(err)
    }

    fn unexpected_end(&mut self) -> Error {
        let detail = match self.state {
            State::Preamble => "no delimiter line found",
            State::Headers => "while reading headers",
            _ => "",
        };
        let err = Error::new(ErrorKind::UnexpectedEnd, detail).at(self.fed);
        self.fail(err)
    }

    /// The decoder needs more input: `Ok(None)`, or the error when no more will come.
    fn starved(&mut self) -> Result<Option<Event>> {
        if self.over_body_limit {
            let max = self.limits.get_max_body_bytes();
            return Err(self.fail(Error::limit_exceeded(Limit::BodyBytes, max).at(max)));
        }
        if self.finished {
            return Err(self.unexpected_end());
        }
        Ok(None)
    }

    fn advance_input(&mut self, n: usize) {
        self.input.advance(n);
        self.consumed += n as u64;
    }

    /// Returns the next event, `Ok(None)` when more input is needed, or the error that stops
    /// the body.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnexpectedEnd`] when [`finish`](Self::finish) was called before the close
    /// delimiter; [`ErrorKind::InvalidHeader`] and [`ErrorKind::InvalidContentDisposition`] for
    /// malformed part headers; [`ErrorKind::LimitExceeded`] when a [`Limits`] setting is
    /// exceeded. After an error every call returns it again.
    #[inline]
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        // The usual case, small enough to inline into the front-ends: the middle of a part's
        // payload, with nothing held back from the chunk before.
        if matches!(self.state, State::Body)
            && self.held.is_empty()
            && self.delimiter_ahead.is_none()
        {
            if self.input.is_empty() {
                if !self.finished && !self.over_body_limit {
                    return Ok(None);
                }
            } else {
                let found = self.searcher.scan(&self.input, self.line_ending);
                self.examined += found.scanned(self.input.len()) as u64;
                if let Found::None = found {
                    // The whole chunk is payload. (Moved straight from `input` into the event:
                    // a copy through a local costs a store-forwarding stall here.)
                    let len = self.input.len() as u64;
                    self.consumed += len;
                    let room = self.limits.get_max_part_bytes() - self.part_bytes;
                    if len <= room {
                        self.part_bytes += len;
                        return Ok(Some(Event::Data(std::mem::take(&mut self.input))));
                    }
                    let data = std::mem::take(&mut self.input);
                    return self.payload_over_limit(data, room);
                }
                return self.next_event_slow(Some(found));
            }
        }
        self.next_event_slow(None)
    }

    /// Everything but the usual case. `scanned` is what a scan of `input` (with nothing held)
    /// found, when the caller scanned it already.
    #[inline(never)]
    fn next_event_slow(&mut self, mut scanned: Option<Found>) -> Result<Option<Event>> {
        loop {
            match self.state {
                State::Failed(ref err) => return Err(err.clone()),
                State::Done => {
                    self.input = Bytes::new();
                    return Ok(Some(Event::End));
                }
                State::Preamble | State::Body => {
                    let (data, found) = match self.scan_step(scanned.take()) {
                        Ok(step) => step,
                        Err(err) => return Err(self.fail(err)),
                    };
                    if let Some(data) = data {
                        if matches!(self.state, State::Preamble) {
                            self.preamble_bytes += data.len() as u64;
                            self.preamble_ends_in_cr = data.last() == Some(&b'\r');
                            // One byte of slack: a final CR may turn out to begin the delimiter.
                            let max = self.limits.get_max_preamble_bytes();
                            if self.preamble_bytes > max.saturating_add(1) {
                                let err = Error::limit_exceeded(Limit::PreambleBytes, max).at(max);
                                return Err(self.fail(err));
                            }
                            continue;
                        }
                        return self.payload(data);
                    }
                    match found {
                        Some((close, line_ending)) => {
                            let was_body = matches!(self.state, State::Body);
                            if self.line_ending.is_none() {
                                // First delimiter line: it fixes the body's line ending.
                                let le = line_ending.unwrap_or(LineEnding::Crlf);
                                self.line_ending = Some(le);
                                self.searcher.set_line_ending(le);
                                // The preamble ends before the delimiter's line break.
                                let cr = le == LineEnding::Crlf && self.preamble_ends_in_cr;
                                let preamble = self.preamble_bytes - u64::from(cr);
                                let max = self.limits.get_max_preamble_bytes();
                                if preamble > max {
                                    let err =
                                        Error::limit_exceeded(Limit::PreambleBytes, max).at(max);
                                    return Err(self.fail(err));
                                }
                            }
                            self.state = if close { State::Done } else { State::NextPart };
                            if was_body {
                                return Ok(Some(Event::PartEnd));
                            }
                        }
                        None => {
                            if self.input.is_empty() {
                                return self.starved();
                            }
                        }
                    }
                }
                State::NextPart => {
                    if let Err(err) = self.start_part() {
                        return Err(self.fail(err));
                    }
                }
                State::Headers => match self.headers_step() {
                    Ok(Some(headers)) => return Ok(Some(Event::PartStart(headers))),
                    Ok(None) => {
                        if self.input.is_empty() {
                            return self.starved();
                        }
                    }
                    Err(err) => return Err(self.fail(err)),
                },
            }
        }
    }

    /// Hands out `data`, the next payload bytes of the current part, enforcing the part limit.
    #[inline]
    fn payload(&mut self, data: Bytes) -> Result<Option<Event>> {
        let room = self.limits.get_max_part_bytes() - self.part_bytes;
        if data.len() as u64 > room {
            return self.payload_over_limit(data, room);
        }
        self.part_bytes += data.len() as u64;
        Ok(Some(Event::Data(data)))
    }

    /// Hands out the bytes of `data` up to the part limit; the error comes next.
    #[cold]
    fn payload_over_limit(&mut self, data: Bytes, room: u64) -> Result<Option<Event>> {
        let data_end = self.consumed.saturating_sub(self.held.len() as u64);
        let at = data_end - data.len() as u64 + room;
        let max = self.limits.get_max_part_bytes();
        let err = self.fail(Error::limit_exceeded(Limit::PartBytes, max).at(at));
        if room == 0 {
            return Err(err);
        }
        self.part_bytes = max;
        Ok(Some(Event::Data(data.slice(..room as usize))))
    }

    /// Moves to the headers of a new part, enforcing the part limit before reading them.
    fn start_part(&mut self) -> Result<()> {
        self.parts += 1;
        if let Some(name) = self.part_name.as_mut() {
            name.clear();
        }
        self.part_bytes = 0;
        self.state = State::Headers;
        if self.parts > self.limits.get_max_parts() {
            return Err(
                Error::limit_exceeded(Limit::Parts, self.limits.get_max_parts() as u64)
                    .at(self.consumed),
            );
        }
        self.header_buf.clear();
        self.header_start = self.consumed;
        Ok(())
    }

    /// One step of the delimiter scan in the preamble or a part's payload.
    ///
    /// Returns bytes that are certainly not part of a delimiter (payload, or preamble to drop),
    /// or that a delimiter was consumed (`close`, line ending), or neither: then `held` and
    /// `input` were updated and the caller loops, or asks for input when `input` is empty.
    /// `scanned` is the caller's scan of `input`, when nothing is held.
    #[allow(clippy::type_complexity)]
    fn scan_step(
        &mut self,
        scanned: Option<Found>,
    ) -> Result<(Option<Bytes>, Option<(bool, Option<LineEnding>)>)> {
        if self.input.is_empty() {
            // Nothing new to look at: what is held stays undecided.
            return Ok((None, None));
        }
        if self.held.is_empty() {
            let found = match scanned.or_else(|| self.delimiter_ahead.take()) {
                Some(found) => found,
                None => {
                    let found = self.searcher.scan(&self.input, self.line_ending);
                    self.examined += found.scanned(self.input.len()) as u64;
                    found
                }
            };
            return Ok(match found {
                Found::Delimiter {
                    start: 0,
                    end,
                    close,
                    line_ending,
                } => {
                    self.advance_input(end);
                    (None, Some((close, line_ending)))
                }
                Found::Delimiter {
                    start,
                    end,
                    close,
                    line_ending,
                } => {
                    // Hand out the payload first; the next step consumes the delimiter, found
                    // already.
                    let data = self.input.split_to(start);
                    self.consumed += start as u64;
                    self.delimiter_ahead = Some(Found::Delimiter {
                        start: 0,
                        end: end - start,
                        close,
                        line_ending,
                    });
                    (Some(data), None)
                }
                Found::Partial { start } => {
                    let data = self.input.split_to(start);
                    self.held = std::mem::take(&mut self.input);
                    self.held_virtual = 0;
                    self.consumed += (start + self.held.len()) as u64;
                    (non_empty(data), None)
                }
                Found::None => {
                    let data = std::mem::take(&mut self.input);
                    self.consumed += data.len() as u64;
                    (Some(data), None)
                }
            });
        }

        if self.held_virtual == self.held.len() {
            // Only the assumed line ending is held: a delimiter follows only if the input starts
            // with the rest of the needle. Usually it does not, and nothing needs copying.
            let rest = &self.searcher.needle()[self.held.len()..];
            let n = rest.len().min(self.input.len());
            if self.input[..n] != rest[..n] {
                self.held = Bytes::new();
                self.held_virtual = 0;
                return Ok((None, None));
            }
        }
        // Bytes are held back: look at them together with the start of the input.
        let lookahead = self.searcher.needle().len() + MAX_TRANSPORT_PADDING + 2;
        let take = self.input.len().min(lookahead);
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.held);
        self.scratch.extend_from_slice(&self.input[..take]);
        let held_len = self.held.len();
        let found = self.searcher.scan(&self.scratch, self.line_ending);
        self.examined += found.scanned(self.scratch.len()) as u64;
        match found {
            Found::Delimiter {
                start,
                end,
                close,
                line_ending,
            } if start < held_len => {
                if start > 0 {
                    return Ok((self.take_held(start), None));
                }
                if end <= held_len {
                    let _ = self.take_held(end);
                } else {
                    self.held = Bytes::new();
                    self.held_virtual = 0;
                    self.advance_input(end - held_len);
                }
                Ok((None, Some((close, line_ending))))
            }
            Found::Partial { start } if start < held_len => {
                if start > 0 {
                    return Ok((self.take_held(start), None));
                }
                if take < self.input.len() {
                    // Cannot happen: `lookahead` bytes decide any candidate.
                    return Err(
                        Error::new(ErrorKind::Usage, "delimiter scan did not decide")
                            .at(self.consumed),
                    );
                }
                // The input is shorter than a delimiter: keep all of it back, and wait.
                self.held = Bytes::copy_from_slice(&self.scratch);
                self.consumed += take as u64;
                self.input = Bytes::new();
                Ok((None, None))
            }
            // Nothing in `held` begins a delimiter: all of it is data.
            _ => Ok((self.take_held(held_len), None)),
        }
    }

    /// Removes the first `n` bytes of `held`, returning those that are in the body.
    fn take_held(&mut self, n: usize) -> Option<Bytes> {
        let mut data = self.held.split_to(n);
        let skip = self.held_virtual.min(n);
        self.held_virtual -= skip;
        data.advance(skip);
        non_empty(data)
    }

    /// Reads the header block; returns the parsed headers once the blank line was read.
    fn headers_step(&mut self) -> Result<Option<Box<PartHeaders>>> {
        let le = self.line_ending.unwrap_or(LineEnding::Crlf);
        let nl = le.as_bytes().len();
        let max = self.limits.get_max_header_bytes();
        // The bytes kept from earlier chunks: only the delimiter's line ending until a block
        // straddles two chunks (then `header_buf` holds it, then the block read so far).
        let kept: &[u8] = if self.header_buf.is_empty() {
            le.as_bytes()
        } else {
            &self.header_buf
        };
        let kept_len = kept.len();
        // At most the block and the blank line, and one byte more to notice when the block is
        // too long.
        let room = max.saturating_add(2 * nl + 1).saturating_sub(kept_len);
        let take = self.input.len().min(room);
        if self.input.is_empty() {
            // Nothing new (a chunk ended right after the delimiter line): nothing to keep yet.
            return Ok(None);
        }
        match find_header_end(kept, &self.input[..take], le) {
            Some((block_end, end)) => {
                let used = end.saturating_sub(kept_len);
                if block_end - nl > max {
                    return Err(Error::limit_exceeded(Limit::HeaderBytes, max as u64)
                        .at(self.header_start.saturating_add(max as u64)));
                }
                // Usually the whole block is in this chunk: it is parsed where it is. Else
                // the rest is appended to what was kept.
                let after_line_ending: &[u8] = if self.header_buf.is_empty() {
                    &self.input[..used]
                } else {
                    self.header_buf.extend_from_slice(&self.input[..used]);
                    &self.header_buf[nl..]
                };
                let block = if block_end <= nl {
                    &[][..]
                } else {
                    strip_line_ending(&after_line_ending[..block_end - nl])
                };
                let block_len = block.len();
                let parsed = PartHeaders::parse_limited(block, le, self.limits.get_max_headers());
                self.examined += (used + block_len) as u64;
                self.advance_input(used);
                let headers = parsed.map_err(|e| {
                    let at = self.header_start + e.offset().unwrap_or(0);
                    e.at(at)
                })?;
                if let Some(name) = headers.name() {
                    // Room for the usual names: one allocation per body.
                    self.part_name
                        .get_or_insert_with(|| String::with_capacity(32))
                        .push_str(name);
                }
                self.state = State::Body;
                // A payload may be empty with `--b` right after the blank line.
                self.held = Bytes::from_static(le.as_bytes());
                self.held_virtual = nl;
                Ok(Some(headers))
            }
            None => {
                if self.header_buf.is_empty() {
                    // One allocation per body for the usual header sizes, whatever the
                    // chunking.
                    self.header_buf
                        .reserve(max.saturating_add(2 * nl + 1).min(64 * 1024));
                    self.header_buf.extend_from_slice(le.as_bytes());
                }
                self.examined += take as u64;
                self.header_buf.extend_from_slice(&self.input[..take]);
                self.advance_input(take);
                if self.header_buf.len() > max.saturating_add(2 * nl) {
                    return Err(Error::limit_exceeded(Limit::HeaderBytes, max as u64)
                        .at(self.header_start.saturating_add(max as u64)));
                }
                Ok(None)
            }
        }
    }
}

fn non_empty(b: Bytes) -> Option<Bytes> {
    (!b.is_empty()).then_some(b)
}

fn strip_line_ending(block: &[u8]) -> &[u8] {
    let block = block.strip_suffix(b"\n").unwrap_or(block);
    block.strip_suffix(b"\r").unwrap_or(block)
}

/// Finds the blank line that ends a header block in `kept ++ new` (`kept` starts with the line
/// ending of the delimiter line, and was searched before, up to its last bytes). Returns
/// `(block_end, end)` as indices into the joined bytes: just after the last header line's line
/// ending (or the delimiter line's), and just after the blank line.
fn find_header_end(kept: &[u8], new: &[u8], le: LineEnding) -> Option<(usize, usize)> {
    let at = |k: usize| -> Option<u8> {
        match k.checked_sub(kept.len()) {
            None => Some(kept[k]),
            Some(i) => new.get(i).copied(),
        }
    };
    let blank_line_after = |lf: usize| -> Option<(usize, usize)> {
        match le {
            LineEnding::Crlf => (lf > 0
                && at(lf - 1) == Some(b'\r')
                && at(lf + 1) == Some(b'\r')
                && at(lf + 2) == Some(b'\n'))
            .then_some((lf + 1, lf + 3)),
            LineEnding::Lf => match (at(lf + 1), at(lf + 2)) {
                (Some(b'\n'), _) => Some((lf + 1, lf + 2)),
                (Some(b'\r'), Some(b'\n')) => Some((lf + 1, lf + 3)),
                _ => None,
            },
        }
    };
    // Line feeds near the end of what was kept may start the blank line only now complete.
    (kept.len().saturating_sub(3)..kept.len())
        .filter(|&lf| kept[lf] == b'\n')
        .chain(memchr::memchr_iter(b'\n', new).map(|i| kept.len() + i))
        .find_map(blank_line_after)
}

impl crate::driver::Core for Decoder {
    type Event = Event;
    #[inline]
    fn feed(&mut self, chunk: Bytes) {
        Decoder::feed(self, chunk)
    }
    fn finish(&mut self) {
        Decoder::finish(self)
    }
    #[inline]
    fn next_event(&mut self) -> Result<Option<Event>> {
        Decoder::next_event(self)
    }
    fn poison(&mut self, err: Error) -> Error {
        let at = self.bytes_fed();
        self.fail(err.at(at))
    }
}
