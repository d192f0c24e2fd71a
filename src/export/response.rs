//! The HTTP answer a body came with, and what it adds to the errors about that body.

use crate::error::{Error, ErrorKind};

/// What an HTTP answer said about its body, for the errors about it.
#[derive(Debug)]
pub(super) struct Response {
    pub(super) status: u16,
    pub(super) content_type: Option<String>,
    /// The body's first bytes, to show in an error about a body that is no export.
    pub(super) first_bytes: Vec<u8>,
}

/// How many of the body's first bytes an error about an unknown body shows.
pub(super) const SHOWN_BYTES: usize = 32;

impl Response {
    /// `HTTP 404 text/html`.
    fn describe(&self) -> String {
        match &self.content_type {
            Some(ct) => format!("HTTP {} {ct}", self.status),
            None => format!("HTTP {} without a content-type", self.status),
        }
    }

    pub(super) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first bytes, as an escaped string: `"<html>..."`.
    fn shown_bytes(&self) -> String {
        let shown = String::from_utf8_lossy(&self.first_bytes);
        format!("{:?}", format!("{shown}..."))
    }

    /// `err` with what the answer said: an API error gets the status; a body that is no export
    /// says what came instead.
    pub(super) fn explain(&self, err: Error) -> Error {
        match err.kind() {
            ErrorKind::Api => match err.api_error() {
                Some(api) => {
                    let api = api.clone().with_status(self.status);
                    Error::with_value(ErrorKind::Api, api).with_http_status(self.status)
                }
                None => err.with_http_status(self.status),
            },
            ErrorKind::UnknownFormat => Error::new(
                ErrorKind::UnknownFormat,
                format!(
                    "{}: the body is not a multipart, json or pdf export (first bytes: {})",
                    self.describe(),
                    self.shown_bytes()
                ),
            )
            .with_http_status(self.status),
            _ => err,
        }
    }

    /// The error for an error status whose body reads as an export (of `format`), not as an
    /// API error.
    pub(super) fn not_an_error_body(&self, format: &str) -> Error {
        Error::new(
            ErrorKind::UnknownFormat,
            format!(
                "{}: an error status, but the body is a {format} export, not an API error",
                self.describe()
            ),
        )
        .with_http_status(self.status)
    }
}
