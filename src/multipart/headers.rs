//! Part headers: the header block of one body part, and its `Content-Disposition`.
//!
//! RFC 2046 §5.1.1 gives each body part the grammar of RFC 822 headers:
//!
//! ```text
//! body-part := MIME-part-headers [CRLF *OCTET]
//! field := field-name ":" [ field-body ] CRLF
//! field-name := 1*<any CHAR, excluding CTLs, SPACE, and ":">
//! ```
//!
//! Field names are matched case-insensitively and kept as sent. Folded lines (a line starting
//! with a space or a tab continues the previous header, as in RFC 5322 `obs-fold`) are accepted
//! and unfolded into one space, because real mail and Go's test data use them; a continuation line
//! before the first header is refused (CVE-2022-24434 crashed busboy with exactly that).

use std::fmt;
use std::ops::Range;

use crate::error::{Error, ErrorKind, Result};

/// The line ending of a multipart body, taken from its first delimiter line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineEnding {
    /// `\r\n`, as RFC 2046 requires.
    Crlf,
    /// A bare `\n`, as Go's `mime/multipart` also accepts.
    Lf,
}

impl LineEnding {
    /// The line ending's bytes.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Crlf => b"\r\n",
            LineEnding::Lf => b"\n",
        }
    }
}

/// One name and its value in a shared text buffer: the name is `name_start..name_end`, the
/// value `value_start..value_end`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Field {
    name_start: usize,
    name_end: usize,
    value_start: usize,
    value_end: usize,
}

impl Field {
    fn name(self) -> Range<usize> {
        self.name_start..self.name_end
    }

    fn value(self) -> Range<usize> {
        self.value_start..self.value_end
    }
}

/// How many fields a [`Fields`] list holds without allocating: a part usually has two headers,
/// and its `Content-Disposition` two parameters.
const INLINE_FIELDS: usize = 4;

/// A list of fields, the first few stored inline.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fields {
    Inline {
        len: usize,
        fields: [Field; INLINE_FIELDS],
    },
    Heap(Vec<Field>),
}

impl Default for Fields {
    fn default() -> Self {
        Fields::Inline {
            len: 0,
            fields: [Field::default(); INLINE_FIELDS],
        }
    }
}

impl Fields {
    fn as_slice(&self) -> &[Field] {
        match self {
            Fields::Inline { len, fields } => &fields[..*len],
            Fields::Heap(fields) => fields,
        }
    }

    fn last_mut(&mut self) -> Option<&mut Field> {
        match self {
            Fields::Inline { len, fields } => fields[..*len].last_mut(),
            Fields::Heap(fields) => fields.last_mut(),
        }
    }

    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn push(&mut self, field: Field) {
        match self {
            Fields::Inline { len, fields } if *len < INLINE_FIELDS => {
                fields[*len] = field;
                *len += 1;
            }
            Fields::Inline { fields, .. } => {
                let mut heap = Vec::with_capacity(2 * INLINE_FIELDS);
                heap.extend_from_slice(fields);
                heap.push(field);
                *self = Fields::Heap(heap);
            }
            Fields::Heap(fields) => fields.push(field),
        }
    }
}

/// The headers of one body part, in the order they were sent.
///
/// Parsing one part's headers costs a handful of allocations, whatever their number: the names
/// and values share one buffer.
///
/// # Examples
///
/// ```
/// use authenteq_export::multipart::{PartHeaders, LineEnding};
///
/// let h = PartHeaders::parse(
///     b"Content-Disposition: form-data; name=\"result\"; filename=\"result.json\"\r\nContent-Type: application/json",
///     LineEnding::Crlf,
/// ).unwrap();
/// assert_eq!(h.name(), Some("result"));
/// assert_eq!(h.filename(), Some("result.json"));
/// assert_eq!(h.get("content-type"), Some("application/json"));
/// ```
#[derive(Clone, Default)]
pub struct PartHeaders {
    text: Vec<u8>,
    entries: Fields,
    disposition: Option<ContentDisposition>,
    /// Index of the first `Content-Type` header, found while parsing.
    content_type: Option<usize>,
    /// Index of the first Content-Transfer-Encoding header, found while parsing.
    transfer_encoding: Option<usize>,
}

/// Token characters of RFC 7230 (`tchar`), the bytes allowed in a header name, as a table.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    table
};

pub(super) fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

/// Bytes allowed in a header value: anything but control characters, where a tab is allowed.
pub(super) fn is_value_byte(b: u8) -> bool {
    (b == b'\t') | ((b >= 0x20) & (b != 0x7f))
}

/// Whether every byte of `s` is allowed in a header value. It does not stop early, so the
/// compiler turns it into a vector loop; only a bad line pays for finding the bad byte.
fn all_value_bytes(s: &[u8]) -> bool {
    s.iter().fold(true, |ok, &b| ok & is_value_byte(b))
}

/// The index of the first byte of `s` not allowed in a header value (there is one).
fn first_non_value_byte(s: &[u8]) -> usize {
    s.iter().position(|&b| !is_value_byte(b)).unwrap_or(0)
}

fn trim_whitespace(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn header_error(detail: impl Into<std::borrow::Cow<'static, str>>, at: usize) -> Error {
    Error::new(ErrorKind::InvalidHeader, detail).at(at as u64)
}

impl PartHeaders {
    /// Parses a header block: the bytes between the delimiter line and the blank line that ends
    /// the headers, without that final line ending.
    ///
    /// Errors carry the offset of the offending byte within `block`; the decoder shifts it to
    /// the body offset.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidHeader`] for a line without a colon, an empty name or a byte outside
    /// `tchar` in a name, a control character (NUL, a bare CR or LF) in a value, or a
    /// continuation line before the first header; [`ErrorKind::InvalidContentDisposition`] when
    /// that header's value does not parse.
    pub fn parse(block: &[u8], line_ending: LineEnding) -> Result<Self> {
        Self::parse_limited(block, line_ending, usize::MAX).map(|headers| *headers)
    }

    /// As [`parse`](Self::parse), with a limit on the number of header lines; the headers are
    /// built in place on the heap, where the decoder's event carries them.
    pub(crate) fn parse_limited(
        block: &[u8],
        line_ending: LineEnding,
        max_headers: usize,
    ) -> Result<Box<Self>> {
        // The block is copied once; names and values are ranges into it (a folded value is
        // unfolded into a copy at the end).
        let mut headers = Box::new(PartHeaders {
            text: block.to_vec(),
            entries: Fields::default(),
            disposition: None,
            content_type: None,
            transfer_encoding: None,
        });
        let mut pos = 0;
        // The first Content-Disposition header: its index, and where its line starts (for
        // error offsets).
        let mut disposition: Option<(usize, usize)> = None;
        if block.is_empty() {
            return Ok(headers);
        }
        while pos <= block.len() {
            let (line_end, next) = match memchr::memchr(b'\n', &block[pos..]) {
                Some(i) => {
                    let lf = pos + i;
                    let has_cr = lf > pos && block[lf - 1] == b'\r';
                    if line_ending == LineEnding::Crlf && !has_cr {
                        return Err(header_error("bare LF in header block", lf));
                    }
                    (if has_cr { lf - 1 } else { lf }, lf + 1)
                }
                None => (block.len(), block.len() + 1),
            };
            let line = &block[pos..line_end];
            if headers.push_line(line, pos, max_headers)? {
                let index = headers.entries.len() - 1;
                let name = &headers.text[headers.entries.as_slice()[index].name()];
                if disposition.is_none() && name.eq_ignore_ascii_case(b"content-disposition") {
                    disposition = Some((index, pos));
                } else if headers.content_type.is_none()
                    && name.eq_ignore_ascii_case(b"content-type")
                {
                    headers.content_type = Some(index);
                } else if headers.transfer_encoding.is_none()
                    && name.eq_ignore_ascii_case(b"content-transfer-encoding")
                {
                    headers.transfer_encoding = Some(index);
                }
            }
            pos = next;
        }
        if let Some((index, line_start)) = disposition {
            let value = &headers.text[headers.entries.as_slice()[index].value()];
            let value = match std::str::from_utf8(value) {
                Ok(v) => std::borrow::Cow::Borrowed(v),
                Err(_) => String::from_utf8_lossy(value),
            };
            let disposition = headers.disposition.insert(ContentDisposition::empty());
            disposition
                .fill(&value)
                .map_err(|e| e.at(line_start as u64))?;
        }
        Ok(headers)
    }

    /// Adds one header line; returns whether it added a header (not a continuation line).
    fn push_line(&mut self, line: &[u8], at: usize, max_headers: usize) -> Result<bool> {
        if let [b' ' | b'\t', ..] = line {
            // obs-fold: continues the previous header's value.
            let Some(field) = self.entries.last_mut() else {
                return Err(header_error("whitespace before the first header", at));
            };
            let cont = trim_whitespace(line);
            if !all_value_bytes(cont) {
                let i = first_non_value_byte(cont);
                let at = at + (cont.as_ptr() as usize - line.as_ptr() as usize) + i;
                return Err(header_error(control_message(cont[i]), at));
            }
            if !cont.is_empty() {
                if field.value_end != self.text.len() {
                    // The value is still in the copied block: move it to the end to extend it.
                    let value = field.value();
                    field.value_start = self.text.len();
                    self.text.extend_from_within(value);
                    field.value_end = self.text.len();
                }
                self.text.push(b' ');
                self.text.extend_from_slice(cont);
                field.value_end = self.text.len();
            }
            return Ok(false);
        }
        let Some(colon) = memchr::memchr(b':', line) else {
            if !all_value_bytes(line) {
                let i = first_non_value_byte(line);
                return Err(header_error(control_message(line[i]), at + i));
            }
            return Err(header_error("header line without a colon", at));
        };
        let name = &line[..colon];
        if name.is_empty() {
            return Err(header_error("empty header name", at));
        }
        if !name.iter().fold(true, |ok, &b| ok & is_tchar(b)) {
            let i = name.iter().position(|&b| !is_tchar(b)).unwrap_or(0);
            let detail = if is_value_byte(name[i]) {
                format!(
                    "byte {:?} is not allowed in a header name",
                    char::from(name[i])
                )
            } else {
                control_message(name[i]).to_owned()
            };
            return Err(header_error(detail, at + i));
        }
        let raw_value = &line[colon + 1..];
        if !all_value_bytes(raw_value) {
            let i = first_non_value_byte(raw_value);
            return Err(header_error(
                control_message(raw_value[i]),
                at + colon + 1 + i,
            ));
        }
        if self.entries.len() >= max_headers {
            return Err(
                Error::limit_exceeded(crate::error::Limit::Headers, max_headers as u64)
                    .at(at as u64),
            );
        }
        // `line` lies at `at` in the block, which `text` begins with.
        let value = trim_whitespace(raw_value);
        let value_start = at + (value.as_ptr() as usize - line.as_ptr() as usize);
        self.entries.push(Field {
            name_start: at,
            name_end: at + colon,
            value_start,
            value_end: value_start + value.len(),
        });
        Ok(true)
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the part has no headers at all.
    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// All headers in the order sent, as `(name, value)` byte strings, names as sent and values
    /// trimmed and unfolded.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.entries
            .as_slice()
            .iter()
            .map(|f| (&self.text[f.name()], &self.text[f.value()]))
    }

    /// The value of the first header called `name` (case-insensitively), as bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The value of the first header called `name` (case-insensitively), when it is UTF-8.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The values of every header called `name` (case-insensitively), as bytes.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The parsed `Content-Disposition` header, when the part has one.
    pub fn content_disposition(&self) -> Option<&ContentDisposition> {
        self.disposition.as_ref()
    }

    /// The `name` parameter of `Content-Disposition`.
    pub fn name(&self) -> Option<&str> {
        self.disposition.as_ref().and_then(|d| d.name())
    }

    /// The part's file name: see [`ContentDisposition::filename`] for which parameter wins.
    pub fn filename(&self) -> Option<&str> {
        self.disposition.as_ref().and_then(|d| d.filename())
    }

    /// The `Content-Type` header's value, as sent.
    pub fn content_type(&self) -> Option<&str> {
        let field = self.entries.as_slice()[self.content_type?];
        std::str::from_utf8(&self.text[field.value()]).ok()
    }

    /// The `Content-Transfer-Encoding` header's value, as the bytes sent (`O(1)`: found while
    /// parsing).
    pub fn content_transfer_encoding(&self) -> Option<&[u8]> {
        let field = self.entries.as_slice()[self.transfer_encoding?];
        Some(&self.text[field.value()])
    }

    /// The `Content-Type` header parsed as a media type, when it parses.
    pub fn mime(&self) -> Option<mime::Mime> {
        self.content_type().and_then(|v| v.parse().ok())
    }
}

fn control_message(b: u8) -> &'static str {
    match b {
        0 => "NUL byte in header",
        b'\r' => "bare CR in header",
        b'\n' => "bare LF in header",
        _ => "control character in header",
    }
}

/// Equal when the headers are: the same names and values in the same order (the spacing and
/// line endings of the block they were read from do not count).
impl PartialEq for PartHeaders {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter()) && self.disposition == other.disposition
    }
}

impl Eq for PartHeaders {}

impl fmt::Debug for PartHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (n, v) in self.iter() {
            m.entry(&String::from_utf8_lossy(n), &String::from_utf8_lossy(v));
        }
        m.finish()
    }
}

/// A parsed `Content-Disposition` value (RFC 6266, RFC 7578): its type and parameters.
///
/// Parameter names are lowercased; quoted values are unquoted with their `\` escapes resolved
/// (so a `;` inside quotes is part of the value). `filename*` (RFC 5987/2231: `charset'lang'value`
/// with `%XX` escapes, UTF-8 or ISO-8859-1) is decoded by [`filename`](Self::filename) and
/// **wins over** `filename` when both are present and it decodes, as RFC 6266 §4.3 says. Both raw
/// values stay available from [`param`](Self::param).
///
/// # Examples
///
/// ```
/// use authenteq_export::multipart::ContentDisposition;
///
/// let d = ContentDisposition::parse(
///     r#"attachment; filename="a;b \"c\".txt"; filename*=UTF-8''%E2%82%AC.txt"#,
/// ).unwrap();
/// assert_eq!(d.disposition_type(), "attachment");
/// assert_eq!(d.param("filename"), Some("a;b \"c\".txt"));
/// assert_eq!(d.filename(), Some("€.txt"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentDisposition {
    /// The type, then each parameter's name and value, one after another: one allocation.
    text: String,
    disposition_type: Range<usize>,
    params: Fields,
    decoded_filename_ext: Option<String>,
    /// Indexes of the first `name` and `filename` parameters, found while parsing: they are
    /// asked for several times per part.
    name_param: Option<usize>,
    filename_param: Option<usize>,
}

/// Appends `token` lowercased (tokens are ASCII, and usually lowercase already).
fn push_lowercase(text: &mut String, token: &str) {
    let start = text.len();
    text.push_str(token);
    if token.bytes().any(|b| b.is_ascii_uppercase()) {
        text[start..].make_ascii_lowercase();
    }
}

fn disposition_error(detail: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::InvalidContentDisposition, detail)
}

impl ContentDisposition {
    /// Parses a `Content-Disposition` header value.
    ///
    /// Parsing is one pass over the value, linear in its length whatever it holds.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidContentDisposition`] when the type is missing, a parameter has no `=`
    /// or no name, a quoted string does not end, or something other than `;` follows a value.
    pub fn parse(value: &str) -> Result<Self> {
        let mut disposition = ContentDisposition::empty();
        disposition.fill(value)?;
        Ok(disposition)
    }

    fn empty() -> Self {
        ContentDisposition {
            text: String::new(),
            disposition_type: 0..0,
            params: Fields::default(),
            decoded_filename_ext: None,
            name_param: None,
            filename_param: None,
        }
    }

    /// Parses `value` into this empty disposition (in place: the part headers hold it).
    fn fill(&mut self, value: &str) -> Result<()> {
        let bytes = value.as_bytes();
        let skip_whitespace = |mut pos: usize| {
            while let Some(b' ' | b'\t') = bytes.get(pos) {
                pos += 1;
            }
            pos
        };
        let token_end = |mut pos: usize| {
            while bytes.get(pos).is_some_and(|&b| is_tchar(b)) {
                pos += 1;
            }
            pos
        };
        let start = skip_whitespace(0);
        let mut pos = token_end(start);
        if pos == start {
            return Err(disposition_error("missing disposition type"));
        }
        // Type, names and values are copied out once, into one string.
        self.text = String::with_capacity(value.len());
        let text = &mut self.text;
        push_lowercase(text, &value[start..pos]);
        let disposition_type = 0..text.len();
        let params = &mut self.params;
        let mut filename_ext = None;
        loop {
            pos = skip_whitespace(pos);
            let Some(&b) = bytes.get(pos) else { break };
            if b != b';' {
                return Err(disposition_error(format!(
                    "expected ';' at position {pos}, found {:?}",
                    char::from(b)
                )));
            }
            pos = skip_whitespace(pos + 1);
            if pos == bytes.len() {
                break; // a trailing ';' is harmless
            }
            let name_start = pos;
            pos = token_end(pos);
            if pos == name_start {
                return Err(disposition_error(format!(
                    "missing parameter name at position {pos}"
                )));
            }
            // As sent, for error messages.
            let name = &value[name_start..pos];
            let param_start = text.len();
            push_lowercase(text, name);
            pos = skip_whitespace(pos);
            if bytes.get(pos) != Some(&b'=') {
                return Err(disposition_error(format!(
                    "parameter {name:?} has no '=' value"
                )));
            }
            pos = skip_whitespace(pos + 1);
            let value_start = text.len();
            if bytes.get(pos) == Some(&b'"') {
                pos += 1;
                let unterminated =
                    || disposition_error(format!("quoted value of {name:?} does not end"));
                loop {
                    let run =
                        memchr::memchr2(b'"', b'\\', &bytes[pos..]).ok_or_else(unterminated)?;
                    text.push_str(&value[pos..pos + run]);
                    pos += run;
                    if bytes[pos] == b'"' {
                        pos += 1;
                        break;
                    }
                    // A backslash escapes the next character.
                    pos += 1;
                    let c = value[pos..].chars().next().ok_or_else(unterminated)?;
                    text.push(c);
                    pos += c.len_utf8();
                }
            } else {
                let run = bytes[pos..]
                    .iter()
                    .position(|&b| matches!(b, b';' | b' ' | b'\t'))
                    .unwrap_or(bytes.len() - pos);
                text.push_str(&value[pos..pos + run]);
                pos += run;
            }
            let slot = match &text[param_start..value_start] {
                "name" => &mut self.name_param,
                "filename" => &mut self.filename_param,
                "filename*" => &mut filename_ext,
                _ => &mut None,
            };
            if slot.is_none() {
                *slot = Some(params.len());
            }
            params.push(Field {
                name_start: param_start,
                name_end: value_start,
                value_start,
                value_end: text.len(),
            });
        }
        self.decoded_filename_ext =
            filename_ext.and_then(|i| decode_ext_value(&text[params.as_slice()[i].value()]));
        self.disposition_type = disposition_type;
        Ok(())
    }

    /// The disposition type, lowercased: `form-data`, `attachment`, `inline`...
    pub fn disposition_type(&self) -> &str {
        &self.text[self.disposition_type.clone()]
    }

    /// The raw value of the first parameter called `name` (give it lowercased), unquoted.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// All parameters in order, names lowercased, values unquoted.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.params
            .as_slice()
            .iter()
            .map(|f| (&self.text[f.name()], &self.text[f.value()]))
    }

    /// The `name` parameter.
    pub fn name(&self) -> Option<&str> {
        self.param_at(self.name_param)
    }

    fn param_at(&self, index: Option<usize>) -> Option<&str> {
        let field = self.params.as_slice()[index?];
        Some(&self.text[field.value()])
    }

    /// The file name: the decoded `filename*` when present and decodable, else `filename`.
    ///
    /// The value is returned as sent: it may hold `/`, `..` or other path syntax. Never use it as
    /// a path without sanitizing it.
    pub fn filename(&self) -> Option<&str> {
        self.decoded_filename_ext
            .as_deref()
            .or_else(|| self.param_at(self.filename_param))
    }
}

/// Decodes an RFC 5987 `ext-value`: `charset'[language]'value-chars` with `%XX` escapes.
fn decode_ext_value(v: &str) -> Option<String> {
    let mut it = v.splitn(3, '\'');
    let charset = it.next()?;
    let _language = it.next()?;
    let encoded = it.next()?;
    let mut raw = Vec::with_capacity(encoded.len());
    let b = encoded.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            // Two hex digits exactly (from_str_radix alone would take a sign).
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            raw.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            raw.push(b[i]);
            i += 1;
        }
    }
    if charset.eq_ignore_ascii_case("utf-8") {
        String::from_utf8(raw).ok()
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        Some(raw.into_iter().map(char::from).collect())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_block_table() {
        // (block, ok, error offset)
        let rows: &[(&[u8], Result<usize, usize>)] = &[
            (b"A: b", Ok(1)),
            (b"A: b\r\nC: d", Ok(2)),
            (b"", Ok(0)),
            (b"A:", Ok(1)),
            (b"A: b\r\n\tfolded", Ok(1)),
            (b" A: b", Err(0)),
            (b"\tA: b", Err(0)),
            (b"A b", Err(0)),
            (b"A\x00: b", Err(1)),
            (b": b", Err(0)),
            (b"A: b\rc", Err(4)),
            (b"A: b\nC: d", Err(4)),
            (b"A: b\x00", Err(4)),
            (b"Content-<<<position: x", Err(8)),
        ];
        for (block, want) in rows {
            let got = PartHeaders::parse(block, LineEnding::Crlf);
            match (want, got) {
                (Ok(n), Ok(h)) => assert_eq!(h.len(), *n, "{block:?}"),
                (Err(at), Err(e)) => {
                    assert_eq!(e.kind(), ErrorKind::InvalidHeader, "{block:?}");
                    assert_eq!(e.offset(), Some(*at as u64), "{block:?}: {e}");
                }
                (want, got) => panic!("{block:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn folding_unfolds_to_one_space() {
        let h = PartHeaders::parse(
            b"Content-Disposition: attachment; \r\n\tfilename=\"x.png\"",
            LineEnding::Crlf,
        )
        .unwrap();
        assert_eq!(
            h.get("content-disposition"),
            Some("attachment; filename=\"x.png\"")
        );
        assert_eq!(h.filename(), Some("x.png"));
    }

    #[test]
    fn lf_mode_tolerates_crlf_lines() {
        let h = PartHeaders::parse(b"A: b\r\nC: d\nE: f", LineEnding::Lf).unwrap();
        assert_eq!(h.get("c"), Some("d"));
        assert_eq!(h.get("a"), Some("b"));
    }

    #[test]
    fn more_fields_than_fit_inline_keep_their_order() {
        // Past the inline capacity, headers and parameters move to the heap, and a folded line
        // still extends the last header.
        let block = b"A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nContent-Disposition: form-data; \
            a=1; b=2; c=3; d=4; e=5; name=\"six\"; filename*=UTF-8''%C3%A9\r\nF: 6\r\n  more";
        let h = PartHeaders::parse(block, LineEnding::Crlf).unwrap();
        let names: Vec<&[u8]> = h.iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                &b"A"[..],
                b"B",
                b"C",
                b"D",
                b"E",
                b"Content-Disposition",
                b"F"
            ]
        );
        assert_eq!(h.get("f"), Some("6 more"));
        assert_eq!(h.get("e"), Some("5"));
        let d = h.content_disposition().unwrap();
        let params: Vec<(&str, &str)> = d.params().collect();
        assert_eq!(params.len(), 7);
        assert_eq!(params[4], ("e", "5"));
        assert_eq!(d.name(), Some("six"));
        assert_eq!(d.filename(), Some("\u{e9}"));
    }

    #[test]
    fn headers_compare_by_names_and_values() {
        let spaced = PartHeaders::parse(b"A:  b\r\nC: d", LineEnding::Crlf).unwrap();
        let tight = PartHeaders::parse(b"A:b\nC:d", LineEnding::Lf).unwrap();
        assert_eq!(spaced, tight);
        let other = PartHeaders::parse(b"A: b\r\nC: e", LineEnding::Crlf).unwrap();
        assert_ne!(spaced, other);
    }

    #[test]
    fn names_are_case_insensitive_and_kept() {
        let h = PartHeaders::parse(b"CONTENT-type: a/b\r\nX-Extra: 1", LineEnding::Crlf).unwrap();
        assert_eq!(h.content_type(), Some("a/b"));
        let names: Vec<_> = h.iter().map(|(n, _)| n.to_vec()).collect();
        assert_eq!(names, vec![b"CONTENT-type".to_vec(), b"X-Extra".to_vec()]);
    }

    #[test]
    fn disposition_table() {
        // (value, Some((type, name, filename)) or None for an error)
        type Row<'a> = (&'a str, Option<(&'a str, Option<&'a str>, Option<&'a str>)>);
        let rows: &[Row] = &[
            (
                "form-data; name=\"result\"; filename=\"result.json\"",
                Some(("form-data", Some("result"), Some("result.json"))),
            ),
            (
                "form-data; name=result",
                Some(("form-data", Some("result"), None)),
            ),
            (
                "FORM-DATA; NAME=\"a\"",
                Some(("form-data", Some("a"), None)),
            ),
            (
                "form-data; name=\"a;b\"; filename=\"c\\\"d\"",
                Some(("form-data", Some("a;b"), Some("c\"d"))),
            ),
            (
                "attachment; filename=\"plain.txt\"; filename*=UTF-8''%C3%A9.txt",
                Some(("attachment", None, Some("é.txt"))),
            ),
            (
                "attachment; filename*=iso-8859-1'en'%E9.txt",
                Some(("attachment", None, Some("é.txt"))),
            ),
            (
                "attachment; filename=\"fallback\"; filename*=bogus'x'%ZZ",
                Some(("attachment", None, Some("fallback"))),
            ),
            (
                "attachment; filename=\"fallback\"; filename*=UTF-8''%+1",
                Some(("attachment", None, Some("fallback"))),
            ),
            ("inline;", Some(("inline", None, None))),
            ("", None),
            ("; name=a", None),
            ("form-data; name", None),
            ("form-data; name=\"open", None),
            ("form-data; name=\"a\" filename=\"b\"", None),
            ("form-data; =a", None),
        ];
        for (value, want) in rows {
            let got = ContentDisposition::parse(value);
            match (want, got) {
                (Some((t, n, f)), Ok(d)) => {
                    assert_eq!(d.disposition_type(), *t, "{value:?}");
                    assert_eq!(d.name(), *n, "{value:?}");
                    assert_eq!(d.filename(), *f, "{value:?}");
                }
                (None, Err(e)) => assert_eq!(e.kind(), ErrorKind::InvalidContentDisposition),
                (want, got) => panic!("{value:?}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn many_backslashes_parse_in_one_pass() {
        let value = format!("form-data; name=\"{}\"", "\\\\".repeat(10_000));
        let d = ContentDisposition::parse(&value).unwrap();
        assert_eq!(d.name().unwrap().len(), 10_000);
    }
}
