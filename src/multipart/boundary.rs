//! The multipart boundary: validated per RFC 2046, taken from a `Content-Type` value or guessed
//! from the first delimiter line of a saved body.

use std::fmt;

use crate::error::{Error, ErrorKind, Result};

/// A validated multipart boundary (without the leading `--` of the delimiter).
///
/// RFC 2046 §5.1.1:
///
/// ```text
/// boundary := 0*69<bchars> bcharsnospace
/// bchars := bcharsnospace / " "
/// bcharsnospace := DIGIT / ALPHA / "'" / "(" / ")" / "+" / "_" / "," / "-" / "." / "/" / ":" / "=" / "?"
/// ```
///
/// # Examples
///
/// ```
/// use authenteq_export::multipart::Boundary;
///
/// let b = Boundary::from_content_type("multipart/mixed; boundary=\"a b'c\"").unwrap();
/// assert_eq!(b.as_str(), "a b'c");
/// assert!(Boundary::new("trailing space ").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Boundary {
    // Held inline (a boundary is at most 70 bytes): making, cloning and dropping one never
    // allocates. Bytes past `len` are zero, so the derived comparisons are those of the text.
    len: u8,
    bytes: [u8; MAX_BOUNDARY_LEN],
}

/// The longest boundary RFC 2046 allows.
pub const MAX_BOUNDARY_LEN: usize = 70;

fn is_bchar_nospace(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'\'' | b'(' | b')' | b'+' | b'_' | b',' | b'-' | b'.' | b'/' | b':' | b'=' | b'?'
        )
}

impl Boundary {
    /// Validates `boundary` per RFC 2046: 1 to 70 characters from `bchars`, not ending in a space.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidBoundary`] naming the first offending character or the length.
    ///
    /// # Cost
    ///
    /// `O(n)` in the boundary's length; no allocation (the boundary is held inline).
    pub fn new(boundary: impl AsRef<str>) -> Result<Self> {
        let bytes = boundary.as_ref().as_bytes();
        if bytes.is_empty() {
            return Err(Error::new(ErrorKind::InvalidBoundary, "boundary is empty"));
        }
        if bytes.len() > MAX_BOUNDARY_LEN {
            return Err(Error::new(
                ErrorKind::InvalidBoundary,
                format!(
                    "boundary is {} bytes long, at most {MAX_BOUNDARY_LEN} are allowed",
                    bytes.len()
                ),
            ));
        }
        if let Some(i) = bytes
            .iter()
            .position(|&b| b != b' ' && !is_bchar_nospace(b))
        {
            return Err(Error::new(
                ErrorKind::InvalidBoundary,
                format!(
                    "character {:?} at position {i} is not allowed in a boundary",
                    char::from(bytes[i])
                ),
            ));
        }
        if bytes.last() == Some(&b' ') {
            return Err(Error::new(
                ErrorKind::InvalidBoundary,
                "boundary ends with a space",
            ));
        }
        Ok(Self::from_valid(bytes))
    }

    /// A boundary from bytes already checked to be 1 to 70 `bchars`.
    fn from_valid(valid: &[u8]) -> Self {
        let mut bytes = [0; MAX_BOUNDARY_LEN];
        bytes[..valid.len()].copy_from_slice(valid);
        Boundary {
            len: valid.len() as u8,
            bytes,
        }
    }

    /// Takes the boundary from a `Content-Type` header value of any `multipart/*` type.
    ///
    /// The parameter may be quoted or not and its name is matched case-insensitively. A value
    /// with two `boundary` parameters is refused, since two parsers could each pick another one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidContentType`] when the value does not parse, is not `multipart/*`, or
    /// has no or several `boundary` parameters; [`ErrorKind::InvalidBoundary`] when the boundary
    /// itself is not valid.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::multipart::Boundary;
    ///
    /// let b = Boundary::from_content_type("multipart/form-data; BOUNDARY=abc").unwrap();
    /// assert_eq!(b.as_str(), "abc");
    /// assert!(Boundary::from_content_type("multipart/mixed; boundary=a; boundary=b").is_err());
    /// assert!(Boundary::from_content_type("application/json").is_err());
    /// ```
    pub fn from_content_type(content_type: &str) -> Result<Self> {
        let parsed: mime::Mime = content_type
            .trim()
            .parse()
            .map_err(|e: mime::FromStrError| {
                Error::new(
                    ErrorKind::InvalidContentType,
                    format!("cannot parse {content_type:?}: {e}"),
                )
            })?;
        if parsed.type_() != mime::MULTIPART {
            return Err(Error::new(
                ErrorKind::InvalidContentType,
                format!("{:?} is not a multipart type", parsed.essence_str()),
            ));
        }
        let mut found = None;
        for (name, value) in parsed.params() {
            if name == mime::BOUNDARY {
                if found.is_some() {
                    return Err(Error::new(
                        ErrorKind::InvalidContentType,
                        "the boundary parameter is given more than once",
                    ));
                }
                found = Some(value);
            }
        }
        match found {
            Some(b) => Boundary::new(b.as_str()),
            None => Err(Error::new(
                ErrorKind::InvalidContentType,
                format!("{content_type:?} has no boundary parameter"),
            )),
        }
    }

    /// Guesses the boundary of a saved body from its first delimiter line.
    ///
    /// Looks at the first line of `head` that starts with `--` (the body's first bytes; 8 KiB are
    /// plenty), strips the `--`, then any transport padding and the line ending. Use this when
    /// only the body was saved, without its `Content-Type`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::BoundaryNotFound`] when no line in `head` starts with `--`, or the line does
    /// not end within `head`; [`ErrorKind::InvalidBoundary`] when what follows the `--` is not a
    /// valid boundary.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::multipart::Boundary;
    ///
    /// let b = Boundary::sniff(b"--abc123\r\nContent-Type: text/plain\r\n\r\nhi\r\n--abc123--").unwrap();
    /// assert_eq!(b.as_str(), "abc123");
    /// ```
    pub fn sniff(head: &[u8]) -> Result<Self> {
        let mut line_start = 0;
        while line_start < head.len() {
            let line_end = memchr::memchr(b'\n', &head[line_start..]).map(|i| line_start + i);
            let line = &head[line_start..line_end.unwrap_or(head.len())];
            if let Some(rest) = line.strip_prefix(b"--") {
                if line_end.is_none() {
                    return Err(Error::new(
                        ErrorKind::BoundaryNotFound,
                        "the first delimiter line does not end in the given bytes",
                    )
                    .at(line_start as u64));
                }
                let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
                let end = rest
                    .iter()
                    .rposition(|&b| b != b' ' && b != b'\t')
                    .map_or(0, |i| i + 1);
                let text = std::str::from_utf8(&rest[..end]).map_err(|_| {
                    Error::new(ErrorKind::InvalidBoundary, "boundary is not ASCII")
                        .at(line_start as u64 + 2)
                })?;
                return Boundary::new(text).map_err(|e| e.at(line_start as u64 + 2));
            }
            match line_end {
                Some(e) => line_start = e + 1,
                None => break,
            }
        }
        Err(Error::new(
            ErrorKind::BoundaryNotFound,
            "no line starting with \"--\"",
        ))
    }

    /// Makes a random boundary of 40 characters that cannot appear by chance in a payload.
    ///
    /// The randomness comes from the standard library's hasher keys and the clock: good enough to
    /// avoid collisions, not meant as a secret.
    pub fn random() -> Self {
        use std::collections::hash_map::RandomState;
        use std::hash::{BuildHasher, Hasher};
        use std::sync::atomic::{AtomicU64, Ordering};

        static COUNTER: AtomicU64 = AtomicU64::new(0);
        const ALPHABET: &[u8; 62] =
            b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut out = String::with_capacity(40);
        out.push_str("authenteq-");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let state = RandomState::new();
        for round in 0..3u64 {
            let mut h = state.build_hasher();
            h.write_u64(nanos);
            h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
            h.write_u64(round);
            let mut x = h.finish();
            for _ in 0..10 {
                out.push(char::from(ALPHABET[(x % 62) as usize]));
                x /= 62;
            }
        }
        Self::from_valid(out.as_bytes())
    }

    /// The boundary as text.
    pub fn as_str(&self) -> &str {
        // A valid boundary is ASCII (`bchars`), so this never falls back.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The boundary's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// A `Content-Type` value for a body with this boundary, such as
    /// `multipart/mixed; boundary="..."` for `subtype` `mixed`.
    pub fn content_type(&self, subtype: &str) -> String {
        format!("multipart/{subtype}; boundary=\"{}\"", self.as_str())
    }
}

impl fmt::Debug for Boundary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Boundary").field(&self.as_str()).finish()
    }
}

impl fmt::Display for Boundary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Boundary {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Boundary::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_table() {
        let long = "a".repeat(70);
        let too_long = "a".repeat(71);
        let rows: &[(&str, bool)] = &[
            ("a", true),
            ("a b", true),
            (&long, true),
            (&too_long, false),
            ("", false),
            ("ab ", false),
            (" ab", true),
            ("a\"b", false),
            ("a;b", false),
            ("a\tb", false),
            ("'()+_,-./:=?", true),
            ("é", false),
        ];
        for (b, ok) in rows {
            assert_eq!(Boundary::new(*b).is_ok(), *ok, "{b:?}");
        }
    }

    #[test]
    fn content_type_table() {
        let rows: &[(&str, Option<&str>)] = &[
            ("multipart/mixed; boundary=abc", Some("abc")),
            ("multipart/form-data; boundary=\"a b\"", Some("a b")),
            ("Multipart/Mixed; Boundary=abc", Some("abc")),
            ("multipart/related; type=x; boundary=abc", Some("abc")),
            ("multipart/mixed", None),
            ("multipart/mixed; boundary=a; boundary=b", None),
            ("multipart/mixed; boundary=a; BOUNDARY=a", None),
            ("text/plain; boundary=abc", None),
            ("multipart/mixed; boundary=\"\"", None),
            ("not a mime", None),
        ];
        for (ct, want) in rows {
            let got = Boundary::from_content_type(ct).ok();
            assert_eq!(got.as_ref().map(|b| b.as_str()), *want, "{ct:?}");
        }
    }

    #[test]
    fn sniff_table() {
        let rows: &[(&[u8], Option<&str>)] = &[
            (b"--abc\r\n", Some("abc")),
            (b"--abc\n", Some("abc")),
            (b"--abc  \t\r\n", Some("abc")),
            (b"preamble\r\n--abc\r\n", Some("abc")),
            (b"--abc", None),
            (b"no delimiter\r\n", None),
            (b"--a;b\r\n", None),
        ];
        for (head, want) in rows {
            let got = Boundary::sniff(head).ok();
            assert_eq!(got.as_ref().map(|b| b.as_str()), *want, "{head:?}");
        }
    }

    #[test]
    fn random_boundaries_are_valid_and_distinct() {
        let a = Boundary::random();
        let b = Boundary::random();
        assert_ne!(a, b);
        assert!(Boundary::new(a.as_str()).is_ok());
        assert_eq!(a.as_str().len(), 40);
    }
}
