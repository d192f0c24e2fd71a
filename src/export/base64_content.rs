//! Decoding the base64 `content` of embedded files, under one policy for the typed model (which
//! decodes a whole string) and the streaming JSON export (which decodes while bytes arrive).
//!
//! The policy: the standard alphabet (`+/`); padding optional; and bits set past the last whole
//! byte ignored, so `/9j/2R==` reads as `/9j/2Q==`. Those bits carry no data: a writer that sets
//! them still encodes exactly the bytes it meant, and refusing them would only turn away a
//! readable file. Padding in the middle, a lone last character, and characters outside the
//! alphabet are errors.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{DecodeError, DecodeSliceError, Engine as _};
use bytes::BytesMut;

use crate::error::{Error, ErrorKind, Limit, Result};

/// Standard base64, padding optional, bits past the last byte ignored.
pub(super) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A character of the alphabet, or padding.
pub(super) fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
}

// ---------------------------------------------------------------------------------------------
// A whole text (the model)
// ---------------------------------------------------------------------------------------------

/// A base64 decoding failure, with offsets into the text as written (whitespace included).
pub(super) enum Base64Error {
    /// A character that is neither in the alphabet, nor `=`, nor whitespace.
    Character(usize, char),
    /// A structural problem the decoder found.
    Decode(DecodeError),
}

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid base64 in embedded file: ")?;
        match *self {
            Base64Error::Character(offset, c) => {
                write!(f, "invalid character {c:?} at offset {offset} of the text")
            }
            Base64Error::Decode(DecodeError::InvalidByte(offset, b'=')) => {
                write!(
                    f,
                    "padding '=' before the end, at offset {offset} of the text"
                )
            }
            Base64Error::Decode(DecodeError::InvalidByte(offset, byte)) => write!(
                f,
                "invalid character {:?} at offset {offset} of the text",
                char::from(byte)
            ),
            Base64Error::Decode(DecodeError::InvalidLength(symbols)) => write!(
                f,
                "{symbols} base64 characters cannot encode whole bytes (truncated input?)"
            ),
            // Not produced: `BASE64` ignores the bits past the last byte.
            Base64Error::Decode(ref e @ DecodeError::InvalidLastSymbol(..)) => write!(f, "{e}"),
            Base64Error::Decode(DecodeError::InvalidPadding) => f.write_str("invalid padding"),
        }
    }
}

/// The characters both decoders skip inside base64 content: ASCII whitespace (MIME-style line
/// breaks, and spaces), written as itself or as a JSON escape.
pub(super) fn is_skipped(b: u8) -> bool {
    b.is_ascii_whitespace()
}

/// Decodes a whole base64 text, as [`BASE64`] does, skipping ASCII whitespace anywhere
/// ([`is_skipped`]), as the streaming decoder does.
pub(super) fn decode_text(text: &str) -> Result<Vec<u8>, Base64Error> {
    // Report the first foreign character ourselves, as a character (not as one byte of its UTF-8
    // encoding), and before the decoder's structural checks.
    if let Some(offset) = text
        .bytes()
        .position(|b| !is_base64_byte(b) && !is_skipped(b))
    {
        let c = text[offset..]
            .chars()
            .next()
            .unwrap_or(char::REPLACEMENT_CHARACTER);
        return Err(Base64Error::Character(offset, c));
    }
    let bytes = text.as_bytes();
    if !bytes.iter().copied().any(is_skipped) {
        return BASE64.decode(bytes).map_err(Base64Error::Decode);
    }
    let compact: Vec<u8> = bytes.iter().copied().filter(|&b| !is_skipped(b)).collect();
    BASE64.decode(&compact).map_err(|e| {
        // Point offsets at the text as written, whitespace included.
        let original = |offset: usize| {
            bytes
                .iter()
                .enumerate()
                .filter(|&(_, &b)| !is_skipped(b))
                .nth(offset)
                .map_or(bytes.len(), |(i, _)| i)
        };
        Base64Error::Decode(match e {
            DecodeError::InvalidByte(offset, byte) => {
                DecodeError::InvalidByte(original(offset), byte)
            }
            other => other,
        })
    })
}

// ---------------------------------------------------------------------------------------------
// A stream of runs (the JSON export)
// ---------------------------------------------------------------------------------------------

/// A base64 decoder fed runs of characters, that decodes at most `max` bytes.
#[derive(Debug)]
pub(super) struct Base64Stream {
    quad: [u8; 4],
    filled: usize,
    /// Body offset of `quad[0]`.
    quad_at: u64,
    padded: bool,
    /// Bytes decoded so far, handed out or not.
    decoded: u64,
    /// The most bytes the content may decode to (`max_file_bytes`).
    max: u64,
    /// Decoded bytes not yet handed out.
    pub(super) out: BytesMut,
}

/// An [`ErrorKind::InvalidBase64`] error at body offset `at`.
pub(super) fn base64_error(detail: impl Into<std::borrow::Cow<'static, str>>, at: u64) -> Error {
    Error::new(ErrorKind::InvalidBase64, detail).at(at)
}

impl Base64Stream {
    /// A decoder for content that may decode to at most `max` bytes.
    pub(super) fn new(max: u64) -> Self {
        Base64Stream {
            quad: [0; 4],
            filled: 0,
            quad_at: 0,
            padded: false,
            decoded: 0,
            max,
            out: BytesMut::new(),
        }
    }

    pub(super) fn push_byte(&mut self, b: u8, at: u64) -> Result<()> {
        if is_skipped(b) {
            return Ok(());
        }
        if !is_base64_byte(b) {
            return Err(base64_error(
                format!("byte {:?} is not base64", char::from(b)),
                at,
            ));
        }
        if self.padded {
            return Err(base64_error("data after the base64 padding", at));
        }
        if self.filled == 0 {
            self.quad_at = at;
        }
        self.quad[self.filled] = b;
        self.filled += 1;
        if self.filled == 4 {
            self.filled = 0;
            let quad = self.quad;
            let n = self.decode(&quad, at - 3)?;
            self.count(n, self.quad_at)?;
        }
        Ok(())
    }

    /// Counts `n` bytes just decoded, from quads whose first starts at body offset `at`, against
    /// the limit.
    #[inline]
    fn count(&mut self, n: usize, at: u64) -> Result<()> {
        self.decoded += n as u64;
        if self.decoded > self.max {
            return Err(self.over_limit(n, at));
        }
        Ok(())
    }

    /// The last `n` decoded bytes went over the limit: keeps those up to it, and places the
    /// error at the first character of the quad that decodes to the first byte over it (the
    /// quads from `at` on are contiguous in the body: one quad, or a run decoded in bulk).
    #[cold]
    fn over_limit(&mut self, n: usize, at: u64) -> Error {
        let before = self.decoded - n as u64;
        // Less than `n`, which is a usize.
        let room = (self.max - before) as usize;
        self.out.truncate(self.out.len() - n + room);
        self.decoded = self.max;
        Error::limit_exceeded(Limit::PartBytes, self.max).at(at + (room / 3 * 4) as u64)
    }

    /// Decodes whole quads of base64 characters starting at body offset `at`; returns how many
    /// bytes they gave.
    fn decode(&mut self, chars: &[u8], at: u64) -> Result<usize> {
        if self.padded {
            return Err(base64_error("data after the base64 padding", at));
        }
        let start = self.out.len();
        self.out.resize(start + chars.len() / 4 * 3 + 3, 0);
        match BASE64.decode_slice(chars, &mut self.out[start..]) {
            Ok(n) => {
                self.out.truncate(start + n);
                self.padded = chars.last() == Some(&b'=');
                Ok(n)
            }
            Err(e) => {
                self.out.truncate(start);
                let (pos, detail) = match e {
                    DecodeSliceError::DecodeError(DecodeError::InvalidByte(i, b'=')) => {
                        // Padding inside the quads: the error is the first data byte after it.
                        let data = chars[i..]
                            .iter()
                            .position(|&b| b != b'=')
                            .map_or(i, |j| i + j);
                        (data, "data after the base64 padding".to_string())
                    }
                    DecodeSliceError::DecodeError(DecodeError::InvalidByte(i, b)) => {
                        (i, format!("byte {:?} is not base64", char::from(b)))
                    }
                    other => (0, other.to_string()),
                };
                Err(base64_error(detail, at + pos as u64))
            }
        }
    }

    /// Decodes a run of base64 characters that starts at body offset `at`.
    ///
    /// Whole quads are decoded in bulk; when that fails, the run is taken again one character at
    /// a time, exactly as it would be had it come in 1-byte chunks, so the error (its offset,
    /// and the bytes handed out before it) is the same under every chunking.
    pub(super) fn push_run(&mut self, run: &[u8], at: u64) -> Result<()> {
        let mut i = 0;
        while self.filled > 0 && i < run.len() {
            self.push_byte(run[i], at + i as u64)?;
            i += 1;
        }
        let bulk = (run.len() - i) / 4 * 4;
        if bulk > 0 {
            if let Ok(n) = self.decode(&run[i..i + bulk], at + i as u64) {
                self.count(n, at + i as u64)?;
                i += bulk;
            }
        }
        for (j, &b) in run[i..].iter().enumerate() {
            self.push_byte(b, at + (i + j) as u64)?;
        }
        Ok(())
    }

    pub(super) fn finish(&mut self, at: u64) -> Result<()> {
        match self.filled {
            0 => Ok(()),
            1 => Err(base64_error(
                "base64 content ends with a lone character",
                at,
            )),
            n => {
                let quad = self.quad;
                self.filled = 0;
                let decoded = self.decode(&quad[..n], at)?;
                self.count(decoded, self.quad_at)
            }
        }
    }
}
