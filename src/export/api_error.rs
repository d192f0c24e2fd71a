//! The API's error bodies: `{ "errorCode": "...", "errorMessage": "..." }`.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::macros::lenient_enum;

lenient_enum! {
    /// The `errorCode` of an API error body.
    ///
    /// | `errorCode` | variant | meaning |
    /// |---|---|---|
    /// | `MISSING_REQUEST_PARAMETER` | [`MissingRequestParameter`](Self::MissingRequestParameter) | a required request parameter (the `verificationId`) is missing |
    /// | `INVALID_REQUEST_PARAMETER` | [`InvalidRequestParameter`](Self::InvalidRequestParameter) | a request parameter (the `verificationId`) is invalid |
    /// | `API_KEYS_MISSING` | [`ApiKeysMissing`](Self::ApiKeysMissing) | the request carries no API keys |
    /// | `API_KEYS_INVALID` | [`ApiKeysInvalid`](Self::ApiKeysInvalid) | the API keys are not valid (not recognised) |
    /// | `API_KEYS_BAD` | [`ApiKeysBad`](Self::ApiKeysBad) | the API keys are malformed |
    /// | `ACCOUNT_DEACTIVATED` | [`AccountDeactivated`](Self::AccountDeactivated) | the customer account is deactivated |
    /// | `VERIFICATION_NOT_FOUND` | [`VerificationNotFound`](Self::VerificationNotFound) | no verification with that id exists |
    /// | anything else | [`Unknown`](Self::Unknown) | kept verbatim |
    ///
    /// Parsing never fails: an unknown code is kept as [`ApiErrorCode::Unknown`] and written back
    /// verbatim. Codes are matched exactly (case-sensitive).
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::ApiErrorCode;
    ///
    /// assert_eq!(ApiErrorCode::from("API_KEYS_BAD"), ApiErrorCode::ApiKeysBad);
    /// assert_eq!(ApiErrorCode::VerificationNotFound.as_str(), "VERIFICATION_NOT_FOUND");
    /// let unknown: ApiErrorCode = serde_json::from_str(r#""RATE_LIMITED""#)?;
    /// assert_eq!(unknown, ApiErrorCode::Unknown("RATE_LIMITED".into()));
    /// assert_eq!(serde_json::to_string(&unknown)?, r#""RATE_LIMITED""#);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub enum ApiErrorCode expecting "an API error code string such as \"VERIFICATION_NOT_FOUND\"" {
        /// `MISSING_REQUEST_PARAMETER`: a required request parameter (the `verificationId`) is
        /// missing.
        MissingRequestParameter = "MISSING_REQUEST_PARAMETER",
        /// `INVALID_REQUEST_PARAMETER`: a request parameter (the `verificationId`) is invalid.
        InvalidRequestParameter = "INVALID_REQUEST_PARAMETER",
        /// `API_KEYS_MISSING`: the request carries no API keys.
        ApiKeysMissing = "API_KEYS_MISSING",
        /// `API_KEYS_INVALID`: the API keys are not valid (not recognised).
        ApiKeysInvalid = "API_KEYS_INVALID",
        /// `API_KEYS_BAD`: the API keys are malformed.
        ApiKeysBad = "API_KEYS_BAD",
        /// `ACCOUNT_DEACTIVATED`: the customer account is deactivated.
        AccountDeactivated = "ACCOUNT_DEACTIVATED",
        /// `VERIFICATION_NOT_FOUND`: no verification with that id exists.
        VerificationNotFound = "VERIFICATION_NOT_FOUND";
        /// Any other code, kept exactly as written.
        Unknown(String),
    }
}

const ERROR_CODE: &str = "errorCode";
const ERROR_MESSAGE: &str = "errorMessage";
const ERROR_DESCRIPTION: &str = "errorDescription";

/// An error body returned by the Authenteq API, such as
/// `{ "errorCode": "VERIFICATION_NOT_FOUND", "errorMessage": "Verification not found" }`.
///
/// Some endpoints write `errorDescription` instead of `errorMessage`; either is read into
/// [`message`](Self::message) (`errorMessage` wins when both are strings), and
/// [`to_json`](Self::to_json) writes `errorMessage`. Other members are kept in
/// [`extra`](Self::extra). The HTTP status is not part of the body: set it with
/// [`with_status`](Self::with_status).
///
/// | `errorCode` | meaning |
/// |---|---|
/// | `MISSING_REQUEST_PARAMETER` | a required request parameter (the `verificationId`) is missing |
/// | `INVALID_REQUEST_PARAMETER` | a request parameter (the `verificationId`) is invalid |
/// | `API_KEYS_MISSING` | the request carries no API keys |
/// | `API_KEYS_INVALID` | the API keys are not valid (not recognised) |
/// | `API_KEYS_BAD` | the API keys are malformed |
/// | `ACCOUNT_DEACTIVATED` | the customer account is deactivated |
/// | `VERIFICATION_NOT_FOUND` | no verification with that id exists |
///
/// `Display` is one line with no trailing period:
/// `API error VERIFICATION_NOT_FOUND: Verification not found (HTTP 404)`.
///
/// # Examples
///
/// ```
/// use authenteq_export::export::{ApiError, ApiErrorCode};
///
/// let body = br#"{"errorCode":"VERIFICATION_NOT_FOUND","errorDescription":"Verification not found."}"#;
/// let err = ApiError::from_json(body).expect("an error body").with_status(404);
/// assert_eq!(err.code, ApiErrorCode::VerificationNotFound);
/// assert_eq!(err.message.as_deref(), Some("Verification not found."));
/// assert!(!err.is_retryable());
/// assert_eq!(err.to_string(), "API error VERIFICATION_NOT_FOUND: Verification not found (HTTP 404)");
/// assert_eq!(
///     err.to_json(),
///     br#"{"errorCode":"VERIFICATION_NOT_FOUND","errorMessage":"Verification not found."}"#
/// );
///
/// // Anything that is not an error body:
/// assert!(ApiError::from_json(br#"{"id":"8c3f6a2e"}"#).is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// The `errorCode`.
    pub code: ApiErrorCode,
    /// The `errorMessage`, or else the `errorDescription`, when the body has one as a string.
    pub message: Option<String>,
    /// The HTTP status of the response, when the caller supplied it.
    pub http_status: Option<u16>,
    /// Every other member of the body, written back after the code and message.
    pub extra: Map<String, Value>,
}

impl ApiError {
    /// An error with this code and nothing else.
    pub fn new(code: ApiErrorCode) -> Self {
        ApiError {
            code,
            message: None,
            http_status: None,
            extra: Map::new(),
        }
    }

    /// Sets the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Sets the HTTP status of the response the body came with.
    pub fn with_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }

    /// Reads an API error body.
    ///
    /// Returns `None` when the body is not a JSON object with a string `errorCode` (for example a
    /// verification result, or an HTML error page), so it can be tried on any response body.
    pub fn from_json(body: &[u8]) -> Option<ApiError> {
        match serde_json::from_slice(body) {
            Ok(Value::Object(members)) => ApiError::from_members(members),
            _ => None,
        }
    }

    /// Writes the body as the API does, with `errorMessage` (the HTTP status is not part of it).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an API error always serializes to JSON")
    }

    /// Whether repeating the same request might succeed.
    ///
    /// `false` for every known code: they are all client errors (a bad request, bad credentials,
    /// a deactivated account, an unknown verification), which the same request will meet again.
    /// For an [`Unknown`](ApiErrorCode::Unknown) code it is `true` only when the HTTP status is
    /// known and says the failure was transient: `429` or a `5xx`.
    pub fn is_retryable(&self) -> bool {
        match self.code {
            ApiErrorCode::Unknown(_) => {
                matches!(self.http_status, Some(429) | Some(500..=599))
            }
            _ => false,
        }
    }

    fn from_members(mut members: Map<String, Value>) -> Option<ApiError> {
        let code = match members.remove(ERROR_CODE) {
            Some(Value::String(code)) => ApiErrorCode::from(code),
            _ => return None,
        };
        let message = match members.get(ERROR_MESSAGE) {
            Some(Value::String(_)) => take_string(&mut members, ERROR_MESSAGE),
            _ => match members.get(ERROR_DESCRIPTION) {
                Some(Value::String(_)) => {
                    // A non-string errorMessage (such as null) would clash with the one
                    // to_json writes; drop it.
                    members.remove(ERROR_MESSAGE);
                    take_string(&mut members, ERROR_DESCRIPTION)
                }
                _ => None,
            },
        };
        Some(ApiError {
            code,
            message,
            http_status: None,
            extra: members,
        })
    }
}

fn take_string(members: &mut Map<String, Value>, key: &str) -> Option<String> {
    match members.remove(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "API error {}", self.code)?;
        if let Some(message) = &self.message {
            let message = message.trim();
            let message = match message.strip_suffix('.') {
                Some(stripped) if !stripped.ends_with('.') => stripped,
                _ => message,
            };
            if !message.is_empty() {
                write!(f, ": {message}")?;
            }
        }
        if let Some(status) = self.http_status {
            write!(f, " (HTTP {status})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Writes the wire form: `errorCode`, `errorMessage` (when there is a message), then `extra`.
impl Serialize for ApiError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let extra = self.extra.iter().filter(|(key, _)| {
            *key != ERROR_CODE && !(self.message.is_some() && *key == ERROR_MESSAGE)
        });
        let len = 1 + usize::from(self.message.is_some()) + extra.clone().count();
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry(ERROR_CODE, &self.code)?;
        if let Some(message) = &self.message {
            map.serialize_entry(ERROR_MESSAGE, message)?;
        }
        for (key, value) in extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Reads the wire form, like [`ApiError::from_json`], but fails instead of returning `None`.
impl<'de> Deserialize<'de> for ApiError {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let members = Map::<String, Value>::deserialize(deserializer)?;
        ApiError::from_members(members)
            .ok_or_else(|| de::Error::custom("not an API error body: no string `errorCode`"))
    }
}
