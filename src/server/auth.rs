//! Basic authentication against the emulator's one client id and secret.

use std::fmt;

use axum::http::HeaderValue;
use base64::Engine as _;
use subtle::ConstantTimeEq;

use super::reply::Failure;

/// The client id and secret the emulator accepts. `Debug` never shows the secret.
#[derive(Clone)]
pub(crate) struct Credentials {
    id: String,
    secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl Credentials {
    pub(crate) fn new(id: String, secret: String) -> Self {
        Credentials { id, secret }
    }

    /// Checks an `Authorization` header: none is `API_KEYS_MISSING`; one that is not
    /// `Basic base64(id:secret)` is `API_KEYS_BAD`; another id or secret is `API_KEYS_INVALID`.
    ///
    /// Both the id and the secret are compared in constant time (for their lengths), and both
    /// are always compared.
    pub(crate) fn check(&self, header: Option<&HeaderValue>) -> Result<(), Failure> {
        let header = header.ok_or_else(Failure::keys_missing)?;
        let value = header.to_str().map_err(|_| Failure::keys_bad())?.trim();
        let (scheme, token) = value.split_once(' ').ok_or_else(Failure::keys_bad)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(Failure::keys_bad());
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .map_err(|_| Failure::keys_bad())?;
        let colon = decoded
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(Failure::keys_bad)?;
        let (id, secret) = (&decoded[..colon], &decoded[colon + 1..]);
        let same = id.ct_eq(self.id.as_bytes()) & secret.ct_eq(self.secret.as_bytes());
        if bool::from(same) {
            Ok(())
        } else {
            Err(Failure::keys_invalid())
        }
    }
}
