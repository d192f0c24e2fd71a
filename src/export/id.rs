//! [`VerificationId`]: the one rule for a verification id, wherever one comes from.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Result};

/// A verification id that every layer accepts: the client sends it, the emulator serves it, a
/// webhook delivery carries it, and a store names a folder or key prefix after it.
///
/// The rule, checked once when the id is made:
///
/// - not empty, at most [`MAX_BYTES`](Self::MAX_BYTES) (128) bytes;
/// - no control character;
/// - one safe path component, as `save::is_safe_file_name` says: no `/` or `\`, not `.` or
///   `..`, no leading dot, no Windows device name, none of `< > : " | ? *`.
///
/// The API's ids are UUIDs, which pass; anything else is refused before it reaches the network,
/// a folder or a bucket.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::VerificationId;
/// use authenteq_export::ErrorKind;
///
/// let id: VerificationId = "8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95".parse()?;
/// assert_eq!(id.as_str(), "8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95");
/// for bad in ["", "..", "a/b", "a\nb", ".hidden", &"x".repeat(129)] {
///     assert_eq!(VerificationId::new(bad).unwrap_err().kind(), ErrorKind::InvalidId);
/// }
/// # Ok::<(), authenteq_export::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VerificationId(Box<str>);

impl VerificationId {
    /// The longest id, in bytes.
    pub const MAX_BYTES: usize = 128;

    /// `id`, checked against the rule.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidId`], saying which part of the rule `id` breaks (and where); the
    /// id itself is not in the message.
    pub fn new(id: impl AsRef<str>) -> Result<VerificationId> {
        let id = id.as_ref();
        let why = if id.is_empty() {
            "it is empty".to_owned()
        } else if id.len() > Self::MAX_BYTES {
            format!("it is {} bytes long, over {}", id.len(), Self::MAX_BYTES)
        } else if let Some(at) = id.find(char::is_control) {
            format!("it holds a control character at byte {at}")
        } else if !crate::names::is_safe_file_name(id) {
            "it is not one safe path component (a `/` or `\\`, a leading dot, a device name \
             or a character such as `:` or `*`)"
                .to_owned()
        } else {
            return Ok(VerificationId(id.into()));
        };
        Err(Error::new(ErrorKind::InvalidId, why))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for VerificationId {
    type Err = Error;

    fn from_str(s: &str) -> Result<VerificationId> {
        VerificationId::new(s)
    }
}

impl TryFrom<&str> for VerificationId {
    type Error = Error;

    fn try_from(s: &str) -> Result<VerificationId> {
        VerificationId::new(s)
    }
}

impl TryFrom<String> for VerificationId {
    type Error = Error;

    fn try_from(s: String) -> Result<VerificationId> {
        VerificationId::new(s)
    }
}

impl fmt::Display for VerificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Deref for VerificationId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for VerificationId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for VerificationId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for VerificationId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for VerificationId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_and_its_reasons() {
        let rows: &[(&str, Option<&str>)] = &[
            ("8c3f6a2e-5b1d-4e7a-9f20-6d4b2c1a7e95", None),
            ("v1", None),
            ("", Some("empty")),
            ("a\tb", Some("control character at byte 1")),
            ("a/b", Some("safe path component")),
            ("a\\b", Some("safe path component")),
            ("..", Some("safe path component")),
            (".env", Some("safe path component")),
            ("CON", Some("safe path component")),
            ("a:b", Some("safe path component")),
        ];
        for (id, why) in rows {
            match (VerificationId::new(id), why) {
                (Ok(parsed), None) => assert_eq!(parsed, *id),
                (Err(e), Some(why)) => {
                    assert_eq!(e.kind(), ErrorKind::InvalidId, "{id:?}");
                    assert!(e.to_string().contains(why), "{id:?}: {e}");
                }
                (got, want) => panic!("{id:?}: {got:?}, wanted {want:?}"),
            }
        }
        for bad in ["a\0b", "\u{7f}", "a\u{85}"] {
            assert_eq!(
                VerificationId::new(bad).unwrap_err().kind(),
                ErrorKind::InvalidId
            );
        }
        let long = "x".repeat(VerificationId::MAX_BYTES);
        assert!(VerificationId::new(&long).is_ok());
        let e = VerificationId::new(format!("{long}x")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid verification id: it is 129 bytes long, over 128"
        );
    }
}
