//! The code-like values of the model: lenient enums that keep a value they do not know.

use crate::export::macros::lenient_enum;

lenient_enum! {
    /// The kind of identity document (`documentType`).
    ///
    /// A value this crate does not know is kept as [`DocumentType::Other`] and written back
    /// verbatim; parsing never fails on it. Values are matched exactly (case-sensitive).
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::DocumentType;
    ///
    /// let known: DocumentType = serde_json::from_str(r#""DL""#)?;
    /// assert_eq!(known, DocumentType::DrivingLicense);
    ///
    /// let unknown: DocumentType = serde_json::from_str(r#""RP""#)?;
    /// assert_eq!(unknown, DocumentType::Other("RP".into()));
    /// assert_eq!(serde_json::to_string(&unknown)?, r#""RP""#);
    ///
    /// assert_eq!(DocumentType::from("PP"), DocumentType::Passport);
    /// assert_eq!(DocumentType::NationalId.as_str(), "NID");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub enum DocumentType expecting "a document type string such as \"PP\"" {
        /// A passport, `"PP"`.
        Passport = "PP",
        /// A driving licence, `"DL"`.
        DrivingLicense = "DL",
        /// A national identity card, `"NID"`.
        NationalId = "NID";
        /// Any other value, kept exactly as written.
        Other(String),
    }
}

lenient_enum! {
    /// The holder's sex as printed on the document (`sex`).
    ///
    /// A value this crate does not know is kept as [`Sex::Other`] and written back verbatim.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::Sex;
    ///
    /// assert_eq!("F".parse::<Sex>(), Ok(Sex::Female));
    /// assert_eq!(Sex::from("<"), Sex::Other("<".into()));
    /// assert_eq!(Sex::Unspecified.as_str(), "X");
    /// ```
    pub enum Sex expecting "a sex string such as \"F\"" {
        /// Male, `"M"`.
        Male = "M",
        /// Female, `"F"`.
        Female = "F",
        /// Unspecified, `"X"`.
        Unspecified = "X";
        /// Any other value, kept exactly as written.
        Other(String),
    }
}

lenient_enum! {
    /// The platform the verification was made on (`platform`).
    ///
    /// A value this crate does not know is kept as [`Platform::Other`] and written back verbatim.
    ///
    /// # Examples
    ///
    /// ```
    /// use authenteq_export::export::Platform;
    ///
    /// assert_eq!(Platform::from("IOS"), Platform::Ios);
    /// assert_eq!(Platform::from("KIOSK").as_str(), "KIOSK");
    /// assert!(!Platform::from("KIOSK").is_known());
    /// ```
    pub enum Platform expecting "a platform string such as \"WEB\"" {
        /// The web flow, `"WEB"`.
        Web = "WEB",
        /// The iOS SDK, `"IOS"`.
        Ios = "IOS",
        /// The Android SDK, `"ANDROID"`.
        Android = "ANDROID";
        /// Any other value, kept exactly as written.
        Other(String),
    }
}
