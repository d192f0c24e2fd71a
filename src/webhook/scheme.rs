//! The signature constructions, the secret that keys them, and the running digest.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, ErrorKind, Result};

/// How the `X-SIGNATURE` of a delivery is made from its body and the client secret.
///
/// The vendor's documentation says "the hex-encoded SHA256 digest of the request body and your
/// Client Secret", which leaves the order and the use of HMAC open; `authenteq-export webhook
/// detect` tells which one a captured delivery used. The hex digits are compared in any case.
///
/// # Examples
///
/// ```
/// use authenteq_export::webhook::Scheme;
///
/// assert_eq!(Scheme::default(), Scheme::Sha256BodySecret);
/// assert_eq!("hmac-sha256".parse::<Scheme>()?, Scheme::HmacSha256);
/// assert_eq!(Scheme::Sha256SecretBody.to_string(), "sha256-secret-body");
/// # Ok::<(), authenteq_export::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Scheme {
    /// `sha256(body || secret)`: `sha256-body-secret`, the default.
    #[default]
    Sha256BodySecret,
    /// `sha256(secret || body)`: `sha256-secret-body`.
    Sha256SecretBody,
    /// HMAC-SHA256 of the body keyed by the secret: `hmac-sha256`.
    HmacSha256,
}

impl Scheme {
    /// Every construction, in the order [`detect`](super::detect) tries them.
    pub const ALL: [Scheme; 3] = [
        Scheme::Sha256BodySecret,
        Scheme::Sha256SecretBody,
        Scheme::HmacSha256,
    ];

    /// Its name on the command line: `sha256-body-secret`, `sha256-secret-body` or
    /// `hmac-sha256`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Sha256BodySecret => "sha256-body-secret",
            Scheme::Sha256SecretBody => "sha256-secret-body",
            Scheme::HmacSha256 => "hmac-sha256",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheme {
    type Err = Error;

    /// # Errors
    ///
    /// [`ErrorKind::Usage`] for any other name.
    fn from_str(s: &str) -> Result<Scheme> {
        Scheme::ALL
            .into_iter()
            .find(|scheme| scheme.name() == s)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Usage,
                    "the signature scheme is one of sha256-body-secret, sha256-secret-body, \
                     hmac-sha256",
                )
            })
    }
}

/// The client secret that keys the signature. Its `Debug` shows nothing of it, and no error or
/// log line of this crate ever holds it.
#[derive(Clone)]
pub struct Secret(Box<[u8]>);

impl Secret {
    /// A secret from its bytes (the client secret as the vendor gave it, as UTF-8).
    pub fn new(secret: impl AsRef<[u8]>) -> Secret {
        Secret(secret.as_ref().into())
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret::new(s)
    }
}

/// A digest being computed over a body that passes through it, chunk by chunk, for one
/// [`Scheme`]: [`update`](Self::update) with each chunk, then [`finish`](Self::finish).
///
/// Cost: one SHA-256 pass over the body (SHA-NI where the CPU has it, chosen at run time), two
/// for HMAC's few extra blocks; no allocation after it is made.
///
/// # Examples
///
/// ```
/// use authenteq_export::webhook::{Scheme, Secret, Signer};
///
/// let mut signer = Signer::new(Scheme::Sha256BodySecret, &Secret::new("s3cret"));
/// signer.update(b"--b\r\n");
/// signer.update(b"...");
/// assert_eq!(signer.finish_hex().len(), 64);
/// ```
#[derive(Clone)]
pub struct Signer {
    state: State,
}

#[derive(Clone)]
enum State {
    /// `sha256(body || secret)`: the secret is added at the end.
    BodySecret(Sha256, Secret),
    /// `sha256(secret || body)`: the secret went in first.
    SecretBody(Sha256),
    Hmac(Hmac<Sha256>),
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.state {
            State::BodySecret(..) => Scheme::Sha256BodySecret,
            State::SecretBody(_) => Scheme::Sha256SecretBody,
            State::Hmac(_) => Scheme::HmacSha256,
        };
        f.debug_struct("Signer")
            .field("scheme", &scheme)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `scheme`, keyed by `secret`.
    pub fn new(scheme: Scheme, secret: &Secret) -> Signer {
        let state = match scheme {
            Scheme::Sha256BodySecret => State::BodySecret(Sha256::new(), secret.clone()),
            Scheme::Sha256SecretBody => {
                let mut hasher = Sha256::new();
                hasher.update(secret.bytes());
                State::SecretBody(hasher)
            }
            Scheme::HmacSha256 => State::Hmac(
                // HMAC takes a key of any length (a long one is hashed first).
                Hmac::<Sha256>::new_from_slice(secret.bytes())
                    .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length")),
            ),
        };
        Signer { state }
    }

    /// Adds the next bytes of the body.
    #[inline]
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            State::BodySecret(hasher, _) | State::SecretBody(hasher) => hasher.update(bytes),
            State::Hmac(mac) => mac.update(bytes),
        }
    }

    /// The digest of the whole body.
    pub fn finish(self) -> [u8; 32] {
        match self.state {
            State::BodySecret(mut hasher, secret) => {
                hasher.update(secret.bytes());
                hasher.finalize().into()
            }
            State::SecretBody(hasher) => hasher.finalize().into(),
            State::Hmac(mac) => mac.finalize().into_bytes().into(),
        }
    }

    /// The digest of the whole body in lowercase hex: the `X-SIGNATURE` value.
    pub fn finish_hex(self) -> String {
        to_hex(&self.finish())
    }
}

/// The digests of one body under several keys at once, in one pass over it: the keys of
/// [`Scheme::Sha256BodySecret`] share one SHA-256 state of the body, finished once per secret
/// (the state is cloned at the end and fed that secret); the other schemes put the secret
/// first (or key an HMAC), so each of their keys keeps a state of its own.
#[derive(Clone)]
pub(crate) struct Digests {
    /// The body alone, and the secrets that follow it, each with its key's position.
    shared: Option<(Sha256, Vec<(usize, Secret)>)>,
    /// A signer per key of the other schemes, with its key's position.
    own: Vec<(usize, Signer)>,
}

impl Digests {
    /// The digests for `keys`: each its position, scheme and secret.
    pub(crate) fn new<'a>(keys: impl IntoIterator<Item = (usize, Scheme, &'a Secret)>) -> Digests {
        let mut digests = Digests {
            shared: None,
            own: Vec::new(),
        };
        for (position, scheme, secret) in keys {
            match scheme {
                Scheme::Sha256BodySecret => digests
                    .shared
                    .get_or_insert_with(|| (Sha256::new(), Vec::new()))
                    .1
                    .push((position, secret.clone())),
                _ => digests.own.push((position, Signer::new(scheme, secret))),
            }
        }
        digests
    }

    /// Adds the next bytes of the body to every state.
    #[inline]
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        if let Some((hasher, _)) = &mut self.shared {
            hasher.update(bytes);
        }
        for (_, signer) in &mut self.own {
            signer.update(bytes);
        }
    }

    /// The position of the first key whose digest of the body is `expected`. Every digest is
    /// finished and compared (in constant time), whichever matches.
    pub(crate) fn matching(self, expected: &[u8; 32]) -> Option<usize> {
        let mut found: Option<usize> = None;
        let mut check = |position: usize, digest: [u8; 32]| {
            if digests_match(&digest, expected) && found.is_none_or(|f| position < f) {
                found = Some(position);
            }
        };
        if let Some((hasher, secrets)) = self.shared {
            for (position, secret) in secrets {
                let mut hasher = hasher.clone();
                hasher.update(secret.bytes());
                check(position, hasher.finalize().into());
            }
        }
        for (position, signer) in self.own {
            check(position, signer.finish());
        }
        found
    }

    /// How many hash states each byte of the body goes through.
    #[cfg(test)]
    pub(crate) fn states(&self) -> usize {
        usize::from(self.shared.is_some()) + self.own.len()
    }
}

/// `bytes` in lowercase hex.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        hex.push(char::from(DIGITS[usize::from(b >> 4)]));
        hex.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    hex
}

/// A 64-digit hex signature (any case, surrounding whitespace ignored) as its 32 bytes.
pub(crate) fn parse_signature(hex: &str) -> Result<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    let bad = || {
        Error::new(
            ErrorKind::Signature,
            "the signature is not 64 hex digits (a SHA-256 digest)",
        )
    };
    if hex.len() != 64 {
        return Err(bad());
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (digit(pair[0]).ok_or_else(bad)? << 4) | digit(pair[1]).ok_or_else(bad)?;
    }
    Ok(out)
}

/// Whether two digests are equal, in time that does not depend on where they differ.
pub(crate) fn digests_match(a: &[u8; 32], b: &[u8; 32]) -> bool {
    bool::from(a.ct_eq(b))
}

/// Whether two client ids are equal, in time that depends only on their lengths.
pub(crate) fn ids_match(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunking does not change a digest; the plain constructions are SHA-256 of the
    /// concatenations; HMAC matches RFC 4231.
    #[test]
    fn known_digests() {
        let secret = Secret::new("secret");
        for scheme in Scheme::ALL {
            let mut signer = Signer::new(scheme, &secret);
            signer.update(b"bo");
            signer.update(b"dy");
            let split = signer.finish_hex();
            let mut whole = Signer::new(scheme, &secret);
            whole.update(b"body");
            assert_eq!(split, whole.finish_hex(), "{scheme}");
        }
        // Plain SHA-256 over the concatenations.
        let mut s = Signer::new(Scheme::Sha256BodySecret, &secret);
        s.update(b"body");
        assert_eq!(s.finish(), <[u8; 32]>::from(Sha256::digest(b"bodysecret")));
        let mut s = Signer::new(Scheme::Sha256SecretBody, &secret);
        s.update(b"body");
        assert_eq!(s.finish(), <[u8; 32]>::from(Sha256::digest(b"secretbody")));
        // RFC 4231, test case 2.
        let mut s = Signer::new(Scheme::HmacSha256, &Secret::new("Jefe"));
        s.update(b"what do ya want for nothing?");
        assert_eq!(
            s.finish_hex(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// Several keys in one pass: the keys of `sha256(body || secret)` share one state, and
    /// each key's digest is the one its own signer makes.
    #[test]
    fn digests_of_several_keys_share_the_body_state() {
        let secrets = [Secret::new("one"), Secret::new("two"), Secret::new("three")];
        let schemes = [
            Scheme::Sha256BodySecret,
            Scheme::Sha256BodySecret,
            Scheme::HmacSha256,
        ];
        let keys = || (0..3).map(|i| (i, schemes[i], &secrets[i]));
        let digests = Digests::new(keys());
        assert_eq!(digests.states(), 2);
        let all_body_secret =
            Digests::new((0..3).map(|i| (i, Scheme::Sha256BodySecret, &secrets[i])));
        assert_eq!(all_body_secret.states(), 1);
        for i in 0..3 {
            let mut signer = Signer::new(schemes[i], &secrets[i]);
            signer.update(b"the body");
            let expected = signer.finish();
            let mut digests = Digests::new(keys());
            digests.update(b"the ");
            digests.update(b"body");
            assert_eq!(digests.matching(&expected), Some(i));
        }
        let mut other = Signer::new(Scheme::Sha256SecretBody, &secrets[0]);
        other.update(b"the body");
        let mut digests = Digests::new(keys());
        digests.update(b"the body");
        assert_eq!(digests.matching(&other.finish()), None);
    }

    #[test]
    fn signatures_parse_in_any_case() {
        let lower = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let upper = lower.to_ascii_uppercase();
        assert_eq!(
            parse_signature(lower).unwrap(),
            parse_signature(&upper).unwrap()
        );
        assert_eq!(to_hex(&parse_signature(&upper).unwrap()), lower);
        for bad in ["", "5bdc", &lower[1..], &format!("{}g", &lower[1..])] {
            assert_eq!(
                parse_signature(bad).unwrap_err().kind(),
                ErrorKind::Signature
            );
        }
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let secret = Secret::new("hunter2");
        let signer = Signer::new(Scheme::Sha256BodySecret, &secret);
        for shown in [format!("{secret:?}"), format!("{signer:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }
}
