//! The JSON export, streamed: a sans-I/O scanner that decodes the base64 `content` of every
//! embedded file while it is read, and keeps the rest of the document (small) to type it at the
//! end.
//!
//! The document is copied into a *skeleton* with every file value replaced by `null`; the
//! scanner tracks just enough JSON (strings, escapes, nesting) to know where file values are.
//! The skeleton is then parsed by serde_json, which validates everything the scanner skipped
//! over, and the file members are removed, giving the same result JSON as the multipart export's
//! `result` part.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::base64_content::{base64_error, Base64Stream};
use super::decoder::ExportEvent;
use super::files::{sniff_content_type, FileInfo, FileKind};
use super::limits::ExportLimits;
use super::{ApiError, VerificationResult};
use crate::error::{Error, ErrorKind, Limit, PartRef, Result};

/// Decoded bytes held back before a file is announced, to guess its content type.
const SNIFF_BYTES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Object,
    Array,
}

#[derive(Debug)]
struct Frame {
    container: Container,
    /// This container is (inside) an embedded file object: its bytes go to `file_json`, which is
    /// checked on its own, not to the skeleton.
    in_file: bool,
    /// This object is an embedded file `{contentType, content}`.
    file_object: bool,
    /// The current member's key (objects).
    key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrKind {
    Key,
    Value,
    ContentType,
    Base64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    Backslash,
    Unicode { left: u8, value: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// Before a value: `ws value`.
    Value,
    /// After a value: `ws (',' | '}' | ']')`.
    AfterValue,
    /// After `{`: `ws ('"' | '}')`.
    KeyOrEnd,
    /// After `,` in an object: `ws '"'`.
    Key,
    /// After a key: `ws ':'`.
    Colon,
    /// Inside a string.
    Str { kind: StrKind, escape: Escape },
    /// Inside a number, `true`, `false` or `null`.
    Literal,
    /// After the top-level value: only whitespace.
    Trailing,
}

/// The file being streamed.
#[derive(Debug)]
struct FileScan {
    kind: FileKind,
    content_type: Option<String>,
    /// The `content` member was met: a second one is refused, not appended.
    has_content: bool,
    announced: bool,
    base64: Base64Stream,
}

/// The streaming JSON export scanner.
#[derive(Debug)]
pub(crate) struct JsonExport {
    limits: ExportLimits,
    input: Bytes,
    /// Body offset of `input[0]`.
    offset: u64,
    fed: u64,
    finished: bool,
    done: bool,
    skeleton: Vec<u8>,
    /// Where runs of the skeleton came from: (skeleton index, body offset) at every break in the
    /// copy (after each file value replaced by `null`), to place serde_json's errors in the body.
    skeleton_runs: Vec<(usize, u64)>,
    /// The file object being read, with its `content` replaced by `null`: serde_json checks it
    /// when the object ends, so the scanner accepts no JSON that serde_json would refuse.
    file_json: Vec<u8>,
    stack: Vec<Frame>,
    lex: Lex,
    /// Raw bytes of the string being captured (keys and `contentType`).
    capture: Vec<u8>,
    file: Option<FileScan>,
    files: usize,
    /// File members replaced by `null` in the skeleton: (parent key, key).
    removed: Vec<(Option<String>, String)>,
    queue: VecDeque<ExportEvent>,
    /// The error that stopped the document; returned again by every later call, after the
    /// events found before it.
    failed: Option<Error>,
}

fn json_error(detail: impl Into<std::borrow::Cow<'static, str>>, at: u64) -> Error {
    Error::new(ErrorKind::Json, detail).at(at)
}

fn unescape(raw: &[u8]) -> Option<String> {
    if !raw.contains(&b'\\') {
        return std::str::from_utf8(raw).ok().map(str::to_owned);
    }
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice(&quoted).ok()
}

impl JsonExport {
    pub(crate) fn new(limits: ExportLimits) -> Self {
        JsonExport {
            limits,
            input: Bytes::new(),
            offset: 0,
            fed: 0,
            finished: false,
            done: false,
            skeleton: Vec::new(),
            skeleton_runs: Vec::new(),
            file_json: Vec::new(),
            stack: Vec::new(),
            lex: Lex::Value,
            capture: Vec::new(),
            file: None,
            files: 0,
            removed: Vec::new(),
            queue: VecDeque::new(),
            failed: None,
        }
    }

    pub(crate) fn feed(&mut self, chunk: Bytes) {
        if self.finished || self.done || chunk.is_empty() {
            return;
        }
        self.fed += chunk.len() as u64;
        if self.input.is_empty() {
            self.input = chunk;
        } else {
            let mut joined = BytesMut::with_capacity(self.input.len() + chunk.len());
            joined.extend_from_slice(&self.input);
            joined.extend_from_slice(&chunk);
            self.input = joined.freeze();
        }
    }

    pub(crate) fn finish(&mut self) {
        self.finished = true;
    }

    /// The file being read, for error messages.
    pub(crate) fn part_ref(&self) -> Option<PartRef> {
        self.file.as_ref().map(|f| PartRef {
            number: self.files,
            name: Some(f.kind.part_name().into_owned()),
        })
    }

    pub(crate) fn next_event(&mut self) -> Result<Option<ExportEvent>> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Ok(Some(event));
            }
            if let Some(err) = &self.failed {
                return Err(err.clone());
            }
            if self.done {
                return Ok(Some(ExportEvent::End));
            }
            let step = if !self.input.is_empty() {
                self.scan()
            } else if self.finished {
                self.end_of_document()
            } else {
                return Ok(None);
            };
            if let Err(err) = step {
                // Whatever was found before the error is handed out first, as it would have
                // been had the input come in smaller chunks.
                self.announce(false);
                self.flush_file_data();
                self.failed = Some(err.in_part(self.part_ref()));
            }
        }
    }

    /// Stops the document with `err` (a source error).
    pub(crate) fn poison(&mut self, err: Error) -> Error {
        let err = err.at(self.fed).in_part(self.part_ref());
        self.failed = Some(err.clone());
        self.queue.clear();
        err
    }

    /// Writes document bytes to the skeleton, or inside a file object to that object's buffer.
    fn emit(&mut self, bytes: &[u8], at: u64) -> Result<()> {
        let buf = if self.in_file_object() {
            &mut self.file_json
        } else {
            let continues = self
                .skeleton_runs
                .last()
                .is_some_and(|&(skel, body)| body + (self.skeleton.len() - skel) as u64 == at);
            if !continues {
                self.skeleton_runs.push((self.skeleton.len(), at));
            }
            &mut self.skeleton
        };
        buf.extend_from_slice(bytes);
        if buf.len() > self.limits.max_result_bytes {
            return Err(Error::limit_exceeded(
                Limit::ResultBytes,
                self.limits.max_result_bytes as u64,
            )
            .at(at));
        }
        Ok(())
    }

    fn in_file_object(&self) -> bool {
        self.stack.last().is_some_and(|f| f.in_file)
    }

    /// Scans the current input chunk, queueing the events it yields.
    fn scan(&mut self) -> Result<()> {
        let input = std::mem::take(&mut self.input);
        let base = self.offset;
        let mut i = 0;
        while i < input.len() {
            let at = base + i as u64;
            if let Lex::Str {
                kind: StrKind::Base64,
                escape: Escape::None,
            } = self.lex
            {
                // The hot path: a run of base64 up to the next quote or backslash.
                let rest = &input[i..];
                let run = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                if run > 0 {
                    let file = self.file.as_mut().expect("base64 outside a file");
                    file.base64.push_run(&rest[..run], at)?;
                    self.announce(false);
                    i += run;
                    continue;
                }
            }
            let b = input[i];
            i += 1;
            self.byte(b, at)?;
        }
        self.offset += input.len() as u64;
        self.flush_file_data();
        Ok(())
    }

    /// Announces the current file once its content type can be told: when the first
    /// `SNIFF_BYTES` are decoded, or its content ends (`force`). The point is fixed in the byte
    /// stream, so the announcement is the same under every chunking: the `contentType` member
    /// counts when it came before `content`; otherwise the first bytes are sniffed.
    fn announce(&mut self, force: bool) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        if file.announced || (!force && file.base64.out.len() < SNIFF_BYTES) {
            return;
        }
        file.announced = true;
        let content_type = file
            .content_type
            .clone()
            .or_else(|| sniff_content_type(&file.base64.out).map(str::to_owned));
        self.queue.push_back(ExportEvent::FileStart(FileInfo::new(
            file.kind.clone(),
            None,
            content_type,
        )));
    }

    /// Queues the bytes decoded so far of an announced file.
    fn flush_file_data(&mut self) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        if file.announced && !file.base64.out.is_empty() {
            let data = file.base64.out.split().freeze();
            self.queue.push_back(ExportEvent::FileData(data));
        }
    }

    /// Ends the current file: its value was read to the end.
    fn end_file(&mut self) {
        self.announce(true);
        self.flush_file_data();
        if self.file.take().is_some() {
            self.queue.push_back(ExportEvent::FileEnd);
        }
    }

    /// The file kind of the value about to start, if it is a file field.
    fn file_kind_here(&self) -> Option<FileKind> {
        let top = self.stack.last()?;
        if top.container != Container::Object || top.in_file {
            return None;
        }
        match self.stack.len() {
            1 => FileKind::from_json_path(None, &top.key),
            2 if self.stack[0].container == Container::Object => {
                FileKind::from_json_path(Some(&self.stack[0].key), &top.key)
            }
            _ => None,
        }
    }

    fn start_file(&mut self, kind: FileKind, at: u64) -> Result<()> {
        self.files += 1;
        if self.files > self.limits.max_files {
            return Err(
                Error::limit_exceeded(Limit::ExportFiles, self.limits.max_files as u64).at(at),
            );
        }
        let parent = (self.stack.len() == 2).then(|| self.stack[0].key.clone());
        let key = self.stack.last().map(|f| f.key.clone()).unwrap_or_default();
        self.removed.push((parent, key));
        self.emit(b"null", at)?;
        self.file = Some(FileScan {
            kind,
            content_type: None,
            has_content: false,
            announced: false,
            base64: Base64Stream::new(self.limits.get_max_file_bytes()),
        });
        Ok(())
    }

    fn push_frame(&mut self, container: Container, file_object: bool, at: u64) -> Result<()> {
        if self.stack.len() >= self.limits.max_json_depth {
            return Err(
                Error::limit_exceeded(Limit::JsonDepth, self.limits.max_json_depth as u64).at(at),
            );
        }
        let in_file = self.in_file_object() || file_object;
        self.stack.push(Frame {
            container,
            in_file,
            file_object,
            key: String::new(),
        });
        Ok(())
    }

    /// One byte outside the base64 hot path. Every transition of the scanner is here.
    fn byte(&mut self, b: u8, at: u64) -> Result<()> {
        match self.lex {
            Lex::Value
            | Lex::KeyOrEnd
            | Lex::Key
            | Lex::Colon
            | Lex::AfterValue
            | Lex::Trailing
                if matches!(b, b' ' | b'\t' | b'\r' | b'\n') =>
            {
                if self.lex != Lex::Trailing {
                    self.emit(&[b], at)?;
                }
            }
            Lex::Value => self.value_start(b, at)?,
            Lex::KeyOrEnd | Lex::Key => match b {
                b'"' => {
                    self.emit(b"\"", at)?;
                    self.capture.clear();
                    self.lex = Lex::Str {
                        kind: StrKind::Key,
                        escape: Escape::None,
                    };
                }
                b'}' if self.lex == Lex::KeyOrEnd => self.close(b, at)?,
                _ => return Err(unexpected(b, "an object key", at)),
            },
            Lex::Colon => match b {
                b':' => {
                    self.emit(b":", at)?;
                    self.lex = Lex::Value;
                }
                _ => return Err(unexpected(b, "':'", at)),
            },
            Lex::AfterValue => match b {
                b',' => {
                    self.emit(b",", at)?;
                    self.lex = match self.stack.last().map(|f| f.container) {
                        Some(Container::Object) => Lex::Key,
                        _ => Lex::Value,
                    };
                }
                b'}' | b']' => self.close(b, at)?,
                _ => return Err(unexpected(b, "',' or the end of a container", at)),
            },
            Lex::Literal => {
                if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.') {
                    self.emit(&[b], at)?;
                } else {
                    self.lex = self.after_value();
                    self.byte(b, at)?;
                }
            }
            Lex::Str { kind, escape } => self.string_byte(kind, escape, b, at)?,
            Lex::Trailing => return Err(unexpected(b, "the end of the document", at)),
        }
        Ok(())
    }

    fn after_value(&self) -> Lex {
        if self.stack.is_empty() {
            Lex::Trailing
        } else {
            Lex::AfterValue
        }
    }

    fn value_start(&mut self, b: u8, at: u64) -> Result<()> {
        let in_file_object = self.stack.last().is_some_and(|f| f.file_object);
        if in_file_object && b == b'"' {
            let key = self.stack.last().map(|f| f.key.as_str()).unwrap_or("");
            let kind = match key {
                "content" => Some(StrKind::Base64),
                "contentType" => Some(StrKind::ContentType),
                _ => None,
            };
            if let Some(kind) = kind {
                if kind == StrKind::Base64 {
                    let file = self.file.as_mut().expect("a file object has a file");
                    if std::mem::replace(&mut file.has_content, true) {
                        return Err(json_error(
                            "a second content member in an embedded file",
                            at,
                        ));
                    }
                }
                // The content is streamed out, not kept: `null` stands in for it.
                self.emit(
                    if kind == StrKind::Base64 {
                        b"null"
                    } else {
                        b"\""
                    },
                    at,
                )?;
                self.capture.clear();
                self.lex = Lex::Str {
                    kind,
                    escape: Escape::None,
                };
                return Ok(());
            }
        }
        if self.file.is_none() {
            if let Some(kind) = self.file_kind_here() {
                match b {
                    b'"' => {
                        self.start_file(kind, at)?;
                        self.lex = Lex::Str {
                            kind: StrKind::Base64,
                            escape: Escape::None,
                        };
                        return Ok(());
                    }
                    b'{' => {
                        self.start_file(kind, at)?;
                        self.push_frame(Container::Object, true, at)?;
                        self.file_json.clear();
                        self.emit(b"{", at)?;
                        self.lex = Lex::KeyOrEnd;
                        return Ok(());
                    }
                    // `null` or anything else is no file: it stays in the result as it is.
                    _ => {}
                }
            }
        }
        if b == b']'
            && self
                .stack
                .last()
                .is_some_and(|f| f.container == Container::Array)
        {
            // An empty array (or a trailing comma, which serde_json refuses later).
            return self.close(b, at);
        }
        self.emit(&[b], at)?;
        match b {
            b'{' => {
                self.push_frame(Container::Object, false, at)?;
                self.lex = Lex::KeyOrEnd;
            }
            b'[' => {
                self.push_frame(Container::Array, false, at)?;
                self.lex = Lex::Value;
            }
            b'"' => {
                self.lex = Lex::Str {
                    kind: StrKind::Value,
                    escape: Escape::None,
                }
            }
            b if b.is_ascii_alphanumeric() || b == b'-' => self.lex = Lex::Literal,
            _ => return Err(unexpected(b, "a value", at)),
        }
        Ok(())
    }

    fn close(&mut self, b: u8, at: u64) -> Result<()> {
        let want = if b == b'}' {
            Container::Object
        } else {
            Container::Array
        };
        let Some(frame) = self.stack.pop() else {
            return Err(unexpected(b, "a value", at));
        };
        if frame.container != want {
            return Err(json_error(format!("mismatched {:?}", char::from(b)), at));
        }
        if frame.file_object {
            self.file_json.push(b'}');
            // serde_json skips ignored strings without checking their UTF-8: check it first.
            let text = std::str::from_utf8(&self.file_json).map_err(|e| {
                Error::with_source(ErrorKind::Json, "invalid embedded file object", e).at(at)
            })?;
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
                return Err(
                    Error::with_source(ErrorKind::Json, "invalid embedded file object", e).at(at),
                );
            }
            self.end_file();
        } else {
            // The frame is popped: emit to where its parent writes, as the frame did.
            let buf = if frame.in_file {
                &mut self.file_json
            } else {
                &mut self.skeleton
            };
            buf.push(b);
        }
        self.lex = self.after_value();
        Ok(())
    }

    fn string_byte(&mut self, kind: StrKind, escape: Escape, b: u8, at: u64) -> Result<()> {
        let copy = kind != StrKind::Base64;
        let capture = matches!(kind, StrKind::Key | StrKind::ContentType);
        if b < 0x20 {
            return Err(json_error("control character in a string", at));
        }
        let next_escape = match escape {
            Escape::None => match b {
                b'"' => {
                    if copy {
                        self.emit(b"\"", at)?;
                    }
                    return self.end_string(kind, at);
                }
                b'\\' => Escape::Backslash,
                _ => Escape::None,
            },
            Escape::Backslash => match b {
                b'u' => Escape::Unicode { left: 4, value: 0 },
                _ => {
                    if kind == StrKind::Base64 {
                        self.base64_escape(b, at)?;
                    }
                    Escape::None
                }
            },
            Escape::Unicode { left, value } => {
                let digit = (b as char)
                    .to_digit(16)
                    .ok_or_else(|| json_error("bad \\u escape", at))?;
                let value = value * 16 + digit;
                if left == 1 {
                    if kind == StrKind::Base64 {
                        let c = u8::try_from(value)
                            .map_err(|_| base64_error("non-ASCII escape in base64", at))?;
                        self.base64_escaped_char(c, at)?;
                    }
                    Escape::None
                } else {
                    Escape::Unicode {
                        left: left - 1,
                        value,
                    }
                }
            }
        };
        if copy {
            self.emit(&[b], at)?;
        }
        if capture && self.capture.len() <= 1024 {
            self.capture.push(b);
        }
        self.lex = Lex::Str {
            kind,
            escape: next_escape,
        };
        Ok(())
    }

    /// `\x` inside base64 content: `\/` is `/`; `\n`, `\r`, `\t` are line breaks to skip.
    fn base64_escape(&mut self, b: u8, at: u64) -> Result<()> {
        match b {
            b'/' => self.base64_escaped_char(b'/', at),
            // Whitespace, skipped (`is_skipped`).
            b'n' | b'r' | b't' | b'f' => Ok(()),
            _ => Err(base64_error(
                format!("escape \\{} in base64 content", char::from(b)),
                at,
            )),
        }
    }

    fn base64_escaped_char(&mut self, c: u8, at: u64) -> Result<()> {
        if super::base64_content::is_skipped(c) {
            return Ok(());
        }
        let file = self.file.as_mut().expect("base64 outside a file");
        file.base64.push_byte(c, at)?;
        self.announce(false);
        Ok(())
    }

    fn end_string(&mut self, kind: StrKind, at: u64) -> Result<()> {
        match kind {
            StrKind::Key => {
                let key = unescape(&self.capture).unwrap_or_default();
                if let Some(top) = self.stack.last_mut() {
                    top.key = key;
                }
                self.lex = Lex::Colon;
                return Ok(());
            }
            StrKind::ContentType => {
                if let Some(file) = self.file.as_mut() {
                    file.content_type = unescape(&self.capture);
                }
            }
            StrKind::Base64 => {
                let bare = self.stack.last().is_none_or(|f| !f.file_object);
                let file = self.file.as_mut().expect("base64 outside a file");
                file.base64.finish(at)?;
                self.announce(true);
                if bare {
                    self.end_file();
                }
            }
            StrKind::Value => {}
        }
        self.lex = self.after_value();
        Ok(())
    }

    /// The body offset of serde_json's (1-based) line and column in the skeleton.
    fn body_offset(&self, line: usize, column: usize) -> u64 {
        let line_start = if line <= 1 {
            0
        } else {
            memchr::memchr_iter(b'\n', &self.skeleton)
                .nth(line - 2)
                .map_or(self.skeleton.len(), |i| i + 1)
        };
        let index = (line_start + column.saturating_sub(1)).min(self.skeleton.len());
        let run = self
            .skeleton_runs
            .partition_point(|&(skel, _)| skel <= index);
        match run.checked_sub(1).map(|r| self.skeleton_runs[r]) {
            Some((skel, body)) => body + (index - skel) as u64,
            None => index as u64,
        }
    }

    fn end_of_document(&mut self) -> Result<()> {
        if self.lex != Lex::Trailing {
            return Err(
                Error::new(ErrorKind::UnexpectedEnd, "inside the json document").at(self.fed),
            );
        }
        let mut value: serde_json::Value = serde_json::from_slice(&self.skeleton).map_err(|e| {
            let at = self.body_offset(e.line(), e.column());
            // serde_json's line and column are in the skeleton: say the body offset instead.
            let message = e.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(&*message, |(m, _)| m);
            Error::new(ErrorKind::Json, message.to_owned()).at(at)
        })?;
        if let Some(api) = ApiError::from_json(&self.skeleton) {
            if value.get("id").is_none() {
                return Err(Error::with_value(ErrorKind::Api, api));
            }
        }
        let Some(root) = value.as_object_mut() else {
            return Err(Error::new(
                ErrorKind::Json,
                "the export is not a json object",
            ));
        };
        for (parent, key) in &self.removed {
            let object = match parent {
                None => Some(&mut *root),
                Some(p) => root.get_mut(p).and_then(|v| v.as_object_mut()),
            };
            if let Some(object) = object {
                object.shift_remove(key);
            }
        }
        let result: VerificationResult = serde_json::from_value(value.clone()).map_err(|e| {
            Error::with_source(ErrorKind::Json, "the result does not fit the model", e)
        })?;
        let mut json = serde_json::to_vec_pretty(&value)
            .map_err(|e| Error::with_source(ErrorKind::Json, "", e))?;
        json.push(b'\n');
        self.queue.push_back(ExportEvent::Result {
            result: Box::new(result),
            json: Bytes::from(json),
        });
        self.done = true;
        self.skeleton = Vec::new();
        Ok(())
    }
}

fn unexpected(b: u8, expected: &str, at: u64) -> Error {
    json_error(
        format!("expected {expected}, found {:?}", char::from(b)),
        at,
    )
}
