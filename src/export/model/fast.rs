//! A lean JSON reader for the common case, feeding the same `Deserialize` impls as serde_json.
//!
//! It reads a strict subset of JSON (strings without escapes or control characters, and numbers
//! only as whole tokens that serde_json itself parses) and makes the same visitor calls that
//! `serde_json::Deserializer` makes for that input. It never reports an error of its own:
//! anything it does not read, and every error (syntax, types, invalid dates, bad base64,
//! duplicate or missing fields, nesting too deep), is a [`Bail`], after which the
//! caller parses the input again with serde_json, which gives the result or the exact error with
//! its position. So for any input, the outcome is serde_json's.

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;

/// The fast path gives up; the caller reparses with serde_json.
#[derive(Debug)]
pub(super) struct Bail;

impl fmt::Display for Bail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not read by the fast path")
    }
}

impl std::error::Error for Bail {}

impl de::Error for Bail {
    /// The message is dropped unformatted: serde_json will produce it.
    fn custom<T: fmt::Display>(_: T) -> Self {
        Bail
    }
}

/// `0x0101_0101_0101_0101`: one in every byte.
const ONES: u64 = u64::MAX / 255;
/// The high bit of every byte.
const HIGHS: u64 = ONES << 7;

/// The eight bytes at `at`, little-endian, if there are eight.
#[inline]
fn word(bytes: &[u8], at: usize) -> Option<u64> {
    let chunk = bytes.get(at..at + 8)?;
    Some(u64::from_le_bytes(chunk.try_into().ok()?))
}

/// The high bit set in the lowest byte of `chunk` equal to `b` (higher bytes may be
/// flagged wrongly after a real match, so only the lowest flag is meaningful).
#[inline]
fn bytes_equal(chunk: u64, b: u8) -> u64 {
    let x = chunk ^ (ONES * u64::from(b));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The high bit set in the lowest byte of `chunk` below `limit` (at most 0x80), as above.
#[inline]
fn bytes_below(chunk: u64, limit: u8) -> u64 {
    chunk.wrapping_sub(ONES * u64::from(limit)) & !chunk & HIGHS
}

/// serde_json's nesting limit, counted the same way (giving up at the same depth or
/// earlier is enough: serde_json then reports it).
const MAX_DEPTH: u8 = 128;

pub(super) struct Reader<'de> {
    text: &'de str,
    pos: usize,
    remaining_depth: u8,
}

impl<'de> Reader<'de> {
    pub(super) fn new(text: &'de str) -> Self {
        Reader {
            text,
            pos: 0,
            remaining_depth: MAX_DEPTH,
        }
    }

    /// After the value: only whitespace may follow.
    pub(super) fn end(&mut self) -> Result<(), Bail> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(Bail),
        }
    }

    /// The next byte that is not JSON whitespace, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        loop {
            let b = *bytes.get(self.pos)?;
            if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return Some(b);
            }
            self.pos += 1;
            // Indentation: skip spaces eight at a time.
            while let Some(chunk) = word(bytes, self.pos) {
                let other = chunk ^ (ONES * u64::from(b' '));
                if other != 0 {
                    self.pos += other.trailing_zeros() as usize / 8;
                    break;
                }
                self.pos += 8;
            }
        }
    }

    /// A string at `pos` (on its opening quote) without escapes or control characters,
    /// borrowed from the input.
    #[inline]
    fn string(&mut self) -> Result<&'de str, Bail> {
        let bytes = self.text.as_bytes();
        let start = self.pos + 1;
        let mut end = start;
        // Eight bytes at a time, to the first quote, backslash or control character.
        while end + 8 <= bytes.len() {
            let chunk = u64::from_le_bytes(bytes[end..end + 8].try_into().expect("8 bytes"));
            let stops =
                bytes_equal(chunk, b'"') | bytes_equal(chunk, b'\\') | bytes_below(chunk, 0x20);
            if stops != 0 {
                end += stops.trailing_zeros() as usize / 8;
                break;
            }
            end += 8;
        }
        while end < bytes.len() && !matches!(bytes[end], b'"' | b'\\' | 0..=0x1f) {
            end += 1;
        }
        // A quote ends the string; a backslash, control character or the end of the
        // input is left to serde_json.
        if bytes.get(end) != Some(&b'"') {
            return Err(Bail);
        }
        self.pos = end + 1;
        // Both ends are at ASCII quotes, so on character boundaries.
        self.text.get(start..end).ok_or(Bail)
    }

    /// `true`, `false` or `null` at `pos`.
    fn literal(&mut self, word: &str) -> Result<(), Bail> {
        if self.text.as_bytes()[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(Bail)
        }
    }

    /// A number at `pos`: the whole run of number characters, parsed by serde_json itself
    /// (an invalid token is an error there, so also here), then visited as serde_json
    /// visits it.
    fn number<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Bail> {
        let rest = &self.text.as_bytes()[self.pos..];
        let len = rest
            .iter()
            .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .unwrap_or(rest.len());
        let token = self.text.get(self.pos..self.pos + len).ok_or(Bail)?;
        self.pos += len;
        let number: serde_json::Number = serde_json::from_str(token).map_err(|_| Bail)?;
        if let Some(n) = number.as_u64() {
            visitor.visit_u64(n)
        } else if let Some(n) = number.as_i64() {
            visitor.visit_i64(n)
        } else {
            visitor.visit_f64(number.as_f64().ok_or(Bail)?)
        }
    }

    fn enter(&mut self) -> Result<(), Bail> {
        self.remaining_depth -= 1;
        if self.remaining_depth == 0 {
            return Err(Bail);
        }
        self.pos += 1;
        Ok(())
    }

    /// An object at `pos` (on `{`).
    fn map<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Bail> {
        self.enter()?;
        let value = visitor.visit_map(Members {
            reader: self,
            first: true,
        })?;
        self.remaining_depth += 1;
        self.close(b'}')?;
        Ok(value)
    }

    /// An array at `pos` (on `[`).
    fn seq<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Bail> {
        self.enter()?;
        let value = visitor.visit_seq(Elements {
            reader: self,
            first: true,
        })?;
        self.remaining_depth += 1;
        self.close(b']')?;
        Ok(value)
    }

    fn close(&mut self, bracket: u8) -> Result<(), Bail> {
        if self.peek() != Some(bracket) {
            return Err(Bail);
        }
        self.pos += 1;
        Ok(())
    }

    /// Before the next member or element: `Some(peeked byte)` if there is one, after
    /// checking and consuming the comma (none before the first).
    #[inline]
    fn next_item(&mut self, first: &mut bool, close: u8) -> Result<Option<u8>, Bail> {
        let peek = self.peek().ok_or(Bail)?;
        if peek == close {
            return Ok(None);
        }
        if *first {
            *first = false;
            return Ok(Some(peek));
        }
        if peek != b',' {
            return Err(Bail);
        }
        self.pos += 1;
        match self.peek() {
            Some(b) if b != close => Ok(Some(b)),
            _ => Err(Bail),
        }
    }
}

impl<'de> Deserializer<'de> for &mut Reader<'de> {
    type Error = Bail;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        match self.peek().ok_or(Bail)? {
            b'"' => visitor.visit_borrowed_str(self.string()?),
            b'{' => self.map(visitor),
            b'[' => self.seq(visitor),
            b't' => {
                self.literal("true")?;
                visitor.visit_bool(true)
            }
            b'f' => {
                self.literal("false")?;
                visitor.visit_bool(false)
            }
            b'n' => {
                self.literal("null")?;
                visitor.visit_unit()
            }
            b'-' | b'0'..=b'9' => self.number(visitor),
            _ => Err(Bail),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        if self.peek() == Some(b'n') {
            self.literal("null")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        match self.peek() {
            Some(b'{') => self.map(visitor),
            _ => Err(Bail),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Bail> {
        self.deserialize_map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Bail> {
        match self.peek() {
            Some(b'[') => self.seq(visitor),
            _ => Err(Bail),
        }
    }

    // For these, serde_json makes the same visitor call as `deserialize_any` whenever the
    // visitor accepts the value; when it does not, both are errors.
    forward_to_deserialize_any! {
        bool char str string unit identifier ignored_any
    }

    // Not used by the model: left to serde_json.
    fn deserialize_i8<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: V,
    ) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: V,
    ) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, Bail> {
        Err(Bail)
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Bail> {
        Err(Bail)
    }
}

struct Members<'a, 'de> {
    reader: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> MapAccess<'de> for Members<'_, 'de> {
    type Error = Bail;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Bail> {
        match self.reader.next_item(&mut self.first, b'}')? {
            None => Ok(None),
            Some(b'"') => {
                let key = self.reader.string()?;
                seed.deserialize(BorrowedStrDeserializer::new(key))
                    .map(Some)
            }
            Some(_) => Err(Bail),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Bail> {
        if self.reader.peek() != Some(b':') {
            return Err(Bail);
        }
        self.reader.pos += 1;
        seed.deserialize(&mut *self.reader)
    }
}

struct Elements<'a, 'de> {
    reader: &'a mut Reader<'de>,
    first: bool,
}

impl<'de> SeqAccess<'de> for Elements<'_, 'de> {
    type Error = Bail;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Bail> {
        match self.reader.next_item(&mut self.first, b']')? {
            None => Ok(None),
            Some(_) => seed.deserialize(&mut *self.reader).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::DocumentData;
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::Value;

    /// The fast reader's outcome for `text`, or `None` when it gives up.
    fn fast_read<T: Deserialize<'static>>(text: &'static str) -> Option<T> {
        let mut reader = Reader::new(text);
        let value = T::deserialize(&mut reader).ok()?;
        reader.end().ok()?;
        Some(value)
    }

    fn leak(text: String) -> &'static str {
        Box::leak(text.into_boxed_str())
    }

    /// When the fast reader reads a value, serde_json reads the same; it gives up on escapes,
    /// control characters, and anything invalid.
    #[test]
    fn fast_reader_reads_what_serde_json_reads() {
        let table = [
            r#"{"a":[1,-2,3.5,2E-3,18446744073709551616,-9223372036854775809,-0,true,false,null,"x",{}]}"#,
            r#"[1e400]"#,
            " \t\r\n{ \"a\" : [ ] , \"b\" : { } } \n",
            r#"{"a":1,"a":2,"b":3}"#,
            r#""\u00e9""#,
            r#""a\"b""#,
            "\"tab\there\"",
            r#"{"a":1,}"#,
            r#"[1,]"#,
            r#"[,1]"#,
            r#"{"a" 1}"#,
            r#"{"a":1 "b":2}"#,
            r#"{1:2}"#,
            r#"[01]"#,
            r#"[1.]"#,
            r#"[-]"#,
            r#"[1x]"#,
            r#"[tru]"#,
            r#"[nulll]"#,
            r#"{"a":1}x"#,
            r#"{"a":1"#,
            "",
            "\u{a0}1",
        ];
        let mut read = 0;
        for text in table {
            let serde = serde_json::from_str::<Value>(text);
            if let Some(value) = fast_read::<Value>(text) {
                read += 1;
                assert_eq!(value, serde.unwrap(), "{text}");
            }
        }
        assert_eq!(read, 3);
    }

    #[test]
    fn fast_reader_nesting_limit_is_serde_json_s() {
        for depth in [126, 127, 128, 129] {
            let text = leak(format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
            let serde = serde_json::from_str::<Value>(text);
            assert_eq!(serde.is_ok(), depth < 128, "{depth}");
            match fast_read::<Value>(text) {
                Some(value) => assert_eq!(value, serde.unwrap()),
                None => assert!(serde.is_err(), "{depth}"),
            }
        }
    }

    fn json_text() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|n| n.to_string()),
            "[-+.eE0-9]{1,6}",
            "\"([a-zA-Z0-9 é/]|\\\\[\"/nu]|\t){0,12}\"",
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            let key = "\"([a-z]{0,3}|id|documentData|sex|dateOfBirth|from|note|notes|content)\"";
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((key, inner), 0..6).prop_map(|members| {
                    let members: Vec<String> = members
                        .into_iter()
                        .map(|(k, v)| format!("{k} : {v}"))
                        .collect();
                    format!("{{ {} }}", members.join(",\n  "))
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn fast_reader_agrees_with_serde_json(text in json_text(), cut in 0usize..4) {
            // Sometimes cut short, to be invalid.
            let text = if cut == 0 && text.len() > 1 {
                let mut half = text.len() / 2;
                while !text.is_char_boundary(half) {
                    half -= 1;
                }
                text[..half].to_owned()
            } else {
                text
            };
            let Ok(text) = std::str::from_utf8(text.as_bytes()) else { return Ok(()) };
            let text = leak(text.to_owned());
            let serde = serde_json::from_str::<Value>(text);
            if let Some(value) = fast_read::<Value>(text) {
                prop_assert_eq!(value, serde.unwrap());
            }
            let document = serde_json::from_str::<DocumentData>(text);
            if let Some(value) = fast_read::<DocumentData>(text) {
                prop_assert_eq!(value, document.unwrap());
            }
        }
    }
}
