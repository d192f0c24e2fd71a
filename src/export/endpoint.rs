//! [`Endpoint`]: the API's export endpoints, named once for the client and the emulator.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Result};

/// One of the three export endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `/export/verification-result-as-multipart`: `multipart/*`.
    Multipart,
    /// `/export/verification-result-as-json`: `application/json`, files in base64.
    Json,
    /// `/export/verification-result-as-pdf`: `application/pdf`, the report as one PDF.
    Pdf,
}

impl Endpoint {
    /// Every endpoint, in the order the API documents them.
    pub const ALL: [Endpoint; 3] = [Endpoint::Json, Endpoint::Multipart, Endpoint::Pdf];

    /// The endpoint's path: `/export/verification-result-as-json`.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::Endpoint;
    ///
    /// assert_eq!(Endpoint::Pdf.path(), "/export/verification-result-as-pdf");
    /// assert_eq!("multipart".parse::<Endpoint>()?, Endpoint::Multipart);
    /// # Ok::<(), authenteq_export::Error>(())
    /// ```
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Multipart => "/export/verification-result-as-multipart",
            Endpoint::Json => "/export/verification-result-as-json",
            Endpoint::Pdf => "/export/verification-result-as-pdf",
        }
    }

    /// `multipart`, `json` or `pdf`.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Multipart => "multipart",
            Endpoint::Json => "json",
            Endpoint::Pdf => "pdf",
        }
    }

    /// The content type the endpoint answers with: `multipart/*`, `application/json`,
    /// `application/pdf`.
    #[cfg(feature = "client")]
    pub(crate) fn expected(self) -> &'static str {
        match self {
            Endpoint::Multipart => "multipart/*",
            Endpoint::Json => "application/json",
            Endpoint::Pdf => "application/pdf",
        }
    }

    #[cfg(feature = "client")]
    pub(crate) fn accepts(self, content_type: &str) -> bool {
        let Ok(mime) = content_type.parse::<mime::Mime>() else {
            return false;
        };
        match self {
            Endpoint::Multipart => mime.type_() == mime::MULTIPART,
            Endpoint::Json => {
                mime.type_() == mime::APPLICATION
                    && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
            }
            Endpoint::Pdf => mime.type_() == mime::APPLICATION && mime.subtype() == "pdf",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Reads `multipart`, `json` or `pdf`.
impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "multipart" => Ok(Endpoint::Multipart),
            "json" => Ok(Endpoint::Json),
            "pdf" => Ok(Endpoint::Pdf),
            _ => Err(Error::new(
                ErrorKind::Usage,
                "the endpoint is one of multipart, json, pdf",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "client")]
    #[test]
    fn endpoints_accept_their_content_types() {
        assert!(Endpoint::Multipart.accepts("multipart/mixed; boundary=x"));
        assert!(Endpoint::Multipart.accepts("multipart/form-data; boundary=x"));
        assert!(Endpoint::Json.accepts("application/json"));
        assert!(Endpoint::Json.accepts("application/json; charset=utf-8"));
        assert!(Endpoint::Pdf.accepts("application/pdf"));
        assert!(!Endpoint::Json.accepts("text/html"));
        assert!(!Endpoint::Pdf.accepts("application/json"));
        assert!(!Endpoint::Multipart.accepts("application/json"));
        assert!(!Endpoint::Json.accepts("not a type"));
    }
}
