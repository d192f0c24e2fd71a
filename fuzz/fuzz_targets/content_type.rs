//! `Content-Type` boundary parsing, boundary sniffing and export format detection: no panic, and
//! a boundary that parses is valid and survives a round trip through `content_type`.
#![no_main]

use authenteq_export::export::ExportFormat;
use authenteq_export::multipart::Boundary;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(b) = Boundary::from_content_type(text) {
            assert!(Boundary::new(b.as_str()).is_ok());
            let again = Boundary::from_content_type(&b.content_type("mixed")).unwrap();
            assert_eq!(again, b);
        }
        let _ = ExportFormat::from_content_type(text);
    }
    if let Ok(b) = Boundary::sniff(data) {
        assert!(Boundary::new(b.as_str()).is_ok());
    }
    let _ = ExportFormat::detect(data);
});
