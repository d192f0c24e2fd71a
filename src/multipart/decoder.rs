//! The sans-I/O core: a push decoder fed `Bytes` chunks that answers with [`Event`]s.
//!
//! It does no I/O and knows nothing of async: the async and blocking front-ends, the export
//! layer, the fuzz targets and the property tests all drive this one state machine.

use bytes::{Buf, Bytes};

use super::boundary::Boundary;
use super::headers::{LineEnding, PartHeaders};
use super::limits::Limits;
use super::searcher::{Delimiter, DelimiterKind, Found, Searcher};
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
    /// A part begins; its header block was read whole and parsed.
    // Boxed, so that the far more frequent `Data` events stay small through the layers.
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

/// Where the decoder is in the body (RFC 2046, section 5.1.1):
///
/// ```text
/// multipart-body := [preamble CRLF]
///                   dash-boundary transport-padding CRLF
///                   body-part *encapsulation
///                   close-delimiter transport-padding
///                   [CRLF epilogue]
/// encapsulation  := delimiter transport-padding CRLF body-part
/// body-part      := MIME-part-headers [CRLF *OCTET]
/// ```
///
/// One state per production, each carrying the data only it uses. The transitions:
///
/// ```text
///              delimiter line              part limit           blank line
///   Preamble ----------------> NextPart ---------------> Headers ----------> Body
///      |                          ^                                          |  |
///      |                          +------------- delimiter line -------------+  |
///      | close delimiter                                                        | close
///      v                                                                        | delimiter
///     Done <--------------------------------------------------------------------+
///
///   any state --- an error, or Decoder::stop ---> Failed
/// ```
#[derive(Debug)]
enum State {
    /// `preamble := discard-text`, then `dash-boundary transport-padding CRLF`: looking for the
    /// first delimiter line. Bytes before it are dropped (counted against the preamble limit).
    Preamble {
        /// Preamble bytes dropped so far.
        dropped: u64,
        /// The last byte dropped was a CR: with a CRLF body, it belongs to the first delimiter.
        ends_in_cr: bool,
    },
    /// A delimiter line was read: `delimiter transport-padding CRLF body-part` follows. The part
    /// limit is checked here, after the previous part's end was reported.
    NextPart,
    /// `MIME-part-headers` up to the blank line: `*(field CRLF) CRLF`.
    Headers {
        /// Body offset of the block's first byte.
        start: u64,
    },
    /// `[CRLF *OCTET]` up to the next `delimiter := CRLF dash-boundary`.
    Body {
        /// Payload bytes of this part so far.
        part_bytes: u64,
        /// The delimiter at the start of the input, found by the scan that handed out the
        /// payload before it.
        delimiter_ahead: Option<Delimiter>,
    },
    /// `close-delimiter transport-padding [CRLF epilogue]`: the body is complete.
    Done,
    /// A previous call failed; every later call returns this error again.
    Failed(Error),
}

impl State {
    /// Where a delimiter line of `kind` leads.
    fn after_delimiter(kind: DelimiterKind) -> State {
        match kind {
            DelimiterKind::Part(_) => State::NextPart,
            DelimiterKind::Close => State::Done,
        }
    }
}

/// What is held back before the input, to be looked at again with the bytes that come next.
#[derive(Debug)]
enum Held {
    /// Nothing: a delimiter can only begin in the input.
    Nothing,
    /// The line ending a delimiter starts with, assumed and not in the body, then `bytes` (most
    /// often none). At the start of the body (`dash-boundary` has no line ending before it) and
    /// of each part's payload (an empty payload has `--boundary` right after the blank line),
    /// a delimiter line may start with `--boundary` itself.
    LineEnding(Bytes),
    /// Body bytes that may begin a delimiter, held back until more input decides.
    Bytes(Bytes),
}

/// The bytes fed and not yet consumed, what is held back before them, and the delimiter search
/// over both: what the preamble and the body states scan.
#[derive(Debug)]
struct Input {
    /// Unconsumed bytes of the current chunk.
    bytes: Bytes,
    held: Held,
    /// Body offset of `bytes[0]`.
    consumed: u64,
    /// Bytes looked at so far, counted again each time they are looked at again.
    examined: u64,
    /// Searcher for the delimiter, with the body's line ending once it is known (`\n--b` before).
    searcher: Searcher,
    /// Scratch space for looking across a chunk boundary; reused.
    scratch: Vec<u8>,
}

/// What one step of the delimiter scan found.
#[derive(Debug)]
enum ScanStep {
    /// Bytes that are certainly not part of a delimiter: payload, or preamble to drop.
    Data(Bytes),
    /// Such bytes, and the delimiter right after them, still at the start of the input.
    DataBeforeDelimiter(Bytes, Delimiter),
    /// A delimiter line, consumed.
    Delimiter(DelimiterKind),
    /// Everything fed was looked at, and what is held stays undecided: more input decides.
    NeedInput,
}

impl Input {
    #[inline]
    fn advance(&mut self, n: usize) {
        self.bytes.advance(n);
        self.consumed += n as u64;
    }

    /// Body offset up to which bytes were handed out (or dropped): held bytes are not yet.
    fn position(&self) -> u64 {
        let held = match &self.held {
            Held::Nothing => 0,
            Held::LineEnding(bytes) | Held::Bytes(bytes) => bytes.len(),
        };
        self.consumed - held as u64
    }

    /// One step of the delimiter scan in the preamble or a part's payload. `scanned` is what a
    /// scan of the input found already (and counted in `examined`), when nothing is held.
    // Inlined into the body's step, so that no `ScanStep` is built in memory there.
    #[inline(always)]
    fn scan_step(&mut self, scanned: Option<Found>) -> Result<ScanStep> {
        if self.bytes.is_empty() {
            // Nothing new to look at: what is held stays undecided.
            return Ok(ScanStep::NeedInput);
        }
        if !matches!(self.held, Held::Nothing) {
            if let Some(step) = self.scan_held()? {
                return Ok(step);
            }
        }
        let found = match scanned {
            Some(found) => found,
            None => {
                let found = self.searcher.scan(&self.bytes);
                self.examined += found.scanned(self.bytes.len()) as u64;
                found
            }
        };
        Ok(match found {
            Found::Delimiter {
                start: 0,
                delimiter,
            } => {
                self.advance(delimiter.len);
                ScanStep::Delimiter(delimiter.kind)
            }
            Found::Delimiter { start, delimiter } => {
                // Hand out the data first; the next step consumes the delimiter, found already.
                let data = self.bytes.split_to(start);
                self.consumed += start as u64;
                ScanStep::DataBeforeDelimiter(data, delimiter)
            }
            Found::Partial { start } => {
                let data = self.bytes.split_to(start);
                let held = std::mem::take(&mut self.bytes);
                self.consumed += (start + held.len()) as u64;
                self.held = Held::Bytes(held);
                if data.is_empty() {
                    ScanStep::NeedInput
                } else {
                    ScanStep::Data(data)
                }
            }
            Found::None => {
                let data = std::mem::take(&mut self.bytes);
                self.consumed += data.len() as u64;
                ScanStep::Data(data)
            }
        })
    }

    /// Holds the line ending a delimiter starts with, assumed, for a point where a delimiter line
    /// may start with `--boundary` itself; unless the input shows already that none does, as it
    /// usually does: then the next scan is of the input alone.
    fn assume_line_ending(&mut self) {
        let rest = &self.searcher.needle()[self.searcher.needle_line_ending().len()..];
        let n = rest.len().min(self.bytes.len());
        self.held = if n > 0 && self.bytes[..n] != rest[..n] {
            Held::Nothing
        } else {
            Held::LineEnding(Bytes::new())
        };
    }

    /// `scan_step` for the preamble, which is left once per body: not inlined.
    #[inline(never)]
    fn scan_preamble_step(&mut self) -> Result<ScanStep> {
        self.scan_step(None)
    }

    /// Looks at the held bytes together with the start of the input (which is not empty).
    /// `None` when nothing is held any more and the input is to be scanned alone.
    #[inline(never)]
    fn scan_held(&mut self) -> Result<Option<ScanStep>> {
        let (assumed, held) = match &self.held {
            Held::Nothing => return Ok(None),
            Held::LineEnding(held) => (self.searcher.needle_line_ending().len(), held),
            Held::Bytes(held) => (0, held),
        };
        if assumed > 0 && held.is_empty() {
            // Only the assumed line ending: a delimiter follows only if the input starts with
            // the rest of the needle. Usually it does not, and nothing needs copying.
            let rest = &self.searcher.needle()[assumed..];
            let n = rest.len().min(self.bytes.len());
            if self.bytes[..n] != rest[..n] {
                self.held = Held::Nothing;
                return Ok(None);
            }
        }
        let lookahead = self.searcher.needle().len() + MAX_TRANSPORT_PADDING + 2;
        let take = self.bytes.len().min(lookahead);
        let held_len = assumed + held.len();
        self.scratch.clear();
        self.scratch
            .extend_from_slice(&self.searcher.needle_line_ending()[..assumed]);
        self.scratch.extend_from_slice(held);
        self.scratch.extend_from_slice(&self.bytes[..take]);
        let found = self.searcher.scan(&self.scratch);
        self.examined += found.scanned(self.scratch.len()) as u64;
        match found {
            Found::Delimiter { start, delimiter } if start < held_len => {
                if start > 0 {
                    return Ok(self.held_data(assumed, start));
                }
                let end = delimiter.len;
                if end <= held_len {
                    self.take_held(assumed, end);
                } else {
                    self.held = Held::Nothing;
                    self.advance(end - held_len);
                }
                Ok(Some(ScanStep::Delimiter(delimiter.kind)))
            }
            Found::Partial { start } if start < held_len => {
                if start > 0 {
                    return Ok(self.held_data(assumed, start));
                }
                if take < self.bytes.len() {
                    // Cannot happen: `lookahead` bytes decide any candidate.
                    return Err(
                        Error::new(ErrorKind::Usage, "delimiter scan did not decide")
                            .at(self.consumed),
                    );
                }
                // The input is shorter than a delimiter: keep all of it back, and wait.
                let bytes = Bytes::copy_from_slice(&self.scratch[assumed..]);
                self.held = if assumed > 0 {
                    Held::LineEnding(bytes)
                } else {
                    Held::Bytes(bytes)
                };
                self.consumed += take as u64;
                self.bytes = Bytes::new();
                Ok(Some(ScanStep::NeedInput))
            }
            // Nothing held begins a delimiter: all of it is data.
            _ => Ok(self.held_data(assumed, held_len)),
        }
    }

    /// The held bytes before position `n` of the scratch buffer, as data; `None` when there are
    /// none (only the assumed line ending was before `n`).
    fn held_data(&mut self, assumed: usize, n: usize) -> Option<ScanStep> {
        let data = self.take_held(assumed, n);
        (!data.is_empty()).then_some(ScanStep::Data(data))
    }

    /// Removes what is held before position `n` of the scratch buffer (which starts with the
    /// `assumed` bytes of the line ending), returning the body bytes among them.
    fn take_held(&mut self, assumed: usize, n: usize) -> Bytes {
        // No delimiter begins inside the assumed line ending: its first byte is the needle's,
        // and the second one (of a CRLF) is not.
        debug_assert!(n >= assumed);
        let mut rest = match std::mem::replace(&mut self.held, Held::Nothing) {
            Held::Nothing => Bytes::new(),
            Held::LineEnding(bytes) | Held::Bytes(bytes) => bytes,
        };
        let data = rest.split_to(n.saturating_sub(assumed));
        if !rest.is_empty() {
            self.held = Held::Bytes(rest);
        }
        data
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
    /// The bytes fed and not yet consumed, and the delimiter search over them.
    input: Input,
    /// Bytes fed so far.
    fed: u64,
    finished: bool,
    /// The body went over `max_body_bytes`: input was cut at the limit.
    over_body_limit: bool,
    /// The header block being read, after the line ending of its delimiter line, when it
    /// straddles chunks (else it is parsed where it is, and this stays empty); reused.
    header_buf: Vec<u8>,
    /// Parts started so far.
    parts: usize,
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
            state: State::Preamble {
                dropped: 0,
                ends_in_cr: false,
            },
            input: Input {
                bytes: Bytes::new(),
                // The first delimiter line may be the body's first line.
                held: Held::LineEnding(Bytes::new()),
                consumed: 0,
                examined: 0,
                searcher,
                scratch: Vec::with_capacity(scratch_len),
            },
            fed: 0,
            finished: false,
            over_body_limit: false,
            header_buf: Vec::new(),
            parts: 0,
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
        self.input.searcher.line_ending()
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
        self.input.examined
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
        if self.input.bytes.is_empty()
            && chunk.len() as u64 <= self.limits.get_max_body_bytes() - self.fed
        {
            self.fed += chunk.len() as u64;
            self.input.bytes = chunk;
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
        if self.input.bytes.is_empty() {
            self.input.bytes = chunk;
        } else {
            let mut joined = Vec::with_capacity(self.input.bytes.len() + chunk.len());
            joined.extend_from_slice(&self.input.bytes);
            joined.extend_from_slice(&chunk);
            self.input.bytes = Bytes::from(joined);
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
        (self.parts > 0 && !matches!(self.state, State::Preamble { .. })).then(|| PartRef {
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
        self.input.position()
    }

    /// Stops the body with an error of its own, adding the part it was found in: the one way
    /// the decoder stops itself.
    fn fail(&mut self, err: Error) -> Error {
        let err = err.in_part(self.current_part());
        self.stop(err)
    }

    /// The decoder needs more input: `Ok(None)`, or the error when no more will come.
    fn starved(&self) -> Result<Option<Event>> {
        if self.over_body_limit {
            let max = self.limits.get_max_body_bytes();
            return Err(Error::limit_exceeded(Limit::BodyBytes, max).at(max));
        }
        if self.finished {
            let detail = match self.state {
                State::Preamble { .. } => "no delimiter line found",
                State::Headers { .. } => "while reading headers",
                _ => "",
            };
            return Err(Error::new(ErrorKind::UnexpectedEnd, detail).at(self.fed));
        }
        Ok(None)
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
        if let State::Body {
            part_bytes,
            delimiter_ahead: None,
        } = &mut self.state
        {
            if let Held::Nothing = self.input.held {
                if self.input.bytes.is_empty() {
                    if !self.finished && !self.over_body_limit {
                        return Ok(None);
                    }
                } else {
                    let found = self.input.searcher.scan(&self.input.bytes);
                    if let Found::None = found {
                        // The whole chunk is payload. (Moved straight from the input into the
                        // event: a copy through a local costs a store-forwarding stall here.)
                        let len = self.input.bytes.len() as u64;
                        self.input.examined += len;
                        self.input.consumed += len;
                        let room = self.limits.get_max_part_bytes() - *part_bytes;
                        if len <= room {
                            *part_bytes += len;
                            return Ok(Some(Event::Data(std::mem::take(&mut self.input.bytes))));
                        }
                        let data = std::mem::take(&mut self.input.bytes);
                        return self.payload_over_limit(data, room);
                    }
                    return self.next_event_slow(Some(found));
                }
            }
        }
        self.next_event_slow(None)
    }

    /// Everything but the usual case. `scanned` is what a scan of the input (with nothing held)
    /// found, when the caller scanned it already (and left it to this function to count the
    /// bytes it examined).
    #[inline(never)]
    fn next_event_slow(&mut self, scanned: Option<Found>) -> Result<Option<Event>> {
        if let Some(found) = &scanned {
            self.input.examined += found.scanned(self.input.bytes.len()) as u64;
        }
        let mut result = self.step(scanned);
        // An error found now stops the body; once stopped, the same error comes back as is.
        // (Changed in place, so that the result is not copied on its way out.)
        if let Err(err) = &mut result {
            if !matches!(self.state, State::Failed(_)) {
                *err = self.fail(err.clone());
            }
        }
        result
    }

    /// The state machine: moves from state to state until it has an event, needs input, or
    /// fails. `scanned` comes only with the body state (see `next_event_slow`).
    fn step(&mut self, mut scanned: Option<Found>) -> Result<Option<Event>> {
        loop {
            match self.state {
                State::Failed(ref err) => return Err(err.clone()),
                State::Done => {
                    self.input.bytes = Bytes::new();
                    return Ok(Some(Event::End));
                }
                State::Preamble {
                    dropped,
                    ends_in_cr,
                } => {
                    let (data, delimiter) = match self.input.scan_preamble_step()? {
                        ScanStep::Data(data) => (data, None),
                        ScanStep::DataBeforeDelimiter(data, delimiter) => (data, Some(delimiter)),
                        ScanStep::Delimiter(kind) => {
                            self.end_preamble(dropped, ends_in_cr, kind)?;
                            continue;
                        }
                        ScanStep::NeedInput => return self.starved(),
                    };
                    let dropped = dropped + data.len() as u64;
                    let ends_in_cr = data.last() == Some(&b'\r');
                    self.state = State::Preamble {
                        dropped,
                        ends_in_cr,
                    };
                    // One byte of slack: a final CR may turn out to begin the delimiter.
                    let max = self.limits.get_max_preamble_bytes();
                    if dropped > max.saturating_add(1) {
                        return Err(Error::limit_exceeded(Limit::PreambleBytes, max).at(max));
                    }
                    if let Some(delimiter) = delimiter {
                        self.input.advance(delimiter.len);
                        self.end_preamble(dropped, ends_in_cr, delimiter.kind)?;
                    }
                }
                State::NextPart => self.start_part()?,
                State::Headers { start } => {
                    if let Some(headers) = self.headers_step(start)? {
                        return Ok(Some(Event::PartStart(headers)));
                    }
                    if self.input.bytes.is_empty() {
                        return self.starved();
                    }
                }
                State::Body {
                    ref mut part_bytes,
                    ref mut delimiter_ahead,
                } => {
                    let scanned = scanned.take().or_else(|| {
                        let delimiter = delimiter_ahead.take()?;
                        Some(Found::Delimiter {
                            start: 0,
                            delimiter,
                        })
                    });
                    let data = match self.input.scan_step(scanned)? {
                        ScanStep::Data(data) => data,
                        ScanStep::DataBeforeDelimiter(data, delimiter) => {
                            *delimiter_ahead = Some(delimiter);
                            data
                        }
                        ScanStep::Delimiter(kind) => {
                            self.state = State::after_delimiter(kind);
                            return Ok(Some(Event::PartEnd));
                        }
                        ScanStep::NeedInput => return self.starved(),
                    };
                    let room = self.limits.get_max_part_bytes() - *part_bytes;
                    if data.len() as u64 > room {
                        return self.payload_over_limit(data, room);
                    }
                    *part_bytes += data.len() as u64;
                    return Ok(Some(Event::Data(data)));
                }
            }
        }
    }

    /// Hands out the bytes of `data`, the next payload bytes, up to the part limit (`room`
    /// bytes away); the error comes next.
    #[cold]
    fn payload_over_limit(&mut self, data: Bytes, room: u64) -> Result<Option<Event>> {
        let at = self.input.position() - data.len() as u64 + room;
        let max = self.limits.get_max_part_bytes();
        let err = self.fail(Error::limit_exceeded(Limit::PartBytes, max).at(at));
        if room == 0 {
            return Err(err);
        }
        Ok(Some(Event::Data(data.slice(..room as usize))))
    }

    /// The first delimiter line, of `kind`: it ends the preamble, of `dropped` bytes (perhaps
    /// with the CR of the delimiter's CRLF last), and fixes the body's line ending.
    fn end_preamble(&mut self, dropped: u64, ends_in_cr: bool, kind: DelimiterKind) -> Result<()> {
        let le = match kind {
            DelimiterKind::Part(le) => le,
            DelimiterKind::Close => LineEnding::Crlf,
        };
        self.input.searcher.set_line_ending(le);
        // The preamble ends before the delimiter's line break.
        let cr = le == LineEnding::Crlf && ends_in_cr;
        let preamble = dropped - u64::from(cr);
        let max = self.limits.get_max_preamble_bytes();
        if preamble > max {
            return Err(Error::limit_exceeded(Limit::PreambleBytes, max).at(max));
        }
        self.state = State::after_delimiter(kind);
        Ok(())
    }

    /// Moves to the headers of a new part, enforcing the part limit before reading them.
    fn start_part(&mut self) -> Result<()> {
        self.parts += 1;
        if let Some(name) = self.part_name.as_mut() {
            name.clear();
        }
        self.state = State::Headers {
            start: self.input.consumed,
        };
        if self.parts > self.limits.get_max_parts() {
            return Err(
                Error::limit_exceeded(Limit::Parts, self.limits.get_max_parts() as u64)
                    .at(self.input.consumed),
            );
        }
        self.header_buf.clear();
        Ok(())
    }

    /// Reads the header block; returns the parsed headers once the blank line was read.
    fn headers_step(&mut self, start: u64) -> Result<Option<Box<PartHeaders>>> {
        let le = self
            .input
            .searcher
            .line_ending()
            .unwrap_or(LineEnding::Crlf);
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
        let take = self.input.bytes.len().min(room);
        if self.input.bytes.is_empty() {
            // Nothing new (a chunk ended right after the delimiter line): nothing to keep yet.
            return Ok(None);
        }
        match find_header_end(kept, &self.input.bytes[..take], le) {
            Some((block_end, end)) => {
                let used = end.saturating_sub(kept_len);
                if block_end - nl > max {
                    return Err(Error::limit_exceeded(Limit::HeaderBytes, max as u64)
                        .at(start.saturating_add(max as u64)));
                }
                // Usually the whole block is in this chunk: it is parsed where it is. Else
                // the rest is appended to what was kept.
                let after_line_ending: &[u8] = if self.header_buf.is_empty() {
                    &self.input.bytes[..used]
                } else {
                    self.header_buf.extend_from_slice(&self.input.bytes[..used]);
                    &self.header_buf[nl..]
                };
                let block = if block_end <= nl {
                    &[][..]
                } else {
                    strip_line_ending(&after_line_ending[..block_end - nl])
                };
                let block_len = block.len();
                let parsed = PartHeaders::parse_limited(block, le, self.limits.get_max_headers());
                self.input.examined += (used + block_len) as u64;
                self.input.advance(used);
                let headers = parsed.map_err(|e| {
                    let at = start + e.offset().unwrap_or(0);
                    e.at(at)
                })?;
                if let Some(name) = headers.name() {
                    // Room for the usual names: one allocation per body.
                    self.part_name
                        .get_or_insert_with(|| String::with_capacity(32))
                        .push_str(name);
                }
                self.state = State::Body {
                    part_bytes: 0,
                    delimiter_ahead: None,
                };
                // A payload may be empty, with `--b` right after the blank line.
                self.input.assume_line_ending();
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
                self.input.examined += take as u64;
                self.header_buf.extend_from_slice(&self.input.bytes[..take]);
                self.input.advance(take);
                if self.header_buf.len() > max.saturating_add(2 * nl) {
                    return Err(Error::limit_exceeded(Limit::HeaderBytes, max as u64)
                        .at(start.saturating_add(max as u64)));
                }
                Ok(None)
            }
        }
    }
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
