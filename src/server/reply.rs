//! The API's error answers: each [`Failure`] becomes the documented JSON body and status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::export::{ApiError, ApiErrorCode};

/// An error answer of the API, as the emulator sends it.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    code: ApiErrorCode,
    status: StatusCode,
    text: &'static str,
    /// The API writes `errorDescription` for some codes, `errorMessage` for the others.
    description: bool,
    retry_after: Option<u64>,
}

impl Failure {
    fn new(code: ApiErrorCode, status: StatusCode, text: &'static str, description: bool) -> Self {
        Failure {
            code,
            status,
            text,
            description,
            retry_after: None,
        }
    }

    pub(crate) fn missing_parameter() -> Self {
        Self::new(
            ApiErrorCode::MissingRequestParameter,
            StatusCode::BAD_REQUEST,
            "Required request parameter 'verificationId' is not present",
            false,
        )
    }

    pub(crate) fn invalid_parameter() -> Self {
        Self::new(
            ApiErrorCode::InvalidRequestParameter,
            StatusCode::BAD_REQUEST,
            "Parameter 'verificationId' is not a valid verification id",
            false,
        )
    }

    pub(crate) fn keys_missing() -> Self {
        Self::new(
            ApiErrorCode::ApiKeysMissing,
            StatusCode::UNAUTHORIZED,
            "No API keys were provided",
            true,
        )
    }

    pub(crate) fn keys_bad() -> Self {
        Self::new(
            ApiErrorCode::ApiKeysBad,
            StatusCode::UNAUTHORIZED,
            "The Authorization header is malformed",
            true,
        )
    }

    pub(crate) fn keys_invalid() -> Self {
        Self::new(
            ApiErrorCode::ApiKeysInvalid,
            StatusCode::UNAUTHORIZED,
            "The API keys are invalid",
            false,
        )
    }

    pub(crate) fn deactivated() -> Self {
        Self::new(
            ApiErrorCode::AccountDeactivated,
            StatusCode::FORBIDDEN,
            "The account is deactivated",
            false,
        )
    }

    pub(crate) fn not_found() -> Self {
        Self::new(
            ApiErrorCode::VerificationNotFound,
            StatusCode::NOT_FOUND,
            "Verification not found",
            false,
        )
    }

    pub(crate) fn internal() -> Self {
        Self::new(
            ApiErrorCode::Unknown("INTERNAL_ERROR".into()),
            StatusCode::INTERNAL_SERVER_ERROR,
            "The stored verification could not be read",
            false,
        )
    }

    pub(crate) fn busy(status: StatusCode, retry_after: u64) -> Self {
        let (code, text) = if status == StatusCode::TOO_MANY_REQUESTS {
            ("TOO_MANY_REQUESTS", "Too many requests")
        } else {
            ("SERVICE_UNAVAILABLE", "The service is unavailable")
        };
        let mut failure = Self::new(ApiErrorCode::Unknown(code.into()), status, text, false);
        failure.retry_after = Some(retry_after);
        failure
    }

    /// The body, as the API writes it: pretty-printed, with a final newline.
    fn body(&self) -> Vec<u8> {
        let mut error = ApiError::new(self.code.clone());
        if self.description {
            error
                .extra
                .insert("errorDescription".into(), Value::from(self.text));
        } else {
            error.message = Some(self.text.into());
        }
        let mut body = serde_json::to_vec_pretty(&error).unwrap_or_default();
        body.push(b'\n');
        body
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body(),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"authenteq\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
